"""BM-MAE's Dirichlet split of the visible budget and its missing-contrast reconstruction."""
import pytest
import torch

from graphfm.errors import ConfigError, DataError
from graphfm.objectives import OBJECTIVES, total_loss

VOL = {"name": "patch3d", "volume_size": 8, "patch_size": 4}
CONTRASTS = ("t1", "t2", "flair")


@pytest.fixture(scope="module")
def phantoms():
    from multimodal.data import load_multimodal

    return load_multimodal("phantoms", num_samples=64, volume_size=8).tensors


def bm_mae(make_model, **kwargs):
    model = make_model({m: VOL for m in CONTRASTS})
    return OBJECTIVES.get("bm_mae")(model, decoder_dim=32, decoder_depth=1, **kwargs)


@pytest.mark.parametrize("mask_ratio,alpha", [(0.75, 1.0), (0.5, 0.2), (0.9, 5.0)])
def test_visible_counts_per_contrast_sum_to_the_budget(make_model, phantoms, mask_ratio, alpha):
    objective = bm_mae(make_model, mask_ratio=mask_ratio, alpha=alpha)
    torch.manual_seed(0)
    latent, visible, ids = objective.forward_encoder(phantoms)
    budget = round(24 * (1 - mask_ratio))
    per_contrast = torch.stack([visible[:, 8 * i:8 * (i + 1)].sum(1) for i in range(3)], 1)
    assert (per_contrast.sum(1) == budget).all() and (per_contrast <= 8).all()
    assert latent.shape == (64, 1 + budget, 32) and ids.shape == (64, budget)
    # the split varies across subjects (a Dirichlet draw each), unlike a uniform mask over all tokens
    assert per_contrast.float().std(0).min() > 0.3


def test_every_contrast_can_be_dropped(make_model, phantoms):
    objective = bm_mae(make_model, mask_ratio=0.75, alpha=0.5)
    torch.manual_seed(0)
    _, visible, _ = objective.forward_encoder(phantoms)
    per_contrast = torch.stack([visible[:, 8 * i:8 * (i + 1)].sum(1) for i in range(3)], 1)
    assert (per_contrast == 0).any(0).all(), per_contrast  # each contrast fully hidden for some subject
    out = objective(phantoms)
    assert {f"{m}_loss" for m in CONTRASTS} <= set(out)
    assert torch.allclose(total_loss(out), sum(out[f"{m}_loss"] for m in CONTRASTS))


def test_reconstruct_a_dropped_contrast_and_its_error_falls(make_model, phantoms):
    objective = bm_mae(make_model, mask_ratio=0.75)
    present = {m: phantoms[m][:16] for m in ("t1", "t2")}
    pred = objective.reconstruct(present, ["flair"])["flair"]
    assert pred.shape == (16, 8, 64)
    before = objective.missing_mse({**present, "flair": phantoms["flair"][:16]}, "flair")
    assert before.shape == (16,)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(objective.parameters(), lr=3e-3)
    for _ in range(40):
        loss = total_loss(objective(phantoms))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = objective.missing_mse({**present, "flair": phantoms["flair"][:16]}, "flair")
    assert after.mean() < 0.5 * before.mean()
    with pytest.raises(DataError, match="at least one present contrast"):
        objective.reconstruct({"flair": phantoms["flair"]}, ["flair"])
    with pytest.raises(ConfigError, match="alpha"):
        bm_mae(make_model, alpha=0.0)

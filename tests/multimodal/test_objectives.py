"""Each objective trains (its loss falls on a small fixed batch) and scores only masked tokens."""
import pytest
import torch

from graphfm.errors import ConfigError, DataError
from graphfm.objectives import OBJECTIVES, total_loss

IMG = {"name": "patch2d", "image_size": 8, "patch_size": 4}
MULTIMAE_MODS = {"rgb": IMG, "depth": IMG, "semseg": {**IMG, "num_classes": 3}}
VOL = {"name": "patch3d", "volume_size": 8, "patch_size": 4}


@pytest.fixture(scope="module")
def phantom_batch():
    from multimodal.data import load_multimodal

    data = load_multimodal("phantoms", num_samples=16, volume_size=8)
    return {k: v for k, v in data.tensors.items()}


def train_losses(objective, batch, steps=25, lr=3e-3):
    torch.manual_seed(0)
    opt = torch.optim.AdamW([p for p in objective.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        loss = total_loss(objective(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def assert_falls(losses):
    assert all(map(lambda v: v == v, losses)), "NaN loss"
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses


def test_multimae_loss_falls(make_model, digit_batch):
    objective = OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), num_visible=4, decoder_dim=32)
    assert objective.tasks == {"rgb": "mse", "depth": "l1", "semseg": "ce"}
    assert set(objective.heads) == {"rgb", "rgb_norm", "depth", "semseg"} and objective.standardise == ["depth"]
    assert_falls(train_losses(objective, digit_batch))


def test_multimae_scores_masked_patches_only(make_model, digit_batch):
    objective = OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), num_visible=5, decoder_dim=32)
    inputs = {k: digit_batch[k] for k in MULTIMAE_MODS}
    torch.manual_seed(1)
    latent, visible, ids = objective.forward_encoder(inputs)
    assert latent.shape == (16, 1 + 5, 32)
    assert sum(int(m[0].sum()) for m in visible.values()) == 5
    preds = objective.forward_decoder(latent, visible, ids)
    assert preds["semseg"].shape == (16, 4, 16 * 3) and preds["rgb"].shape == (16, 4, 16)
    base = objective.forward_loss(inputs, preds, visible)
    changed = dict(inputs)
    for name in ("rgb", "depth", "semseg"):
        adapter = objective.model.adapters[name]
        target = inputs[name] if name != "semseg" else inputs[name][:, None]
        patches = adapter.patchify(target).clone()
        patches[visible[name]] = patches[visible[name]] * 0 + (2 if name == "semseg" else 7.0)
        new = adapter.unpatchify(patches)
        changed[name] = new if name != "semseg" else new[:, 0]
    same = objective.forward_loss(changed, preds, visible)
    for key in base:
        assert torch.allclose(base[key], same[key]), key
    masked_change = dict(inputs, rgb=inputs["rgb"] + torch.randn_like(inputs["rgb"]))
    assert not torch.allclose(objective.forward_loss(masked_change, preds, visible)["rgb_loss"], base["rgb_loss"])


def test_multimae_paper_losses_unnormalised_rgb_and_standardised_depth(make_model, digit_batch):
    from multimodal.objectives.multimae import standardise_image

    objective = OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), num_visible=4, decoder_dim=32)
    torch.manual_seed(0)
    out = objective({k: digit_batch[k] for k in MULTIMAE_MODS})
    assert {"rgb_loss", "rgb_norm_loss", "depth_loss", "semseg_loss"} <= set(out)
    depth = standardise_image(digit_batch["depth"])
    assert torch.allclose(depth.mean((1, 2, 3)), torch.zeros(16), atol=1e-5)
    assert torch.allclose(depth.std((1, 2, 3), unbiased=False), torch.ones(16), atol=1e-3)
    plain = OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), extra_norm_pix_loss=False, standardise=[])
    assert set(plain.heads) == {"rgb", "depth", "semseg"}
    with pytest.raises(ConfigError, match="standardise"):
        OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), standardise=["semseg"])


def test_multimae_rejects_bad_tasks(make_model):
    with pytest.raises(ConfigError, match="unknown loss 'l2'"):
        OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), tasks={"rgb": "l2"})
    with pytest.raises(ConfigError, match="unknown modality 'rbg'"):
        OBJECTIVES.get("multimae")(make_model(MULTIMAE_MODS), tasks={"rbg": "mse"})


def test_bm_mae_trains_masks_and_needs_all_contrasts(make_model, phantom_batch):
    model = make_model({m: VOL for m in ("t1", "t2", "flair")})
    objective = OBJECTIVES.get("bm_mae")(model, mask_ratio=0.75, decoder_dim=32, decoder_depth=1)
    torch.manual_seed(0)
    latent, visible, ids = objective.forward_encoder(phantom_batch)
    assert latent.shape == (16, 1 + 6, 32) and (visible.sum(1) == 6).all()  # 25% of 3 x 8 tokens
    pred = objective.forward_decoder(latent, ids)
    assert pred.shape == (16, 24, 64)
    base = total_loss(objective.forward_loss(phantom_batch, pred, visible))
    changed = dict(phantom_batch)
    patches = torch.cat([model.adapters[m].patchify(phantom_batch[m]) for m in objective.modalities], 1)
    patches[visible] = 9.0
    for i, m in enumerate(objective.modalities):
        changed[m] = model.adapters[m].unpatchify(patches[:, 8 * i:8 * (i + 1)])
    assert torch.allclose(base, total_loss(objective.forward_loss(changed, pred, visible)))
    with pytest.raises(DataError, match="pretrains with every contrast"):
        objective({"t1": phantom_batch["t1"], "t2": phantom_batch["t2"]})
    assert_falls(train_losses(objective, phantom_batch))
    assert model.embed({"flair": phantom_batch["flair"]}).shape == (16, 32)  # inference with 2 contrasts missing


def test_m3i_loss_falls_and_ema_target_follows(make_model, digit_batch, digits):
    model = make_model({"rgb": IMG, "text": digits.specs["text"]})
    objective = OBJECTIVES.get("m3i")(model, mask_ratio=0.25, decoder_dim=32, proj_dim=16, ema_momentum=0.9)
    out = objective(digit_batch)
    assert {"recon_loss", "supervised_loss", "weak_loss", "view_loss"} <= set(out)
    before = [p.clone() for p in objective.target.parameters()]
    losses = train_losses(objective, digit_batch, steps=30)
    assert_falls(losses)
    online = list(objective.model.parameters())
    moved = [not torch.equal(b, p) for b, p in zip(before, objective.target.parameters())]
    assert any(moved) and not any(p.requires_grad for p in objective.target.parameters())
    gap = sum((t - o).abs().sum() for t, o in zip(objective.target.parameters(), online))
    assert gap > 0  # the target lags the online encoder


def test_m3i_terms_and_forms(make_model, digit_batch, digits):
    model = make_model({"rgb": IMG, "text": digits.specs["text"]})
    only_sup = OBJECTIVES.get("m3i")(model, weights={"weak": 0, "recon": 0, "view": 0})
    assert set(k for k in only_sup(digit_batch) if k.endswith("_loss")) == {"supervised_loss"}
    assert only_sup.target is None
    boltz = OBJECTIVES.get("m3i")(model, weights={"supervised": 0, "weak": 0, "recon": 0}, view_form="boltzmann")
    assert set(k for k in boltz(digit_batch) if k.endswith("_loss")) == {"view_loss"}
    with pytest.raises(DataError, match="needs batch key 'label'"):
        only_sup({"rgb": digit_batch["rgb"]})
    with pytest.raises(ConfigError, match="unknown term"):
        OBJECTIVES.get("m3i")(model, weights={"clip": 1.0})


def test_m3i_reconstruction_scores_masked_patches_only(make_model, digit_batch):
    objective = OBJECTIVES.get("m3i")(make_model({"rgb": IMG}), weights={"supervised": 0, "weak": 0, "view": 0})
    torch.manual_seed(0)
    latent, visible, ids = objective.forward_encoder(digit_batch["rgb"])
    preds = objective.forward_decoder(latent, ids)
    targets = objective.forward_targets(digit_batch, digit_batch["rgb"], digit_batch["rgb"])
    base = objective.forward_loss(preds, targets, visible)["recon_loss"]
    targets["pixels"] = targets["pixels"].masked_fill(visible[..., None], 3.0)
    assert torch.allclose(base, objective.forward_loss(preds, targets, visible)["recon_loss"])

"""UniGraph2 objective: the optional per-subgraph DGI term (``contrast_weight``)."""
import pytest
import torch

from graphfm.errors import ConfigError
from graphfm.objectives import total_loss
from graphfm.objectives.unigraph2 import UniGraph2Objective
from tests.graphfm.objectives.test_unigraph2 import _model, _random_batch


def _clustered_batch():
    """Three subgraphs whose nodes share a feature centre: real and shuffled rows differ."""
    batch = _random_batch(sizes=(30, 30, 30), p=0.15)
    gen = torch.Generator().manual_seed(3)
    for name, x in batch["feats"].items():
        centres = 2.0 * torch.randn(3, x.size(1), generator=gen)
        batch["feats"][name] = centres[batch["batch"]] + 0.3 * torch.randn(x.shape, generator=gen)
    return batch


def test_off_by_default_adds_no_parameters_and_no_loss():
    obj = UniGraph2Objective(_model())
    assert obj.discriminator is None
    assert not any(k.startswith("discriminator") for k in obj.state_dict())
    assert "dgi_loss" not in obj(_random_batch())


def test_on_adds_a_weighted_loss_that_reaches_model_and_discriminator():
    batch = _random_batch()
    torch.manual_seed(0)
    off = UniGraph2Objective(_model(), mask_rate=0.3, spd_weight=0.0)
    torch.manual_seed(0)
    on = UniGraph2Objective(_model(), mask_rate=0.3, spd_weight=0.0, contrast_weight=0.5)
    torch.manual_seed(1)
    out_off = off(batch)
    torch.manual_seed(1)
    out_on = on(batch)
    assert torch.isfinite(out_on["dgi_loss"]) and 0.0 <= float(out_on["dgi_acc"]) <= 1.0
    # same mask, same reconstruction: the total differs by the weighted DGI term only
    assert torch.isclose(out_on["recon_loss"], out_off["recon_loss"])
    assert torch.isclose(total_loss(out_on), total_loss(out_off) + out_on["dgi_loss"], atol=1e-5)
    total_loss(out_on).backward()
    assert on.discriminator.weight.grad is not None and on.discriminator.weight.grad.abs().sum() > 0
    conv_grads = [p.grad for p in on.model.convs[0].parameters() if p.grad is not None]
    assert conv_grads and any(g.abs().sum() > 0 for g in conv_grads)


def test_same_seed_same_loss():
    batch = _random_batch()
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        obj = UniGraph2Objective(_model(), contrast_weight=1.0, spd_sources=8, spd_pairs_per_source=4)
        torch.manual_seed(5)
        losses.append(obj(batch)["dgi_loss"])
    assert torch.equal(losses[0], losses[1])


def test_training_on_dgi_separates_real_from_shuffled_nodes():
    batch = _clustered_batch()
    torch.manual_seed(0)
    obj = UniGraph2Objective(_model(), mask_rate=0.2, spd_weight=0.0, contrast_weight=1.0)
    opt = torch.optim.Adam(obj.parameters(), lr=3e-3)
    accs, losses = [], []
    for _ in range(60):
        out = obj(batch)
        opt.zero_grad()
        out["dgi_loss"].backward()
        opt.step()
        accs.append(float(out["dgi_acc"]))
        losses.append(out["dgi_loss"].item())
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    assert sum(accs[-5:]) / 5 > 0.8


def test_negative_weight_is_refused():
    with pytest.raises(ConfigError, match="contrast_weight"):
        UniGraph2Objective(_model(), contrast_weight=-0.1)

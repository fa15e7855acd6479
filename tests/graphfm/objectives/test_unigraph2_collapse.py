"""UniGraph2 objective: the anti-collapse term, domain tokens and the logged diagnostics."""
import pytest
import torch

from graphfm.errors import ConfigError
from graphfm.models.unigraph2 import UniGraph2
from graphfm.objectives import total_loss
from graphfm.objectives.unigraph2 import UniGraph2Objective, variance_covariance_loss
from tests.graphfm.objectives.test_unigraph2 import _random_batch

MODS = {"a": {"dim": 10, "encoder": {"name": "precomputed"}}, "b": {"dim": 6, "encoder": {"name": "precomputed"}}}


def _model(domains=("g0", "g1", "g2")):
    torch.manual_seed(0)
    return UniGraph2(MODS, hidden_dim=16, num_experts=4, top_k=2, heads=4, dropout=0.0, domains=list(domains))


def test_variance_covariance_loss_separates_collapsed_from_spread():
    gen = torch.Generator().manual_seed(0)
    spread = torch.randn(500, 8, generator=gen) * 2.0
    collapsed = torch.randn(500, 1, generator=gen) * torch.ones(1, 8) * 0.1 + 3.0
    var_s, cov_s = variance_covariance_loss(spread)
    var_c, cov_c = variance_covariance_loss(collapsed)
    assert var_s < 0.01 and var_c > 0.8
    rank1 = torch.randn(500, 1, generator=gen) * torch.ones(1, 8)        # unit variance, fully correlated
    assert variance_covariance_loss(rank1)[1] > 10 * cov_s
    zero = variance_covariance_loss(torch.randn(1, 8))
    assert float(zero[0]) == 0.0 and float(zero[1]) == 0.0


def test_anti_collapse_terms_are_losses_and_their_weights_count():
    batch = _random_batch()
    batch["domain"] = batch["batch"]
    torch.manual_seed(0)
    off = UniGraph2Objective(_model(), mask_rate=0.3)(batch)
    assert "var_loss" not in off
    torch.manual_seed(0)
    on = UniGraph2Objective(_model(), mask_rate=0.3, var_weight=1.0, cov_weight=0.5)(batch)
    assert on["var_loss"] > 0 and on["cov_loss"] >= 0
    assert torch.isclose(total_loss(on), total_loss(off) + on["var_loss"] + on["cov_loss"], atol=1e-5)
    with pytest.raises(ConfigError, match="var_weight"):
        UniGraph2Objective(_model(), var_weight=-1.0)


def test_variance_term_raises_the_rank_of_trained_embeddings():
    """Training on the variance/covariance terms alone spreads the embeddings of the batch."""
    from graphfm.stats import effective_rank

    batch = _random_batch(sizes=(40, 40, 40))
    batch["domain"] = batch["batch"]
    obj = UniGraph2Objective(_model(), mask_rate=0.3, spd_weight=0.0, var_weight=1.0, cov_weight=1.0)
    before = obj.diagnostics(batch)["effective_rank"]
    opt = torch.optim.Adam(obj.parameters(), lr=0.01)
    for _ in range(60):
        out = obj(batch)
        loss = out["var_loss"] + out["cov_loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert obj.diagnostics(batch)["effective_rank"] > before


def test_domain_tokens_scale_each_source_and_learn_apart():
    model = _model()
    assert model.domain_tokens.shape == (3, 2, 16) and bool((model.domain_tokens == 1).all())
    batch = _random_batch()
    batch["domain"] = batch["batch"]
    obj = UniGraph2Objective(model, mask_rate=0.3)
    total_loss(obj(batch)).backward()
    grad = model.domain_tokens.grad
    assert grad is not None and not torch.allclose(grad[0], grad[1])
    # without tokens in the objective, every domain sees the mean token (same gradient for all)
    model.zero_grad()
    total_loss(UniGraph2Objective(model, mask_rate=0.3, domain_tokens=False)(batch)).backward()
    assert torch.allclose(model.domain_tokens.grad[0], model.domain_tokens.grad[1])
    # an unseen graph (no domain) is embedded with the mean token
    model.eval()
    with torch.no_grad():
        model.domain_tokens[0].mul_(3.0)
        h_mean = model.encode(batch["feats"], batch["masks"], batch["edge_index"]).h
        mean = model.domain_tokens.mean(0)
        h_prompt = model.encode(batch["feats"], batch["masks"], batch["edge_index"], prompt=[mean[0], mean[1]]).h
    assert torch.allclose(h_mean, h_prompt, atol=1e-5)


def test_diagnostics_are_logged_during_pretraining(tmp_path):
    import csv

    import yaml

    from graphfm.config import resolve_config
    from graphfm.engine import pretrain

    cfg = yaml.safe_load(open(resolve_config("unigraph2/tiny")))
    cfg["trainer"].update(max_steps=3, log_every=1)
    pretrain(cfg, tmp_path / "run")
    rows = list(csv.DictReader(open(tmp_path / "run" / "logs" / "metrics.csv")))
    ranks = [float(r["diag/effective_rank"]) for r in rows if r.get("diag/effective_rank")]
    cosines = [float(r["diag/mean_cosine"]) for r in rows if r.get("diag/mean_cosine")]
    assert ranks and cosines and all(1.0 <= r <= 32 for r in ranks) and all(-1 <= c <= 1 for c in cosines)

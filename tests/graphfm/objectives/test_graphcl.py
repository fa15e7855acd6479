"""The public code's objective: GraphCL views on DGI's discriminator, dual branches, diagnostics."""
import torch

from graphfm.data import synthetic_domain
from graphfm.models.samgpt import SAMGPT
from graphfm.objectives.contrastive import GraphContrastive


def _setup(branches="dual", residual=True, token_init="random"):
    graphs = [synthetic_domain(0), synthetic_domain(2)]
    torch.manual_seed(0)
    model = SAMGPT(in_dims={g.domain: g.num_features for g in graphs}, hidden=16, align_dim=8, init="xavier",
                   residual=residual, branches=branches, token_placement="output", token_init=token_init)
    for g in graphs:
        model.aligner.fit(g.domain, g.x)
    return model, graphs


def test_dual_branches_sum_and_each_token_kind_gets_gradient():
    model, graphs = _setup()
    prepared = model.prepare(graphs[0])
    feature, structure = model.tokens_of(graphs[0].domain)
    fea, struct = model.encode_branches(prepared, feature, structure)
    assert fea.shape == struct.shape == (graphs[0].num_nodes, 16)
    assert torch.allclose(model.encode(prepared, feature, structure), fea + struct)
    # the feature branch ignores structure tokens, the structure branch the feature token
    ones = [torch.ones_like(t) for t in structure]
    assert torch.allclose(model.encode_branches(prepared, feature, ones)[0], fea)
    assert torch.allclose(model.encode_branches(prepared, torch.ones_like(feature), structure)[1], struct)
    out = GraphContrastive(model, variant="graphcl")(graphs)
    out["contrastive_loss"].backward()
    assert model.feature_tokens.grad[1].abs().sum() > 0 and model.structure_tokens[2].grad[0].abs().sum() > 0
    assert all(lin.weight.grad.abs().sum() > 0 for lin in model.gcn.lins)


def test_random_tokens_start_apart():
    model, _ = _setup()
    assert not torch.equal(model.feature_tokens[0], model.feature_tokens[1])
    assert torch.equal(_setup(token_init="ones")[0].feature_tokens, torch.ones(2, 8))


def test_graphcl_training_is_seeded_and_learns():
    def train(steps=6):
        model, graphs = _setup()
        objective = GraphContrastive(model, variant="graphcl", edge_drop=0.3, seed=1)
        opt = torch.optim.Adam(objective.parameters(), lr=0.01)
        losses = []
        for _ in range(steps):
            loss = objective(graphs)["contrastive_loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(round(float(loss), 6))
        return losses

    first, second = train(), train()
    assert first == second and first[-1] < first[0]


def test_dropped_view_keeps_nodes_and_drops_edges():
    model, graphs = _setup()
    objective = GraphContrastive(model, variant="graphcl", edge_drop=0.5)
    adj = model.prepare(graphs[0]).adj
    view = objective._drop_edges(adj)
    assert view.num_nodes == adj.num_nodes
    assert 0.3 * adj.col.numel() < view.col.numel() < 0.7 * adj.col.numel()


def test_diagnostics_measure_collapse():
    model, graphs = _setup()
    diag = GraphContrastive(model, variant="graphcl").diagnostics(graphs)
    assert 1.0 <= diag["effective_rank"] <= 16.0 and -1.0 <= diag["mean_cosine"] <= 1.0


def test_vicreg_terms_are_weighted_losses_on_every_branch():
    from graphfm.objectives import total_loss
    from graphfm.objectives.regularisers import variance_covariance_loss

    model, graphs = _setup(branches="single", residual=False, token_init="ones")
    off = GraphContrastive(model, variant="graphcl", seed=3)
    on = GraphContrastive(model, variant="graphcl", seed=3, var_weight=0.5, cov_weight=0.1)
    assert "var_loss" not in off(graphs)
    out = on(graphs)
    assert out["var_loss"] > 0 and out["cov_loss"] > 0
    # one term per domain, each on that domain's real (unperturbed) embeddings
    expected = [variance_covariance_loss(model.encode_domain(g)[0]) for g in graphs]
    assert torch.isclose(out["var_loss"], 0.5 * sum(v for v, _ in expected), rtol=1e-4)
    assert torch.isclose(out["cov_loss"], 0.1 * sum(c for _, c in expected), rtol=1e-4)
    assert torch.isclose(total_loss(out), out["contrastive_loss"] + out["var_loss"] + out["cov_loss"])
    subgraph = GraphContrastive(model, variant="subgraph", var_weight=1.0)(graphs)
    assert subgraph["var_loss"] > 0 and subgraph["cov_loss"] == 0


def test_vicreg_weights_must_be_non_negative():
    import pytest

    from graphfm.errors import ConfigError

    model, _ = _setup()
    with pytest.raises(ConfigError, match="var_weight"):
        GraphContrastive(model, variant="graphcl", var_weight=-1.0)


def test_rotated_features_are_an_orthogonal_change_of_basis():
    model, graphs = _setup(branches="single", residual=False, token_init="ones")
    objective = GraphContrastive(model, variant="graphcl", rotate_features=True, seed=0)
    prepared = model.prepare(graphs[0])
    rotated = objective._rotated(prepared)
    # X̃Q keeps every row's norm and the pairwise inner products; ÂX̃ is rotated alike
    assert torch.allclose(rotated.x @ rotated.x.T, prepared.x @ prepared.x.T, atol=1e-4)
    assert torch.allclose(rotated.agg1, prepared.adj.matrix() @ rotated.x, atol=1e-5)
    assert not torch.allclose(rotated.x, prepared.x, atol=1e-3)
    assert not torch.allclose(objective._rotated(prepared).x, rotated.x, atol=1e-3)   # a fresh Q every call


def test_rotation_is_off_by_default_and_seeded_when_on():
    def losses(**kwargs):
        model, graphs = _setup()
        objective = GraphContrastive(model, variant="graphcl", seed=2, **kwargs)
        return [round(float(objective(graphs)["contrastive_loss"]), 6) for _ in range(3)]

    plain, rotated = losses(), losses(rotate_features=True)
    assert plain == losses(rotate_features=False)
    assert rotated == losses(rotate_features=True) and rotated != plain


def test_rotation_is_a_config_option_of_pretraining(tmp_path):
    import yaml

    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel

    run = pretrain("samgpt/demo", tmp_path / "run", overrides=[
        "objective.rotate_features=true", "trainer.max_steps=2", "trainer.progress=false"])
    assert yaml.safe_load((run / "experiment.yaml").read_text())["objective"]["rotate_features"] is True
    model = PretrainedModel.from_pretrained(run)
    assert all(torch.isfinite(p).all() for p in model.parameters())

"""SAMGPT model: alignment buffers, tokens, encoding, checkpoints, unseen targets."""
from types import SimpleNamespace

import pytest
import torch

from graphfm.data import synthetic_domain
from graphfm.errors import CheckpointError, ConfigError, DataError
from graphfm.models import MODELS, PretrainedModel
from graphfm.models.samgpt import SAMGPT


def _datamodule(ks=(0, 1)):
    graphs = [synthetic_domain(k) for k in ks]
    spec = {"domains": [g.domain for g in graphs], "in_dims": {g.domain: g.num_features for g in graphs}}
    return SimpleNamespace(graphs=graphs, spec=spec)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SAMGPT.from_datamodule(_datamodule(), hidden=16, align_dim=8)


def test_registered_and_token_shapes(model):
    assert MODELS.get("samgpt") is SAMGPT and model.model_name == "samgpt"
    assert model.feature_tokens.shape == (2, 8)
    assert [tuple(t.shape) for t in model.structure_tokens] == [(2, 8), (2, 16), (2, 16)]
    out = SAMGPT(in_dims={"a": 3}, hidden=16, align_dim=8, token_placement="output")
    assert [tuple(t.shape) for t in out.structure_tokens] == [(1, 16)] * 3
    assert all(model.aligner.is_fitted(d) for d in model.domains)


def test_encode_domain_uses_its_tokens(model):
    graph = synthetic_domain(0)
    h, prepared = model.encode_domain(graph)
    assert h.shape == (graph.num_nodes, 16) and prepared.x.shape == (graph.num_nodes, 8)
    with torch.no_grad():
        model.structure_tokens[1][0].mul_(2.0)
        changed, _ = model.encode_domain(graph)
        model.structure_tokens[1][0].div_(2.0)
    assert not torch.allclose(changed, h)


def test_save_and_reload_gives_identical_embeddings(model, tmp_path):
    model.save_pretrained(tmp_path)
    again = PretrainedModel.from_pretrained(tmp_path)
    target = synthetic_domain(3)
    assert isinstance(again, SAMGPT)
    assert torch.allclose(again.embed(target), model.embed(target), atol=1e-5)
    assert torch.allclose(again.aligner.tensors()["synthetic-0.components"],
                          model.aligner.tensors()["synthetic-0.components"])


def test_embed_unseen_target_and_graph_sets(model):
    target = synthetic_domain(3)  # 500 raw features, never seen
    emb = model.embed(target)
    assert emb.shape == (target.num_nodes, 16) and torch.isfinite(emb).all()
    graphs = [synthetic_domain(4), synthetic_domain(3)]
    for g in graphs:
        g.x = g.x[:, :20]
    assert model.embed_graphs(graphs).shape == (2, 16)


def test_bad_inputs(model):
    target = synthetic_domain(3)
    target.x = torch.zeros(target.num_nodes, 0)
    with pytest.raises(DataError, match="at least one node and one feature"):
        model.embed(target)
    target.x = None
    with pytest.raises(DataError, match="no node features"):
        model.embed(target)
    with pytest.raises(ConfigError, match="in_dims"):
        SAMGPT(domains=["a"], in_dims={})
    with pytest.raises(ConfigError, match="neutral_tokens"):
        SAMGPT(in_dims={"a": 3}, neutral_tokens="zeros")


def test_init_from_maps_tokens_by_domain_name(tmp_path):
    torch.manual_seed(0)
    source = SAMGPT.from_datamodule(_datamodule((0, 1)), hidden=16, align_dim=8, token_init="random")
    source.save_pretrained(tmp_path / "src")
    torch.manual_seed(1)
    target = SAMGPT.from_datamodule(_datamodule((1, 2)), hidden=16, align_dim=8)    # domain 1 shared, 2 new
    report = target.init_from(tmp_path / "src")
    assert "feature_tokens" in report["mapped"] and any(k.startswith("gcn.") for k in report["copied"])
    assert torch.equal(target.feature_tokens[0], source.feature_tokens[1])
    assert torch.allclose(target.feature_tokens[1], source.feature_tokens.mean(0))
    assert torch.equal(target.structure_tokens[2][0], source.structure_tokens[2][1])
    assert all(torch.equal(target.state_dict()[k], source.state_dict()[k]) for k in report["copied"])
    assert not any(k.startswith("aligner.") for k in report["copied"])   # fitted to this run's own graphs
    shared = "aligner.projections." + target.domains[0].replace(".", "_") + ".components"
    refit = SAMGPT.from_datamodule(_datamodule((1, 2)), hidden=16, align_dim=8)
    assert torch.equal(target.state_dict()[shared], refit.state_dict()[shared])
    wider = SAMGPT.from_datamodule(_datamodule((0, 1)), hidden=32, align_dim=8)
    with pytest.raises(CheckpointError, match="no weight has this model's name and shape"):
        wider.init_from(tmp_path / "src")             # only the alignment and tokens would match


def test_smoothness_ordered_alignment_for_sources_and_unseen_targets():
    torch.manual_seed(0)
    model = SAMGPT.from_datamodule(_datamodule(), hidden=16, align_dim=8, align_order="smoothness")
    assert model.aligner.order == "smoothness" and all(model.aligner.is_fitted(d) for d in model.domains)
    source = synthetic_domain(0)
    aligned = model.prepare(source, cache=False).x
    assert torch.allclose(aligned.std(0, unbiased=False), torch.ones(8), atol=1e-2)
    unseen = synthetic_domain(2)
    emb = model.embed(unseen)
    assert emb.shape == (unseen.num_nodes, 16) and torch.isfinite(emb).all()
    with pytest.raises(ConfigError, match="align_order"):
        SAMGPT(in_dims={"a": 3}, align_order="spectral")

"""UniGraph2 model: fusion of the modalities present, missing modalities, save/load, embed."""
import pytest
import torch
from torch_geometric.data import Data

from graphfm.errors import CheckpointError, ConfigError, DataError
from graphfm.models import PretrainedModel
from graphfm.models.unigraph2 import UniGraph2

MODALITIES = {"text": {"dim": 12, "encoder": {"name": "precomputed"}, "field": "text_feat"},
              "image": {"dim": 8, "encoder": {"name": "precomputed"}, "field": "image_feat"}}


def _graph(n=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ring = torch.arange(n)
    edge_index = torch.cat([torch.stack([ring, (ring + 1) % n]), torch.stack([(ring + 1) % n, ring])], dim=1)
    feats = {"text": torch.randn(n, 12, generator=gen), "image": torch.randn(n, 8, generator=gen)}
    return feats, edge_index


def _model(**kw):
    torch.manual_seed(0)
    return UniGraph2(MODALITIES, hidden_dim=16, num_experts=4, top_k=2, heads=2, **kw).eval()


@pytest.mark.parametrize("gnn", ["gat", "gcn", "sage"])
def test_embeddings_shape_and_finite(gnn):
    feats, ei = _graph()
    out = _model(gnn=gnn).encode(feats, None, ei)
    assert out.h.shape == (30, 16) and torch.isfinite(out.h).all()
    assert out.moe_loss > 0 and out.moe_stats["expert_load"].shape == (4,)


def test_propagate_can_return_every_layer():
    feats, ei = _graph()
    model = _model(num_layers=3)
    h = model.encode_inputs(feats, None)[0]
    outs = model.propagate(h, ei, model.structure_scales(), all_layers=True)
    assert len(outs) == 4 and torch.equal(outs[0], h)
    assert torch.allclose(outs[-1], model.encode(feats, None, ei).h)


def test_residual_layers_add_their_input():
    feats, ei = _graph()
    plain, res = _model(num_layers=1), _model(num_layers=1, residual=True)
    h = plain.encode_inputs(feats, None)[0]
    assert torch.equal(h, res.encode_inputs(feats, None)[0])      # same seed, same weights
    assert torch.allclose(res.propagate(h, ei), plain.propagate(h, ei) + h, atol=1e-6)


def test_missing_modalities_use_the_ones_present():
    feats, ei = _graph()
    model = _model()
    masks = {"text": torch.ones(30, dtype=torch.bool), "image": torch.ones(30, dtype=torch.bool)}
    masks["image"][:10] = False          # nodes 0-9: text only
    masks["text"][10:20] = False         # nodes 10-19: image only
    masks["text"][25:] = False
    masks["image"][25:] = False          # nodes 25-29: nothing at all
    feats["image"][:10] = float("nan")   # a missing value must never leak in
    h, present = model.fuse(feats, masks)
    assert torch.isfinite(h).all()
    assert torch.allclose(h[:10], model.proj["text"](feats["text"][:10]), atol=1e-6)
    assert torch.allclose(h[10:20], model.proj["image"](feats["image"][10:20]), atol=1e-6)
    both = (model.proj["text"](feats["text"][20:25]) + model.proj["image"](feats["image"][20:25])) / 2
    assert torch.allclose(h[20:25], both, atol=1e-6)
    assert present.tolist() == [True] * 25 + [False] * 5
    out = model.encode(feats, masks, ei)
    assert torch.isfinite(out.h).all()
    # a graph with a single modality works too
    only_text = model.encode({"text": feats["text"]}, None, ei)
    assert torch.isfinite(only_text.h).all()


def test_mask_token_replaces_masked_nodes():
    feats, ei = _graph()
    model = _model(num_layers=1)
    node_mask = torch.zeros(30, dtype=torch.bool)
    node_mask[:15] = True
    a = model.encode(feats, None, ei, node_mask=node_mask).h
    feats["text"][:15] += 100.0          # masked nodes' features must not matter
    b = model.encode(feats, None, ei, node_mask=node_mask).h
    assert torch.allclose(a, b, atol=1e-5)


def test_save_load_round_trip_and_embed(tmp_path):
    feats, ei = _graph()
    model = _model()
    data = Data(edge_index=ei, num_nodes=30, text_feat=feats["text"], image_feat=feats["image"])
    emb = model.embed(data, cache_dir=str(tmp_path), progress=False)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = PretrainedModel.from_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, UniGraph2)
    assert torch.allclose(loaded.embed(data, cache_dir=str(tmp_path), progress=False), emb, atol=1e-6)
    with pytest.raises(DataError, match="none of this model's modalities"):
        model.embed(Data(edge_index=ei, num_nodes=30, other=torch.ones(30, 3)))


def test_bad_config():
    with pytest.raises(ConfigError, match="dim"):
        UniGraph2({"text": {"encoder": {"name": "text"}}})
    with pytest.raises(ConfigError, match="gnn"):
        UniGraph2(MODALITIES, gnn="gin")
    with pytest.raises(ConfigError, match="divisible"):
        UniGraph2(MODALITIES, hidden_dim=10, heads=4)
    with pytest.raises(DataError, match="not known"):
        _model().fuse({"audio": torch.ones(3, 4)})


def test_init_from_maps_domain_tokens_by_name(tmp_path):
    source = _model(domains=["Cora-TAG", "digits-graph"])
    with torch.no_grad():
        source.domain_tokens.copy_(torch.randn_like(source.domain_tokens))
    source.save_pretrained(tmp_path / "src")
    text_only = {"text": MODALITIES["text"]}
    torch.manual_seed(1)
    target = UniGraph2(text_only, hidden_dim=16, num_experts=4, top_k=2, heads=2, domains=["digits-graph", "new"])
    report = target.init_from(tmp_path / "src")
    assert report["mapped"] == ["domain_tokens"] and "proj.text.0.weight" in report["copied"]
    assert not any(k.startswith("proj.image") for k in report["copied"] + report["kept"])
    assert torch.equal(target.domain_tokens[0], source.domain_tokens[1])
    assert torch.allclose(target.domain_tokens[1], source.domain_tokens.mean(0))
    assert any(k.startswith("convs.") for k in report["copied"])
    assert all(torch.equal(target.state_dict()[k], source.state_dict()[k]) for k in report["copied"])
    wider = UniGraph2(text_only, hidden_dim=32, num_experts=4, top_k=2, heads=2)
    with pytest.raises(CheckpointError, match="no weight has this model's name and shape"):
        wider.init_from(tmp_path / "src")

"""Text baselines (graphfm.adapt.text_baselines) and the fast, cached DGI (graphfm.adapt.dgi)."""
import logging

import pytest
import torch

from graphfm.adapt import dgi as dgi_module
from graphfm.adapt.dgi import (DGIRecipe, GCNEncoder, baseline_cache_dir, check_dgi_entry, dgi_cache_path, train_dgi,
                               train_dgi_cached)
from graphfm.adapt.text_baselines import (DGITarget, RawText, SGCText, graph_adjacency, normalise_with, text_baseline,
                                          text_features)
from graphfm.errors import ConfigError, DataError
from tests.graphfm.adapt.test_names import MINILM, text_graph

TINY = DGIRecipe(hidden=8, layers=2, epochs=5)


def _graph(n=30, seed=0):
    from torch_geometric.data import Data

    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(n, (80,), generator=gen), torch.randint(n, (80,), generator=gen)
    ei = torch.stack([torch.cat([src, dst, src[:5]]), torch.cat([dst, src, dst[:5]])])    # duplicates, self-loops
    return Data(edge_index=ei, num_nodes=n), torch.randn(n, 6, generator=gen)


def _dense_adj(edge_index, n):
    a = torch.zeros(n, n)
    a[edge_index[0], edge_index[1]] = 1.0
    a = ((a + a.t()) > 0).float()
    a.fill_diagonal_(1.0)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


def test_adjacency_matches_the_dense_definition():
    data, _ = _graph()
    assert torch.allclose(graph_adjacency(data).to_dense(), _dense_adj(data.edge_index, 30), atol=1e-6)


def test_csr_encoder_equals_a_dense_reference_and_pyg_gcnconv():
    from torch_geometric.nn import GCNConv
    from torch_geometric.utils import coalesce, to_undirected

    data, x = _graph()
    adj, dense = graph_adjacency(data), _dense_adj(data.edge_index, 30)
    torch.manual_seed(0)
    enc = GCNEncoder(6, hidden=5, layers=3)
    out = enc(x, adj)
    ref, pyg = x, x
    ei = coalesce(to_undirected(data.edge_index))
    ei = ei[:, ei[0] != ei[1]]
    for lin, act in zip(enc.lins, enc.acts):
        ref = act(dense @ ref @ lin.weight.t() + lin.bias)
        conv = GCNConv(lin.in_features, lin.out_features)
        conv.lin.weight.data.copy_(lin.weight)
        conv.bias.data.copy_(lin.bias)
        pyg = act(conv(pyg, ei))
    assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(out, pyg, atol=1e-5)
    # isolated nodes: Â = 1, the layers alone
    alone = x
    for lin, act in zip(enc.lins, enc.acts):
        alone = act(lin(alone))
    assert torch.allclose(enc(x, None), alone, atol=1e-6)


def test_paired_pass_equals_pyg_dgi_forward_values_and_gradients():
    from torch_geometric.nn import DeepGraphInfomax

    data, x = _graph()
    adj = graph_adjacency(data)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    enc = GCNEncoder(6, hidden=4, layers=2)
    model = DeepGraphInfomax(4, enc, summary=lambda z, *a, **k: z.mean(0).sigmoid(),
                             corruption=lambda x, adj: (x[perm], adj))
    pos_ref, neg_ref, summary = model(x, adj)
    loss_ref = model.loss(pos_ref, neg_ref, summary)
    grads_ref = torch.autograd.grad(loss_ref, list(model.parameters()))
    pos, neg = enc.pair(x, adj, perm)
    loss = model.loss(pos, neg, pos.mean(0).sigmoid())
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert torch.allclose(pos, pos_ref, atol=1e-5) and torch.allclose(neg, neg_ref, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, grads_ref))


def test_dgi_is_seeded_and_learns():
    data, x = _graph()
    adj = graph_adjacency(data)
    state = torch.random.get_rng_state()
    a, enc_a = train_dgi(x, adj, seed=3, recipe=TINY)
    b, _ = train_dgi(x, adj, seed=3, recipe=TINY)
    c, _ = train_dgi(x, adj, seed=4, recipe=TINY)
    assert torch.equal(torch.random.get_rng_state(), state)                       # the global RNG is untouched
    assert a.shape == (30, 8) and torch.equal(a, b) and not torch.allclose(a, c)
    untrained, _ = train_dgi(x, adj, seed=3, recipe=DGIRecipe(hidden=8, layers=2, epochs=0))
    assert not torch.allclose(a, untrained)
    assert not enc_a.training
    with pytest.raises(ConfigError, match="invalid DGI recipe"):
        DGIRecipe(hidden=0)


def test_cache_hit_returns_equal_tensors(tmp_path, monkeypatch):
    data, x = _graph()
    adj = graph_adjacency(data)
    emb, enc = train_dgi_cached(x, adj, 1, TINY, cache=tmp_path)
    path = dgi_cache_path(x, adj, 1, TINY, tmp_path)
    assert path.is_file() and path.parent == tmp_path and not list(tmp_path.glob(".*.tmp"))
    monkeypatch.setattr(dgi_module, "train_dgi", lambda *a, **k: pytest.fail("a cache hit must not train"))
    again, enc2 = train_dgi_cached(x, adj, 1, TINY, cache=tmp_path)
    assert torch.equal(emb, again)
    assert all(torch.equal(v, enc2.state_dict()[k]) for k, v in enc.state_dict().items())
    names = torch.randn(3, 6)
    assert torch.equal(enc(names, None), enc2(names, None))
    # another seed, recipe or graph is another entry
    assert dgi_cache_path(x, adj, 2, TINY, tmp_path) != path
    assert dgi_cache_path(x, adj, 1, DGIRecipe(hidden=8, layers=2, epochs=6), tmp_path) != path
    assert dgi_cache_path(x + 1, adj, 1, TINY, tmp_path) != path


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other-key"])
def test_a_damaged_cache_entry_is_recomputed(tmp_path, caplog, damage):
    data, x = _graph()
    adj = graph_adjacency(data)
    emb, _ = train_dgi_cached(x, adj, 1, TINY, cache=tmp_path)
    path = dgi_cache_path(x, adj, 1, TINY, tmp_path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[:-17])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 20)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        other = dgi_cache_path(x, adj, 2, TINY, tmp_path)
        train_dgi_cached(x, adj, 2, TINY, cache=tmp_path)
        path.write_bytes(other.read_bytes())
    with caplog.at_level(logging.WARNING, logger="graphfm.adapt.dgi"):
        again, _ = train_dgi_cached(x, adj, 1, TINY, cache=tmp_path)
    assert torch.equal(emb, again)
    assert sum("damaged baseline cache entry" in r.getMessage() for r in caplog.records) == 1
    key = path.stem.split("-", 1)[1]
    assert check_dgi_entry(path, dgi_module._expected(30, 6, TINY), key) == ""


def test_no_cache_and_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFM_CACHE", str(tmp_path / "c" / "features"))
    assert baseline_cache_dir() == tmp_path / "c" / "baselines"
    data, x = _graph()
    train_dgi_cached(x, graph_adjacency(data), 0, TINY, cache=False)
    assert not (tmp_path / "c").exists()


def test_text_baselines_on_a_text_graph(tmp_path):
    data = text_graph()
    x, mask = text_features(data, MINILM)
    assert x.shape == (18, 384) and bool(mask.all())
    raw = RawText(encoder=MINILM)
    centred = normalise_with(x, x, mask)
    assert torch.allclose(raw.embed(data), centred, atol=1e-6)
    assert torch.allclose(centred.mean(0), torch.zeros(384), atol=1e-5)
    assert torch.allclose(centred.norm(dim=1).mean(), torch.tensor(1.0), atol=1e-5)
    # a text is normalised as the graph's own nodes are (its own row, unpropagated)
    assert torch.allclose(raw.embed_texts(list(data.text[:2]), data), raw.embed(data)[:2], atol=1e-5)
    sgc = SGCText(hops=2, encoder=MINILM, center=False)
    dense = _dense_adj(data.edge_index, 18)
    assert torch.allclose(sgc.embed(data), dense @ dense @ x, atol=1e-5)
    assert torch.allclose(sgc.embed_texts(list(data.text[:2]), data), x[:2], atol=1e-5)
    dgi = DGITarget(seed=0, recipe=TINY, baseline_cache=tmp_path, encoder=MINILM)
    emb, names = dgi.embed(data), dgi.embed_texts(["astronomy", "cooking"], data)
    assert emb.shape == (18, 8) and names.shape == (2, 8)
    assert torch.equal(emb, DGITarget(seed=0, recipe=TINY, baseline_cache=tmp_path, encoder=MINILM).embed(data))
    assert isinstance(text_baseline("sgc_lm", hops=1), SGCText)
    with pytest.raises(ConfigError, match="valid: raw_lm, sgc_lm, dgi_target"):
        text_baseline("bert_lm")


def test_a_graph_without_texts_is_refused():
    data, _ = _graph()
    with pytest.raises(DataError, match="no node texts"):
        RawText().embed(data)

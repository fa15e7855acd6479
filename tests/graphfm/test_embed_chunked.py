"""Layer-wise chunked inference: equal to full-batch inference, on one thread or several, written chunk by chunk."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from graphfm.data import synthetic_domain
from graphfm.embed import embed_chunked_to_npy, embed_to_file
from graphfm.errors import ConfigError, GraphFMError
from graphfm.models.samgpt import SAMGPT


def _model(**kwargs):
    torch.manual_seed(0)
    graphs = [synthetic_domain(k) for k in (0, 1)]
    spec = {"domains": [g.domain for g in graphs], "in_dims": {g.domain: g.num_features for g in graphs}}
    model = SAMGPT.from_datamodule(SimpleNamespace(graphs=graphs, spec=spec), hidden=16, align_dim=8,
                                   token_init="random", **kwargs)
    return model.eval()


@pytest.mark.parametrize("kwargs", [{}, {"branches": "dual"}, {"residual": True, "token_placement": "output"},
                                    {"activation": "relu", "num_layers": 2}, {"num_layers": 1}])
@pytest.mark.parametrize("domain", ["synthetic-0", "unseen"])
def test_chunks_equal_full_batch(kwargs, domain):
    model = _model(**kwargs)
    graph = synthetic_domain(0)
    graph.domain = domain
    full = model.embed(graph)
    for chunk in (7, 64, 10_000):
        parts = list(model.embed_chunks(graph, chunk_size=chunk))
        assert [p[0] for p in parts] == list(range(0, graph.num_nodes, chunk))
        assert parts[-1][1] == graph.num_nodes
        torch.testing.assert_close(torch.cat([p[2] for p in parts]), full, atol=1e-5, rtol=1e-5)


def test_bad_chunk_size():
    with pytest.raises(ConfigError, match="chunk_size"):
        next(_model().embed_chunks(synthetic_domain(0), chunk_size=0))


def test_memory_mapped_file_equals_embed(tmp_path):
    model = _model()
    graph = synthetic_domain(1)
    out = embed_chunked_to_npy(model, graph, tmp_path / "emb.npy", chunk_size=5)
    assert isinstance(out, np.memmap) and out.dtype == np.float32
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), model.embed(graph).numpy(), atol=1e-5, rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npy"]


def test_nan_features_leave_no_file(tmp_path):
    graph = synthetic_domain(1)
    graph.x = graph.x.clone()
    graph.x[3] = float("nan")
    graph.domain = "unseen"
    with pytest.raises(GraphFMError, match="NaN"):
        embed_chunked_to_npy(_model(), graph, tmp_path / "emb.npy", chunk_size=4)
    assert list(tmp_path.iterdir()) == []


def test_embed_to_file_uses_chunks_for_node_level(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "ckpt")
    graph = synthetic_domain(0)
    np.savez(tmp_path / "g.npz", edge_index=graph.edge_index.numpy(), x=graph.x.numpy())
    shape = embed_to_file(tmp_path / "ckpt", str(tmp_path / "g.npz"), tmp_path / "e.npy")
    assert shape == (graph.num_nodes, 16)
    from graphfm.data import load_dataset

    expected = model.embed(load_dataset(str(tmp_path / "g.npz"))).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("workers", [1, 3])
def test_worker_threads_give_the_same_embeddings(workers):
    model = _model(branches="dual")
    graph = synthetic_domain(0)
    threads = torch.get_num_threads()
    parts = list(model.embed_chunks(graph, chunk_size=16, workers=workers))
    assert torch.get_num_threads() == threads
    emb = torch.cat([p[2] for p in parts])
    assert not emb.requires_grad
    torch.testing.assert_close(emb, model.embed(graph), atol=1e-5, rtol=1e-5)


def test_node_embeddings_of_a_graph_set_equal_embed_dataset(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "ckpt")
    gen = torch.Generator().manual_seed(0)
    graphs = [{"x": torch.randn(n, 5, generator=gen), "edge_index": torch.randint(n, (2, 2 * n), generator=gen),
               "y": torch.tensor([i % 2])} for i, n in enumerate((6, 9, 4))]
    torch.save(graphs, tmp_path / "set.pt")
    shape = embed_to_file(tmp_path / "ckpt", str(tmp_path / "set.pt"), tmp_path / "e.npy")
    assert shape == (19, 16)
    expected = model.embed_dataset(str(tmp_path / "set.pt")).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"branches": "dual"}])
def test_progress_counts_the_rows_of_every_layer(tmp_path, kwargs):
    model = _model(**kwargs)
    graph = synthetic_domain(0)
    calls = []
    list(model.embed_chunks(graph, chunk_size=64, progress=lambda done, total: calls.append((done, total))))
    runs = 2 if kwargs else 1
    total = graph.num_nodes * ((model.gcn.num_layers - 1) * runs + 1)
    assert calls[-1] == (total, total) and all(b[0] > a[0] for a, b in zip(calls, calls[1:]))
    out = embed_chunked_to_npy(model, graph, tmp_path / "e.npy", chunk_size=64, progress=True)
    np.testing.assert_allclose(out, model.embed(graph).numpy(), atol=1e-5, rtol=1e-5)

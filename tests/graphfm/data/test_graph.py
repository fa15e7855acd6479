"""Plain-torch graph arrays, edge finishing and the PyG-free ``.npz`` path."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch_geometric.utils import to_undirected as pyg_to_undirected

from graphfm.data import load_dataset, load_graph
from graphfm.data.graph import GraphArrays, to_undirected, undirected_coalesced
from graphfm.data.validate import all_finite
from graphfm.errors import DataError


def test_to_undirected_equals_pyg_and_fast_check_agrees():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        edges = torch.randint(0, 8, (2, 12), generator=gen)
        ours = to_undirected(edges, 8)
        assert torch.equal(ours, pyg_to_undirected(edges, num_nodes=8))
        for cand in (edges, ours):
            assert undirected_coalesced(cand, 8) == torch.equal(pyg_to_undirected(cand, num_nodes=8), cand)


def test_one_direction_unsorted_or_duplicate_is_not_undirected():
    both = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    assert undirected_coalesced(both, 3)
    assert not undirected_coalesced(both[:, :3], 3)                    # 2 -> 1 missing
    assert not undirected_coalesced(both[:, [1, 0, 2, 3]], 3)          # unsorted
    assert not undirected_coalesced(torch.cat([both, both[:, :1]], 1), 3)   # duplicate


def test_graph_arrays_reads_like_data():
    g = GraphArrays(edge_index=torch.tensor([[0, 1], [1, 0]]), x=torch.ones(3, 2))
    assert g.num_nodes == 3 and g.y is None and "x" in g and g["x"].shape == (3, 2)
    with pytest.raises(AttributeError):
        g.text
    g.text = ["a", "b", "c"]
    import copy
    import pickle

    for twin in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert torch.equal(twin.x, g.x) and twin.text == g.text and twin.num_nodes == 3
    data = g.to_data()
    assert data.num_nodes == 3 and data.text == ["a", "b", "c"] and data.x is g.x


def test_all_finite():
    x = torch.randn(100, 4)
    assert all_finite(x) and all_finite(torch.arange(3))
    big = torch.full((4,), 3e38)                  # finite, but its sum overflows: the exact check decides
    assert all_finite(big)
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[7, 2] = bad
        assert not all_finite(y)


def _write(path, n=50, seed=0, directed=True):
    rng = np.random.default_rng(seed)
    ei = rng.integers(0, n, size=(2, 4 * n))
    if not directed:
        ei = to_undirected(torch.from_numpy(ei), n).numpy()
    np.savez(path, edge_index=ei, x=rng.normal(size=(n, 6)).astype(np.float64), y=rng.integers(0, 3, n))
    return path


@pytest.mark.parametrize("directed", [True, False])
def test_npz_graph_equals_load_dataset(tmp_path, directed):
    path = str(_write(tmp_path / "g.npz", directed=directed))
    light, full = load_graph(path, arrays=True), load_dataset(path)
    assert type(light).__name__ == "GraphArrays" and type(full).__name__ == "Data"
    for key in ("x", "edge_index", "y"):
        assert torch.equal(light[key], full[key]) and light[key].dtype == full[key].dtype
    assert light.num_nodes == full.num_nodes and light.domain == full.domain == "g"


def test_npz_graph_is_validated(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, edge_index=np.array([[0, 5], [1, 0]]), x=np.ones((3, 2), np.float32))
    with pytest.raises(DataError, match="point outside the 3 nodes"):
        load_graph(str(path), arrays=True)


def test_npz_graph_does_not_import_pyg(tmp_path):
    path = _write(tmp_path / "g.npz")
    code = ("import sys; from graphfm.data import load_graph; g = load_graph(sys.argv[1], arrays=True); "
            "assert 'torch_geometric' not in sys.modules, 'PyG imported'; print(g.num_nodes)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "50"

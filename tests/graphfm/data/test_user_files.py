"""Users' own .npz / .pt graphs: round trips and clear errors on bad input."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphfm.data import load_dataset
from graphfm.errors import DataError

EDGES = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 1, 0, -1])


def _save_npz(path, edge_index=EDGES, x=X, y=Y):
    arrays = dict(edge_index=np.asarray(edge_index), x=np.asarray(x))
    if y is not None:
        arrays["y"] = np.asarray(y)
    np.savez(path, **arrays)
    return str(path)


def _undirected(ei):
    return torch.cat([ei, ei.flip(0)], 1)


def test_npz_roundtrip(tmp_path):
    path = _save_npz(tmp_path / "mine.npz", edge_index=EDGES.int().numpy(), x=X.double().numpy())
    data = load_dataset(path)
    assert data.x.dtype == torch.float32 and torch.allclose(data.x, X)
    assert data.edge_index.dtype == torch.long and data.edge_index.size(1) == 8
    assert set(map(tuple, data.edge_index.T.tolist())) == set(map(tuple, _undirected(EDGES).T.tolist()))
    assert torch.equal(data.y, Y) and data.domain == "mine"


def test_pt_data_and_dict_roundtrip(tmp_path):
    torch.save(Data(x=X, edge_index=EDGES, y=Y, text=list("abcde")), tmp_path / "g.pt")
    data = load_dataset(tmp_path / "g.pt")
    assert torch.equal(data.x, X) and data.text == list("abcde") and data.edge_index.size(1) == 8
    torch.save({"edge_index": EDGES, "x": X}, tmp_path / "d.pt")
    assert torch.equal(load_dataset(str(tmp_path / "d.pt")).x, X)


def test_missing_features_become_structural(tmp_path):
    torch.save({"edge_index": EDGES}, tmp_path / "bare.pt")
    data = load_dataset(tmp_path / "bare.pt")
    assert data.x.shape == (5, 11) and torch.isfinite(data.x).all()


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_corrupt_file(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00\x01 not a graph")
    with pytest.raises(DataError, match="broken"):
        load_dataset(path)


def test_missing_file_and_missing_key(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nope.npz")
    np.savez(tmp_path / "noedges.npz", x=X.numpy())
    with pytest.raises(DataError, match="no 'edge_index'"):
        load_dataset(tmp_path / "noedges.npz")


def test_out_of_range_edge(tmp_path):
    path = _save_npz(tmp_path / "g.npz", edge_index=torch.tensor([[0, 1, 2], [1, 7, 3]]))
    with pytest.raises(DataError, match=r"1 edges point outside the 5 nodes \(first: edge 1, \[1, 7\]\)"):
        load_dataset(path)


def test_negative_and_float_edges(tmp_path):
    with pytest.raises(DataError, match="negative"):
        load_dataset(_save_npz(tmp_path / "n.npz", edge_index=torch.tensor([[0, -2], [1, 3]])))
    with pytest.raises(DataError, match="integers"):
        load_dataset(_save_npz(tmp_path / "f.npz", edge_index=EDGES.double()))


def test_nan_feature(tmp_path):
    x = X.clone()
    x[3, 2] = float("nan")
    x[4, 0] = float("inf")
    with pytest.raises(DataError, match=r"2 feature values are NaN or Inf in 2 nodes \(first: node 3\)"):
        load_dataset(_save_npz(tmp_path / "g.npz", x=x))


def test_bad_labels(tmp_path):
    with pytest.raises(DataError, match=r"labels are out of range \(first: index 2, label -3\)"):
        load_dataset(_save_npz(tmp_path / "g.npz", y=torch.tensor([0, 1, -3, 1, 0])))
    with pytest.raises(DataError, match="int64"):
        load_dataset(_save_npz(tmp_path / "h.npz", y=torch.tensor([0.5, 1, 0, 1, 0])))


def test_pt_graph_set(tmp_path):
    graphs = [Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([i % 2]))
              for i in range(4)]
    torch.save(graphs, tmp_path / "set.pt")
    loaded = load_dataset(tmp_path / "set.pt")
    assert isinstance(loaded, list) and len(loaded) == 4
    assert [int(g.y) for g in loaded] == [0, 1, 0, 1] and loaded[0].edge_index.size(1) == 4
    graphs[1].x = torch.ones(3, 5)
    torch.save(graphs, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="feature dim"):
        load_dataset(tmp_path / "bad.pt")

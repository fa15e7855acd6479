"""validate_graph / validate_dataset report count and first offending index."""
import pytest
import torch
from torch_geometric.data import Data

from graphfm.data import validate_dataset, validate_graph
from graphfm.errors import DataError


def _graph(n=4, f=3, y=None):
    return Data(x=torch.zeros(n, f), edge_index=torch.tensor([[0, 1], [1, 0]]),
                y=torch.zeros(n, dtype=torch.long) if y is None else y)


def test_valid_graph_passes_and_unlabelled_allowed():
    g = _graph(y=torch.tensor([0, -1, 2, 1]))
    assert validate_graph(g, "g", num_classes=3) is g


def test_label_out_of_range_with_num_classes():
    with pytest.raises(DataError, match=r"'g': 1 labels are out of range \(first: index 2, label 3\)"):
        validate_graph(_graph(y=torch.tensor([0, 1, 3, 2])), "g", num_classes=3)


def test_edge_errors():
    g = _graph()
    g.edge_index = torch.tensor([[0, 4, 5], [1, 0, 0]])
    with pytest.raises(DataError, match=r"2 edges point outside the 4 nodes \(first: edge 1"):
        validate_graph(g, "g")
    g.edge_index = torch.tensor([[0, 1, 2]])
    with pytest.raises(DataError, match=r"shape \[2, E\]"):
        validate_graph(g, "g")
    g.edge_index = torch.tensor([[0, 1], [1, 0]], dtype=torch.int32)
    with pytest.raises(DataError, match="int64"):
        validate_graph(g, "g")


def test_wrong_feature_dtype_and_shape():
    g = _graph()
    g.x = g.x.double()
    with pytest.raises(DataError, match="float32"):
        validate_graph(g, "g")
    g.x = torch.zeros(4)
    with pytest.raises(DataError, match="2-D"):
        validate_graph(g, "g")


def _set(n=3):
    return [Data(x=torch.zeros(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([i % 2]))
            for i in range(n)]


def test_graph_set_checks():
    graphs = _set()
    assert validate_dataset(graphs, "s", num_classes=2) == graphs
    graphs[2].x = torch.zeros(3, 5)
    with pytest.raises(DataError, match=r"1 graphs have a feature dim other than graph 0's 2 \(first: gr"):
        validate_dataset(graphs, "s")
    graphs = _set()
    graphs[1].edge_index = torch.tensor([[0, 3], [1, 0]])
    with pytest.raises(DataError, match=r"edges point outside their graph \(first: graph 1, edge 1"):
        validate_dataset(graphs, "s")
    graphs = _set()
    graphs[2].x[1, 1] = float("nan")
    with pytest.raises(DataError, match=r"first: graph 2, node 1"):
        validate_dataset(graphs, "s")
    graphs = _set()
    graphs[1].y = torch.tensor([4])
    with pytest.raises(DataError, match=r"graph 1, label 4"):
        validate_dataset(graphs, "s", num_classes=2)
    with pytest.raises(DataError, match="no graphs"):
        validate_dataset([], "s")

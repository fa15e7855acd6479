"""The digits image graph (scikit-learn's handwritten digits)."""
import torch

import graphfm.data.digits  # noqa: F401  (registers digits-graph)
from graphfm.data import load_dataset
from graphfm.data.digits import DIGIT_NAMES, digits_graph, knn_edges


def test_digits_graph_shape_and_modalities():
    data = load_dataset("digits-graph")
    assert data.num_nodes == 1797 and data.x.shape == (1797, 64)
    assert data.image.shape == (1797, 1, 32, 32) and data.image.min() >= 0 and data.image.max() <= 1
    assert len(data.text) == 1797 and data.text[0] == f"a handwritten digit {DIGIT_NAMES[int(data.y[0])]}"
    assert data.y.unique().tolist() == list(range(10)) and data.domain == "digits-graph"
    ei = data.edge_index
    assert (ei[0] != ei[1]).all()                                          # no self-loops
    degree = torch.bincount(ei[0], minlength=1797)
    assert degree.min() >= 10                                              # k = 10, symmetrised
    # kNN in pixel space links mostly images of the same digit
    assert (data.y[ei[0]] == data.y[ei[1]]).float().mean() > 0.9
    assert digits_graph(k=3, image_size=16).image.shape == (1797, 1, 16, 16)


def test_knn_edges_are_undirected():
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    ei = knn_edges(x, 1)
    assert set(map(tuple, ei.t().tolist())) == {(0, 1), (1, 0), (2, 3), (3, 2)}

"""The per-graph CSR cache the samplers share: built once, rebuilt when the edges change."""
import torch
from torch_geometric.data import Data

from graphfm.data.sampling import cached_csr, k_hop_subgraphs, to_csr


def _graph():
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    return Data(x=torch.randn(4, 3), edge_index=ei, num_nodes=4)


def test_cached_once_and_equal_to_to_csr():
    data = _graph()
    first = cached_csr(data)
    assert cached_csr(data) is first
    for a, b in zip(first, to_csr(data.edge_index, 4)):
        assert torch.equal(a, b)
    k_hop_subgraphs(data, torch.tensor([0, 3]), hops=1)
    assert cached_csr(data) is first          # the sampler reused it


def test_rebuilt_after_replacing_or_editing_edges():
    data = _graph()
    first = cached_csr(data)
    data.edge_index = torch.tensor([[0, 3], [3, 0]])
    rowptr, col = cached_csr(data)
    assert rowptr.tolist() == [0, 1, 1, 1, 2] and col.tolist() == [3, 0]
    data.edge_index[1, 0] = 2                 # in place: the tensor's version changes
    rowptr, col = cached_csr(data)
    assert col.tolist() == [2, 0] and rowptr is not first[0]


def test_unsorted_edges_are_sorted_within_rows():
    ei = torch.tensor([[2, 0, 2, 1], [1, 2, 0, 2]])
    rowptr, col = to_csr(ei, 3)
    assert rowptr.tolist() == [0, 1, 2, 4] and col.tolist() == [2, 2, 0, 1]

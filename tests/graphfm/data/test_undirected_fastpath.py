"""Loading skips to_undirected for edges that are already undirected and coalesced."""
import torch
from torch_geometric.utils import to_undirected

from graphfm.data.registry import _undirected_coalesced


def test_agrees_with_to_undirected_on_random_graphs():
    for seed in range(100):
        gen = torch.Generator().manual_seed(seed)
        edges = torch.randint(8, (2, int(torch.randint(1, 30, (1,), generator=gen))), generator=gen)
        for cand in (edges, to_undirected(edges, num_nodes=8)):
            assert _undirected_coalesced(cand, 8) == torch.equal(to_undirected(cand, num_nodes=8), cand)


def test_one_direction_or_unsorted_is_not_undirected():
    both = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    assert _undirected_coalesced(both, 3)
    assert not _undirected_coalesced(both[:, :3], 3)                  # 2 -> 1 missing
    assert not _undirected_coalesced(both[:, [1, 0, 2, 3]], 3)        # unsorted
    assert not _undirected_coalesced(torch.cat([both, both[:, :1]], 1), 3)   # duplicate

"""Samplers against scipy / PyG references on small random graphs."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path
from torch_geometric.data import Batch, Data
from torch_geometric.utils import coalesce, erdos_renyi_graph, k_hop_subgraph, subgraph

from graphfm.data import make_sbm, sampling
from graphfm.errors import DataError


def _random_graph(n, p, seed):
    torch.manual_seed(seed)
    ei = erdos_renyi_graph(n, p)
    return Data(x=torch.randn(n, 4), edge_index=ei, y=torch.randint(0, 3, (n,)))


@pytest.mark.parametrize("seed,cutoff", [(0, 1), (1, 2), (2, 3), (3, 10)])
def test_bfs_matches_scipy(seed, cutoff):
    g = _random_graph(80, 0.03, seed)
    ei, n = g.edge_index, g.num_nodes
    sources = torch.tensor([0, 5, 17, 79, 5])
    dist = sampling.bfs_distances(ei, n, sources, cutoff)
    adj = sp.csr_matrix((np.ones(ei.size(1)), ei.numpy()), shape=(n, n))
    ref = shortest_path(adj, unweighted=True, indices=sources.numpy())
    ref = np.where(ref <= cutoff, ref, sampling.UNREACHABLE).astype(np.int64)
    assert np.array_equal(dist.numpy(), ref)
    src_pos, node, d = sampling.bfs_distances(ei, n, sources, cutoff, dense=False)
    assert torch.equal(dist[src_pos, node], d) and int((dist >= 0).sum()) == d.numel()


def test_csr():
    g = _random_graph(30, 0.2, 0)
    rowptr, col = sampling.to_csr(g.edge_index, 30)
    for u in (0, 7, 29):
        expected = torch.sort(g.edge_index[1][g.edge_index[0] == u])[0]
        assert torch.equal(col[rowptr[u]:rowptr[u + 1]], expected)


def test_k_hop_matches_pyg():
    g = _random_graph(70, 0.05, 4)
    centers = torch.tensor([3, 3, 40, 69])
    subs = sampling.k_hop_subgraphs(g, centers, hops=2)
    for c, s in zip(centers.tolist(), subs):
        subset = k_hop_subgraph(c, 2, g.edge_index, num_nodes=70)[0]
        assert torch.equal(s.node_ids, torch.sort(subset)[0])
        assert int(s.node_ids[s.center_index]) == c
        ref, _ = subgraph(s.node_ids, g.edge_index, relabel_nodes=True, num_nodes=70)
        assert torch.equal(coalesce(ref), coalesce(s.edge_index))
        assert torch.equal(s.x, g.x[s.node_ids]) and torch.equal(s.y, g.y[s.node_ids])


def test_batch_form_equals_list_form():
    g = _random_graph(60, 0.06, 5)
    centers = torch.tensor([1, 2, 30])
    subs = sampling.k_hop_subgraphs(g, centers, hops=2)
    batch = sampling.k_hop_subgraphs(g, centers, hops=2, as_batch=True)
    ref = Batch.from_data_list(subs)
    assert torch.equal(batch.edge_index, ref.edge_index) and torch.equal(batch.batch, ref.batch)
    assert torch.equal(batch.center_index, ref.center_index)  # PyG offsets center_index
    assert torch.equal(batch.x[batch.center_index], g.x[centers])


def test_max_degree_bounds_egos_around_hubs():
    g = make_sbm(3000, degree="powerlaw", avg_degree=10, seed=1)
    hub = torch.bincount(g.edge_index[0]).argmax().view(1)
    full = sampling.k_hop_subgraphs(g, hub, hops=2)[0]
    capped = sampling.k_hop_subgraphs(g, hub, hops=2, max_degree=5)[0]
    assert capped.num_nodes <= 1 + 5 + 25 < full.num_nodes
    assert set(capped.node_ids.tolist()) <= set(full.node_ids.tolist())


def test_random_walk_subgraphs():
    g = _random_graph(100, 0.04, 6)
    centers = torch.tensor([0, 10, 20])
    subs = sampling.random_walk_subgraphs(g, centers, walk_length=4, num_walks=8, max_nodes=6, seed=3)
    again = sampling.random_walk_subgraphs(g, centers, walk_length=4, num_walks=8, max_nodes=6, seed=3)
    dist = sampling.bfs_distances(g.edge_index, 100, centers, cutoff=4)
    for i, (s, t) in enumerate(zip(subs, again)):
        assert torch.equal(s.node_ids, t.node_ids)
        assert 1 <= s.num_nodes <= 6 and int(s.node_ids[s.center_index]) == int(centers[i])
        assert (dist[i, s.node_ids] >= 0).all()  # every visited node is within walk_length hops


def test_ego_graph_dataset_labels_by_centre():
    g = _random_graph(50, 0.08, 7)
    nodes = torch.tensor([4, 9, 33])
    egos = sampling.ego_graph_dataset(g, nodes, hops=1)
    assert [int(e.y) for e in egos] == g.y[nodes].tolist()
    assert all(e.y.shape == (1,) for e in egos)
    with pytest.raises(DataError, match="one label per node"):
        unlabelled = Data(x=torch.zeros(3, 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
        sampling.ego_graph_dataset(unlabelled, nodes[:1])


def test_bad_centres():
    g = _random_graph(10, 0.3, 8)
    with pytest.raises(DataError, match="centre nodes must be in"):
        sampling.k_hop_subgraphs(g, torch.tensor([10]))
    with pytest.raises(DataError, match="sources"):
        sampling.bfs_distances(g.edge_index, 10, torch.tensor([-1]), 2)


def test_scales_to_a_large_graph():
    g = make_sbm(100_000, num_classes=5, avg_degree=10, degree="powerlaw", seed=0)
    dist = sampling.bfs_distances(g.edge_index, g.num_nodes, torch.arange(50), cutoff=2, dense=False)
    egos = sampling.k_hop_subgraphs(g, torch.arange(200), hops=2, max_degree=10, as_batch=True)
    assert dist[0].numel() > 50 and egos.ptr.numel() == 201

"""Deterministic structural node features for graphs that have no features.

Used for LastFMAsia (whose features file is not available offline) and for user
graphs without ``x``. Columns (:data:`STRUCTURAL_FEATURES`), each z-scored over the
nodes of the graph:

0. ``log_degree``: ``log(1 + deg)``;
1-4. ``nbr_mean`` / ``nbr_std`` / ``nbr_min`` / ``nbr_max``: statistics of the
   neighbours' log-degrees (0 for isolated nodes);
5. ``clustering``: local clustering coefficient (triangles / possible triangles);
6. ``log_two_hop``: ``log(1 + |2-hop neighbourhood|)`` (walks of length 2, not
   de-duplicated);
7-9. ``rw_return_2`` .. ``rw_return_4``: probability that a random walk returns to
   its start after 2, 3, 4 steps (the random-walk structural encoding of GraphGPS,
   https://arxiv.org/abs/2205.12454);
10. ``log_pagerank``: ``log(N * PageRank)`` (damping 0.85, 30 power iterations).

All of it is sparse matrix algebra (scipy), cheap for graphs of ~10^5 edges.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

STRUCTURAL_FEATURES = (
    "log_degree", "nbr_mean", "nbr_std", "nbr_min", "nbr_max", "clustering",
    "log_two_hop", "rw_return_2", "rw_return_3", "rw_return_4", "log_pagerank",
)


def structural_features(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Structural features of an undirected graph, float32 ``[num_nodes, 11]``.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` edges, both directions present.
        num_nodes (int): Number of nodes.
    """
    row, col = edge_index.cpu().numpy()
    keep = row != col
    adj = sp.csr_matrix((np.ones(int(keep.sum())), (row[keep], col[keep])), shape=(num_nodes, num_nodes))
    adj.data[:] = 1.0  # duplicate edges count once
    deg = np.asarray(adj.sum(1)).ravel()
    logdeg = np.log1p(deg)
    cols = [logdeg, *_neighbour_stats(adj, logdeg), _clustering(adj, deg)]
    a2 = adj @ adj
    cols.append(np.log1p(np.asarray(a2.sum(1)).ravel()))
    inv = sp.diags(np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0))
    p = inv @ adj
    p2 = p @ p
    cols += [np.asarray(p2.diagonal()).ravel(),
             np.asarray(p2.multiply(p.T).sum(1)).ravel(),
             np.asarray(p2.multiply(p2.T).sum(1)).ravel()]
    cols.append(np.log(num_nodes * _pagerank(p, deg) + 1e-12))
    feats = np.stack(cols, axis=1)
    std = feats.std(0)
    feats = (feats - feats.mean(0)) / np.where(std > 0, std, 1.0)
    return torch.from_numpy(feats.astype(np.float32))


def _neighbour_stats(adj: sp.csr_matrix, value: np.ndarray):
    deg = np.diff(adj.indptr)
    nbr = value[adj.indices]
    seg = np.repeat(np.arange(adj.shape[0]), deg)
    safe = np.maximum(deg, 1)
    mean = np.bincount(seg, nbr, minlength=adj.shape[0]) / safe
    sq = np.bincount(seg, nbr ** 2, minlength=adj.shape[0]) / safe
    std = np.sqrt(np.maximum(sq - mean ** 2, 0.0))
    lo = np.full(adj.shape[0], np.inf)
    hi = np.full(adj.shape[0], -np.inf)
    np.minimum.at(lo, seg, nbr)
    np.maximum.at(hi, seg, nbr)
    empty = deg == 0
    lo[empty] = hi[empty] = 0.0
    return mean, std, lo, hi


def _clustering(adj: sp.csr_matrix, deg: np.ndarray) -> np.ndarray:
    triangles = np.asarray((adj @ adj).multiply(adj).sum(1)).ravel() / 2.0
    pairs = deg * (deg - 1) / 2.0
    return np.where(pairs > 0, triangles / np.maximum(pairs, 1), 0.0)


def _pagerank(p: sp.csr_matrix, deg: np.ndarray, alpha: float = 0.85, iters: int = 30) -> np.ndarray:
    n = p.shape[0]
    rank = np.full(n, 1.0 / n)
    pt = p.T.tocsr()
    dangling = deg == 0
    for _ in range(iters):
        rank = alpha * (pt @ rank + rank[dangling].sum() / n) + (1 - alpha) / n
    return rank

"""Plain-torch graph samplers: CSR, multi-source BFS, k-hop ego-graphs, random walks.

No torch-sparse / pyg-lib is needed: everything is vectorised over all centres at once
with a CSR adjacency (``rowptr``, ``col``), so it scales to graphs with hundreds of
thousands of nodes and millions of edges. Sets of visited ``(group, node)`` pairs are
kept as sorted int64 keys ``group * N + node``.

Example::

    from graphfm.data import load_dataset, sampling

    g = load_dataset("Cora")
    dist = sampling.bfs_distances(g.edge_index, g.num_nodes, torch.tensor([0, 5]), cutoff=3)
    egos = sampling.k_hop_subgraphs(g, torch.arange(8), hops=2)        # list[Data]
    batch = sampling.k_hop_subgraphs(g, torch.arange(8), hops=2, as_batch=True)
    walks = sampling.random_walk_subgraphs(g, torch.arange(8), walk_length=8, num_walks=16)
    ego_set = sampling.ego_graph_dataset(g, torch.arange(100), hops=2)  # graph labels = centre's
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphfm.errors import DataError

UNREACHABLE = -1

__all__ = ["to_csr", "cached_csr", "bfs_distances", "k_hop_subgraphs", "ego_graphs", "random_walk_subgraphs",
           "ego_graph_dataset", "induced_subgraphs", "UNREACHABLE"]


def to_csr(edge_index: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    """CSR form ``(rowptr [N + 1], col [E])`` of ``edge_index``, rows sorted by source."""
    row, col = edge_index
    if row.numel() and (int(row.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise DataError(f"edge_index has node indices outside [0, {num_nodes}); validate the graph")
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.bincount(row, minlength=num_nodes).cumsum(0)
    key = row * num_nodes + col
    if key.numel() > 1 and not bool((key[1:] >= key[:-1]).all()):   # coalesced graphs are sorted already
        return rowptr, col[torch.argsort(key)]
    return rowptr, col.clone()


def cached_csr(data: Data) -> Tuple[Tensor, Tensor]:
    """:func:`to_csr` of ``data.edge_index``, built once per graph and kept on ``data``.

    The samplers below call it, so a data module that samples the same graph every step
    sorts its edges once, not once per call. The cache is keyed by the edge tensor's
    identity, version and shape, so replacing or modifying ``data.edge_index`` in place
    rebuilds it; it lives in ``data.__dict__`` (not a graph attribute: batching, saving and
    ``clone`` of the storage ignore it).

    Args:
        data (Data): The graph.
    """
    ei = data.edge_index
    key = (id(ei), ei._version, tuple(ei.shape), int(data.num_nodes))
    hit = data.__dict__.get("_graphfm_csr")
    if hit is not None and hit[0] == key:
        return hit[1]
    csr = to_csr(ei, int(data.num_nodes))
    data.__dict__["_graphfm_csr"] = (key, csr, ei)   # holding ei keeps its id from being reused
    return csr


def _neighbours(rowptr: Tensor, col: Tensor, group: Tensor, node: Tensor,
                max_degree: Optional[int] = None, gen: Optional[torch.Generator] = None
                ) -> Tuple[Tensor, Tensor]:
    """All ``(group, neighbour)`` pairs of the ``(group, node)`` pairs.

    With ``max_degree``, a node of larger degree contributes ``max_degree`` neighbours
    drawn uniformly with replacement instead of all of them.
    """
    start, deg = rowptr[node], rowptr[node + 1] - rowptr[node]
    if max_degree is not None:
        big = deg > max_degree
        if big.any():
            g_small, n_small = _neighbours(rowptr, col, group[~big], node[~big])
            reps = torch.full((int(big.sum()),), max_degree, dtype=torch.long)
            g_big = group[big].repeat_interleave(reps)
            off = (torch.rand(g_big.numel(), generator=gen) * deg[big].repeat_interleave(reps)).long()
            n_big = col[start[big].repeat_interleave(reps) + off]
            return torch.cat([g_small, g_big]), torch.cat([n_small, n_big])
    owner = torch.repeat_interleave(torch.arange(node.numel()), deg)
    offset = torch.arange(owner.numel()) - (deg.cumsum(0) - deg)[owner]
    return group[owner], col[start[owner] + offset]


def _bfs_pairs(rowptr: Tensor, col: Tensor, sources: Tensor, cutoff: int,
               max_degree: Optional[int] = None, gen: Optional[torch.Generator] = None
               ) -> Tuple[Tensor, Tensor]:
    """Sorted keys ``group * N + node`` of every node within ``cutoff`` hops, and their hops."""
    n = rowptr.numel() - 1
    group = torch.arange(sources.numel())
    keys = [group * n + sources]
    dists = [torch.zeros(sources.numel(), dtype=torch.long)]
    visited, _ = torch.sort(keys[0])
    frontier_g, frontier_u = group, sources
    for hop in range(1, cutoff + 1):
        g, v = _neighbours(rowptr, col, frontier_g, frontier_u, max_degree, gen)
        new = torch.unique(g * n + v)
        new = new[~torch.isin(new, visited)]
        if new.numel() == 0:
            break
        keys.append(new)
        dists.append(torch.full((new.numel(),), hop, dtype=torch.long))
        visited, _ = torch.sort(torch.cat([visited, new]))
        frontier_g, frontier_u = new // n, new % n
    key, dist = torch.cat(keys), torch.cat(dists)
    order = torch.argsort(key)
    return key[order], dist[order]


def bfs_distances(edge_index: Tensor, num_nodes: int, sources: Tensor, cutoff: int,
                  dense: bool = True) -> Union[Tensor, Tuple[Tensor, Tensor, Tensor]]:
    """Shortest-path hop distances from many sources at once, up to ``cutoff``.

    Args:
        edge_index (Tensor): ``[2, E]`` edges (followed in the direction given; pass an
            undirected graph for undirected distances).
        num_nodes (int): Number of nodes ``N``.
        sources (Tensor): ``[S]`` source nodes.
        cutoff (int): Largest distance explored.
        dense (bool): Return a ``[S, N]`` long matrix where nodes farther than
            ``cutoff`` (or unreachable) hold :data:`UNREACHABLE` (``-1``); else the
            sparse triple ``(source_pos [M], node [M], dist [M])`` of reached pairs
            (use it when ``S * N`` is large). (default: ``True``)
    """
    sources = torch.as_tensor(sources, dtype=torch.long).view(-1)
    if cutoff < 0:
        raise DataError(f"bfs cutoff must be >= 0, got {cutoff}")
    if sources.numel() and (int(sources.min()) < 0 or int(sources.max()) >= num_nodes):
        raise DataError(f"bfs sources must be node indices in [0, {num_nodes})")
    rowptr, col = to_csr(edge_index, num_nodes)
    key, dist = _bfs_pairs(rowptr, col, sources, cutoff)
    src_pos, node = key // num_nodes, key % num_nodes
    if not dense:
        return src_pos, node, dist
    out = torch.full((sources.numel(), num_nodes), UNREACHABLE, dtype=torch.long)
    out[src_pos, node] = dist
    return out


def induced_subgraphs(data: Data, key: Tensor, centers: Tensor, as_batch: bool = False,
                      rowptr_col: Optional[Tuple[Tensor, Tensor]] = None) -> Union[List[Data], Data]:
    """Subgraphs induced by the sorted ``group * N + node`` keys (one group per centre).

    Each subgraph has ``x``, ``edge_index`` (local), ``node_ids`` (original ids),
    ``center_index`` (``[1]``, local index of its centre; PyG's ``Batch`` offsets it like
    ``edge_index``) and, for node-labelled ``data``, ``y`` per node. ``as_batch=True``
    returns them as one batched ``Data`` with ``batch``, ``ptr`` and ``center_index``
    (``[C]``, the centres' positions in the batch) instead.
    """
    n = data.num_nodes
    rowptr, col = rowptr_col if rowptr_col is not None else cached_csr(data)
    group, node = key // n, key % n
    counts = torch.bincount(group, minlength=centers.numel())
    ptr = torch.zeros(centers.numel() + 1, dtype=torch.long)
    ptr[1:] = counts.cumsum(0)
    g, v = _neighbours(rowptr, col, torch.arange(key.numel()), node)  # g = position of the source
    nkey = group[g] * n + v
    pos = torch.searchsorted(key, nkey).clamp(max=key.numel() - 1)
    hit = key[pos] == nkey
    edge_index = torch.stack([g[hit], pos[hit]])
    center_pos = torch.searchsorted(key, torch.arange(centers.numel()) * n + centers)
    batch = Data(x=data.x[node] if data.x is not None else None, edge_index=edge_index,
                 node_ids=node, batch=group, ptr=ptr, center_index=center_pos)
    y = getattr(data, "y", None)
    if y is not None and y.numel() == n:
        batch.y = y[node]
    if as_batch:
        return batch
    return _split(batch, centers.numel())


def _split(batch: Data, num: int) -> List[Data]:
    ptr, ei = batch.ptr, batch.edge_index
    eptr = torch.searchsorted(ei[0], ptr)  # edges are sorted by source position
    out = []
    for i in range(num):
        a, b, ea, eb = int(ptr[i]), int(ptr[i + 1]), int(eptr[i]), int(eptr[i + 1])
        sub = Data(edge_index=ei[:, ea:eb] - a, node_ids=batch.node_ids[a:b],
                   center_index=batch.center_index[i:i + 1] - a, num_nodes=b - a)
        if batch.x is not None:
            sub.x = batch.x[a:b]
        if "y" in batch:
            sub.y = batch.y[a:b]
        out.append(sub)
    return out


def k_hop_subgraphs(data: Data, centers: Tensor, hops: int = 2, max_degree: Optional[int] = None,
                    as_batch: bool = False, seed: int = 0) -> Union[List[Data], Data]:
    """The ``hops``-hop ego-graph of every centre, extracted all at once.

    Args:
        data (Data): The graph (undirected ``edge_index``).
        centers (Tensor): ``[C]`` centre nodes (repeats allowed).
        hops (int): Radius. (default: ``2``)
        max_degree (int, optional): Expand at most this many (uniformly sampled)
            neighbours of a node per hop, bounding ego-graphs around hubs. The induced
            edges among the kept nodes are all kept. (default: ``None``: all)
        as_batch (bool): Return one batched ``Data`` (see :func:`induced_subgraphs`)
            instead of a list. (default: ``False``)
        seed (int): Seed for ``max_degree`` sampling. (default: ``0``)
    """
    centers = torch.as_tensor(centers, dtype=torch.long).view(-1)
    _check_centers(centers, data.num_nodes)
    rowptr, col = cached_csr(data)
    gen = torch.Generator().manual_seed(seed)
    key, _ = _bfs_pairs(rowptr, col, centers, hops, max_degree, gen)
    return induced_subgraphs(data, key, centers, as_batch, (rowptr, col))


ego_graphs = k_hop_subgraphs
"""Alias of :func:`k_hop_subgraphs`."""


def random_walk_subgraphs(data: Data, centers: Tensor, walk_length: int = 8, num_walks: int = 16,
                          restart_prob: float = 0.3, max_nodes: Optional[int] = None,
                          as_batch: bool = False, seed: int = 0) -> Union[List[Data], Data]:
    """Subgraphs around each centre sampled by random walks with restart (PPR-style).

    ``num_walks`` walkers start at each centre and take ``walk_length`` steps, going
    back to the centre with probability ``restart_prob`` at each step (a walker on an
    isolated node restarts). The visited nodes (the centre always included) induce the
    subgraph; with ``max_nodes``, only the most visited ones are kept (visit counts
    approximate personalised PageRank; ties broken by node id).

    Args:
        data (Data): The graph.
        centers (Tensor): ``[C]`` centre nodes.
        walk_length (int): Steps per walk. (default: ``8``)
        num_walks (int): Walks per centre. (default: ``16``)
        restart_prob (float): Restart probability. (default: ``0.3``)
        max_nodes (int, optional): Keep at most this many nodes per subgraph. (default: ``None``)
        as_batch (bool): Return one batched ``Data``. (default: ``False``)
        seed (int): Random seed. (default: ``0``)
    """
    centers = torch.as_tensor(centers, dtype=torch.long).view(-1)
    _check_centers(centers, data.num_nodes)
    n = data.num_nodes
    rowptr, col = cached_csr(data)
    deg = rowptr[1:] - rowptr[:-1]
    gen = torch.Generator().manual_seed(seed)
    group = torch.arange(centers.numel()).repeat_interleave(num_walks)
    start = centers[group]
    cur, visits = start, [group * n + start]
    for _ in range(walk_length):
        d = deg[cur]
        idx = rowptr[cur] + (torch.rand(cur.numel(), generator=gen) * d).long()
        step = col[idx.clamp(max=col.numel() - 1)] if col.numel() else cur
        restart = (torch.rand(cur.numel(), generator=gen) < restart_prob) | (d == 0)
        cur = torch.where(restart, start, step)
        visits.append(group * n + cur)
    key, count = torch.unique(torch.cat(visits), return_counts=True)
    if max_nodes is not None:
        key = _top_visited(key, count, centers, n, max_nodes)
    return induced_subgraphs(data, key, centers, as_batch, (rowptr, col))


def _top_visited(key: Tensor, count: Tensor, centers: Tensor, n: int, k: int) -> Tensor:
    group = key // n
    is_center = key == group * n + centers[group]
    score = count.double() + is_center.double() * 1e12  # the centre always survives
    order = torch.argsort(-score, stable=True)
    order = order[torch.argsort(group[order], stable=True)]  # by group, then score
    rank = torch.arange(order.numel()) - torch.searchsorted(group[order], group[order], right=False)
    return torch.sort(key[order][rank < k])[0]


def ego_graph_dataset(data: Data, nodes: Tensor, hops: int = 2,
                      max_degree: Optional[int] = None) -> List[Data]:
    """Graph classification from node labels: the ego-graph of each node, labelled by it.

    Each returned graph has ``x``, ``edge_index``, ``y`` of shape ``[1]`` (the centre's
    class), ``center_index``, ``node_ids`` and the ``domain`` / ``name`` of ``data``.

    Args:
        data (Data): A node-labelled graph.
        nodes (Tensor): ``[C]`` centre nodes (typically the labelled ones).
        hops (int): Ego-graph radius. (default: ``2``)
        max_degree (int, optional): See :func:`k_hop_subgraphs`. (default: ``None``)
    """
    if getattr(data, "y", None) is None or data.y.numel() != data.num_nodes:
        raise DataError("ego_graph_dataset needs a graph with one label per node (data.y of shape [N])")
    nodes = torch.as_tensor(nodes, dtype=torch.long).view(-1)
    graphs = k_hop_subgraphs(data, nodes, hops, max_degree)
    for g, c in zip(graphs, nodes.tolist()):
        g.y = data.y[c].view(1)
        g.domain = getattr(data, "domain", None)
        g.name = getattr(data, "name", None)
    return graphs


def _check_centers(centers: Tensor, n: int) -> None:
    if centers.numel() == 0:
        raise DataError("no centre nodes given")
    if int(centers.min()) < 0 or int(centers.max()) >= n:
        raise DataError(f"centre nodes must be in [0, {n}); got {int(centers.min())}..{int(centers.max())}")

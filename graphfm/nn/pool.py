"""Readouts: ego-network members and mean pooling as sparse matrices."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from graphfm.nn.propagation import NormalizedAdjacency, SparseMatrix

__all__ = ["ego_members", "mean_pool_matrix"]


def ego_members(adj: NormalizedAdjacency, centres: Tensor, hops: int = 1, max_neighbours: Optional[int] = None,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Members of the ``hops``-hop ego-network of every centre.

    Args:
        adj (NormalizedAdjacency): The graph.
        centres (Tensor): ``[C]`` centre nodes.
        hops (int): Radius (``0`` gives the centre alone). (default: ``1``)
        max_neighbours (int, optional): Expand at most this many neighbours of a node per
            hop, drawn uniformly with replacement (duplicates are merged). (default: ``None``)
        generator (torch.Generator, optional): Generator of that sampling.

    Returns:
        (Tensor, Tensor): ``(item [M], node [M])``: member ``node[m]`` belongs to the ego
        network of ``centres[item[m]]``; sorted by item, each centre listed once.
    """
    n = adj.num_nodes
    centres = centres.long().view(-1)
    item = torch.arange(centres.numel())
    keys = item * n + centres
    frontier_item, frontier_node = item, centres
    for _ in range(hops):
        deg = adj.degree[frontier_node]
        take = deg if max_neighbours is None else deg.clamp(max=max_neighbours)
        owner = torch.repeat_interleave(torch.arange(frontier_node.numel()), take)
        offset = torch.arange(owner.numel()) - (take.cumsum(0) - take)[owner]
        if max_neighbours is not None:
            big = (deg > max_neighbours)[owner]
            offset[big] = (torch.rand(int(big.sum()), generator=generator) * deg[owner[big]]).long()
        nbr = adj.col[adj.rowptr[frontier_node][owner] + offset]
        new = torch.unique(frontier_item[owner] * n + nbr)
        new = new[~torch.isin(new, keys)]
        keys = torch.cat([keys, new])
        frontier_item, frontier_node = new // n, new % n
    keys = torch.sort(keys)[0]
    return keys // n, keys % n


def mean_pool_matrix(item: Tensor, row: Tensor, num_items: int, num_rows: int) -> SparseMatrix:
    """Sparse ``[num_items, num_rows]`` matrix averaging the rows ``row[m]`` of each ``item[m]``."""
    count = torch.bincount(item, minlength=num_items).clamp_min(1).float()
    return SparseMatrix(torch.stack([item, row]), 1.0 / count[item], (num_items, num_rows))

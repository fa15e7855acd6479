"""Data parallelism for the graph data modules: each rank its own share of every batch.

Lightning inserts a :class:`~torch.utils.data.DistributedSampler` only for map-style
datasets; graphfm's loaders are endless :class:`~torch.utils.data.IterableDataset`
streams, so they split themselves with the same semantics: every rank draws the same
*global* batch from the same seeded generator, then keeps the items at positions
``rank, rank + world, rank + 2 world, ...`` (DistributedSampler's strided split, without
its padding, so the shares are disjoint and together are exactly the global batch).
The rank is read when iteration starts, once Lightning has set up the process group,
so one loader object serves a single process and every DDP rank alike.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, TypeVar

import torch

T = TypeVar("T")

__all__ = ["rank_and_world", "rank_share", "rank_positions"]


def rank_and_world() -> Tuple[int, int]:
    """``(global rank, world size)`` of the initialised process group, else ``(0, 1)``."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_positions(num_items: int, rank: int, world: int) -> torch.Tensor:
    """Positions ``rank, rank + world, ...`` below ``num_items``: this rank's share of a global batch."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    return torch.arange(rank, int(num_items), world)


def rank_share(items: Sequence[T], rank: int, world: int) -> List[T]:
    """The items of :func:`rank_positions` (e.g. the domains one rank trains on)."""
    return [items[int(i)] for i in rank_positions(len(items), rank, world)]

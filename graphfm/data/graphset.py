"""A set of graphs stored collated, so finalising and validating it is vectorised.

Graph-classification sets (TU datasets, ego-graph sets) have hundreds to thousands of
small graphs; touching each PyG ``Data`` several times is slow. :class:`GraphSet`
keeps them as one node-feature matrix, one edge list with graph-local indices and
pointers, checks everything in a few tensor operations, and only builds the
``list[Data]`` the public API returns at the end (:meth:`GraphSet.to_list`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphfm.errors import DataError


@dataclass
class GraphSet:
    """Graphs ``i = 0..G-1``: nodes ``node_ptr[i]:node_ptr[i+1]`` of ``x``, edges
    ``edge_ptr[i]:edge_ptr[i+1]`` of ``edge_index`` (local to their graph), label ``y[i]``."""

    x: Tensor
    edge_index: Tensor
    y: Tensor
    node_ptr: Tensor
    edge_ptr: Tensor

    @property
    def num_graphs(self) -> int:
        return self.node_ptr.numel() - 1

    @classmethod
    def from_list(cls, graphs: Sequence[Data], name: str = "dataset") -> "GraphSet":
        """Collate ``graphs`` (each with ``x``, ``edge_index`` and a one-entry ``y``)."""
        if not graphs:
            raise DataError(f"dataset '{name}' contains no graphs")
        for i, g in enumerate(graphs):
            if not isinstance(g, Data) or g.x is None or g.edge_index is None or g.y is None:
                raise DataError(f"dataset '{name}': graph {i} needs x, edge_index and y "
                                "(a torch_geometric Data)")
        xs, eis, ys = zip(*((g.x, g.edge_index, g.y) for g in graphs))
        dims = torch.tensor([x.size(1) if x.dim() == 2 else -1 for x in xs])
        wrong = dims != dims[0]
        if wrong.any():
            i = int(wrong.nonzero()[0, 0])
            raise DataError(f"dataset '{name}': {int(wrong.sum())} graphs have a feature dim other than "
                            f"graph 0's {int(dims[0])} (first: graph {i} with {int(dims[i])}); all graphs "
                            "of a set must share one feature space")
        for i, ei in enumerate(eis):
            if ei.dim() != 2 or ei.size(0) != 2:
                raise DataError(f"dataset '{name}': graph {i} edge_index must be [2, E], "
                                f"got {tuple(ei.shape)}")
        ys = [y.view(-1) for y in ys]
        bad = [i for i, y in enumerate(ys) if y.numel() != 1]
        if bad:
            raise DataError(f"dataset '{name}': {len(bad)} graphs have a label y with other than one "
                            f"entry (first: graph {bad[0]}); graph sets need one label per graph")
        return cls(x=torch.cat(xs), edge_index=torch.cat(eis, dim=1), y=torch.cat(ys),
                   node_ptr=_ptr([x.size(0) for x in xs]), edge_ptr=_ptr([e.size(1) for e in eis]))

    def edge_graph(self) -> Tensor:
        """Graph id of every edge."""
        counts = self.edge_ptr[1:] - self.edge_ptr[:-1]
        return torch.repeat_interleave(torch.arange(self.num_graphs), counts)

    def global_edge_index(self) -> Tensor:
        """``[2, E]`` edges indexed into the collated nodes (graph ``i``'s shifted by ``node_ptr[i]``)."""
        return self.edge_index + self.node_ptr[self.edge_graph()]

    def make_undirected(self) -> "GraphSet":
        """Make every graph's edges undirected and coalesced (one global pass)."""
        glob = to_undirected(self.global_edge_index(), num_nodes=int(self.node_ptr[-1]))
        graph = torch.searchsorted(self.node_ptr, glob[0], right=True) - 1
        self.edge_ptr = torch.searchsorted(glob[0], self.node_ptr)
        self.edge_index = glob - self.node_ptr[graph]
        return self

    def validate(self, name: str, num_classes: Optional[int] = None) -> "GraphSet":
        """The checks of :func:`~graphfm.data.validate.validate_graph`, for every graph."""
        if self.x.dtype != torch.float32:
            raise DataError(f"dataset '{name}': x must be float32, got {self.x.dtype}")
        bad = ~torch.isfinite(self.x).all(1)
        if bad.any():
            node = int(bad.nonzero()[0, 0])
            g = int(torch.searchsorted(self.node_ptr, torch.tensor(node), right=True)) - 1
            raise DataError(f"dataset '{name}': {int(bad.sum())} nodes have NaN or Inf features (first: "
                            f"graph {g}, node {node - int(self.node_ptr[g])}); clean or impute them")
        ei = self.edge_index
        if ei.dtype != torch.long:
            raise DataError(f"dataset '{name}': edge_index must be int64, got {ei.dtype}")
        gid = self.edge_graph()
        sizes = (self.node_ptr[1:] - self.node_ptr[:-1])[gid]
        bad = ((ei < 0) | (ei >= sizes)).any(0)
        if bad.any():
            e = int(bad.nonzero()[0, 0])
            g = int(gid[e])
            raise DataError(f"dataset '{name}': {int(bad.sum())} edges point outside their graph (first: "
                            f"graph {g}, edge {e - int(self.edge_ptr[g])}, {ei[:, e].tolist()}, graph has "
                            f"{int(sizes[e])} nodes)")
        if self.y.dtype != torch.long:
            raise DataError(f"dataset '{name}': labels must be int64, got {self.y.dtype}")
        bad = self.y < -1
        if num_classes is not None:
            bad |= self.y >= num_classes
        if bad.any():
            g = int(bad.nonzero()[0, 0])
            limit = f"[0, {num_classes})" if num_classes is not None else "non-negative"
            raise DataError(f"dataset '{name}': {int(bad.sum())} graph labels are out of range (first: "
                            f"graph {g}, label {int(self.y[g])}); labels must be {limit}, or -1 for "
                            "unlabelled")
        return self

    def union(self, **attrs) -> Data:
        """All graphs as one graph of disconnected components (global edge indices, no
        labels); node-level pretraining treats a set this way."""
        return Data(x=self.x, edge_index=self.global_edge_index(), num_nodes=int(self.node_ptr[-1]), **attrs)

    def to_list(self, **attrs) -> List[Data]:
        """One ``Data`` per graph, ``y`` of shape ``[1]``, plus ``attrs`` on each."""
        n, e = self.node_ptr.tolist(), self.edge_ptr.tolist()
        return [Data(x=self.x[n[i]:n[i + 1]], edge_index=self.edge_index[:, e[i]:e[i + 1]],
                     y=self.y[i:i + 1], **attrs) for i in range(self.num_graphs)]


def _ptr(counts: Sequence[int]) -> Tensor:
    ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
    ptr[1:] = torch.tensor(counts, dtype=torch.long).cumsum(0)
    return ptr

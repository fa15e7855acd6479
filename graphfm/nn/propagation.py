"""Normalised adjacency and propagation *plans*: which rows each GCN layer computes.

A plan restricts an ``L``-layer GCN to the rows that some output rows depend on,
layer by layer (the receptive field shrinks towards the output), optionally with a
fixed neighbour fan-out (GraphSAGE-style sampling, Hamilton et al. 2017,
https://arxiv.org/abs/1706.02216) and optionally *grouped*: rows are
``(group, node)`` pairs, so that many independent problems (e.g. few-shot tasks,
each with its own prompts) share one flat batch without sharing rows.

The first layer's aggregation ``Â X`` never depends on prompts or tokens that
scale feature dimensions (``Â (X ⊙ p) = (Â X) ⊙ p``), so plans start from rows of a
precomputed ``Â X`` and hold sparse matrices for layers ``2..L`` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ["NormalizedAdjacency", "PropagationPlan", "SparseMatrix", "build_plan", "spmm_batched"]


class NormalizedAdjacency:
    """``Â = D̃^{-1/2} (A + I) D̃^{-1/2}`` of an undirected graph (Kipf & Welling, 2017).

    Existing self-loops are replaced by one unit self-loop per node. Holds the
    off-diagonal part as CSR arrays (for plans) and the whole matrix as a
    :class:`SparseMatrix` (for full-graph products).

    Args:
        edge_index (Tensor): ``[2, E]`` undirected edges.
        num_nodes (int): Number of nodes ``N``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        row, col = edge_index.long()
        keep = row != col
        row, col = row[keep], col[keep]
        self.num_nodes = n = int(num_nodes)
        self.degree = torch.bincount(row, minlength=n)                      # [N] without self-loops
        dinv = (self.degree.float() + 1.0).rsqrt()
        order = torch.argsort(row * n + col)
        row, col = row[order], col[order]
        self.rowptr = torch.zeros(n + 1, dtype=torch.long)
        self.rowptr[1:] = self.degree.cumsum(0)
        self.col = col
        self.value = dinv[row] * dinv[col]                                   # [E] off-diagonal weights
        self.self_value = dinv * dinv                                        # [N] diagonal weights
        self._matrix: Optional[SparseMatrix] = None

    def _closed(self) -> Tensor:
        n = self.num_nodes
        rows = torch.cat([torch.repeat_interleave(torch.arange(n), self.degree), torch.arange(n)])
        return torch.stack([rows, torch.cat([self.col, torch.arange(n)])])

    def matrix(self) -> "SparseMatrix":
        """The full ``[N, N]`` matrix ``Â`` (cached)."""
        if self._matrix is None:
            vals = torch.cat([self.value, self.self_value])
            self._matrix = SparseMatrix(self._closed(), vals, (self.num_nodes,) * 2, symmetric=True)
        return self._matrix

    def mean_matrix(self) -> "SparseMatrix":
        """Row-normalised ``D̃^{-1}(A + I)`` ``[N, N]``: closed-neighbourhood means (readouts)."""
        idx = self._closed()
        vals = 1.0 / (self.degree.float() + 1.0)[idx[0]]
        return SparseMatrix(idx, vals, (self.num_nodes,) * 2)


@dataclass
class PropagationPlan:
    """Rows and sparse aggregation matrices of an ``L``-layer GCN restricted to some outputs.

    Attributes:
        nodes (list[Tensor]): ``nodes[l]`` = node id of each row computed by layer
            ``l + 1`` (``l = 0..L-1``); ``nodes[-1]`` are the output rows.
        groups (list[Tensor]): Group (task) id of each row, same layout as ``nodes``.
        adjs (list[SparseMatrix]): ``adjs[l]`` ``[R_{l+1}, R_l]``, aggregates the rows of
            layer ``l + 1`` into the inputs of layer ``l + 2`` (``L - 1`` matrices).
        output_index (Tensor): For each requested seed, its row in ``nodes[-1]``.
    """

    nodes: List[Tensor]
    groups: List[Tensor]
    adjs: List["SparseMatrix"]
    output_index: Tensor


def build_plan(adj: NormalizedAdjacency, seeds: Tensor, num_layers: int, groups: Optional[Tensor] = None,
               fanout: Optional[int] = None, generator: Optional[torch.Generator] = None) -> PropagationPlan:
    """Plan the rows an ``num_layers``-layer GCN needs to output ``seeds``.

    Args:
        adj (NormalizedAdjacency): The graph.
        seeds (Tensor): ``[S]`` node ids whose final-layer rows are wanted (repeats allowed).
        num_layers (int): GCN depth ``L``.
        groups (Tensor, optional): ``[S]`` group of each seed; rows of different groups
            are never shared. (default: ``None``: one group)
        fanout (int, optional): Aggregate at most this many sampled neighbours (with
            replacement, weights rescaled by ``degree / fanout`` so that sums stay
            unbiased) plus the self-loop. (default: ``None``: exact, all neighbours)
        generator (torch.Generator, optional): Generator of the neighbour sampling.
    """
    n = adj.num_nodes
    seeds = seeds.long().view(-1)
    groups = torch.zeros_like(seeds) if groups is None else groups.long().view(-1)
    keys, output_index = torch.unique(groups * n + seeds, return_inverse=True)
    nodes, grps, adjs = [keys % n], [keys // n], []
    for _ in range(num_layers - 1):
        parent, child_g, child_v, weight = _children(adj, grps[0], nodes[0], fanout, generator)
        child_keys, col = torch.unique(child_g * n + child_v, return_inverse=True)
        size = (nodes[0].numel(), child_keys.numel())
        mat = SparseMatrix(torch.stack([parent, col]), weight, size)
        mat.self_index = col[-size[0]:]            # self-loops come last: each row's own column
        adjs.insert(0, mat)
        nodes.insert(0, child_keys % n)
        grps.insert(0, child_keys // n)
    return PropagationPlan(nodes, grps, adjs, output_index)


def _children(adj: NormalizedAdjacency, group: Tensor, node: Tensor, fanout: Optional[int],
              generator: Optional[torch.Generator]):
    """``(parent_row, child_group, child_node, weight)`` of every aggregation edge, self-loops included."""
    rows = torch.arange(node.numel())
    deg = adj.degree[node]
    start = adj.rowptr[node]
    take = deg if fanout is None else deg.clamp(max=fanout)
    parent = torch.repeat_interleave(rows, take)
    offset = torch.arange(parent.numel()) - (take.cumsum(0) - take)[parent]
    scale = torch.ones(parent.numel())
    if fanout is not None:
        sampled = (deg > fanout)[parent]
        rand = (torch.rand(int(sampled.sum()), generator=generator) * deg[parent[sampled]]).long()
        offset[sampled] = rand
        scale[sampled] = deg[parent[sampled]].float() / fanout
    edge = start[parent] + offset
    parent = torch.cat([parent, rows])
    child_v = torch.cat([adj.col[edge], node])
    weight = torch.cat([adj.value[edge] * scale, adj.self_value[node]])
    return parent, group[parent], child_v, weight


class SparseMatrix:
    """A sparse ``[R_out, R_in]`` matrix with a fast, differentiable product ``A @ dense``.

    On CPU the product runs through SciPy's CSR kernels (about twice as fast as
    ``torch.sparse.mm`` here), on other devices through ``torch.sparse``; the backward
    multiplies by the transpose (computed once, or the matrix itself when symmetric).
    The matrix itself receives no gradient.

    Args:
        indices (Tensor): ``[2, nnz]`` row / column indices.
        values (Tensor): ``[nnz]`` values.
        shape (tuple): ``(R_out, R_in)``.
        symmetric (bool): The matrix equals its transpose. (default: ``False``)
    """

    def __init__(self, indices: Tensor, values: Tensor, shape, symmetric: bool = False) -> None:
        import scipy.sparse as sp

        self.shape = (int(shape[0]), int(shape[1]))
        self.symmetric = symmetric
        #: For a plan's matrix, the input row of every output row's own node (set by build_plan).
        self.self_index: Optional[Tensor] = None
        self._csr = sp.csr_matrix((values.detach().cpu().float().numpy(),
                                   (indices[0].cpu().numpy(), indices[1].cpu().numpy())), shape=self.shape)
        self._csr.sum_duplicates()
        self._csr_t = None
        self._torch: Dict[str, Tensor] = {}

    def _scipy(self, transpose: bool):
        if not transpose or self.symmetric:
            return self._csr
        if self._csr_t is None:
            self._csr_t = self._csr.T.tocsr()
        return self._csr_t

    def _on(self, device: torch.device, transpose: bool) -> Tensor:
        key = f"{device}-{transpose}"
        if key not in self._torch:
            m = self._scipy(transpose).tocoo()
            idx = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
            self._torch[key] = torch.sparse_coo_tensor(idx, torch.from_numpy(m.data), m.shape).coalesce() \
                .to_sparse_csr().to(device)
        return self._torch[key]

    def product(self, dense: Tensor, transpose: bool = False) -> Tensor:
        """``A @ dense`` (or ``A.T @ dense``) without autograd; ``dense [R_in, D]``."""
        if dense.device.type == "cpu" and dense.dtype == torch.float32:
            out = self._scipy(transpose) @ dense.detach().contiguous().numpy()
            return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
        return self._on(dense.device, transpose) @ dense

    def __matmul__(self, dense: Tensor) -> Tensor:
        if dense.requires_grad:
            return _SparseMatmul.apply(dense, self)
        return self.product(dense)

    def to_dense(self) -> Tensor:
        return torch.from_numpy(self._csr.toarray())


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dense: Tensor, mat: SparseMatrix) -> Tensor:  # type: ignore[override]
        ctx.mat = mat
        return mat.product(dense)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return ctx.mat.product(grad, transpose=True), None


def spmm_batched(mat: SparseMatrix, h: Tensor) -> Tensor:
    """``mat @ h[:, b]`` for every ``b`` in node-major layout: ``mat [R_out, R_in]``,
    ``h [R_in, B, D]`` -> ``[R_out, B, D]`` (no copies for contiguous ``h``)."""
    r, b, d = h.shape
    return (mat @ h.reshape(r, b * d)).view(-1, b, d)

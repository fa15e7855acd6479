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

import torch
from torch import Tensor

__all__ = ["NormalizedAdjacency", "PropagationPlan", "SparseMatrix", "build_plan", "spmm_batched", "empty_rows"]


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
        if not bool(keep.all()):                                            # no copies without self-loops
            row, col = row[keep], col[keep]
        del keep
        self.num_nodes = n = int(num_nodes)
        self.degree = torch.bincount(row, minlength=n)                      # [N] without self-loops
        dinv = (self.degree.float() + 1.0).rsqrt()
        key = row * n + col
        if key.numel() > 1 and not bool((key[1:] >= key[:-1]).all()):     # coalesced input is sorted already
            order = torch.argsort(key)
            row, col = row[order], col[order]
        del key
        self.rowptr = torch.zeros(n + 1, dtype=torch.long)
        self.rowptr[1:] = self.degree.cumsum(0)
        self.col = col
        self.value = dinv[row] * dinv[col]                                   # [E] off-diagonal weights
        self.self_value = dinv * dinv                                        # [N] diagonal weights
        self._matrix: Optional[SparseMatrix] = None
        self._off: Optional[SparseMatrix] = None
        self._mean: Optional[SparseMatrix] = None
        self._closed_cache = None

    def rows_product(self, start: int, stop: int, h: Tensor) -> Tensor:
        """Rows ``start .. stop - 1`` of ``Â h`` for ``h [N, D]``, as ``A' h + D̃^{-1} h`` with ``A'``
        the off-diagonal part: chunked inference without building ``Â`` (equal up to rounding)."""
        if getattr(self, "_off", None) is None:
            self._off = SparseMatrix.from_csr(self.rowptr, self.col, self.value, (self.num_nodes,) * 2,
                                              symmetric=True)
        diag = self.self_value if h.device.type == "cpu" and h.dtype == torch.float32 \
            else self.self_value.to(h.device, h.dtype)
        return self._off.rows(start, stop).product(h).addcmul_(h[start:stop], diag[start:stop].unsqueeze(1))

    def _closed_csr(self):
        """CSR ``(crow, col, self_pos)`` of ``A + I``, columns sorted within rows (cached)."""
        if getattr(self, "_closed_cache", None) is None:
            n, e = self.num_nodes, self.col.numel()
            rows = torch.repeat_interleave(torch.arange(n), self.degree)
            below = torch.bincount(rows[self.col < rows], minlength=n)      # neighbours left of the diagonal
            crow = self.rowptr + torch.arange(n + 1)
            self_pos = crow[:-1] + below
            off = torch.ones(e + n, dtype=torch.bool)
            off[self_pos] = False
            col = torch.empty(e + n, dtype=torch.long)
            col[off] = self.col
            col[self_pos] = torch.arange(n)
            del rows, below
            self._closed_cache = (crow, col, self_pos, off)
        return self._closed_cache

    def matrix(self) -> "SparseMatrix":
        """The full ``[N, N]`` matrix ``Â`` (cached)."""
        if self._matrix is None:
            crow, col, self_pos, off = self._closed_csr()
            vals = torch.empty(col.numel())
            vals[off] = self.value
            vals[self_pos] = self.self_value
            self._matrix = SparseMatrix.from_csr(crow, col, vals, (self.num_nodes,) * 2, symmetric=True)
        return self._matrix

    def mean_matrix(self) -> "SparseMatrix":
        """Row-normalised ``D̃^{-1}(A + I)`` ``[N, N]``: closed-neighbourhood means (readouts; cached)."""
        if getattr(self, "_mean", None) is None:
            crow, col, _, _ = self._closed_csr()
            vals = torch.repeat_interleave(1.0 / (self.degree.float() + 1.0), crow.diff())
            self._mean = SparseMatrix.from_csr(crow, col, vals, (self.num_nodes,) * 2)
        return self._mean


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

    Held as a torch CSR tensor: the product is ``torch.sparse.mm`` on every device
    (multithreaded on CPU, MKL where torch has it); the backward multiplies by the
    transpose (built once, or the matrix itself when symmetric). Duplicate entries are
    summed. The matrix itself receives no gradient.

    Args:
        indices (Tensor): ``[2, nnz]`` row / column indices.
        values (Tensor): ``[nnz]`` values.
        shape (tuple): ``(R_out, R_in)``.
        symmetric (bool): The matrix equals its transpose. (default: ``False``)
    """

    def __init__(self, indices: Tensor, values: Tensor, shape, symmetric: bool = False) -> None:
        shape = (int(shape[0]), int(shape[1]))
        row, col = indices[0].detach().cpu().long(), indices[1].detach().cpu().long()
        values = values.detach().cpu().float()
        key = row * shape[1] + col
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):   # sort and sum duplicates
            key, inverse = torch.unique(key, return_inverse=True)
            values = torch.zeros(key.numel()).index_add_(0, inverse, values)
            row, col = key // shape[1], key % shape[1]
        crow = torch.zeros(shape[0] + 1, dtype=torch.long)
        crow[1:] = torch.bincount(row, minlength=shape[0]).cumsum(0)
        self._init_csr(crow, col, values, shape, symmetric)

    @classmethod
    def from_csr(cls, crow: Tensor, col: Tensor, values: Tensor, shape, symmetric: bool = False) -> "SparseMatrix":
        """Wrap CSR arrays (``crow [R_out + 1]``, ``col [nnz]``, ``values [nnz]``) without copying
        or sorting them; duplicate columns in a row are allowed (their products add up).

        Args:
            crow (Tensor): Row pointers.
            col (Tensor): Column of every entry, row by row.
            values (Tensor): Value of every entry.
            shape (tuple): ``(R_out, R_in)``.
            symmetric (bool): The matrix equals its transpose. (default: ``False``)
        """
        mat = cls.__new__(cls)
        mat._init_csr(crow.long(), col.long(), values.float(), (int(shape[0]), int(shape[1])), symmetric)
        return mat

    def _init_csr(self, crow: Tensor, col: Tensor, values: Tensor, shape, symmetric: bool) -> None:
        self.shape = shape
        self.symmetric = symmetric
        #: For a plan's matrix, the input row of every output row's own node (set by build_plan).
        self.self_index: Optional[Tensor] = None
        self.crow, self.col, self.values = crow, col, values
        self._csr = _csr_tensor(crow, col, values, shape)
        self._csr_t: Optional[Tensor] = None
        self._torch: Dict[str, Tensor] = {}

    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    def _matrix(self, transpose: bool) -> Tensor:
        if not transpose or self.symmetric:
            return self._csr
        if self._csr_t is None:
            rows = torch.repeat_interleave(torch.arange(self.shape[0]), self.crow.diff())
            t = SparseMatrix(torch.stack([self.col, rows]), self.values, self.shape[::-1])
            self._csr_t = t._csr
        return self._csr_t

    def _on(self, device: torch.device, dtype: torch.dtype, transpose: bool) -> Tensor:
        mat = self._matrix(transpose)
        if device.type == "cpu" and dtype == torch.float32:
            return mat
        key = f"{device}-{dtype}-{transpose}"
        if key not in self._torch:
            self._torch[key] = mat.to(device=device, dtype=dtype)
        return self._torch[key]

    def product(self, dense: Tensor, transpose: bool = False) -> Tensor:
        """``A @ dense`` (or ``A.T @ dense``) without autograd; ``dense [R_in, D]``."""
        dense = dense.detach()
        return torch.sparse.mm(self._on(dense.device, dense.dtype, transpose), dense)

    def rows(self, start: int, stop: int) -> "SparseMatrix":
        """Rows ``start .. stop - 1`` as a ``[stop - start, R_in]`` matrix sharing this one's
        storage (chunked inference)."""
        a, b = int(self.crow[start]), int(self.crow[stop])
        return SparseMatrix.from_csr(self.crow[start:stop + 1] - a, self.col[a:b], self.values[a:b],
                                     (stop - start, self.shape[1]))

    def __matmul__(self, dense: Tensor) -> Tensor:
        if dense.requires_grad:
            return _SparseMatmul.apply(dense, self)
        return self.product(dense)

    def to_dense(self) -> Tensor:
        return self._csr.to_dense()


def _csr_tensor(crow: Tensor, col: Tensor, values: Tensor, shape) -> Tensor:
    import warnings

    with warnings.catch_warnings():   # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


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


def empty_rows(num_rows: int, dim: int, device: Optional[torch.device] = None) -> Tensor:
    """An uninitialised float32 ``[num_rows, dim]`` buffer for layer-wise inference.

    On CPU, buffers of 64 MiB and more are anonymous memory maps advised to use transparent
    huge pages where the kernel offers them: filling a fresh gigabyte buffer chunk by chunk
    then costs a few hundred page faults instead of a quarter million (about 5x faster here).
    Elsewhere it is ``torch.empty``.

    Args:
        num_rows (int): Rows.
        dim (int): Columns.
        device (torch.device, optional): Device. (default: ``None``: CPU)
    """
    import mmap

    size = int(num_rows) * int(dim) * 4
    if (device is not None and torch.device(device).type != "cpu") or size < 64 * 2**20:
        return torch.empty(num_rows, dim, device=device)
    buf = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            buf.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    import warnings

    with warnings.catch_warnings():      # "the buffer is not writable" never applies to an anonymous map
        warnings.simplefilter("ignore")
        return torch.frombuffer(buf, dtype=torch.float32).view(num_rows, dim)

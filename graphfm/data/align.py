"""Feature alignment: project every domain's features to one common dimension.

Multi-domain graph pretraining (SAMGPT, https://arxiv.org/abs/2502.05424; also
GCOPE, MDGPT) first maps each domain's feature matrix ``X [N, F_d]`` to a shared
width ``dim`` with a per-domain SVD/PCA: ``Z = (X - mean) V[:, :dim] * scale``. An
unseen target domain is aligned with its own SVD, computed on the fly.

Conventions:

* **Centring**: each domain's mean feature is removed before the SVD.
* **Few features or few nodes**: the rank is ``r = min(dim, N, F)``; columns ``r..dim``
  of the projection are zero, so the output is zero-padded to ``dim``.
* **Standardising** after projection: by default one scalar per domain so that the
  ``r`` real columns have mean variance 1 (relative variances kept);
  ``whiten=True`` scales each column to unit variance instead.
* **Order** (``order="smoothness"``): the ``r`` columns are rotated, within the span of the
  top principal directions, to the directions of least variation over the graph: whitened,
  then the eigenvectors of the normalised-Laplacian quadratic form ``Zᵀ(I - Â)Z`` in
  ascending order (column ``k`` is the ``k``-th smoothest unit-variance direction, whatever
  the domain), each signed so that its skewness is positive. ``order="pc_smoothness"`` keeps
  the principal components and their variances and only reorders (and signs) them so. Both
  need the graph's edges.
* **Determinism**: the SVD is exact for small matrices and randomised (Halko et al.,
  https://arxiv.org/abs/0909.4061) with a fixed-seed ``torch.Generator`` otherwise;
  each singular vector's sign is fixed so its largest-magnitude entry is positive.
  The small LAPACK factorisations (QR, SVD) run on one thread: threaded LAPACK gains
  nothing on them and slows down by orders of magnitude when cores are busy.

The aligner is an ``nn.Module`` whose fitted state is buffers (``mean [F]``,
``components [F, dim]``, ``scale [dim]``, ``fitted``), one sub-module per domain, so a
model can own one: construct it in ``__init__`` from ``domain_dims`` (the buffers get
their shapes), fill it with :meth:`FeatureAligner.fit` and it is saved and strictly
reloaded with the model's weights. :meth:`FeatureAligner.tensors` gives the same
state as a flat ``dict[str, Tensor]``.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from graphfm.errors import DataError
from graphfm.nn.chunks import single_threaded

EXACT_MAX = 256  # min(N, F) up to which the SVD is exact
#: From this many rows (and at most EXACT_MAX features) the right singular vectors come from the
#: float64 eigendecomposition of the centred Gram matrix ``[F, F]``, accumulated in row chunks:
#: no centred copy of ``x``, no ``[N, F]`` factor, multithreaded products (large graphs).
GRAM_MIN_ROWS = 200_000


class _Projection(nn.Module):
    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("components", torch.zeros(in_dim, dim))
        self.register_buffer("scale", torch.zeros(dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))


def _key(domain: str) -> str:
    return str(domain).replace(".", "_")


class FeatureAligner(nn.Module):
    """Per-domain PCA/SVD projection of node features to a common dimension.

    Args:
        dim (int): Output dimension. (default: ``50``)
        domain_dims (dict, optional): ``{domain: feature_dim}`` to allocate (unfitted)
            buffers for, so that a saved state loads strictly. (default: ``None``)
        whiten (bool): Scale every output column to unit variance instead of one
            scalar per domain. (default: ``False``)
        seed (int): Seed of the randomised SVD. (default: ``0``)
        niter (int): Power iterations of the randomised SVD. (default: ``6``)
        order (str): ``"variance"`` (principal components, largest variance first) or
            ``"smoothness"`` (the same span, rotated to unit-variance directions ordered from the
            smoothest over the graph) or ``"pc_smoothness"`` (the principal components themselves,
            variances kept, reordered from the smoothest); :meth:`fit` and :meth:`transform` then
            need ``edge_index``. (default: ``"variance"``)
    """

    ORDERS = ("variance", "smoothness", "pc_smoothness")

    def __init__(self, dim: int = 50, domain_dims: Optional[Dict[str, int]] = None,
                 whiten: bool = False, seed: int = 0, niter: int = 6, order: str = "variance") -> None:
        super().__init__()
        if dim < 1:
            raise DataError(f"FeatureAligner dim must be >= 1, got {dim}")
        if order not in self.ORDERS:
            raise DataError(f"FeatureAligner order '{order}' is unknown; valid: {', '.join(self.ORDERS)}")
        self.dim, self.whiten, self.seed, self.niter, self.order = dim, whiten, seed, niter, order
        self.projections = nn.ModuleDict()
        for domain, in_dim in (domain_dims or {}).items():
            self.projections[_key(domain)] = _Projection(int(in_dim), dim)

    # ------------------------------------------------------------------ state
    @property
    def domain_dims(self) -> Dict[str, int]:
        """``{domain: feature_dim}`` of every allocated domain."""
        return {k: int(p.mean.numel()) for k, p in self.projections.items()}

    def is_fitted(self, domain: str) -> bool:
        p = self.projections[_key(domain)] if _key(domain) in self.projections else None
        return bool(p is not None and p.fitted)

    def tensors(self) -> Dict[str, Tensor]:
        """The fitted state as ``{"<domain>.mean": ..., "<domain>.components": ..., ...}``."""
        return {f"{k}.{n}": b for k, p in self.projections.items() for n, b in p.named_buffers()}

    # ------------------------------------------------------------------ fitting
    def fit(self, domain: str, x: Tensor, edge_index: Optional[Tensor] = None) -> "FeatureAligner":
        """Fit (or refit) the projection of ``domain`` on its features ``x [N, F]`` (and its
        undirected ``edge_index [2, E]``, needed by the smoothness orders)."""
        mean, comps, scale = self.compute(x, domain, edge_index)
        key = _key(domain)
        if key in self.projections and self.projections[key].mean.numel() != x.size(1):
            raise DataError(f"domain '{domain}' was allocated for {self.projections[key].mean.numel()} "
                            f"features but x has {x.size(1)}; use one feature space per domain name")
        if key not in self.projections:
            self.projections[key] = _Projection(x.size(1), self.dim).to(x.device)
        p = self.projections[key]
        p.mean.copy_(mean)
        p.components.copy_(comps)
        p.scale.copy_(scale)
        p.fitted.fill_(True)
        return self

    def compute(self, x: Tensor, domain: str = "target",
                edge_index: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """The ``(mean [F], components [F, dim], scale [dim])`` of ``x``, nothing stored."""
        x = _check_input(x, domain)
        if self.order != "variance" and edge_index is None:
            raise DataError(f"feature alignment of '{domain}' orders directions by smoothness over the graph and "
                            "needs its edge_index; pass it, or use order='variance'")
        n, f = x.shape
        mean = x.mean(0)
        r = min(self.dim, n, f)
        if n >= GRAM_MIN_ROWS and f <= EXACT_MAX:
            v, var = _gram_top(x, mean, r)
            std = var.clamp_min(0).sqrt().to(x.dtype)
        else:
            v = _top_right_singular_vectors(x, mean, r, self.seed, self.niter)
            z = x @ v - mean @ v
            std = z.std(0, unbiased=False) if n > 1 else torch.zeros(r, device=x.device)
        if self.order == "smoothness":
            v, std = _smoothest(x, mean, v, std, edge_index)
        elif self.order == "pc_smoothness":
            v, std = _smoothest_first(x, mean, v, std, edge_index)
        comps = torch.zeros(f, self.dim, dtype=x.dtype, device=x.device)
        comps[:, :r] = v
        scale = torch.zeros(self.dim, dtype=x.dtype, device=x.device)
        if self.whiten:
            scale[:r] = torch.where(std > 1e-8, 1.0 / std.clamp_min(1e-8), torch.ones_like(std))
        else:
            rms = std[std > 0].pow(2).mean().sqrt() if bool((std > 0).any()) else std.new_zeros(())
            scale[:r] = 1.0 / rms if rms > 1e-8 else 1.0
        return mean, comps, scale

    # ------------------------------------------------------------------ transforming
    def transform(self, x: Tensor, domain: Optional[str] = None, edge_index: Optional[Tensor] = None) -> Tensor:
        """Project ``x [N, F]`` to ``[N, dim]``.

        A fitted ``domain`` uses its stored projection; an unknown or unfitted one
        (or ``domain=None``) is aligned with its own SVD (and, with ``order="smoothness"``,
        its ``edge_index``), computed now and not stored.
        """
        if domain is not None and self.is_fitted(domain):
            p = self.projections[_key(domain)]
            if x.dim() != 2 or x.size(1) != p.mean.numel():
                raise DataError(f"domain '{domain}' was fitted on {p.mean.numel()} features but the "
                                f"graph has x of shape {tuple(x.shape)}; load the graph of that domain, "
                                "or pass another domain name to align it as a new domain")
            return (x - p.mean) @ p.components * p.scale
        mean, comps, scale = self.compute(x, domain or "target", edge_index)
        if x.size(0) >= GRAM_MIN_ROWS:    # no centred copy of a large x
            return (x @ comps).sub_(mean @ comps).mul_(scale)
        return (x - mean) @ comps * scale

    def fit_transform(self, domain: str, x: Tensor, edge_index: Optional[Tensor] = None) -> Tensor:
        return self.fit(domain, x, edge_index).transform(x, domain)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, domains={self.domain_dims}, whiten={self.whiten}, order={self.order}"


def _check_input(x: Tensor, domain: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise DataError(f"feature alignment of '{domain}' needs x of shape [N, F], got "
                        f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if x.size(0) == 0 or x.size(1) == 0:
        raise DataError(f"feature alignment of '{domain}': x has shape {tuple(x.shape)}; it needs "
                        "at least one node and one feature (give featureless graphs structural features)")
    if not x.is_floating_point():
        x = x.float()
    from graphfm.data.validate import all_finite

    if not all_finite(x):
        raise DataError(f"feature alignment of '{domain}': x contains NaN or Inf; validate the graph first")
    return x


def _live(std: Tensor) -> Tensor:
    """Directions the data really span: std above float32 SVD noise relative to the largest."""
    return std > 1e-4 * std.max().clamp_min(1e-30)


def _smoothest(x: Tensor, mean: Tensor, v: Tensor, std: Tensor, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
    """Rotate the principal directions ``v [F, r]`` (column std ``std [r]``) to unit-variance
    directions sorted by ``zᵀ(I - Â)z`` ascending, signed by positive skewness; returns the new
    ``[F, r]`` directions and their std (ones; zero for degenerate directions)."""
    live = _live(std)
    w = torch.zeros_like(v, dtype=torch.float64)
    w[:, live] = v[:, live].double() / std[live].double()
    z = (x.double() @ w - mean.double() @ w)[:, live]                         # [N, r'] unit variance
    energy = z.T @ _high_pass(z, edge_index) / z.size(0)
    with single_threaded():
        _, rot = torch.linalg.eigh((energy + energy.T) / 2)                 # ascending: smoothest first
    proj = z @ rot
    rot = rot * torch.where(proj.pow(3).mean(0) < 0, -1.0, 1.0).to(rot.dtype)
    out = torch.zeros_like(v)
    out[:, : int(live.sum())] = (w[:, live] @ rot).to(v.dtype)
    return out, live.sort(descending=True).values.to(v.dtype)


def _smoothest_first(x: Tensor, mean: Tensor, v: Tensor, std: Tensor,
                     edge_index: Tensor) -> Tuple[Tensor, Tensor]:
    """The principal directions ``v [F, r]`` reordered by ``zᵀ(I - Â)z / zᵀz`` ascending (their
    std ``[r]`` along), each signed so that its projection's skewness is positive."""
    z = x.double() @ v.double() - mean.double() @ v.double()
    quotient = (z * _high_pass(z, edge_index)).sum(0) / (z * z).sum(0).clamp_min(1e-30)
    order = torch.argsort(torch.where(_live(std), quotient, torch.full_like(quotient, float("inf"))), stable=True)
    sign = torch.where(z.pow(3).mean(0) < 0, -1.0, 1.0).to(v.dtype)
    return (v * sign)[:, order], std[order]


def _high_pass(z: Tensor, edge_index: Tensor) -> Tensor:
    """``(I - Â) z`` for signals ``z [N, r]`` on the graph (``Â`` the GCN-normalised adjacency)."""
    from graphfm.nn.propagation import NormalizedAdjacency

    n = z.size(0)
    return z - NormalizedAdjacency(edge_index.cpu(), n).rows_product(0, n, z.cpu()).to(z.device)


def _svd_vh(a: Tensor) -> Tensor:
    with single_threaded():
        return torch.linalg.svd(a, full_matrices=False)[2]


def _orth(a: Tensor) -> Tensor:
    with single_threaded():
        return torch.linalg.qr(a).Q


def _top_right_singular_vectors(x: Tensor, mean: Tensor, r: int, seed: int, niter: int) -> Tensor:
    """Top-``r`` right singular vectors ``[F, r]`` of ``x - mean``, sign-fixed."""
    if min(x.shape) <= EXACT_MAX:
        v = _svd_vh(x - mean)[:r].T
    else:
        v = _randomised(x, mean, r, seed, niter)
    idx = v.abs().argmax(0)
    sign = torch.sign(v[idx, torch.arange(r, device=v.device)])
    return v * torch.where(sign == 0, torch.ones_like(sign), sign)


def _gram_top(x: Tensor, mean: Tensor, r: int, chunk: int = 65536) -> Tuple[Tensor, Tensor]:
    """Top-``r`` right singular vectors ``[F, r]`` of ``x - mean`` (sign-fixed as
    :func:`_top_right_singular_vectors`) and the variance of ``x`` along each ``[r]``, from
    the eigendecomposition of the float64 Gram matrix of the centred rows."""
    n, f = x.shape
    mean64 = mean.double()
    gram = torch.zeros(f, f, dtype=torch.float64, device=x.device)
    for a in range(0, n, chunk):
        block = x[a:a + chunk].double() - mean64
        gram.addmm_(block.T, block)
    vals, vecs = torch.linalg.eigh(gram)
    vals, vecs = vals.flip(0)[:r], vecs.flip(1)[:, :r]
    idx = vecs.abs().argmax(0)
    sign = torch.sign(vecs[idx, torch.arange(r, device=x.device)])
    vecs = vecs * torch.where(sign == 0, torch.ones_like(sign), sign)
    return vecs.to(x.dtype), vals / n


def _randomised(x: Tensor, mean: Tensor, r: int, seed: int, niter: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    q = min(r + 10, *x.shape)
    omega = torch.randn(x.size(1), q, generator=gen).to(x)
    right = lambda m: x @ m - mean @ m  # noqa: E731  (x - mean) @ m without centring x
    left = lambda m: x.T @ m - mean[:, None] * m.sum(0)  # noqa: E731  (x - mean).T @ m
    basis = _orth(right(omega))
    for _ in range(niter):
        basis = _orth(right(_orth(left(basis))))
    small = left(basis).T  # [q, F] = basis.T @ (x - mean)
    return _svd_vh(small)[:r].T

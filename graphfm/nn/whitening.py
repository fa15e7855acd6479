"""Partial whitening with the covariance of the pretraining domains.

A frozen text encoder gives every domain the same feature space, but a few directions of
that space carry most of its variance, and they are the ones all domains share (topic-free
"style" directions) rather than the ones that separate classes. Dividing them down,
``x -> x W`` with ``W = C^-alpha`` (``C`` the mean over the source domains of each domain's
covariance of centred features), flattens them; ``alpha = 0.5`` is full (ZCA) whitening,
``alpha = 0`` the identity. The statistics are running sums updated in the training
forward, like batch norm's running statistics (Ioffe and Szegedy, ICML 2015,
https://arxiv.org/abs/1502.03167; decorrelated batch norm, Huang et al., CVPR 2018,
https://arxiv.org/abs/1804.08450): a model that saw no pretraining batch is the identity.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphfm.errors import ConfigError


class SourceWhitening(nn.Module):
    """``x [N, D] -> x W [N, D]``, ``W = (C / lambda_max)^-alpha / ||.||_2``.

    ``C`` is the mean over the chosen source domains of each domain's second-moment matrix
    ``sum x^T x / n`` of the (already centred) features seen while training; eigenvalues are
    floored at ``eps * lambda_max``. With no statistics, ``W`` is the identity.

    Args:
        dim (int): Feature width ``D``.
        num_domains (int): Source domains (rows of the statistics). (default: ``1``)
        alpha (float): The power, in ``[0, 0.5]``. (default: ``0.25``)
        eps (float): Eigenvalue floor relative to the largest. (default: ``1e-3``)
    """

    def __init__(self, dim: int, num_domains: int = 1, alpha: float = 0.25, eps: float = 1e-3) -> None:
        super().__init__()
        self.dim, self.eps = int(dim), float(eps)
        self.alpha = check_alpha(alpha)
        self.register_buffer("moment_sum", torch.zeros(max(1, num_domains), dim, dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros(max(1, num_domains), dtype=torch.float64))
        self._cache: Dict[Tuple, Tensor] = {}

    @torch.no_grad()
    def observe(self, x: Tensor, domain: Optional[Tensor] = None) -> None:
        """Add the rows of ``x [N, D]`` to the statistics of their domain (``domain``: long ``[N]``;
        default all domain 0)."""
        x = x.detach().double()
        domain = torch.zeros(x.size(0), dtype=torch.long, device=x.device) if domain is None else domain.long()
        for d in domain.unique().tolist():
            rows = x[domain == d]
            self.moment_sum[d] += rows.t() @ rows
            self.count[d] += rows.size(0)
        self._cache.clear()

    def covariance(self, domains: Optional[Sequence[int]] = None) -> Optional[Tensor]:
        """Mean over ``domains`` (default: all seen) of each domain's ``[D, D]`` second moment;
        ``None`` when none of them was seen."""
        idx = [d for d in (range(self.count.numel()) if domains is None else domains) if self.count[d] > 0]
        if not idx:
            return None
        return torch.stack([self.moment_sum[d] / self.count[d] for d in idx]).mean(0)

    def matrix(self, alpha: Optional[float] = None, domains: Optional[Sequence[int]] = None) -> Tensor:
        """``W [D, D]`` (float32) for ``alpha`` (default :attr:`alpha`) from ``domains`` (default all)."""
        alpha = self.alpha if alpha is None else check_alpha(alpha)
        key = (alpha, None if domains is None else tuple(domains))
        if key not in self._cache:
            self._cache[key] = self._compute(alpha, domains)
        return self._cache[key]

    def _compute(self, alpha: float, domains: Optional[Sequence[int]]) -> Tensor:
        cov = self.covariance(domains)
        if cov is None or alpha == 0:
            return torch.eye(self.dim, device=self.count.device)
        e, u = torch.linalg.eigh(cov)
        e = e.clamp_min(0) + self.eps * e.max()
        w = (u * e.pow(-alpha)) @ u.t()
        return (w / torch.linalg.matrix_norm(w, 2)).float()

    def forward(self, x: Tensor) -> Tensor:
        """``x [N, D] -> x W [N, D]``."""
        return x @ self.matrix().to(x.dtype)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, domains={self.count.numel()}, alpha={self.alpha}"


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in ``[0, 0.5]``.

    Raises:
        ConfigError: outside that range.
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= 0.5:
        raise ConfigError(f"whitening alpha must be in [0, 0.5] (0: identity, 0.5: full whitening), got {alpha}")
    return alpha

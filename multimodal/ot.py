"""Optimal transport by the Inexact Proximal point method (IPOT).

Xie et al., *A Fast Proximal Point Method for Computing Exact Wasserstein Distance*, UAI 2019
(`arXiv:1802.04307 <https://arxiv.org/abs/1802.04307>`_), as used by UNITER's word-region
alignment (`arXiv:1909.11740 <https://arxiv.org/abs/1909.11740>`_, Sec. 3.1).

With uniform marginals ``mu = 1/n`` (words) and ``nu = 1/m`` (regions), each outer step
solves the proximal problem ``min_T <C, T> + beta * KL(T || T_prev)`` with a few Sinkhorn
scalings of ``Q = exp(-C / beta) * T_prev``. Unlike entropic Sinkhorn, the proximal
iterates converge to the *exact* OT plan, so the transport cost approaches the linear
program's optimum. Padding rows/columns get zero mass.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_cost(x: Tensor, y: Tensor) -> Tensor:
    """``1 - cos(x_i, y_j)``: ``x [B, N, D]``, ``y [B, M, D]`` -> ``[B, N, M]`` in ``[0, 2]``."""
    return 1.0 - F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(1, 2)


@torch.no_grad()
def ipot(cost: Tensor, x_valid: Optional[Tensor] = None, y_valid: Optional[Tensor] = None, beta: float = 0.5,
         iters: int = 50, inner: int = 1) -> Tensor:
    """Transport plans between uniform distributions over the valid rows and columns.

    Args:
        cost (Tensor): ``[B, N, M]`` cost matrices.
        x_valid (Tensor, optional): ``[B, N]`` bool, rows that carry mass. (default: all)
        y_valid (Tensor, optional): ``[B, M]`` bool, columns that carry mass. (default: all)
        beta (float): Proximal step (smaller = closer to exact per step, slower). (default: ``0.5``)
        iters (int): Outer proximal iterations. (default: ``50``)
        inner (int): Sinkhorn scalings per outer iteration (the paper: 1). (default: ``1``)

    Returns:
        Tensor: ``[B, N, M]`` plans ``T`` with ``T.sum(2) ~ 1/n`` on valid rows and
        ``T.sum(1) = 1/m`` on valid columns (no gradient; see :func:`ot_distance`).
    """
    c = cost.detach().double()
    b, n, m = c.shape
    xv = torch.ones(b, n, dtype=c.dtype, device=c.device) if x_valid is None else x_valid.to(c.dtype)
    yv = torch.ones(b, m, dtype=c.dtype, device=c.device) if y_valid is None else y_valid.to(c.dtype)
    mu = xv / xv.sum(1, keepdim=True).clamp_min(1)
    nu = yv / yv.sum(1, keepdim=True).clamp_min(1)
    support = xv[:, :, None] * yv[:, None, :]
    kernel = torch.exp(-c / beta) * support
    plan = support.clone()
    right = nu.clone()
    tiny = torch.finfo(c.dtype).tiny
    for _ in range(iters):
        q = kernel * plan
        for _ in range(inner):
            left = mu / (q @ right[..., None]).squeeze(-1).clamp_min(tiny)
            right = nu / (q.transpose(1, 2) @ left[..., None]).squeeze(-1).clamp_min(tiny)
        plan = left[:, :, None] * q * right[:, None, :]
    return plan.to(cost.dtype)


def ot_distance(cost: Tensor, plan: Tensor) -> Tensor:
    """``<C, T>`` per item ``[B]``; gradients flow through ``cost`` only (the plan is fixed)."""
    return (cost * plan.detach()).sum((1, 2))

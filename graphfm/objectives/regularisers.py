"""Regularisers shared by objectives.

VICReg's variance and covariance terms (Bardes et al., ICLR 2022,
`arXiv:2105.04906 <https://arxiv.org/abs/2105.04906>`_) keep embeddings from collapsing
onto a few directions; UniGraph2 and SAMGPT's contrastive objective use them.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def variance_covariance_loss(h: Tensor, eps: float = 1e-4) -> Tuple[Tensor, Tensor]:
    """VICReg's variance hinge ``mean_j relu(1 - std_j)`` and covariance penalty
    ``sum_{i != j} C_ij^2 / D`` of embeddings ``h [N, D]`` (zeros for fewer than 2 rows)."""
    if h.size(0) < 2:
        zero = h.sum() * 0.0
        return zero, zero
    x = h - h.mean(0)
    std = torch.sqrt(x.var(0) + eps)
    var = F.relu(1.0 - std).mean()
    cov = (x.t() @ x) / (h.size(0) - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return var, off.pow(2).sum() / h.size(1)

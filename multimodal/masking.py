"""Token masking: Dirichlet allocation across modalities, per-sample random masks, gathering.

MultiMAE (`arXiv:2204.01678 <https://arxiv.org/abs/2204.01678>`_, Sec. 3.3) keeps a fixed
number of visible tokens per sample and splits it across modalities with proportions
drawn from a symmetric Dirichlet(α): small α puts most visible tokens in one modality
(forcing cross-modal prediction), large α splits them evenly. Rounding the proportions
here uses largest remainders under each modality's capacity, so every sample keeps
*exactly* the requested number of tokens.

Masks are boolean with ``True`` = visible; the masked set is ``~visible``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor

from graphfm.errors import ConfigError, DataError


def allocate_exact(weights: Tensor, total: int, capacity: Tensor) -> Tensor:
    """Split ``total`` tokens per row in proportion to ``weights``, exactly and within capacity.

    Args:
        weights (Tensor): ``[B, M]`` non-negative proportions (rows sum to 1).
        total (int): Tokens to allocate per row.
        capacity (Tensor): ``[B, M]`` or ``[M]`` maximum per modality (its valid tokens).

    Returns:
        Tensor: ``[B, M]`` long counts with ``counts.sum(1) == total`` and ``counts <= capacity``.

    Raises:
        DataError: if a row has fewer than ``total`` tokens in all.
    """
    capacity = capacity.expand_as(weights).long()
    if bool((capacity.sum(1) < total).any()):
        raise DataError(f"cannot keep {total} visible tokens: some samples have only "
                        f"{int(capacity.sum(1).min())} tokens; lower num_visible (or raise the mask ratio)")
    target = weights * total
    counts = torch.minimum(target.floor().long(), capacity)
    remaining = total - counts.sum(1)
    while bool((remaining > 0).any()):
        residual = (target - counts).masked_fill(counts >= capacity, float("-inf"))
        pick = residual.argmax(1, keepdim=True)
        counts.scatter_add_(1, pick, (remaining > 0).long()[:, None])
        remaining = total - counts.sum(1)
    return counts


def sample_dirichlet(batch_size: int, num_modalities: int, alpha: float,
                     device: Optional[torch.device] = None) -> Tensor:
    """``[B, M]`` proportions from a symmetric Dirichlet(``alpha``) (global RNG; seed for determinism)."""
    if alpha <= 0:
        raise ConfigError(f"Dirichlet concentration alpha must be > 0, got {alpha}")
    # Gamma(a) = Gamma(a + 1) * U^(1/a), in log space so that tiny alphas do not underflow to 0.
    conc = torch.full((num_modalities,), float(alpha) + 1.0, dtype=torch.float64)
    log_gamma = torch.distributions.Gamma(conc, torch.ones_like(conc)).sample((batch_size,)).log()
    log_gamma = log_gamma + torch.rand(batch_size, num_modalities, dtype=torch.float64).log() / alpha
    return torch.softmax(log_gamma, dim=1).float().to(device)


def random_visible(counts: Tensor, num_tokens: int, valid: Optional[Tensor] = None) -> Tensor:
    """Per-sample uniform choice of ``counts[b]`` visible tokens among ``num_tokens``.

    Args:
        counts (Tensor): ``[B]`` long, visible tokens per sample.
        num_tokens (int): Tokens of the modality ``L``.
        valid (Tensor, optional): ``[B, L]`` bool; invalid (padding) tokens are never chosen.

    Returns:
        Tensor: ``[B, L]`` bool, ``True`` = visible, exactly ``counts[b]`` per row.
    """
    noise = torch.rand(counts.shape[0], num_tokens, device=counts.device)
    if valid is not None:
        noise = noise.masked_fill(~valid, 2.0)
    rank = noise.argsort(1).argsort(1)
    return rank < counts[:, None]


def dirichlet_masks(num_tokens: Sequence[int], num_visible: int, alpha: float, batch_size: int,
                    valid: Optional[Sequence[Optional[Tensor]]] = None,
                    device: Optional[torch.device] = None) -> List[Tensor]:
    """MultiMAE masking: ``num_visible`` tokens per sample split across modalities by Dirichlet(α).

    Args:
        num_tokens (Sequence[int]): Tokens per modality ``[L_1, ..., L_M]``.
        num_visible (int): Visible tokens per sample over all modalities.
        alpha (float): Dirichlet concentration.
        batch_size (int): ``B``.
        valid (Sequence[Tensor], optional): Per modality ``[B, L_m]`` bool or ``None``.
        device: Device of the masks.

    Returns:
        list[Tensor]: per modality ``[B, L_m]`` bool visible masks; each row of their
        concatenation has exactly ``num_visible`` ``True`` entries.
    """
    valid = list(valid) if valid is not None else [None] * len(num_tokens)
    capacity = torch.stack([
        torch.full((batch_size,), n, device=device) if v is None else v.sum(1) for n, v in zip(num_tokens, valid)
    ], dim=1)
    weights = sample_dirichlet(batch_size, len(num_tokens), alpha, device)
    counts = allocate_exact(weights, num_visible, capacity)
    return [random_visible(counts[:, m], n, valid[m]) for m, n in enumerate(num_tokens)]


def visible_indices(visible: Tensor) -> Tensor:
    """Indices ``[B, K]`` of the ``True`` entries of ``visible [B, L]``, in token order.

    Raises:
        DataError: if rows have different numbers of visible tokens.
    """
    per_row = visible.sum(1)
    if bool((per_row != per_row[0]).any()):
        raise DataError("every sample must keep the same number of visible tokens to batch them; "
                        f"got counts {per_row.tolist()}")
    order = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)
    return order[:, : int(per_row[0])]


def gather_tokens(x: Tensor, ids: Tensor) -> Tensor:
    """``x [B, L, ...]`` at ``ids [B, K]`` -> ``[B, K, ...]``."""
    index = ids.view(*ids.shape, *([1] * (x.dim() - 2))).expand(*ids.shape, *x.shape[2:])
    return x.gather(1, index)


def scatter_tokens(x_vis: Tensor, ids: Tensor, num_tokens: int, fill: Tensor) -> Tensor:
    """Put ``x_vis [B, K, D]`` back at ``ids [B, K]`` in ``[B, L, D]``; the rest is ``fill [D]``."""
    out = fill.to(x_vis.dtype).expand(x_vis.shape[0], num_tokens, x_vis.shape[-1]).clone()
    return out.scatter(1, ids[..., None].expand_as(x_vis), x_vis)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values [B, L]`` over ``mask [B, L]`` (``True`` = counted); 0 if nothing is counted."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)

"""Sparsely-gated Mixture of Experts with noisy top-k gating and a load-balancing loss.

Used by UniGraph2 (He et al., WWW 2025, `arXiv:2502.00806
<https://arxiv.org/abs/2502.00806>`_) to align node features from different domains
and modalities. Gating follows Shazeer et al. (ICLR 2017, `arXiv:1701.06538
<https://arxiv.org/abs/1701.06538>`_): ``H(x) = x W_g + eps * softplus(x W_noise)``
while training, keep the top ``k`` logits and softmax over them. The auxiliary loss is
the Switch-Transformer balance term (Fedus et al., 2021, `arXiv:2101.03961
<https://arxiv.org/abs/2101.03961>`_), ``E * sum_e f_e * P_e`` with ``f_e`` the share of
routing slots sent to expert ``e`` and ``P_e`` its mean router probability: it equals
``1`` for perfectly balanced routing and grows up to ``E`` as routing collapses.
"""
from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Routing(NamedTuple):
    """Routing decision for ``N`` tokens over ``E`` experts.

    Attributes:
        gates (Tensor): ``[N, E]`` combination weights, zero outside each token's top-k.
        topk (Tensor): ``[N, k]`` chosen experts (long).
        probs (Tensor): ``[N, E]`` softmax over all (noisy while training) router logits.
    """

    gates: Tensor
    topk: Tensor
    probs: Tensor


class MoE(nn.Module):
    """Top-k gated mixture of two-layer MLP experts.

    Args:
        in_dim (int): Input width.
        out_dim (int, optional): Output width. (default: ``in_dim``)
        num_experts (int): Number of experts ``E``. (default: ``8``)
        top_k (int): Experts per token ``k``. (default: ``2``)
        hidden_dim (int, optional): Experts' hidden width. (default: ``in_dim``)
        noisy_gating (bool): Add learned-scale Gaussian noise to the router logits
            while training. (default: ``True``)
        dropout (float): Dropout inside the experts. (default: ``0.0``)
    """

    def __init__(self, in_dim: int, out_dim: Optional[int] = None, num_experts: int = 8, top_k: int = 2,
                 hidden_dim: Optional[int] = None, noisy_gating: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        out_dim, hidden_dim = out_dim or in_dim, hidden_dim or in_dim
        self.num_experts, self.top_k, self.noisy_gating = num_experts, top_k, noisy_gating
        self.router = nn.Linear(in_dim, num_experts, bias=False)
        self.noise = nn.Linear(in_dim, num_experts, bias=False) if noisy_gating else None
        self.w1 = nn.Parameter(torch.empty(num_experts, in_dim, hidden_dim))
        self.b1 = nn.Parameter(torch.zeros(num_experts, hidden_dim))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden_dim, out_dim))
        self.b2 = nn.Parameter(torch.zeros(num_experts, out_dim))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w in (self.w1, self.w2):
            bound = 1.0 / math.sqrt(w.size(1))
            nn.init.uniform_(w, -bound, bound)
        nn.init.zeros_(self.b1)
        nn.init.zeros_(self.b2)
        nn.init.normal_(self.router.weight, std=0.02)
        if self.noise is not None:
            nn.init.zeros_(self.noise.weight)

    def route(self, x: Tensor) -> Routing:
        """Router logits -> top-k gates for ``x: [N, in_dim]``."""
        logits = self.router(x)                                                 # [N, E]
        if self.noise is not None and self.training:
            scale = F.softplus(self.noise(x)) + 1e-2
            logits = logits + torch.randn_like(logits) * scale
        top_logits, topk = logits.topk(self.top_k, dim=-1)                      # [N, k]
        gates = torch.zeros_like(logits).scatter(-1, topk, top_logits.softmax(dim=-1))
        return Routing(gates, topk, logits.softmax(dim=-1))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """Mix the experts.

        Args:
            x (Tensor): Tokens ``[N, in_dim]``.

        Returns:
            ``(out [N, out_dim], balance_loss scalar, stats)`` where ``stats`` holds
            ``expert_load`` ``[E]`` (share of routing slots per expert, sums to 1) and
            ``router_entropy`` (mean entropy of the router distribution), detached.
        """
        routing = self.route(x)
        out = x.new_zeros(x.size(0), self.w2.size(-1))
        for e in range(self.num_experts):
            idx = (routing.gates[:, e] > 0).nonzero().view(-1)
            if idx.numel() == 0:
                continue
            h = F.gelu(x[idx] @ self.w1[e] + self.b1[e])
            h = self.dropout(h) @ self.w2[e] + self.b2[e]
            out = out.index_add(0, idx, h * routing.gates[idx, e].unsqueeze(-1))
        return out, self.balance_loss(routing), self.stats(routing)

    def balance_loss(self, routing: Routing) -> Tensor:
        """Switch balance term ``E * sum_e f_e * P_e`` (``1`` when balanced, up to ``E``)."""
        load = self._load(routing)
        return self.num_experts * (load * routing.probs.mean(dim=0)).sum()

    def _load(self, routing: Routing) -> Tensor:
        counts = torch.zeros(self.num_experts, device=routing.topk.device)
        counts.index_add_(0, routing.topk.reshape(-1), torch.ones(routing.topk.numel(), device=counts.device))
        return counts / counts.sum().clamp(min=1.0)

    @torch.no_grad()
    def stats(self, routing: Routing) -> Dict[str, Tensor]:
        p = routing.probs
        entropy = -(p * p.clamp(min=1e-12).log()).sum(-1).mean()
        return {"expert_load": self._load(routing), "router_entropy": entropy}

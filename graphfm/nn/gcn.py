"""A GCN whose aggregation is modulated by per-layer *structure tokens* (SAMGPT).

SAMGPT (Yu et al., WWW 2025, https://arxiv.org/abs/2502.05424) gives every source
domain ``i`` a learnable vector ``t_i^l`` per layer that modulates how layer ``l``
aggregates, so one shared GCN can serve domains whose structures differ. Two
placements of the token are offered:

* ``"message"`` (default, the paper's Eq. 6): the token scales every neighbour
  message before the shared weights, ``h_v^l = σ(Σ_u Â_vu (t^l ⊙ h_u^{l-1}) W^l + b^l)``.
  Because the token is shared by all messages of a layer this equals
  ``σ(((Â H^{l-1}) ⊙ t^l) W^l + b^l)``: the token is a per-domain reweighting of the
  aggregated input channels, i.e. of the rows of ``W^l``.
* ``"output"`` (the public code's placement): the token scales the layer output,
  ``H^l = σ(Â H^{l-1} W^l + b^l) ⊙ t^l``.

The paper's placement is the default because it is the method as published and the
token then acts *inside* the aggregation (before the non-linearity), which is what
"structure-aware aggregation" means; the output placement is a post-hoc rescaling.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError
from graphfm.nn.propagation import SparseMatrix, spmm_batched

__all__ = ["TokenGCN"]

PLACEMENTS = ("message", "output")
ACTIVATIONS = ("prelu", "relu")
INITS = ("orthogonal", "xavier", "default")


class TokenGCN(nn.Module):
    """Multi-layer GCN with token-modulated aggregation.

    Activations are *node-major*, ``[R, B, D]``: rows, then a batch dimension ``B``
    (tasks or prompt branches) so that many token settings run in one pass over
    shared rows, then channels; sparse aggregation then needs no copies. Tokens
    broadcast against ``[R, B, D]``: ``[D]``, ``[1, B, D]`` (one per batch entry) or
    ``[R, B, D]`` (one per row, for grouped plans).

    Args:
        in_dim (int): Input feature dimension (after alignment).
        hidden (int): Width of every layer. (default: ``256``)
        num_layers (int): Number of GCN layers. (default: ``3``)
        placement (str): ``"message"`` (Eq. 6 of the paper) or ``"output"``.
            (default: ``"message"``)
        activation (str): ``"prelu"`` (per-channel, as in DGI) or ``"relu"``.
            (default: ``"prelu"``)
        init (str): Weight initialisation: ``"orthogonal"`` (norm-preserving, zero bias;
            a random GCN then keeps most of the propagated feature information),
            ``"xavier"`` (Glorot uniform, zero bias; the public SAMGPT code) or
            ``"default"`` (PyTorch's ``nn.Linear`` init). (default: ``"orthogonal"``)
        residual (bool): Add each layer's input to its output from the second layer on,
            ``H^l = layer(H^{l-1}) + H^{l-1}`` (the public SAMGPT code's backbone).
            (default: ``False``)
    """

    def __init__(self, in_dim: int, hidden: int = 256, num_layers: int = 3, placement: str = "message",
                 activation: str = "prelu", init: str = "orthogonal", residual: bool = False) -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise ConfigError(f"token placement '{placement}' is unknown; use one of {PLACEMENTS}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation '{activation}' is unknown; use one of {ACTIVATIONS}")
        if init not in INITS:
            raise ConfigError(f"init '{init}' is unknown; use one of {INITS}")
        if num_layers < 1 or hidden < 1 or in_dim < 1:
            raise ConfigError(f"TokenGCN needs positive sizes, got in_dim={in_dim}, hidden={hidden}, "
                              f"num_layers={num_layers}")
        self.placement, self.activation, self.residual = placement, activation, residual
        dims = [in_dim] + [hidden] * num_layers
        self.dims = dims
        self.lins = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(num_layers))
        self.slopes = nn.ParameterList(nn.Parameter(torch.full((hidden,), 0.25)) for _ in range(num_layers)) \
            if activation == "prelu" else nn.ParameterList()
        if init != "default":
            for lin in self.lins:
                (nn.init.orthogonal_ if init == "orthogonal" else nn.init.xavier_uniform_)(lin.weight)
                nn.init.zeros_(lin.bias)

    @property
    def num_layers(self) -> int:
        return len(self.lins)

    @property
    def token_dims(self) -> List[int]:
        """Width of the structure token of each layer (input width for ``"message"``)."""
        if self.placement == "message":
            return self.dims[:-1]
        return self.dims[1:]

    def layer(self, index: int, agg: Tensor, token: Optional[Tensor] = None) -> Tensor:
        """Layer ``index`` on aggregated inputs ``agg = Â H`` ``[R, B, D_in]`` -> ``[R, B, D_out]``."""
        if token is not None and self.placement == "message":
            agg = agg * token
        h = self.activate(index, self.lins[index](agg))
        if token is not None and self.placement == "output":
            h = h * token
        return h

    def activate(self, index: int, h: Tensor) -> Tensor:
        """The activation of layer ``index`` (PReLU with its slopes, or ReLU) on ``[..., D_out]``."""
        if self.activation == "prelu":
            return F.prelu(h.reshape(-1, h.size(-1)), self.slopes[index]).view(h.shape)
        return h.relu()

    def forward_plan(self, agg1: Tensor, adjs: Sequence[SparseMatrix],
                     tokens: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """Run all layers from the first aggregation.

        Args:
            agg1 (Tensor): ``Â X`` on the rows of layer 1, ``[R_1, B, D_0]``.
            adjs (Sequence[SparseMatrix]): ``L - 1`` ``[R_{l+1}, R_l]`` matrices (a
                :class:`~graphfm.nn.propagation.PropagationPlan`'s ``adjs``, or the full
                ``Â`` repeated).
            tokens (Sequence[Tensor], optional): One token per layer (or ``None``).

        Returns:
            Tensor: ``[R_L, B, hidden]``.
        """
        tokens = list(tokens) if tokens is not None else [None] * self.num_layers
        if len(tokens) != self.num_layers or len(adjs) != self.num_layers - 1:
            raise ValueError(f"need {self.num_layers} tokens and {self.num_layers - 1} adjacencies, "
                             f"got {len(tokens)} and {len(adjs)}")
        h = self.layer(0, agg1, tokens[0])
        for i, mat in enumerate(adjs, start=1):
            agg = spmm_batched(mat, h)
            h = self.layer(i, agg, tokens[i]) + (_rows_of(mat, h) if self.residual else 0)
        return h

    def forward(self, x: Tensor, adj: SparseMatrix, tokens: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """Full-graph forward.

        Args:
            x (Tensor): Node features ``[N, D_0]`` or ``[N, B, D_0]``.
            adj (SparseMatrix): Normalised adjacency ``[N, N]``
                (:meth:`~graphfm.nn.NormalizedAdjacency.matrix`).
            tokens (Sequence[Tensor], optional): One token per layer.

        Returns:
            Tensor: ``[N, hidden]`` (or ``[N, B, hidden]`` for batched input).
        """
        squeeze = x.dim() == 2
        h = x.unsqueeze(1) if squeeze else x
        out = self.forward_plan(spmm_batched(adj, h), [adj] * (self.num_layers - 1), tokens)
        return out.squeeze(1) if squeeze else out


def _rows_of(mat: SparseMatrix, h: Tensor) -> Tensor:
    """The previous layer's output on the rows of ``mat``'s output (residual connection).

    For the full graph (a square ``Â``) the rows are the same; a propagation plan's
    matrices map ``R_l`` rows to ``R_{l+1}`` rows, whose own previous values are found
    through the plan's self-loops (each output row aggregates itself exactly once).
    """
    if mat.shape[0] == mat.shape[1] == h.size(0) and mat.self_index is None:
        return h
    return h[mat.self_index]

"""Pre-norm transformer blocks on fused attention.

Attention uses :func:`torch.nn.functional.scaled_dot_product_attention`, which picks a
flash / memory-efficient kernel on CUDA (bf16) and a plain one on the CPU. Padding is a
boolean key mask ``valid [B, Lk]`` (``True`` = attend).

* :class:`Block`: self-attention + MLP (ViT / MAE encoder and decoder blocks);
* :class:`CrossBlock`: cross-attention from queries to a context + MLP (MultiMAE's
  output adapters, `arXiv:2204.01678 <https://arxiv.org/abs/2204.01678>`_, Sec. 3.2);
* :class:`Transformer`: a stack of blocks with a final LayerNorm.
"""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError


class Attention(nn.Module):
    """Multi-head (self- or cross-) attention with fused SDPA.

    Args:
        dim (int): Query width (and output width).
        heads (int): Attention heads; must divide ``dim``. (default: ``4``)
        context_dim (int, optional): Key/value input width for cross-attention.
            (default: ``None``, i.e. ``dim``)
        qkv_bias (bool): Bias on the projections. (default: ``True``)
    """

    def __init__(self, dim: int, heads: int = 4, context_dim: Optional[int] = None, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"attention width {dim} is not divisible by heads={heads}; pick heads dividing dim")
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(context_dim or dim, 2 * dim, bias=qkv_bias)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Optional[Tensor] = None, valid: Optional[Tensor] = None) -> Tensor:
        """Attend from ``x [B, Lq, D]`` to ``context [B, Lk, Dc]`` (``x`` itself if ``None``).

        Args:
            valid (Tensor, optional): ``[B, Lk]`` bool, ``False`` keys are ignored.

        Returns:
            Tensor: ``[B, Lq, D]``.
        """
        context = x if context is None else context
        b, lq, d = x.shape
        q = self.q(x).view(b, lq, self.heads, -1).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if valid is None else valid[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(out.transpose(1, 2).reshape(b, lq, d))


class Mlp(nn.Sequential):
    """Two-layer GELU MLP with hidden width ``ratio * dim``."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        dim (int): Width.
        heads (int): Attention heads. (default: ``4``)
        mlp_ratio (float): MLP hidden width / ``dim``. (default: ``4.0``)
    """

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, mlp_ratio)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """``x [B, L, D]``, ``valid [B, L]`` -> ``[B, L, D]``."""
        x = x + self.attn(self.norm1(x), valid=valid)
        return x + self.mlp(self.norm2(x))


class CrossBlock(nn.Module):
    """Pre-norm cross-attention block: queries attend to a context, then an MLP.

    Args:
        dim (int): Query width.
        context_dim (int): Context width.
        heads (int): Attention heads. (default: ``4``)
        mlp_ratio (float): MLP hidden width / ``dim``. (default: ``4.0``)
    """

    def __init__(self, dim: int, context_dim: int, heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_q, self.norm_ctx = nn.LayerNorm(dim), nn.LayerNorm(context_dim)
        self.attn = Attention(dim, heads, context_dim=context_dim)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, mlp_ratio)

    def forward(self, x: Tensor, context: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """``x [B, Lq, D]``, ``context [B, Lk, Dc]``, ``valid [B, Lk]`` -> ``[B, Lq, D]``."""
        x = x + self.attn(self.norm_q(x), self.norm_ctx(context), valid=valid)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """``depth`` pre-norm :class:`Block` s followed by a LayerNorm.

    Args:
        dim (int): Width.
        depth (int): Number of blocks.
        heads (int): Attention heads. (default: ``4``)
        mlp_ratio (float): MLP ratio. (default: ``4.0``)
    """

    def __init__(self, dim: int, depth: int, heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """``x [B, L, D]``, ``valid [B, L]`` -> ``[B, L, D]``."""
        for block in self.blocks:
            x = block(x, valid)
        return self.norm(x)


def init_weights(module: nn.Module) -> None:
    """MAE-style initialisation: Xavier-uniform linear layers, zero biases, unit LayerNorms.

    Token embeddings get ``N(0, 0.5^2)``: on the scale of the sin-cos positions they are
    added to (BERT's ``0.02`` would leave word identity invisible next to fixed positions).
    """
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.5)

"""Decoders shared by the masked objectives, and patch-target helpers.

* :class:`MAEDecoder`: MAE's lightweight decoder (`arXiv:2111.06377
  <https://arxiv.org/abs/2111.06377>`_): visible latents are projected, mask tokens fill the
  masked positions, fixed sin-cos positions and a learned per-modality embedding are added
  (the BM-MAE shared decoder, `arXiv:2505.00568 <https://arxiv.org/abs/2505.00568>`_),
  and self-attention blocks predict every token.
* :class:`CrossAttentionDecoder`: a MultiMAE output adapter (`arXiv:2204.01678
  <https://arxiv.org/abs/2204.01678>`_, Sec. 3.2): one task's queries (its visible tokens
  and mask tokens, plus positions) cross-attend to *all* visible encoder tokens of every
  modality, then a few self-attention blocks.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from multimodal.adapters import sincos_nd
from multimodal.masking import scatter_tokens
from multimodal.vit import Block, CrossBlock, init_weights


def normalise_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-patch standardisation of ``[B, L, P]`` targets (MAE's ``norm_pix_loss``)."""
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


class MAEDecoder(nn.Module):
    """Shared self-attention decoder over several modalities' token grids.

    Args:
        enc_dim (int): Encoder width.
        grids (Sequence[tuple]): Token grid of each modality, in sequence order.
        out_dim (int): Output size per token (e.g. voxels per patch).
        dim (int): Decoder width. (default: ``64``)
        depth (int): Decoder blocks. (default: ``2``)
        heads (int): Attention heads. (default: ``4``)
        num_global_tokens (int): Global tokens at the front of the encoder output. (default: ``1``)
    """

    def __init__(self, enc_dim: int, grids: Sequence[Tuple[int, ...]], out_dim: int, dim: int = 64,
                 depth: int = 2, heads: int = 4, num_global_tokens: int = 1) -> None:
        super().__init__()
        self.g = num_global_tokens
        self.proj = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.modality_embed = nn.Parameter(torch.zeros(len(grids), dim))
        self.register_buffer("pos", torch.cat([sincos_nd(g, dim) for g in grids])[None], persistent=False)
        self.register_buffer("modality_of", torch.cat([torch.full((int(torch.tensor(g).prod()),), i)
                                                       for i, g in enumerate(grids)]), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)
        self.apply(init_weights)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.modality_embed, std=0.02)

    def forward(self, latent: Tensor, ids_keep: Tensor, modality_of: Optional[Tensor] = None) -> Tensor:
        """Predict every token from the visible latents.

        Args:
            latent (Tensor): ``[B, G + K, D_enc]`` encoder output (global tokens first).
            ids_keep (Tensor): ``[B, K]`` positions of the visible tokens in the full sequence.

        Returns:
            Tensor: ``[B, L, out_dim]`` predictions for all ``L`` tokens.
        """
        x = self.proj(latent)
        length = self.pos.shape[1]
        full = scatter_tokens(x[:, self.g:], ids_keep, length, self.mask_token)
        full = full + self.pos + self.modality_embed[self.modality_of]
        h = torch.cat([x[:, : self.g], full], dim=1)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h[:, self.g:]))


class CrossAttentionDecoder(nn.Module):
    """MultiMAE output adapter for one task.

    Args:
        enc_dim (int): Encoder width.
        grid (tuple): The task's token grid.
        out_dim (int): Output per token (pixels x channels, or pixels x classes).
        dim (int): Decoder width. (default: ``64``)
        depth (int): Self-attention blocks after the cross-attention. (default: ``1``)
        heads (int): Attention heads. (default: ``4``)
    """

    def __init__(self, enc_dim: int, grid: Tuple[int, ...], out_dim: int, dim: int = 64, depth: int = 1,
                 heads: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.task_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos", sincos_nd(grid, dim)[None], persistent=False)
        self.cross = CrossBlock(dim, dim, heads)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)
        self.apply(init_weights)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.task_embed, std=0.02)

    def forward(self, latent: Tensor, own_tokens: Tensor, own_visible: Tensor) -> Tensor:
        """Predict the task's tokens.

        Args:
            latent (Tensor): ``[B, G + K, D_enc]`` all visible encoder tokens (the context).
            own_tokens (Tensor): ``[B, L_t, D_enc]`` encoder outputs scattered to the task's
                positions (only the visible ones are used).
            own_visible (Tensor): ``[B, L_t]`` bool, the task's visible positions.

        Returns:
            Tensor: ``[B, L_t, out_dim]``.
        """
        context = self.proj(latent)
        own = self.proj(own_tokens)
        queries = torch.where(own_visible[..., None], own, self.mask_token.to(own.dtype))
        h = self.cross(queries + self.pos + self.task_embed, context)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def modality_slices(lengths: List[int], offset: int = 0) -> List[slice]:
    """Consecutive slices of a concatenated sequence with the given per-modality lengths."""
    out, start = [], offset
    for n in lengths:
        out.append(slice(start, start + n))
        start += n
    return out

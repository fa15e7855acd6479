"""BM-MAE: multimodal masked autoencoding of 3D MRI contrasts, robust to missing modalities.

Robinet et al., *Multimodal Masked Autoencoder Pre-training for 3D MRI-Based Brain Tumor
Analysis with Missing Modalities* (`arXiv:2505.00568 <https://arxiv.org/abs/2505.00568>`_).

Each contrast (T1, T2, FLAIR, ...) is cut into 3D patches by its own adapter; the tokens
of *all* contrasts are concatenated and a random subset (``1 - mask_ratio``) is encoded.
One decoder shared by all contrasts, told apart by learned modality embeddings, rebuilds
every patch; the MSE counts masked patches only. Pretraining always sees every contrast;
afterwards the encoder takes any subset (a missing contrast contributes no tokens), which
is how BM-MAE fine-tunes and infers with missing modalities.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from graphfm.errors import ConfigError, DataError
from graphfm.objectives.base import OBJECTIVES, Objective
from multimodal.adapters import PatchAdapter
from multimodal.masking import gather_tokens, masked_mean, random_visible, visible_indices
from multimodal.model import MultimodalViT
from multimodal.objectives.decoders import MAEDecoder, modality_slices, normalise_patches


@OBJECTIVES.register("bm_mae")
class BMMAE(Objective):
    """BM-MAE pretraining objective.

    Args:
        model (MultimodalViT): Encoder whose modalities are the contrasts (patch3d, or patch2d).
        modalities (list[str], optional): Contrasts to pretrain on. (default: all patch modalities)
        mask_ratio (float): Fraction of all tokens masked (the paper: 0.75). (default: ``0.75``)
        decoder_dim (int): Shared decoder width. (default: ``64``)
        decoder_depth (int): Shared decoder blocks. (default: ``2``)
        decoder_heads (int): Decoder heads. (default: ``4``)
        norm_pix_loss (bool): Standardise each target patch. (default: ``False``)
    """

    def __init__(self, model: MultimodalViT, modalities: Optional[List[str]] = None, mask_ratio: float = 0.75,
                 decoder_dim: int = 64, decoder_depth: int = 2, decoder_heads: int = 4,
                 norm_pix_loss: bool = False) -> None:
        super().__init__(model)
        names = list(modalities or [n for n, a in model.adapters.items() if isinstance(a, PatchAdapter)])
        adapters = [model.adapter(n) for n in names]
        if not names or not all(isinstance(a, PatchAdapter) for a in adapters):
            raise ConfigError(f"bm_mae needs patch modalities (patch3d), got {names or 'none'}")
        if len({a.patch_dim for a in adapters}) != 1:
            raise ConfigError("bm_mae's shared decoder needs every contrast to have the same channels and patch "
                              f"size; got patch sizes {[a.patch_dim for a in adapters]}")
        if not 0.0 < mask_ratio < 1.0:
            raise ConfigError(f"bm_mae mask_ratio must be in (0, 1), got {mask_ratio}")
        self.modalities, self.mask_ratio, self.norm_pix_loss = names, mask_ratio, norm_pix_loss
        self.decoder = MAEDecoder(model.dim, [a.grid for a in adapters], adapters[0].patch_dim, decoder_dim,
                                  decoder_depth, decoder_heads, model.num_global_tokens)

    def forward_encoder(self, inputs: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Encode a random ``1 - mask_ratio`` share of all contrasts' tokens.

        Args:
            inputs (dict): Contrast -> ``[B, 1, S, S, S]`` volume (all contrasts present).

        Returns:
            tuple: ``latent [B, G + K, D]``, ``visible [B, L]`` bool over the concatenated
            ``L = sum_m L_m`` tokens, ``ids_keep [B, K]``.
        """
        tokens = self.model.tokenize({m: inputs[m] for m in self.modalities})
        x, _ = self.model.concat(tokens)
        b, length = x.shape[:2]
        keep = max(1, int(round(length * (1 - self.mask_ratio))))
        visible = random_visible(torch.full((b,), keep, device=x.device), length)
        ids_keep = visible_indices(visible)
        return self.model.encode(gather_tokens(x, ids_keep)), visible, ids_keep

    def forward_decoder(self, latent: Tensor, ids_keep: Tensor) -> Tensor:
        """``latent [B, G + K, D]``, ``ids_keep [B, K]`` -> voxel predictions ``[B, L, P]``."""
        return self.decoder(latent, ids_keep)

    def forward_loss(self, inputs: Mapping[str, Tensor], pred: Tensor, visible: Tensor) -> Dict[str, Tensor]:
        """MSE on masked patches only.

        Args:
            inputs (dict): Contrast -> volume (targets).
            pred (Tensor): ``[B, L, P]``.
            visible (Tensor): ``[B, L]`` bool; ``~visible`` is scored.

        Returns:
            dict: ``recon_loss`` and a per-contrast ``mse_<name>`` metric.
        """
        target = torch.cat([self.model.adapters[m].patchify(inputs[m]) for m in self.modalities], dim=1).float()
        if self.norm_pix_loss:
            target = normalise_patches(target)
        per_token = (pred.float() - target).pow(2).mean(-1)
        out = {"recon_loss": masked_mean(per_token, ~visible)}
        spans = modality_slices([self.model.adapters[m].num_tokens for m in self.modalities])
        for name, span in zip(self.modalities, spans):
            out[f"mse_{name}"] = masked_mean(per_token[:, span], ~visible[:, span]).detach()
        return out

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise DataError(f"bm_mae pretrains with every contrast; the batch lacks {missing}. Missing modalities "
                            "are for fine-tuning/inference (model.embed with a subset)")
        latent, visible, ids_keep = self.forward_encoder(batch)
        return self.forward_loss(batch, self.forward_decoder(latent, ids_keep), visible)

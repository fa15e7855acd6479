"""BM-MAE: multimodal masked autoencoding of 3D MRI contrasts, robust to missing modalities.

Robinet et al., *Multimodal Masked Autoencoder Pre-training for 3D MRI-Based Brain Tumor
Analysis with Missing Modalities* (`arXiv:2505.00568 <https://arxiv.org/abs/2505.00568>`_).

Each contrast (T1, T2, FLAIR, ...) is cut into 3D patches by its own adapter. As in
MultiMAE, a fixed budget of visible tokens (``1 - mask_ratio`` of all tokens) is split
across the contrasts by a symmetric Dirichlet(α) draw per subject
(:func:`multimodal.masking.dirichlet_masks`), so that some subjects show one contrast
only and others none of a given contrast. One decoder shared by all contrasts, told
apart by learned modality embeddings, rebuilds every patch; the loss is the *sum over
contrasts* of each contrast's MSE on its masked patches. Afterwards the encoder takes any
subset (a missing contrast contributes no tokens), and :meth:`BMMAE.reconstruct` rebuilds
a dropped contrast from the others, which is how BM-MAE is evaluated with missing
modalities.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from graphfm.errors import ConfigError, DataError
from graphfm.objectives.base import OBJECTIVES, Objective
from multimodal.adapters import PatchAdapter
from multimodal.masking import dirichlet_masks, gather_tokens, masked_mean, visible_indices
from multimodal.model import MultimodalViT
from multimodal.objectives.decoders import MAEDecoder, modality_slices, normalise_patches


@OBJECTIVES.register("bm_mae")
class BMMAE(Objective):
    """BM-MAE pretraining objective.

    Args:
        model (MultimodalViT): Encoder whose modalities are the contrasts (patch3d, or patch2d).
        modalities (list[str], optional): Contrasts to pretrain on. (default: all patch modalities)
        mask_ratio (float): Fraction of all tokens masked (the paper: 0.75). (default: ``0.75``)
        alpha (float): Dirichlet concentration of the visible budget's split across
            contrasts (MultiMAE's default). (default: ``1.0``)
        decoder_dim (int): Shared decoder width. (default: ``64``)
        decoder_depth (int): Shared decoder blocks. (default: ``2``)
        decoder_heads (int): Decoder heads. (default: ``4``)
        norm_pix_loss (bool): Standardise each target patch. (default: ``False``)
    """

    def __init__(self, model: MultimodalViT, modalities: Optional[List[str]] = None, mask_ratio: float = 0.75,
                 alpha: float = 1.0, decoder_dim: int = 64, decoder_depth: int = 2, decoder_heads: int = 4,
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
        if alpha <= 0:
            raise ConfigError(f"bm_mae alpha (Dirichlet concentration) must be > 0, got {alpha}")
        self.modalities, self.mask_ratio, self.alpha, self.norm_pix_loss = names, mask_ratio, alpha, norm_pix_loss
        self.lengths = [a.num_tokens for a in adapters]
        self.num_visible = max(1, int(round(sum(self.lengths) * (1 - mask_ratio))))
        self.decoder = MAEDecoder(model.dim, [a.grid for a in adapters], adapters[0].patch_dim, decoder_dim,
                                  decoder_depth, decoder_heads, model.num_global_tokens)

    def forward_encoder(self, inputs: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Encode ``num_visible`` tokens per subject, split across contrasts by Dirichlet(α).

        Args:
            inputs (dict): Contrast -> ``[B, 1, S, S, S]`` volume (all contrasts present).

        Returns:
            tuple: ``latent [B, G + K, D]`` (``K = num_visible``), ``visible [B, L]`` bool over
            the concatenated ``L = sum_m L_m`` tokens, ``ids_keep [B, K]``.
        """
        tokens = self.model.tokenize({m: inputs[m] for m in self.modalities})
        x, _ = self.model.concat(tokens)
        masks = dirichlet_masks(self.lengths, self.num_visible, self.alpha, x.shape[0], device=x.device)
        visible = torch.cat(masks, dim=1)
        ids_keep = visible_indices(visible)
        return self.model.encode(gather_tokens(x, ids_keep)), visible, ids_keep

    def forward_decoder(self, latent: Tensor, ids_keep: Tensor) -> Tensor:
        """``latent [B, G + K, D]``, ``ids_keep [B, K]`` -> voxel predictions ``[B, L, P]``."""
        return self.decoder(latent, ids_keep)

    def targets(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Patch targets ``[B, L, P]`` of all contrasts (standardised per patch with ``norm_pix_loss``)."""
        target = torch.cat([self.model.adapters[m].patchify(inputs[m]) for m in self.modalities], dim=1).float()
        return normalise_patches(target) if self.norm_pix_loss else target

    def forward_loss(self, inputs: Mapping[str, Tensor], pred: Tensor, visible: Tensor) -> Dict[str, Tensor]:
        """Per-contrast MSE on masked patches, one ``<contrast>_loss`` each (the engine sums them).

        Args:
            inputs (dict): Contrast -> volume (targets).
            pred (Tensor): ``[B, L, P]``.
            visible (Tensor): ``[B, L]`` bool; ``~visible`` is scored.

        Returns:
            dict: ``<contrast>_loss`` per contrast and ``visible_<contrast>`` (mean visible tokens).
        """
        per_token = (pred.float() - self.targets(inputs)).pow(2).mean(-1)
        out = {}
        for name, span in zip(self.modalities, modality_slices(self.lengths)):
            out[f"{name}_loss"] = masked_mean(per_token[:, span], ~visible[:, span])
            out[f"visible_{name}"] = visible[:, span].float().sum(1).mean().detach()
        return out

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise DataError(f"bm_mae pretrains with every contrast; the batch lacks {missing}. Missing modalities "
                            "are for fine-tuning/inference (model.embed with a subset, or reconstruct())")
        latent, visible, ids_keep = self.forward_encoder(batch)
        return self.forward_loss(batch, self.forward_decoder(latent, ids_keep), visible)

    # ------------------------------------------------------------------ missing-modality inference
    @torch.no_grad()
    def reconstruct(self, inputs: Mapping[str, Tensor], missing: Sequence[str]) -> Dict[str, Tensor]:
        """Rebuild dropped contrasts from the present ones (all their tokens visible).

        Args:
            inputs (dict): Contrast -> ``[B, 1, S, S, S]`` for the *present* contrasts (others ignored).
            missing (Sequence[str]): Contrasts to rebuild (at least one present contrast must remain).

        Returns:
            dict: missing contrast -> predicted patches ``[B, L_m, P]`` (the target space:
            per-patch standardised with ``norm_pix_loss``).
        """
        unknown = [m for m in missing if m not in self.modalities]
        present = [m for m in self.modalities if m not in missing and m in inputs]
        if unknown or not present:
            raise DataError(f"reconstruct: missing={list(missing)} must name contrasts among {self.modalities} and "
                            "leave at least one present contrast in the inputs")
        x, _ = self.model.concat(self.model.tokenize({m: inputs[m] for m in present}))
        spans = dict(zip(self.modalities, modality_slices(self.lengths)))
        ids = torch.cat([torch.arange(spans[m].start, spans[m].stop, device=x.device) for m in present])
        pred = self.forward_decoder(self.model.encode(x), ids[None].expand(x.shape[0], -1))
        return {m: pred[:, spans[m]] for m in missing}

    def missing_mse(self, inputs: Mapping[str, Tensor], missing: str) -> Tensor:
        """Per-subject MSE ``[B]`` of the rebuilt contrast ``missing`` (all of its patches), given the others."""
        pred = self.reconstruct(inputs, [missing])[missing]
        target = self.model.adapters[missing].patchify(inputs[missing]).float()
        if self.norm_pix_loss:
            target = normalise_patches(target)
        return (pred.float() - target).pow(2).mean((1, 2))

"""MultiMAE: multi-modal multi-task masked autoencoding.

Bachmann et al., *MultiMAE: Multi-modal Multi-task Masked Autoencoders*, ECCV 2022
(`arXiv:2204.01678 <https://arxiv.org/abs/2204.01678>`_).

A fixed budget of visible tokens is split across the input modalities by a symmetric
Dirichlet(α) draw per sample (:func:`multimodal.masking.dirichlet_masks`); the shared
encoder sees only those tokens; one cross-attention decoder per task reconstructs its
modality, and losses count *masked* patches only. The paper's loss details (its
released pretraining config): RGB is rebuilt by an MSE head on *unnormalised* pixels,
with an extra head on per-patch normalised pixels (``extra_norm_pix_loss``); depth is
standardised per image (input and target) and scored with L1; segmentations with
per-pixel cross-entropy. Because the encoder is trained on random subsets, it later
accepts any subset of modalities (standardise depth with :func:`standardise_image` first).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError
from graphfm.objectives.base import OBJECTIVES, Objective
from multimodal.adapters import PatchAdapter
from multimodal.masking import dirichlet_masks, gather_tokens, masked_mean, scatter_tokens, visible_indices
from multimodal.model import MultimodalViT
from multimodal.objectives.decoders import CrossAttentionDecoder, modality_slices, normalise_patches

LOSSES = ("mse_norm", "mse", "l1", "ce")


def default_task_loss(name: str, adapter: Any) -> str:
    """``ce`` for class maps, ``l1`` for depth-like names, else unnormalised-pixel ``mse``."""
    if getattr(adapter, "num_classes", 0) > 0:
        return "ce"
    return "l1" if "depth" in name.lower() else "mse"


def standardise_image(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-sample standardisation of ``[B, C, ...]`` images (MultiMAE's ``standardize_depth``)."""
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dims, keepdim=True)
    std = x.std(dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


@OBJECTIVES.register("multimae")
class MultiMAE(Objective):
    """MultiMAE pretraining objective.

    Args:
        model (MultimodalViT): The encoder (its patch modalities are inputs and tasks).
        tasks (dict, optional): Modality -> loss (``mse_norm``, ``mse``, ``l1``, ``ce``).
            (default: every patch modality with :func:`default_task_loss`)
        num_visible (int): Visible tokens per sample over all modalities (the paper uses
            98 of 3 x 196). (default: ``16``)
        alpha (float): Dirichlet concentration of the per-modality split. (default: ``1.0``)
        decoder_dim (int): Decoder width. (default: ``64``)
        decoder_depth (int): Self-attention blocks per decoder. (default: ``1``)
        decoder_heads (int): Decoder heads. (default: ``4``)
        loss_weights (dict, optional): Task -> weight. (default: all ``1``)
        extra_norm_pix_loss (bool): For every ``mse`` task add a second head ``<task>_norm``
            on per-patch normalised pixels, as the paper's config does for RGB. (default: ``True``)
        standardise (list[str], optional): Modalities standardised per image, as input and
            target. (default: those whose name contains ``depth``)
    """

    def __init__(self, model: MultimodalViT, tasks: Optional[Dict[str, str]] = None, num_visible: int = 16,
                 alpha: float = 1.0, decoder_dim: int = 64, decoder_depth: int = 1, decoder_heads: int = 4,
                 loss_weights: Optional[Dict[str, float]] = None, extra_norm_pix_loss: bool = True,
                 standardise: Optional[list] = None) -> None:
        super().__init__(model)
        if tasks is None:
            tasks = {n: default_task_loss(n, a) for n, a in model.adapters.items() if isinstance(a, PatchAdapter)}
        for name, loss in tasks.items():
            if not isinstance(model.adapter(name), PatchAdapter):
                raise ConfigError(f"multimae task '{name}' is not a patch modality; tasks must be patch2d/patch3d")
            if loss not in LOSSES:
                raise ConfigError(f"multimae task '{name}': unknown loss '{loss}'; valid: {', '.join(LOSSES)}")
        if not tasks:
            raise ConfigError("multimae needs at least one patch modality to reconstruct")
        self.tasks, self.num_visible, self.alpha = dict(tasks), num_visible, alpha
        if standardise is None:
            standardise = [t for t in tasks if "depth" in t.lower()]
        bad = [m for m in standardise if m not in model.adapters or getattr(model.adapters[m], "num_classes", 0)]
        if bad:
            raise ConfigError(f"multimae standardise: {bad} are not image modalities of the model; "
                              f"valid: {', '.join(t for t in tasks if self.tasks[t] != 'ce')}")
        self.standardise = list(standardise)
        # head name -> (modality it rebuilds, loss)
        self.heads = {t: (t, loss) for t, loss in tasks.items()}
        if extra_norm_pix_loss:
            self.heads.update({f"{t}_norm": (t, "mse_norm") for t, loss in tasks.items() if loss == "mse"})
        self.loss_weights = {h: float((loss_weights or {}).get(h, 1.0)) for h in self.heads}
        self.decoders = nn.ModuleDict({
            h: CrossAttentionDecoder(model.dim, model.adapters[m].grid, self._out_dim(m, loss), decoder_dim,
                                     decoder_depth, decoder_heads) for h, (m, loss) in self.heads.items()})

    def _out_dim(self, modality: str, loss: str) -> int:
        adapter = self.model.adapters[modality]
        per_pixel = adapter.num_classes if loss == "ce" else adapter.channels
        return per_pixel * int(torch.tensor(adapter.patch).prod())

    # ------------------------------------------------------------------ stages
    def forward_encoder(self, inputs: Mapping[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor], Tensor]:
        """Encode a Dirichlet-allocated subset of visible tokens.

        Args:
            inputs (dict): Modality -> input tensor (``[B, C, H, W]`` images, ``[B, H, W]`` class maps).

        Returns:
            tuple: ``latent [B, G + K, D]`` (``K = num_visible``), ``visible`` (modality ->
            ``[B, L_m]`` bool) and ``ids_keep [B, K]`` (positions in the concatenated sequence).
        """
        tokens = self.model.tokenize(inputs)
        first = next(iter(tokens.values()))[0]
        masks = dirichlet_masks([t.shape[1] for t, _ in tokens.values()], self.num_visible, self.alpha,
                                first.shape[0], [v for _, v in tokens.values()], first.device)
        visible = dict(zip(tokens, masks))
        x, _ = self.model.concat(tokens)
        ids_keep = visible_indices(torch.cat(masks, dim=1))
        return self.model.encode(gather_tokens(x, ids_keep)), visible, ids_keep

    def forward_decoder(self, latent: Tensor, visible: Mapping[str, Tensor], ids_keep: Tensor) -> Dict[str, Tensor]:
        """Per-task predictions.

        Args:
            latent (Tensor): ``[B, G + K, D]`` from :meth:`forward_encoder`.
            visible (dict): Modality -> ``[B, L_m]`` bool visible masks.
            ids_keep (Tensor): ``[B, K]``.

        Returns:
            dict: task -> ``[B, L_t, P_t]`` (pixels per patch x channels, or x classes for ``ce``).
        """
        g = self.model.num_global_tokens
        lengths = [m.shape[1] for m in visible.values()]
        full = scatter_tokens(latent[:, g:], ids_keep, sum(lengths), latent.new_zeros(latent.shape[-1]))
        spans = dict(zip(visible, modality_slices(lengths)))
        preds = {}
        for head, decoder in self.decoders.items():
            modality = self.heads[head][0]
            if modality in visible:
                preds[head] = decoder(latent, full[:, spans[modality]], visible[modality])
        return preds

    def forward_loss(self, targets: Mapping[str, Tensor], preds: Mapping[str, Tensor],
                     visible: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Losses on masked patches only.

        Args:
            targets (dict): Modality -> raw input (the reconstruction target).
            preds (dict): Head -> ``[B, L_t, P_t]`` (a head rebuilds one modality).
            visible (dict): Modality -> ``[B, L_m]`` bool; ``~visible`` is scored.

        Returns:
            dict: ``<head>_loss`` (weighted) for each predicted head.
        """
        out = {}
        for head, pred in preds.items():
            task, kind = self.heads[head]
            adapter = self.model.adapters[task]
            if kind == "ce":
                target = adapter.patchify(targets[task][:, None].long())  # [B, L, P]
                logits = pred.view(*target.shape, adapter.num_classes).float()
                per_token = F.cross_entropy(logits.movedim(-1, 1), target, reduction="none").mean(-1)
            else:
                target = adapter.patchify(targets[task]).float()
                if kind == "mse_norm":
                    target = normalise_patches(target)
                err = pred.float() - target
                per_token = err.abs().mean(-1) if kind == "l1" else err.pow(2).mean(-1)
            out[f"{head}_loss"] = self.loss_weights[head] * masked_mean(per_token, ~visible[task])
        return out

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        inputs = self.model.select_inputs(batch)
        inputs = {k: standardise_image(v.float()) if k in self.standardise else v for k, v in inputs.items()}
        latent, visible, ids_keep = self.forward_encoder(inputs)
        preds = self.forward_decoder(latent, visible, ids_keep)
        out = self.forward_loss(inputs, preds, visible)
        for name, mask in visible.items():
            out[f"visible_{name}"] = mask.float().sum(1).mean().detach()
        return out

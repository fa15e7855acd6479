r"""M3I: all-in-one pretraining by maximising multi-modal mutual information.

Su et al., *Towards All-in-one Pre-training via Maximizing Multi-modal Mutual Information*,
CVPR 2023 (`arXiv:2211.09807 <https://arxiv.org/abs/2211.09807>`_). No public code exists;
this follows the paper's derivation.

**One objective.** Supervised, weakly-supervised and self-supervised pretraining all
maximise the mutual information between an *input* representation
:math:`\hat z_s = f_\theta(x_s)` of a (masked, augmented) image and a *target*
representation :math:`z_t = f_\phi(y_t)`. The Barber-Agakov bound gives

.. math::
    I(\hat z_s; z_t) \ge \mathbb{E}\big[\log \hat P(z_t \mid \hat z_s)\big] + H(z_t),

and the choice of the variational :math:`\hat P` yields the familiar losses:

* **Gaussian** :math:`\hat P = \mathcal N(z_t; g(\hat z_s), \sigma^2 I)`: the bound is
  :math:`-\lVert z_t - g(\hat z_s)\rVert^2 / 2\sigma^2` + const, a regression loss (MAE's pixel
  regression, BYOL/data2vec's feature regression).
* **Boltzmann** :math:`\hat P \propto \exp(g(\hat z_s)^\top z_t / \tau)` normalised over candidate
  targets: cross-entropy when the candidates are class embeddings, InfoNCE when they are
  the other items of the batch (CLIP, MoCo).

:math:`H(z_t)` is constant for fixed targets (pixels, labels); for learned targets it must
not collapse, which the Boltzmann form guards with negatives and the Gaussian form with a
slowly moving EMA target encoder and standardised (layer-normed) targets.

**Several targets, one stage.** With targets :math:`t_1..t_K` conditionally independent
given the input, :math:`I(\hat z_s; z_{t_1},\dots,z_{t_K})` is bounded by the weighted sum of
the single-target bounds, so all terms share one masked input view and one encoder
pass, and are optimised together (no multi-stage schedule):

=============  ==================================  ============  ===================
term           target :math:`y_t`                  :math:`\hat P`  loss
=============  ==================================  ============  ===================
``supervised``  class label (class embedding)      Boltzmann     cross-entropy
``weak``        paired caption (text encoder)      Boltzmann     InfoNCE over batch
``recon``       pixels of the masked patches       Gaussian      normalised-pixel MSE
``view``        2nd augmented view (EMA encoder)   either        L2 (Gaussian) / InfoNCE
=============  ==================================  ============  ===================

The text encoder is the shared multimodal encoder run on the text modality alone.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.objectives.base import OBJECTIVES, Objective
from multimodal.adapters import PatchAdapter
from multimodal.masking import gather_tokens, masked_mean, random_visible, visible_indices
from multimodal.model import MultimodalViT
from multimodal.objectives.decoders import MAEDecoder, normalise_patches

TERMS = ("supervised", "weak", "recon", "view")


def info_nce(query: Tensor, keys: Tensor, temperature: float, same: Optional[Tensor] = None) -> Tensor:
    """Symmetric InfoNCE (Boltzmann form over the batch) between ``query [B, D]`` and ``keys [B, D]``.

    Args:
        same (Tensor, optional): ``[B, B]`` bool, pairs that count as positives (duplicates of a
            caption are not negatives of each other). (default: the diagonal)
    """
    logits = F.normalize(query.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).t() / temperature
    if same is None:
        same = torch.eye(len(query), dtype=torch.bool, device=query.device)
    target = same.float() / same.float().sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target.t()))


def augment(images: Tensor, max_shift: float = 0.125, scale: float = 0.1, intensity: float = 0.2) -> Tensor:
    """Random translation (fraction of the side), zoom and intensity scaling of ``[B, C, H, W]``."""
    b = images.shape[0]
    theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
    zoom = 1 + (torch.rand(b, device=images.device) * 2 - 1) * scale
    theta[:, 0, 0], theta[:, 1, 1] = zoom, zoom
    theta[:, :, 2] = (torch.rand(b, 2, device=images.device) * 2 - 1) * 2 * max_shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)
    gain = 1 + (torch.rand(b, 1, 1, 1, device=images.device) * 2 - 1) * intensity
    return out * gain


@OBJECTIVES.register("m3i")
class M3I(Objective):
    """M3I single-stage pretraining objective.

    Args:
        model (MultimodalViT): Encoder with an image modality (and a text one for ``weak``).
        image_modality (str): Input image modality. (default: ``"rgb"``)
        text_modality (str): Caption modality for the weakly-supervised term. (default: ``"text"``)
        num_classes (int): Classes of the supervised target (batch key ``label``). (default: ``10``)
        mask_ratio (float): Masked share of the input view's patches. (default: ``0.5``)
        weights (dict, optional): Term -> weight over ``supervised, weak, recon, view``; ``0``
            drops a term. (default: all ``1``)
        view_form (str): ``"gaussian"`` (L2 to standardised EMA features) or ``"boltzmann"``
            (InfoNCE) for the inter-view term. (default: ``"gaussian"``)
        temperature (float): Boltzmann temperature. (default: ``0.1``)
        ema_momentum (float): EMA momentum of the target encoder. (default: ``0.99``)
        proj_dim (int): Width of the contrastive projections. (default: ``64``)
        decoder_dim (int): Pixel decoder width. (default: ``64``)
        decoder_depth (int): Pixel decoder blocks. (default: ``1``)
        decoder_heads (int): Pixel decoder heads. (default: ``4``)
        max_shift (float): Augmentation translation, as a fraction of the side. (default: ``0.125``)
    """

    def __init__(self, model: MultimodalViT, image_modality: str = "rgb", text_modality: str = "text",
                 num_classes: int = 10, mask_ratio: float = 0.5, weights: Optional[Dict[str, float]] = None,
                 view_form: str = "gaussian", temperature: float = 0.1, ema_momentum: float = 0.99,
                 proj_dim: int = 64, decoder_dim: int = 64, decoder_depth: int = 1, decoder_heads: int = 4,
                 max_shift: float = 0.125) -> None:
        super().__init__(model)
        unknown = sorted(set(weights or {}) - set(TERMS))
        if unknown:
            raise ConfigError(f"m3i weights: unknown term(s) {unknown}; valid: {', '.join(TERMS)}")
        if view_form not in ("gaussian", "boltzmann"):
            raise ConfigError(f"m3i view_form must be 'gaussian' or 'boltzmann', got {view_form!r}")
        adapter = model.adapter(image_modality)
        if not isinstance(adapter, PatchAdapter) or len(adapter.size) != 2:
            raise ConfigError(f"m3i's image modality '{image_modality}' must be a patch2d modality")
        self.weights = {t: float((weights or {}).get(t, 1.0)) for t in TERMS}
        if self.weights["weak"]:
            model.adapter(text_modality)
        self.image, self.text = image_modality, text_modality
        self.mask_ratio, self.view_form, self.temperature = mask_ratio, view_form, temperature
        self.ema_momentum, self.max_shift = ema_momentum, max_shift
        dim = model.dim
        self.decoder = MAEDecoder(dim, [adapter.grid], adapter.patch_dim, decoder_dim, decoder_depth, decoder_heads,
                                  model.num_global_tokens)
        self.classifier = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))
        self.image_proj, self.text_proj = nn.Linear(dim, proj_dim), nn.Linear(dim, proj_dim)
        self.predictor = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.target = copy.deepcopy(model).requires_grad_(False) if self.weights["view"] else None

    @torch.no_grad()
    def update_target(self) -> None:
        """EMA step ``phi <- m * phi + (1 - m) * theta`` of the target encoder."""
        for p_t, p_o in zip(self.target.parameters(), self.model.parameters()):
            p_t.lerp_(p_o.detach(), 1.0 - self.ema_momentum)

    # ------------------------------------------------------------------ stages
    def forward_encoder(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Encode the masked input view.

        Args:
            image (Tensor): ``[B, C, H, W]`` augmented input view.

        Returns:
            tuple: ``latent [B, G + K, D]``, ``visible [B, L]`` bool, ``ids_keep [B, K]``.
        """
        tokens, _ = self.model.tokenize({self.image: image})[self.image]
        b, length = tokens.shape[:2]
        keep = max(1, int(round(length * (1 - self.mask_ratio))))
        visible = random_visible(torch.full((b,), keep, device=tokens.device), length)
        ids_keep = visible_indices(visible)
        return self.model.encode(gather_tokens(tokens, ids_keep)), visible, ids_keep

    def forward_decoder(self, latent: Tensor, ids_keep: Tensor) -> Dict[str, Tensor]:
        """Predictions of every target from the one input representation.

        Returns:
            dict: ``pixels [B, L, P]``, ``class_logits [B, num_classes]``, ``image_emb [B, proj_dim]``,
            ``view_pred [B, D]``.
        """
        pooled = latent.mean(1)
        return {"pixels": self.decoder(latent, ids_keep), "class_logits": self.classifier(pooled),
                "image_emb": self.image_proj(pooled), "view_pred": self.predictor(pooled)}

    def forward_targets(self, batch: Mapping[str, Any], view1: Tensor, view2: Tensor) -> Dict[str, Tensor]:
        """Target representations ``z_t`` (no masking): pixels, labels, caption and EMA view features."""
        adapter = self.model.adapters[self.image]
        targets: Dict[str, Tensor] = {"pixels": normalise_patches(adapter.patchify(view1).float())}
        if self.weights["supervised"]:
            if "label" not in batch:
                raise DataError("m3i's supervised term needs batch key 'label'; "
                                "set weights.supervised: 0 without labels")
            targets["label"] = batch["label"]
        if self.weights["weak"]:
            text = batch[self.text] if self.text in batch else None
            if text is None:
                raise DataError(f"m3i's weak term needs batch key '{self.text}'; set weights.weak: 0 without captions")
            targets["text_emb"] = self.text_proj(self.model.pool_tokens(*self.model({self.text: text})))
            targets["same_text"] = (text[:, None, :] == text[None, :, :]).all(-1)
        if self.weights["view"]:
            with torch.no_grad():
                z = self.target.pool_tokens(*self.target({self.image: view2}))
            targets["view"] = F.layer_norm(z.float(), z.shape[-1:])
        return targets

    def forward_loss(self, preds: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                     visible: Tensor) -> Dict[str, Tensor]:
        """The weighted M3I terms (each ``λ_k * -E log P̂_k(z_t | ẑ_s)``) plus metrics."""
        w, out = self.weights, {}
        if w["recon"]:
            per_token = (preds["pixels"].float() - targets["pixels"]).pow(2).mean(-1)
            out["recon_loss"] = w["recon"] * masked_mean(per_token, ~visible)
        if w["supervised"]:
            logits = preds["class_logits"].float()
            out["supervised_loss"] = w["supervised"] * F.cross_entropy(logits, targets["label"])
            out["supervised_acc"] = (logits.argmax(-1) == targets["label"]).float().mean().detach()
        if w["weak"]:
            out["weak_loss"] = w["weak"] * info_nce(preds["image_emb"], targets["text_emb"], self.temperature,
                                                    targets["same_text"])
        if w["view"]:
            pred = preds["view_pred"].float()
            if self.view_form == "gaussian":
                out["view_loss"] = w["view"] * (pred - targets["view"]).pow(2).mean()
            else:
                out["view_loss"] = w["view"] * info_nce(pred, targets["view"], self.temperature)
        return out

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        if self.image not in batch:
            raise DataError(f"m3i needs batch key '{self.image}'; the batch has {', '.join(map(str, batch))}")
        self.model.check_inputs({self.image: batch[self.image]})
        if self.target is not None and self.training and torch.is_grad_enabled():
            self.update_target()
        image = batch[self.image]
        view1, view2 = augment(image, self.max_shift), augment(image, self.max_shift)
        latent, visible, ids_keep = self.forward_encoder(view1)
        preds = self.forward_decoder(latent, ids_keep)
        return self.forward_loss(preds, self.forward_targets(batch, view1, view2), visible)

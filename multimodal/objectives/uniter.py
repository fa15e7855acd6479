"""UNITER: single-stream image-text pretraining with conditional masking and OT alignment.

Chen et al., *UNITER: UNiversal Image-TExt Representation Learning*, ECCV 2020
(`arXiv:1909.11740 <https://arxiv.org/abs/1909.11740>`_).

Text word pieces and image regions (feature + 7-d box) are embedded and concatenated
behind a ``[CLS]`` global token into one transformer. Tasks (Sec. 3.1), summed with weights:

* **MLM**: 15% of words are masked (80% ``[MASK]``, 10% random, 10% kept) and predicted
  from the remaining words *and all regions*; the output layer is tied to the word embedding.
* **MRM** (conditional masking: only regions are masked, words stay whole): masked region
  features are zeroed and predicted by **MRFR** (L2 regression of the region feature),
  **MRC** (cross-entropy to the detector's most likely class) and **MRC-kl** (KL from the
  detector's soft labels to the prediction).
* **ITM**: half the pairs get the regions of another item (of a different class when labels
  are given); a binary classifier on ``[CLS]`` tells matched from mismatched.
* **WRA**: on the ITM pass, the optimal-transport distance between word and region outputs
  (cosine cost, IPOT plan) is minimised for matched pairs and maximised for mismatched ones.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.objectives.base import OBJECTIVES, Objective
from multimodal.adapters import RegionEmbed, TextEmbed
from multimodal.model import MultimodalViT
from multimodal.ot import cosine_cost, ipot, ot_distance

TASKS = ("mlm", "mrfr", "mrc", "mrc_kl", "itm", "wra")
DEFAULT_WEIGHTS = {"mlm": 1.0, "mrfr": 1.0, "mrc": 1.0, "mrc_kl": 1.0, "itm": 1.0, "wra": 0.1}


def _head(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), nn.Linear(dim, out))


def bernoulli_at_least_one(candidates: Tensor, prob: float) -> Tensor:
    """Select each ``True`` entry of ``candidates [B, L]`` with ``prob``, at least one per row."""
    chosen = (torch.rand(candidates.shape, device=candidates.device) < prob) & candidates
    empty = ~chosen.any(1)
    if bool(empty.any()):
        noise = torch.rand(candidates.shape, device=candidates.device).masked_fill(~candidates, -1.0)
        forced = F.one_hot(noise.argmax(1), candidates.shape[1]).bool() & candidates
        chosen = chosen | (forced & empty[:, None])
    return chosen


@OBJECTIVES.register("uniter")
class UNITER(Objective):
    """UNITER pretraining objective.

    Args:
        model (MultimodalViT): Encoder with a ``text`` and a ``regions`` modality.
        text_modality (str): Name of the text modality. (default: ``"text"``)
        region_modality (str): Name of the region modality. (default: ``"regions"``)
        mask_prob (float): Masking probability for words and regions. (default: ``0.15``)
        num_region_classes (int): Classes of the region detector's soft labels
            (batch key ``region_soft [B, R, K]``). (default: ``8``)
        weights (dict, optional): Task -> weight over ``mlm, mrfr, mrc, mrc_kl, itm, wra``;
            ``0`` disables a task. (default: ``1`` each, ``wra`` ``0.1`` as in the paper)
        ot_beta (float): IPOT proximal step. (default: ``0.5``)
        ot_iters (int): IPOT iterations. (default: ``50``)
    """

    def __init__(self, model: MultimodalViT, text_modality: str = "text", region_modality: str = "regions",
                 mask_prob: float = 0.15, num_region_classes: int = 8, weights: Optional[Dict[str, float]] = None,
                 ot_beta: float = 0.5, ot_iters: int = 50) -> None:
        super().__init__(model)
        self.text_name, self.region_name = text_modality, region_modality
        text, regions = model.adapter(text_modality), model.adapter(region_modality)
        if not isinstance(text, TextEmbed) or not isinstance(regions, RegionEmbed):
            raise ConfigError(f"uniter needs '{text_modality}' of kind text and '{region_modality}' of kind regions")
        unknown = sorted(set(weights or {}) - set(TASKS))
        if unknown:
            raise ConfigError(f"uniter weights: unknown task(s) {unknown}; valid: {', '.join(TASKS)}")
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self.mask_prob, self.ot_beta, self.ot_iters = mask_prob, ot_beta, ot_iters
        dim = model.dim
        self.mlm_head = _head(dim, dim)
        self.mlm_bias = nn.Parameter(torch.zeros(text.vocab_size))
        self.mrfr_head = _head(dim, regions.feature_dim)
        self.mrc_head = _head(dim, num_region_classes)
        self.itm_head = nn.Linear(dim, 2)

    # ------------------------------------------------------------------ encoder
    def encode(self, text: Tensor, regions: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Single-stream encoding.

        Args:
            text (Tensor): ``[B, T]`` token ids.
            regions (Tensor): ``[B, R, F + 4]`` region features and boxes.

        Returns:
            tuple: ``cls [B, D]``, ``words [B, T, D]``, ``region_out [B, R, D]``, ``text_valid [B, T]``.
        """
        h, valid = self.model({self.text_name: text, self.region_name: regions})
        g, t = self.model.num_global_tokens, text.shape[1]
        return h[:, 0], h[:, g:g + t], h[:, g + t:], valid[:, g:g + t]

    def match_logits(self, text: Tensor, regions: Tensor) -> Tensor:
        """ITM logits ``[B, 2]`` (index 1 = matched)."""
        return self.itm_head(self.encode(text, regions)[0])

    # ------------------------------------------------------------------ tasks
    def mlm(self, text: Tensor, regions: Tensor) -> Dict[str, Tensor]:
        """Masked language modelling conditioned on all regions."""
        adapter: TextEmbed = self.model.adapters[self.text_name]
        special = (text == adapter.pad_id) | (text == adapter.cls_id) | (text == adapter.sep_id)
        masked = bernoulli_at_least_one(~special, self.mask_prob)
        roll = torch.rand(text.shape, device=text.device)
        corrupted = torch.where(masked & (roll < 0.8), torch.full_like(text, adapter.mask_id), text)
        random_ids = torch.randint_like(text, adapter.vocab_size)
        corrupted = torch.where(masked & (roll >= 0.8) & (roll < 0.9), random_ids, corrupted)
        words = self.encode(corrupted, regions)[1][masked]
        logits = self.mlm_head(words) @ adapter.word.weight.t() + self.mlm_bias
        loss = F.cross_entropy(logits.float(), text[masked])
        acc = (logits.argmax(-1) == text[masked]).float().mean()
        return {"mlm_loss": self.weights["mlm"] * loss, "mlm_acc": acc.detach()}

    def mrm(self, text: Tensor, regions: Tensor, soft: Optional[Tensor]) -> Dict[str, Tensor]:
        """Masked region modelling (MRFR, MRC, MRC-kl) conditioned on the whole text."""
        adapter: RegionEmbed = self.model.adapters[self.region_name]
        fdim = adapter.feature_dim
        masked = bernoulli_at_least_one(torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device),
                                        self.mask_prob)
        corrupted = regions.clone()
        corrupted[..., :fdim] = corrupted[..., :fdim].masked_fill(masked[..., None], 0.0)
        out_regions = self.encode(text, corrupted)[2][masked]
        out = {}
        if self.weights["mrfr"]:
            target = regions[..., :fdim][masked]
            out["mrfr_loss"] = self.weights["mrfr"] * F.mse_loss(self.mrfr_head(out_regions).float(), target.float())
        if self.weights["mrc"] or self.weights["mrc_kl"]:
            if soft is None:
                raise DataError("uniter's MRC/MRC-kl need the detector's soft labels (batch key 'region_soft'); "
                                "set weights.mrc and weights.mrc_kl to 0 without them")
            log_p = F.log_softmax(self.mrc_head(out_regions).float(), dim=-1)
            q = soft[masked].float()
            if self.weights["mrc"]:
                out["mrc_loss"] = self.weights["mrc"] * F.nll_loss(log_p, q.argmax(-1))
            if self.weights["mrc_kl"]:
                out["mrc_kl_loss"] = self.weights["mrc_kl"] * F.kl_div(log_p, q, reduction="batchmean")
        return out

    def negatives(self, batch_size: int, labels: Optional[Tensor], device: torch.device) -> Tensor:
        """For each item, another item's index (of a different label when ``labels`` is given)."""
        offset = torch.randint(1, max(batch_size, 2), (batch_size,), device=device)
        partner = (torch.arange(batch_size, device=device) + offset) % batch_size
        if labels is not None:
            scores = torch.rand(batch_size, batch_size, device=device)
            scores = scores.masked_fill(labels[:, None] == labels[None, :], -1.0)
            has_other = (labels[:, None] != labels[None, :]).any(1)
            partner = torch.where(has_other, scores.argmax(1), partner)
        return partner

    def itm_wra(self, text: Tensor, regions: Tensor, labels: Optional[Tensor]) -> Dict[str, Tensor]:
        """Image-text matching on half-swapped pairs, plus OT word-region alignment."""
        b = text.shape[0]
        matched = torch.rand(b, device=text.device) < 0.5
        partner = self.negatives(b, labels, text.device)
        paired = torch.where(matched[:, None, None], regions, regions[partner])
        cls, words, region_out, text_valid = self.encode(text, paired)
        logits = self.itm_head(cls)
        target = matched.long()
        out = {"itm_loss": self.weights["itm"] * F.cross_entropy(logits.float(), target),
               "itm_acc": (logits.argmax(-1) == target).float().mean().detach()}
        if self.weights["wra"]:
            adapter: TextEmbed = self.model.adapters[self.text_name]
            word_valid = text_valid & (text != adapter.cls_id) & (text != adapter.sep_id)
            cost = cosine_cost(words.float(), region_out.float())
            dist = ot_distance(cost, ipot(cost, word_valid, None, self.ot_beta, self.ot_iters))
            pos = dist[matched].mean() if bool(matched.any()) else dist.new_zeros(())
            neg = dist[~matched].mean() if bool((~matched).any()) else dist.new_zeros(())
            out["wra_loss"] = self.weights["wra"] * (pos - neg)
            out["ot_pos"], out["ot_neg"] = pos.detach(), neg.detach()
        return out

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        for key in (self.text_name, self.region_name):
            if key not in batch:
                raise DataError(f"uniter needs batch key '{key}'; the batch has {', '.join(map(str, batch))}")
        text, regions = batch[self.text_name], batch[self.region_name]
        self.model.check_inputs({self.text_name: text, self.region_name: regions})
        out: Dict[str, Tensor] = {}
        if self.weights["mlm"]:
            out.update(self.mlm(text, regions))
        if self.weights["mrfr"] or self.weights["mrc"] or self.weights["mrc_kl"]:
            out.update(self.mrm(text, regions, batch.get("region_soft")))
        if self.weights["itm"] or self.weights["wra"]:
            out.update(self.itm_wra(text, regions, batch.get("label")))
        return out

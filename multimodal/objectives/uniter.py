"""UNITER: single-stream image-text pretraining with conditional masking and OT alignment.

Chen et al., *UNITER: UNiversal Image-TExt Representation Learning*, ECCV 2020
(`arXiv:1909.11740 <https://arxiv.org/abs/1909.11740>`_).

Text word pieces and image regions (feature + 7-d box) are embedded and concatenated
behind a ``[CLS]`` global token into one transformer. As in the paper, **one task is
sampled per batch** with configurable ratios (``task_ratios``); its loss is scaled by its
weight. Tasks (Sec. 3.1):

* **MLM**: 15% of words are masked (80% ``[MASK]``, 10% random, 10% kept) and predicted
  from the remaining words *and all regions*; the output layer is tied to the word embedding.
* **MRM** (conditional masking: only regions are masked, words stay whole): masked region
  features are zeroed and predicted by **MRFR** (L2 regression of the region feature),
  **MRC** (cross-entropy to the detector's most likely class) and **MRC-kl** (KL from the
  detector's soft labels to the prediction).
* **ITM**: a share ``itm_neg_prob`` (the paper: 0.5) of the pairs get the regions of a random
  other item whose *content differs* (batch key ``content``, else a different caption), so
  that a "negative" is never a true match; a binary classifier on ``[CLS]`` tells matched
  from mismatched.
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
#: Sampled tasks (WRA runs on the ITM pass). The default mixes the paper's best setting
#: (MLM + MRFR + MRC-kl + ITM, Table 2) in equal shares.
SAMPLED = ("mlm", "mrfr", "mrc", "mrc_kl", "itm")
DEFAULT_RATIOS = {"mlm": 1.0, "mrfr": 1.0, "mrc": 0.0, "mrc_kl": 1.0, "itm": 1.0}


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
        weights (dict, optional): Task -> loss weight over ``mlm, mrfr, mrc, mrc_kl, itm, wra``;
            ``wra`` ``0`` turns the OT alignment off. (default: ``1`` each, ``wra`` ``0.1``)
        task_ratios (dict, optional): Task -> sampling ratio over ``mlm, mrfr, mrc, mrc_kl,
            itm``; one task per batch, ``0`` never samples it. (default: :data:`DEFAULT_RATIOS`)
        itm_neg_prob (float): Share of ITM pairs made negative. (default: ``0.5``)
        ot_beta (float): IPOT proximal step. (default: ``0.5``)
        ot_iters (int): IPOT iterations. (default: ``50``)
    """

    def __init__(self, model: MultimodalViT, text_modality: str = "text", region_modality: str = "regions",
                 mask_prob: float = 0.15, num_region_classes: int = 8, weights: Optional[Dict[str, float]] = None,
                 ot_beta: float = 0.5, ot_iters: int = 50, task_ratios: Optional[Dict[str, float]] = None,
                 itm_neg_prob: float = 0.5) -> None:
        super().__init__(model)
        self.text_name, self.region_name = text_modality, region_modality
        text, regions = model.adapter(text_modality), model.adapter(region_modality)
        if not isinstance(text, TextEmbed) or not isinstance(regions, RegionEmbed):
            raise ConfigError(f"uniter needs '{text_modality}' of kind text and '{region_modality}' of kind regions")
        unknown = sorted(set(weights or {}) - set(TASKS))
        if unknown:
            raise ConfigError(f"uniter weights: unknown task(s) {unknown}; valid: {', '.join(TASKS)}")
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        unknown = sorted(set(task_ratios or {}) - set(SAMPLED))
        ratios = {**DEFAULT_RATIOS, **(task_ratios or {})}
        if unknown or any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
            raise ConfigError(f"uniter task_ratios must be non-negative over {', '.join(SAMPLED)} with a positive "
                              f"sum; got {task_ratios}")
        if not 0.0 < itm_neg_prob < 1.0:
            raise ConfigError(f"uniter itm_neg_prob must be in (0, 1), got {itm_neg_prob}")
        self.task_ratios, self.itm_neg_prob = ratios, itm_neg_prob
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

    def mrm(self, text: Tensor, regions: Tensor, soft: Optional[Tensor],
            tasks: Tuple[str, ...] = ("mrfr", "mrc", "mrc_kl")) -> Dict[str, Tensor]:
        """Masked region modelling (those of MRFR, MRC, MRC-kl in ``tasks``) conditioned on the whole text."""
        w = {t: (self.weights[t] if t in tasks else 0.0) for t in ("mrfr", "mrc", "mrc_kl")}
        adapter: RegionEmbed = self.model.adapters[self.region_name]
        fdim = adapter.feature_dim
        masked = bernoulli_at_least_one(torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device),
                                        self.mask_prob)
        corrupted = regions.clone()
        corrupted[..., :fdim] = corrupted[..., :fdim].masked_fill(masked[..., None], 0.0)
        out_regions = self.encode(text, corrupted)[2][masked]
        out = {}
        if w["mrfr"]:
            target = regions[..., :fdim][masked]
            out["mrfr_loss"] = w["mrfr"] * F.mse_loss(self.mrfr_head(out_regions).float(), target.float())
        if w["mrc"] or w["mrc_kl"]:
            if soft is None:
                raise DataError("uniter's MRC/MRC-kl need the detector's soft labels (batch key 'region_soft'); "
                                "set weights.mrc and weights.mrc_kl to 0 without them")
            log_p = F.log_softmax(self.mrc_head(out_regions).float(), dim=-1)
            q = soft[masked].float()
            if w["mrc"]:
                out["mrc_loss"] = w["mrc"] * F.nll_loss(log_p, q.argmax(-1))
            if w["mrc_kl"]:
                out["mrc_kl_loss"] = w["mrc_kl"] * F.kl_div(log_p, q, reduction="batchmean")
        return out

    @staticmethod
    def negatives(content: Tensor) -> Tuple[Tensor, Tensor]:
        """For each item, a uniformly random other item whose content differs.

        Args:
            content (Tensor): ``[B]`` content ids, or ``[B, T]`` token rows (equal rows = same content).

        Returns:
            tuple: ``partner [B]`` indices and ``ok [B]`` bool (``False`` where every item of the
            batch has the same content, so no true negative exists).
        """
        same = (content[:, None] == content[None, :])
        if same.dim() == 3:
            same = same.all(-1)
        scores = torch.rand(same.shape, device=content.device).masked_fill(same, -1.0)
        return scores.argmax(1), ~same.all(1)

    def sample_task(self) -> str:
        """One task by :attr:`task_ratios` (global RNG: seeded runs repeat)."""
        weights = torch.tensor([self.task_ratios[t] for t in SAMPLED], dtype=torch.float)
        return SAMPLED[int(torch.multinomial(weights, 1))]

    def itm_wra(self, text: Tensor, regions: Tensor, content: Optional[Tensor]) -> Dict[str, Tensor]:
        """Image-text matching on pairs of which ``itm_neg_prob`` are negatives, plus OT alignment."""
        b = text.shape[0]
        partner, ok = self.negatives(content if content is not None else text)
        matched = (torch.rand(b, device=text.device) >= self.itm_neg_prob) | ~ok
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

    def forward_task(self, batch: Mapping[str, Any], task: str) -> Dict[str, Tensor]:
        """The losses of one task (``mlm``, ``mrfr``, ``mrc``, ``mrc_kl`` or ``itm``) on ``batch``."""
        for key in (self.text_name, self.region_name):
            if key not in batch:
                raise DataError(f"uniter needs batch key '{key}'; the batch has {', '.join(map(str, batch))}")
        text, regions = batch[self.text_name], batch[self.region_name]
        self.model.check_inputs({self.text_name: text, self.region_name: regions})
        if task == "mlm":
            return self.mlm(text, regions)
        if task == "itm":
            return self.itm_wra(text, regions, batch.get("content"))
        if task not in SAMPLED:
            raise ConfigError(f"unknown uniter task '{task}'; valid: {', '.join(SAMPLED)}")
        return self.mrm(text, regions, batch.get("region_soft"), tasks=(task,))

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        return self.forward_task(batch, self.sample_task())

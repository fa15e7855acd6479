"""SAMGPT's adaptation prompts, held for many few-shot tasks at once.

For an unseen target domain SAMGPT (Yu et al., WWW 2025,
https://arxiv.org/abs/2502.05424) freezes the pretrained GCN and the source
domains' tokens and learns, per task:

* **holistic prompts** ``p_hol^l``: a new structure token for every layer, carrying
  the multi-domain structural knowledge as a whole;
* **specific prompts** ``p_spe^l = Σ_i λ_i^l t_i^l``: a learnable combination of the
  source domains' structure tokens, one set of coefficients per layer;
* **feature prompts** (the feature-side dual prompts of MDGPT,
  https://arxiv.org/abs/2405.13934): a holistic vector ``p_f`` times a learnable
  combination of the source feature tokens, ``p_f ⊙ Σ_i μ_i t_i^f``, scaling the
  aligned target features.

Every prompt here has a leading task dimension ``T`` so that ``T`` tasks are tuned
in one optimisation (their losses are summed; tasks never share parameters).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor, nn

__all__ = ["TaskPrompts"]


class TaskPrompts(nn.Module):
    """Holistic, specific and feature prompts of ``T`` tasks.

    Holistic structure prompts start at the mean source token of their layer and
    mixing coefficients at ``1 / K``, so that before tuning every branch sees the
    average source domain. The coefficients are a softmax of learned logits (a convex
    combination of the source tokens): unconstrained coefficients would be redundant when
    source tokens coincide, and their summed step would grow with the number of sources
    ``K`` (an untrained model, whose tokens are all ones, would then tune its prompts ``K``
    times faster).

    Args:
        num_tasks (int): ``T``.
        feature_tokens (Tensor): Source feature tokens ``[K, D_0]`` (frozen).
        structure_tokens (Sequence[Tensor]): Source structure tokens, one ``[K, D_l]``
            per layer (frozen).
    """

    def __init__(self, num_tasks: int, feature_tokens: Tensor, structure_tokens: Sequence[Tensor]) -> None:
        super().__init__()
        k = feature_tokens.size(0)
        self.register_buffer("source_feature", feature_tokens.detach().clone())
        for i, tok in enumerate(structure_tokens):
            self.register_buffer(f"source_structure_{i}", tok.detach().clone())
        self.num_layers = len(structure_tokens)
        mean_f = _mean(feature_tokens)
        self.feature_holistic = nn.Parameter(torch.ones(num_tasks, mean_f.numel()))
        self.feature_mix = nn.Parameter(torch.zeros(num_tasks, max(k, 1)))                 # logits
        self.structure_holistic = nn.ParameterList(
            nn.Parameter(_mean(tok).expand(num_tasks, -1).clone()) for tok in structure_tokens)
        self.structure_mix = nn.Parameter(torch.zeros(num_tasks, self.num_layers, max(k, 1)))  # logits

    @property
    def num_tasks(self) -> int:
        return int(self.feature_holistic.size(0))

    def sources(self) -> List[Tensor]:
        return [getattr(self, f"source_structure_{i}") for i in range(self.num_layers)]

    def feature_prompt(self) -> Tensor:
        """``p_f ⊙ Σ_i μ_i t_i^f`` ``[T, D_0]``."""
        return self.feature_holistic * (self.feature_mix.softmax(-1) @ _or_ones(self.source_feature))

    def holistic(self) -> List[Tensor]:
        """Holistic structure prompts, one ``[T, D_l]`` per layer."""
        return list(self.structure_holistic)

    def specific(self) -> List[Tensor]:
        """Specific structure prompts ``Σ_i λ_i^l t_i^l`` (``λ^l`` a softmax), one ``[T, D_l]`` per layer."""
        mix = self.structure_mix.softmax(-1)
        return [mix[:, i] @ _or_ones(src) for i, src in enumerate(self.sources())]


def _mean(tokens: Tensor) -> Tensor:
    return tokens.mean(0) if tokens.size(0) else torch.ones(tokens.size(1))


def _or_ones(tokens: Tensor) -> Tensor:
    return tokens if tokens.size(0) else torch.ones(1, tokens.size(1), device=tokens.device)

"""The objective interface the engine trains.

An objective is a plain ``nn.Module`` that owns the model it pretrains
(``objective.model``, a :class:`~graphfm.models.PretrainedModel`) and whose
``forward(batch)`` returns a dict of named tensors: every key ending in ``_loss`` is
summed into the training loss by the engine; the other entries are logged as metrics.
"""
from __future__ import annotations

from typing import Dict

from torch import Tensor, nn

from graphfm.models.base import PretrainedModel
from graphfm.registry import Registry

OBJECTIVES = Registry("objective", group="graphfm.objectives", section="objective")


class Objective(nn.Module):
    """Base class: hold ``model`` and return ``{"<name>_loss": ..., "<metric>": ...}``.

    Args:
        model (PretrainedModel): The model whose weights pretraining produces.
    """

    def __init__(self, model: PretrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch) -> Dict[str, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


def total_loss(outputs: Dict[str, Tensor]) -> Tensor:
    """Sum of the ``*_loss`` entries of an objective's output."""
    losses = [v for k, v in outputs.items() if k.endswith("_loss")]
    if not losses:
        raise ValueError(f"objective returned no '*_loss' entry (keys: {sorted(outputs)})")
    return sum(losses[1:], losses[0])

"""Pretraining objectives: ``batch -> {"x_loss": ..., "metric": ...}``."""
from graphfm.objectives.base import OBJECTIVES, Objective, total_loss
from graphfm.objectives import unigraph2  # noqa: F401  (registers unigraph2)
from graphfm.objectives import contrastive  # noqa: F401  (registers graph_contrastive)

__all__ = ["OBJECTIVES", "Objective", "total_loss"]

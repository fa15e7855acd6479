"""Pretraining objectives: ``batch -> {"x_loss": ..., "metric": ...}``."""
from graphfm.objectives.base import OBJECTIVES, Objective, total_loss

__all__ = ["OBJECTIVES", "Objective", "total_loss"]

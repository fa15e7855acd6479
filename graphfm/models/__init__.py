"""Pretrained models: SAMGPT, UniGraph2, and the base class they share."""
from graphfm.models.base import MODELS, PretrainedModel, read_model_config

# Model modules register themselves when MODELS first misses a name (graphfm.registry.PROVIDERS).

__all__ = ["MODELS", "PretrainedModel", "read_model_config"]

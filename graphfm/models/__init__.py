"""Pretrained models: SAMGPT, UniGraph2, and the base class they share."""
from graphfm.models.base import MODELS, PretrainedModel, read_model_config

# Models are found through the ``graphfm.models`` entry points (graphfm.registry).

__all__ = ["MODELS", "PretrainedModel", "read_model_config"]

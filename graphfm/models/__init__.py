"""Pretrained models: SAMGPT, UniGraph2, and the base class they share."""
from graphfm.models.base import MODELS, PretrainedModel, read_model_config

__all__ = ["MODELS", "PretrainedModel", "read_model_config"]

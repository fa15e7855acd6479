"""Pretrained models: SAMGPT, UniGraph2, and the base class they share."""
from graphfm.models.base import MODELS, PretrainedModel, read_model_config
from graphfm.models import unigraph2  # noqa: F401  (registers unigraph2)
from graphfm.models import samgpt  # noqa: F401  (registers samgpt)

__all__ = ["MODELS", "PretrainedModel", "read_model_config"]

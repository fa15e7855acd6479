"""Frozen modality encoders (text, image, precomputed) behind one interface, with a disk cache."""
from graphfm.encoders.base import ENCODERS, ModalityEncoder, build_encoder
from graphfm.encoders.checkpoint import CheckpointImageEncoder
from graphfm.encoders.cache import cache_path, data_hash, default_cache_dir, encode_cached
from graphfm.encoders.image import ImageEncoder
from graphfm.encoders.modalities import (FEATURE_NORMS, applies_to, encode_modality, graph_modalities,
                                         modality_encoder, modality_field, normalize_features)
from graphfm.encoders.precomputed import PrecomputedEncoder
from graphfm.encoders.text import TextEncoder, resolve_text_model

__all__ = ["ENCODERS", "ModalityEncoder", "build_encoder", "TextEncoder", "ImageEncoder", "CheckpointImageEncoder", "PrecomputedEncoder",
           "resolve_text_model", "encode_cached", "cache_path", "data_hash", "default_cache_dir",
           "encode_modality", "graph_modalities", "applies_to", "modality_field", "modality_encoder",
           "normalize_features", "FEATURE_NORMS"]

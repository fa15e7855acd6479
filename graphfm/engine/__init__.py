"""The pretraining engine: the only part of graphfm that knows Lightning."""
from graphfm.engine.train import build, load_components, pretrain

__all__ = ["build", "load_components", "pretrain"]

"""The pretraining engine: the only part of graphfm that knows Lightning."""
from graphfm.engine.train import build, pretrain

__all__ = ["build", "pretrain"]

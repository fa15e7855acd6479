"""Data modules the engine trains on, by name (``data: {name: ...}`` in a config)."""
from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.engine.datamodules import graph  # noqa: F401  (registers graph_domains)
from graphfm.engine.datamodules import multimodal  # noqa: F401  (registers multimodal)
from graphfm.engine.datamodules import multimodal_graph  # noqa: F401  (registers multimodal_graphs)

__all__ = ["DATAMODULES", "DataModule"]

"""Data modules the engine trains on, by name (``data: {name: ...}`` in a config).

They are found through the ``graphfm.datamodules`` entry points: ``graph_domains``
(:mod:`.graph`), ``multimodal_graphs`` (:mod:`.multimodal_graph`) and plugins' own, such as
the multimodal package's ``multimodal``.
"""
from graphfm.engine.datamodules.base import DATAMODULES, DataModule

__all__ = ["DATAMODULES", "DataModule"]

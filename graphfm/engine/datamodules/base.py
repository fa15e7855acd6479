"""Data modules: what the engine trains on.

A data module is a plain object (not Lightning) built from the ``data:`` section of
an experiment file. The engine calls ``setup()`` once, hands ``spec`` and the module
itself to the model's ``from_datamodule``, then trains on ``train_dataloader()``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from torch.utils.data import DataLoader

from graphfm.registry import Registry

DATAMODULES = Registry("datamodule", group="graphfm.datamodules", section="data")


class DataModule:
    """Base class.

    Args:
        data_root (str, optional): Root folder of the datasets (``$GRAPHFM_DATA``
            or ``./data`` when ``None``); passed by the engine, not set in YAML.
    """

    def __init__(self, data_root: Optional[str] = None) -> None:
        self.data_root = data_root
        self.spec: Dict[str, Any] = {}

    def setup(self) -> None:
        """Load and validate the data; fill ``self.spec`` (e.g. ``in_dim``, ``domains``)."""

    def train_dataloader(self) -> DataLoader:  # pragma: no cover - interface
        raise NotImplementedError

"""Callbacks of the engine: a step-based progress bar."""
from __future__ import annotations

from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ProgressBar
from tqdm.auto import tqdm


class StepProgressBar(ProgressBar):
    """``pretrain: 37/200 steps, loss=1.234`` (the engine trains by steps, not epochs)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._bar: Optional[tqdm] = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self._enabled and trainer.is_global_zero:
            self._bar = tqdm(total=trainer.max_steps, initial=trainer.global_step, desc="pretrain", unit="step",
                             dynamic_ncols=True)

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if self._bar is None:
            return
        self._bar.n = trainer.global_step
        loss = trainer.callback_metrics.get("loss")
        if loss is not None:
            self._bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        self._bar.refresh()

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

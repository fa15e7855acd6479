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


class BestLossStopping(pl.Callback):
    """Stop once the training loss has not improved for ``patience`` steps and end with the
    weights that gave the lowest loss (the public SAMGPT code's stopping rule).

    The loss of a step is computed with the weights *before* that step's update, so those
    are the weights kept. The counters are part of the resumable state.

    Args:
        patience (int): Steps without improvement before stopping.
        min_delta (float): Smallest decrease that counts as an improvement. (default: ``0.0``)
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        super().__init__()
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best, self.best_step, self.wait = float("inf"), 0, 0
        self.best_state: Optional[dict] = None
        self._before: Optional[dict] = None

    def _model(self, pl_module: "pl.LightningModule"):
        return pl_module.objective.model

    def on_train_batch_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", batch: Any,
                             batch_idx: int) -> None:
        self._before = {k: v.detach().clone() for k, v in self._model(pl_module).state_dict().items()}

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if loss < self.best - self.min_delta:
            self.best, self.best_step, self.wait, self.best_state = loss, trainer.global_step, 0, self._before
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.should_stop = True
        pl_module.log("train/best_loss", self.best, on_step=True, on_epoch=False, batch_size=1)

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self.best_state is not None:
            self._model(pl_module).load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "wait": self.wait, "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.best_step = state_dict["best"], state_dict["best_step"]
        self.wait, self.best_state = state_dict["wait"], state_dict["best_state"]


class EmbeddingDiagnostics(pl.Callback):
    """Log ``objective.diagnostics(batch)`` (e.g. effective rank, mean cosine of a source
    graph's embeddings) on the first step and every ``every`` steps, so that collapse shows
    in ``metrics.csv`` and ``loss.png``. Objectives without ``diagnostics`` are skipped.

    Args:
        every (int): Steps between two measurements.
    """

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = max(1, int(every))

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        diagnostics = getattr(pl_module.objective, "diagnostics", None)
        step = trainer.global_step
        if diagnostics is None or (step != 1 and step % self.every):
            return
        values = diagnostics(batch)
        pl_module.log_dict({f"diag/{k}": float(v) for k, v in values.items()}, on_step=True, on_epoch=False,
                           batch_size=1)


class Snapshots(pl.Callback):
    """Save the model (``save_pretrained``) to ``out_dir/step_<n>`` after each listed step.

    Args:
        steps (list[int]): Steps after which to save.
        out_dir (Path): The run directory.
    """

    def __init__(self, steps: Any, out_dir: Any) -> None:
        super().__init__()
        self.steps, self.out_dir = {int(s) for s in steps}, out_dir

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if trainer.global_step in self.steps and trainer.is_global_zero:
            from copy import deepcopy

            deepcopy(pl_module.objective.model).cpu().save_pretrained(self.out_dir / f"step_{trainer.global_step}")

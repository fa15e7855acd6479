"""Exact resume: what ``state/last.ckpt`` holds beyond Lightning's own state, and how a run
continues from it bit for bit.

Lightning restores the model, the optimiser, the scheduler, the step counters and the
callbacks' state (e.g. :class:`~graphfm.engine.callbacks.BestLossStopping`). This module adds:

* **every random state**: Python's, NumPy's and torch's global generators and every
  ``torch.Generator`` an objective holds (anchor sampling, edge dropping, masking);
* **the data position**: every graphfm data loader is a deterministic stream given its seed,
  so a resumed run replays the stream and skips the batches already trained on
  (:class:`SkipBatches`);
* **the experiment**: a resumed run whose config differs from the checkpoint's is refused
  (raising ``trainer.max_steps`` and a few presentation options is allowed);
* **atomic writes**: the state is written to a temporary file, fsynced and renamed
  (:class:`AtomicStateCheckpoint`), so a kill during the write keeps the previous one;
* **logs that survive**: a resumed run keeps the CSV rows of the run it continues, up to the
  state's step, instead of Lightning's deleting ``metrics.csv`` (:class:`ResumedCSVLogger`).
"""
from __future__ import annotations

import csv
import os
import random
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.loggers.logger import rank_zero_experiment
import torch

from graphfm.errors import CheckpointError

__all__ = ["AtomicStateCheckpoint", "ResumedCSVLogger", "SkipBatches", "rng_state", "set_rng_state", "check_config",
           "read_state", "STATE_FILE"]

STATE_FILE = "last.ckpt"
#: Trainer options a resumed run may change.
MUTABLE = {"max_steps", "progress", "ckpt_every", "log_every", "num_workers", "diagnostics", "snapshots"}


def _generators(module: torch.nn.Module) -> Dict[str, torch.Generator]:
    """Every ``torch.Generator`` attribute of ``module`` and its sub-modules, by dotted name."""
    out = {}
    for name, sub in module.named_modules():
        for attr, value in vars(sub).items():
            if isinstance(value, torch.Generator):
                out[f"{name}.{attr}" if name else attr] = value
    return out


def rng_state(objective: torch.nn.Module) -> Dict[str, Any]:
    """Python, NumPy, torch (CPU and CUDA) and the objective's generators, as tensors and plain types."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {"python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.long),
                        "gauss": py_gauss},
             "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
             "torch": torch.get_rng_state(),
             "generators": {k: g.get_state() for k, g in _generators(objective).items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(objective: torch.nn.Module, state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generators = _generators(objective)
    for name, gen_state in state["generators"].items():
        if name in generators:
            generators[name].set_state(gen_state)


class SkipBatches:
    """An endless stream over ``loader`` (epoch after epoch) that drops its first ``skip`` batches.

    graphfm's loaders draw from their own seeded generators, so the replayed stream is the
    one the interrupted run saw.

    Args:
        loader: A data loader (or any re-iterable).
        skip (int): Batches to drop.
    """

    def __init__(self, loader: Any, skip: int) -> None:
        self.loader, self.skip = loader, int(skip)

    def __iter__(self) -> Iterator[Any]:
        seen = 0
        while True:
            empty = True
            for batch in self.loader:
                empty = False
                if seen >= self.skip:
                    yield batch
                seen += 1
            if empty:
                return


class AtomicStateCheckpoint(pl.Callback):
    """Write ``state/last.ckpt`` every ``every`` steps and at the end, through a temporary
    file that is fsynced and renamed (a kill never leaves a partial file).

    Args:
        state_dir (Path): Folder of the state.
        every (int): Steps between two writes; ``0`` writes only at the end.
    """

    def __init__(self, state_dir: Path, every: int) -> None:
        super().__init__()
        self.state_dir, self.every = Path(state_dir), int(every)

    def _write(self, trainer: "pl.Trainer") -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        final, tmp = self.state_dir / STATE_FILE, self.state_dir / f".{STATE_FILE}.tmp"
        for logger in trainer.loggers:      # the rows up to this state survive a kill
            logger.save()
        try:
            trainer.save_checkpoint(str(tmp), weights_only=False)     # the full state (optimiser, callbacks)
            if trainer.is_global_zero:
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
                dir_fd = os.open(self.state_dir, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except Exception as exc:               # e.g. a full disk: the previous state stays, no partial file
            if not trainer.is_global_zero:
                raise
            from graphfm.rundir import disk_full_error

            error = disk_full_error(exc, self.state_dir)     # before the partial file frees its space
            tmp.unlink(missing_ok=True)
            if error is None:
                raise
            raise error from exc

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.every > 0 and trainer.global_step % self.every == 0:
            self._write(trainer)

    def on_train_end(self, trainer: "pl.Trainer", pl_module: Any) -> None:
        self._write(trainer)


class ResumedCSVLogger(pl.loggers.CSVLogger):
    """Lightning's CSV logger writing ``<save_dir>/logs/metrics.csv``, except that the file is not
    deleted when the logger starts: the rows before step ``keep_before`` (those of the run a resumed
    run continues) are kept, and an incomplete row (a kill or a full disk during a write) is dropped.

    Args:
        save_dir (str): The run directory.
        keep_before (int): First step not kept; ``0`` starts a new file (a fresh run). (default: ``0``)
    """

    def __init__(self, save_dir: str, keep_before: int = 0) -> None:
        super().__init__(save_dir, name="", version="logs")
        self.keep_before = int(keep_before)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None and self.keep_before > 0:
            from lightning.pytorch.loggers.csv_logs import ExperimentWriter

            keep_before = self.keep_before

            class _Writer(ExperimentWriter):
                def _check_log_dir_exists(self) -> None:    # Lightning's deletes metrics.csv here
                    self.metrics_keys = _keep_rows(Path(self.metrics_file_path), keep_before)

            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _Writer(log_dir=self.log_dir)
        return super().experiment


def _keep_rows(csv_path: Path, before_step: int) -> List[str]:
    """Rewrite ``csv_path`` with its complete rows of steps before ``before_step``; return its columns."""
    from graphfm.io import atomic_path

    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns = sorted(reader.fieldnames or [])
        rows = [r for r in reader if None not in r and None not in r.values() and _step(r) < before_step]
    if not columns:              # an empty file (e.g. cut short by a full disk): start anew
        csv_path.unlink()
        return []
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return columns


def _step(row: Dict[str, str]) -> float:
    try:
        return int(row.get("step") or "")
    except ValueError:
        return float("inf")


def read_state(path: Path) -> Dict[str, Any]:
    """Load a state checkpoint safely (``weights_only=True``), with a clear error if it is unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or unsafe file
        raise CheckpointError(f"cannot resume from '{path}': it is not a readable graphfm state checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); delete the state/ folder "
                              "and train again, or resume from another run") from None


def check_config(saved: Optional[Dict[str, Any]], current: Dict[str, Any], path: Path) -> None:
    """Refuse to resume a run whose experiment differs from the state's (``MUTABLE`` trainer keys aside)."""
    if saved is None:
        raise CheckpointError(f"'{path}' holds no experiment config (it was not written by this graphfm); "
                              "delete the state/ folder and train again")
    diffs: List[str] = []
    for section in sorted(set(saved) | set(current)):
        a, b = saved.get(section), current.get(section)
        if section == "trainer" and isinstance(a, dict) and isinstance(b, dict):
            keys = (set(a) | set(b)) - MUTABLE
            diffs += [f"trainer.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(keys) if a.get(k) != b.get(k)]
        elif a != b:
            diffs.append(f"{section}: {a!r} -> {b!r}")
    if diffs:
        raise CheckpointError(f"cannot resume from '{path}': the config differs from the interrupted run's "
                              f"({'; '.join(d[:160] for d in diffs)}); resume with the same config (only "
                              f"trainer.{', trainer.'.join(sorted(MUTABLE))} may change) or use a new --out folder")

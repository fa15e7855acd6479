"""``pretrain``: config -> data module -> model -> objective -> Lightning -> checkpoint."""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import torch

from graphfm.config import ExperimentConfig, experiment_from_dict, load_experiment
from graphfm.errors import CheckpointError, ConfigError
from graphfm.io import write_yaml

PathLike = Union[str, Path]


def build(cfg: ExperimentConfig, data_root: Optional[str] = None) -> Tuple[Any, Any]:
    """Build ``(datamodule, objective)`` from a validated config; the data is set up.

    Each section is a spec ``{name: ..., **arguments}`` of its registry
    (:meth:`graphfm.registry.Registry.build`); the model is built for the data through
    its ``from_datamodule``.
    """
    from graphfm.engine.datamodules.base import DATAMODULES
    from graphfm.models.base import MODELS
    from graphfm.objectives.base import OBJECTIVES

    datamodule = DATAMODULES.build(cfg.data, data_root=data_root)
    datamodule.setup()
    model_cls, model_kwargs = MODELS.resolve(cfg.model)
    model = model_cls.from_datamodule(datamodule, **model_kwargs)
    return datamodule, OBJECTIVES.build(cfg.objective, model=model)


def pretrain(config: Union[PathLike, ExperimentConfig, dict], out_dir: PathLike, data_root: Optional[str] = None,
             overrides: Sequence[str] = (), resume: bool = False, overwrite: bool = False,
             return_objective: bool = False) -> Union[Path, Tuple[Path, Any]]:
    """Pretrain the model a config describes and save it to ``out_dir``.

    ``out_dir`` then holds ``config.yaml`` + ``model.safetensors`` (the checkpoint,
    loadable with :meth:`PretrainedModel.from_pretrained`), ``experiment.yaml`` (the
    resolved config), ``logs/metrics.csv``, ``loss.png`` and, when
    ``trainer.ckpt_every > 0``, a resumable Lightning checkpoint in ``state/``.

    ``out_dir`` belongs to this run while it runs (a lock file, see :mod:`graphfm.rundir`); a
    folder holding another run is refused unless ``resume`` continues it or ``overwrite``
    replaces it.

    Args:
        config: A YAML path, a config dict, or an :class:`ExperimentConfig`.
        out_dir: Run directory.
        data_root: Data root (default: ``$GRAPHFM_DATA`` or ``./data``).
        overrides: ``key.sub=value`` strings applied on top of the file.
        resume: Continue from ``out_dir/state/last.ckpt``.
        overwrite: Replace the run in ``out_dir`` (only graphfm's run files are removed). (default: ``False``)
        return_objective: Also return the trained objective (the checkpoint holds the encoder
            only; decoders and heads such as BM-MAE's decoder or UNITER's ITM head live on the
            objective). (default: ``False``)

    Returns:
        ``out_dir``, or ``(out_dir, objective)`` with ``return_objective``.
    """
    from graphfm.rundir import claim_run_folder

    cfg = _as_config(config, overrides)
    out_dir = Path(out_dir)
    keep = [config] if isinstance(config, (str, Path)) else []
    claim = claim_run_folder(out_dir, resume=resume, overwrite=overwrite, keep=keep) if _launching_process() \
        else contextlib.nullcontext()      # DDP ranks launched as processes run this too: the launching one claims
    with claim:
        out = _pretrain(cfg, out_dir, data_root, resume)
    return out if return_objective else out[0]


def _pretrain(cfg: ExperimentConfig, out_dir: Path, data_root: Optional[str], resume: bool) -> Tuple[Path, Any]:
    import lightning.pytorch as pl

    from graphfm.engine.callbacks import BestLossStopping, EmbeddingDiagnostics, Snapshots, StepProgressBar
    from graphfm.engine.module import PretrainModule
    from graphfm.engine.resume import AtomicStateCheckpoint, ResumedCSVLogger, SkipBatches

    state = _resume_state(out_dir, cfg) if resume else None
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, objective = build(cfg, data_root)
    if cfg.trainer.init_from and state is None:   # a resumed run restores its own weights
        _init_from(objective.model, cfg.trainer.init_from)
    out_dir.mkdir(parents=True, exist_ok=True)
    if _launch_rank() == 0:    # DDP ranks launched as processes run this too: one writes
        write_yaml(out_dir / "experiment.yaml", cfg.to_dict())

    tcfg = cfg.trainer
    cuda = torch.cuda.is_available() and tcfg.accelerator in ("auto", "gpu", "cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    precision = tcfg.precision if tcfg.precision != "auto" else ("bf16-mixed" if cuda else "32-true")
    callbacks: list = []
    if tcfg.ckpt_every > 0 or resume:   # first: its final write must see the last weights, not the best
        callbacks.append(AtomicStateCheckpoint(out_dir / "state", tcfg.ckpt_every))
    if tcfg.patience > 0:
        callbacks.append(BestLossStopping(tcfg.patience))
    if tcfg.diagnostics:
        callbacks.append(EmbeddingDiagnostics(tcfg.log_every))
    if tcfg.snapshots:
        callbacks.append(Snapshots(tcfg.snapshots, out_dir))
    with _quiet_lightning():     # Lightning's chatter, silenced for this run only
        trainer = pl.Trainer(
            max_steps=tcfg.max_steps, max_epochs=-1, accelerator=tcfg.accelerator, devices=tcfg.devices,
            strategy=tcfg.strategy, num_nodes=tcfg.num_nodes, precision=precision,
            gradient_clip_val=tcfg.grad_clip or None,
            log_every_n_steps=max(1, min(tcfg.log_every, tcfg.max_steps)),
            enable_progress_bar=tcfg.progress, enable_model_summary=False,
            logger=ResumedCSVLogger(str(out_dir), keep_before=state["global_step"] if state else 0),
            callbacks=callbacks + ([StepProgressBar()] if tcfg.progress else []),
            enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0,
            deterministic="warn" if not cuda else False, default_root_dir=str(out_dir),
        )
        module = PretrainModule(objective, tcfg, experiment=cfg.to_dict())
        loader = datamodule.train_dataloader()
        if state is not None:   # replay the data stream past the batches already trained on
            loader = SkipBatches(loader, state["global_step"])
        trainer.fit(module, train_dataloaders=loader, ckpt_path=str(state["path"]) if state else None,
                    weights_only=True)
    if trainer.is_global_zero:
        objective.model.cpu().save_pretrained(out_dir)
        _plot_losses(out_dir / "logs" / "metrics.csv", out_dir / "loss.png")
    return out_dir, objective


def _init_from(model: Any, directory: str) -> None:
    report = model.init_from(directory)
    logging.getLogger("graphfm").info(
        "trainer.init_from %s: %d weights copied, %d mapped (%s), %d left at their initialisation (%s)",
        directory, len(report["copied"]), len(report["mapped"]), ", ".join(report["mapped"]) or "-",
        len(report["kept"]), ", ".join(report["kept"]) or "-")


def _launch_rank() -> int:
    """Global rank of this process as the launcher set it (0 outside distributed runs)."""
    from lightning.pytorch.utilities import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _launching_process() -> bool:
    """Whether this process launched the run: global rank 0 (not a DDP rank started as a process of its
    own, nor the first process of another node)."""
    return _launch_rank() == 0 and int(os.environ.get("NODE_RANK", "0") or 0) == 0


def _resume_state(out_dir: Path, cfg: ExperimentConfig) -> dict:
    """Path and step of ``out_dir/state/last.ckpt``, after checking it belongs to this experiment."""
    from graphfm.engine.resume import STATE_FILE, check_config, read_state

    path = out_dir / "state" / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"cannot resume: '{path}' does not exist; run without --resume, or with "
                              "trainer.ckpt_every > 0 so that state/ is written")
    saved = read_state(path)
    check_config(saved.get("graphfm_experiment"), cfg.to_dict(), path)
    return {"path": path, "global_step": int(saved.get("global_step", 0))}


def _as_config(config: Union[PathLike, ExperimentConfig, dict], overrides: Sequence[str]) -> ExperimentConfig:
    from graphfm.config import apply_overrides

    if isinstance(config, ExperimentConfig):
        if overrides:
            return experiment_from_dict(apply_overrides(config.to_dict(), overrides))
        return config
    if isinstance(config, dict):
        return experiment_from_dict(apply_overrides(dict(config), overrides))
    return load_experiment(config, overrides)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info logs and the warnings it gives for every CPU run (few workers,
    deterministic ops, iterable datasets) inside the block, and restore the caller's logger
    levels, warning filters and ``TOKENIZERS_PARALLELISM`` after it: library code installs no
    process-wide filter."""
    names = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
             "lightning.fabric.utilities.seed", "lightning.pytorch.trainer.connectors.logger_connector")
    levels = {name: logging.getLogger(name).level for name in names}
    tokenizers = os.environ.get("TOKENIZERS_PARALLELISM")
    try:
        with warnings.catch_warnings():
            for message in (".*does not have many workers.*", ".*deterministic.*", ".*IterableDataset.*__len__.*",
                            ".*treespec, LeafSpec.*"):
                warnings.filterwarnings("ignore", message=message)
            for name in names:
                logging.getLogger(name).setLevel(max(levels[name], logging.WARNING))
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if tokenizers is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)


def _plot_losses(csv_path: Path, png_path: Path) -> None:
    """Plot every ``*loss*`` column of the CSV log against the step (PNG), and the
    embedding diagnostics (``diag/*``) in a second panel when they were logged."""
    import csv

    if not csv_path.is_file():
        return
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    keys = list(rows[0].keys()) if rows else []
    panels = [("loss", [c for c in keys if "loss" in c]), ("diagnostics", [c for c in keys if c.startswith("diag/")])]
    panels = [(name, cols) for name, cols in panels if cols]
    if not panels:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphfm.io import atomic_path

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (name, columns) in zip(axes[0], panels):
        for col in columns:
            pts = [(int(r["step"]), float(r[col])) for r in rows if r.get(col) not in (None, "")]
            if pts:
                ax.plot(*zip(*pts), label=col.replace("train/", "").replace("diag/", ""))
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_yscale("log" if name == "diagnostics" else "linear")
        ax.legend(fontsize=7)
    fig.suptitle(png_path.parent.name)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

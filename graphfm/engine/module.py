"""The one LightningModule: trains any :class:`~graphfm.objectives.Objective`."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import torch

from graphfm.config import TrainerConfig
from graphfm.objectives.base import Objective, total_loss


class PretrainModule(pl.LightningModule):
    """Wrap an objective: sum its ``*_loss`` outputs, log everything, optimise with AdamW.

    Args:
        objective (Objective): The objective (it owns ``objective.model``).
        trainer_config (TrainerConfig): Learning rate, warm-up, weight decay, logging.
    """

    def __init__(self, objective: Objective, trainer_config: TrainerConfig,
                 experiment: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        self.objective = objective
        self.cfg = trainer_config
        self.experiment = experiment

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """Add every random state and the experiment config to the resumable state."""
        from graphfm.engine.resume import rng_state

        checkpoint["graphfm_rng"] = rng_state(self.objective)
        checkpoint["graphfm_experiment"] = self.experiment

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        from graphfm.engine.resume import set_rng_state

        if "graphfm_rng" in checkpoint:
            set_rng_state(self.objective, checkpoint["graphfm_rng"])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        outputs = self.objective(batch)
        loss = total_loss(outputs)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} at step {self.global_step}; lower trainer.lr or check the data")
        logged: Dict[str, torch.Tensor] = {"train/loss": loss.detach()}
        for key, value in outputs.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                logged[f"train/{key}"] = value.detach().float()
            elif isinstance(value, (int, float)):
                logged[f"train/{key}"] = torch.tensor(float(value))
        self.log_dict(logged, prog_bar=False, batch_size=1, on_step=True, on_epoch=False)
        self.log("loss", loss.detach(), prog_bar=True, logger=False, batch_size=1)
        return loss * self._rank_scale()

    def _rank_scale(self) -> float:
        """DDP averages the ranks' gradients; a loader whose dataset declares
        ``rank_reduce = "sum"`` (each rank's loss is a sum over its share, e.g. of domains)
        needs them summed, so the loss is scaled by the world size: the update then equals
        one process on the global batch (:mod:`graphfm.engine.datamodules.sharding`)."""
        world = int(getattr(self.trainer, "world_size", 1) or 1) if self._trainer is not None else 1
        if world == 1:
            return 1.0
        loader = self.trainer.train_dataloader
        while loader is not None and not hasattr(loader, "dataset"):
            loader = getattr(loader, "loader", None)       # e.g. SkipBatches when resuming
        reduce = getattr(getattr(loader, "dataset", None), "rank_reduce", "mean")
        return float(world) if reduce == "sum" else 1.0

    def configure_optimizers(self) -> Any:
        params = [p for p in self.objective.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        if self.cfg.warmup_steps <= 0:
            return optimizer
        warmup, total = self.cfg.warmup_steps, max(self.cfg.max_steps, self.cfg.warmup_steps + 1)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

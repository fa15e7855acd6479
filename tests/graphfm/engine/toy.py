"""A tiny registered model / objective / data module used to test the engine alone."""
from typing import Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.models.base import MODELS, PretrainedModel
from graphfm.objectives.base import OBJECTIVES, Objective


@DATAMODULES.register("toy_regression")
class ToyData(DataModule):
    def __init__(self, n: int = 64, dim: int = 4, data_root: Optional[str] = None) -> None:
        super().__init__(data_root)
        self.n, self.dim = n, dim

    def setup(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(self.n, self.dim, generator=gen)
        self.y = self.x @ torch.arange(1.0, self.dim + 1)
        self.spec = {"in_dim": self.dim}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=16, shuffle=True)


@MODELS.register("toy_linear")
class ToyLinear(PretrainedModel):
    def __init__(self, in_dim: int, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1) * self.scale


@OBJECTIVES.register("toy_mse")
class ToyMSE(Objective):
    def __init__(self, model: PretrainedModel, weight: float = 1.0) -> None:
        super().__init__(model)
        self.weight = weight

    def forward(self, batch):
        x, y = batch
        pred = self.model(x)
        return {"mse_loss": self.weight * ((pred - y) ** 2).mean(), "abs_err": (pred - y).abs().mean()}

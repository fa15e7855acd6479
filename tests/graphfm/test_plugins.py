"""A package outside graphfm adds a model and an objective through entry points alone.

The package is built in a temporary folder, installed with ``pip --target`` (never into the
shared environment) and put on ``PYTHONPATH``; the ``graphfm`` CLI then pretrains, adapts and
embeds with it, with no change to graphfm.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "graphfm-toyplug"
version = "0.1"

[project.entry-points."graphfm.models"]
toy_mlp = "toyplug.model:ToyMLP"

[project.entry-points."graphfm.objectives"]
toy_recon = "toyplug.objective:ToyReconstruction"

[tool.setuptools]
packages = ["toyplug"]
"""

MODEL = '''\
"""A graph model graphfm has never heard of: an MLP on per-node summary statistics."""
import torch
from torch import nn

from graphfm.models import PretrainedModel


def summary(data):
    """[N, 4]: mean, spread and largest magnitude of each node's features, and its log degree."""
    x = data.x.float()
    degree = torch.zeros(x.size(0)).index_add_(0, data.edge_index[0], torch.ones(data.edge_index.size(1)))
    return torch.stack([x.mean(1), x.std(1, unbiased=False), x.abs().amax(1), degree.log1p()], dim=1)


class ToyMLP(PretrainedModel):          # no decorator: the entry point registers it as "toy_mlp"
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def embed(self, data):
        return self.net(summary(data))
'''

OBJECTIVE = '''\
"""Its objective: rebuild each node's summary statistics from its embedding."""
from torch import nn

from graphfm.objectives import OBJECTIVES, Objective
from toyplug.model import summary


@OBJECTIVES.register("toy_recon")
class ToyReconstruction(Objective):
    def __init__(self, model, weight: float = 1.0) -> None:
        super().__init__(model)
        self.weight, self.decoder = weight, nn.Linear(model.hidden, 4)

    def forward(self, batch):
        losses = [((self.decoder(self.model.embed(g)) - summary(g)) ** 2).mean() for g in batch]
        return {"recon_loss": self.weight * sum(losses) / len(losses)}
'''

CONFIG = """\
name: toy-plugin
seed: 0
data: {name: graph_domains, datasets: [synthetic-0, synthetic-1]}
model: {name: toy_mlp, hidden: 8}
objective: {name: toy_recon}
trainer: {max_steps: 5, lr: 0.01, log_every: 1, progress: false}
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "graphfm-toyplug"
    (pkg / "toyplug").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "toyplug" / "__init__.py").write_text("")
    (pkg / "toyplug" / "model.py").write_text(MODEL)
    (pkg / "toyplug" / "objective.py").write_text(OBJECTIVE)
    site = root / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--target", str(site), str(pkg)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert list(site.glob("graphfm_toyplug-0.1.dist-info/entry_points.txt"))
    return site


def _graphfm(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return subprocess.run([sys.executable, "-m", "graphfm.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)


@pytest.mark.slow
def test_a_third_party_model_pretrains_adapts_and_embeds_through_the_cli(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "toy.yaml").write_text(CONFIG)
    proc = _graphfm(plugin_site, tmp_path, "pretrain", "--config", "toy.yaml", "--out", "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "model: toy_mlp" in (tmp_path / "run" / "config.yaml").read_text()

    proc = _graphfm(plugin_site, tmp_path, "adapt", "--checkpoint", "run", "--target", "synthetic-2", "--shots", "3",
                    "--tasks", "5", "--seeds", "2", "--out", "adapt.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "adapt.json").read_text())
    assert result["n"] == 10 and 0.0 <= result["mean"] <= 100.0

    proc = _graphfm(plugin_site, tmp_path, "embed", "--checkpoint", "run", "--dataset", "synthetic-2", "--out",
                    "emb.npy", "--plot", "emb.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    emb = np.load(tmp_path / "emb.npy")
    assert emb.shape[1] == 8 and emb.dtype == np.float32 and np.isfinite(emb).all()

    # Without the plugin on the path the checkpoint names a model graphfm does not know.
    proc = subprocess.run([sys.executable, "-m", "graphfm.cli", "embed", "--checkpoint", "run", "--dataset",
                           "synthetic-2", "--out", "x.npy"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 2 and "unknown model 'toy_mlp'" in proc.stderr

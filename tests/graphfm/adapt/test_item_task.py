"""``graphfm adapt --task item`` and ``graphfm embed --plot`` on a multimodal checkpoint."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphfm.adapt.fewshot import sample_tasks
from graphfm.adapt.run import adapt_items
from graphfm.cli import main

DIGITS = {"image_size": 16, "patch_size": 4}


@pytest.fixture(scope="module")
def mm_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from multimodal.model import MultimodalViT

    torch.manual_seed(0)
    model = MultimodalViT(modalities={"rgb": {"name": "patch2d", "channels": 1, **DIGITS},
                                      "depth": {"name": "patch2d", "channels": 1, **DIGITS}},
                          dim=16, depth=1, heads=2, data_options={"image_size": 16})
    return model.save_pretrained(tmp_path_factory.mktemp("mm") / "ckpt")


def test_adapt_item_on_a_multimodal_checkpoint_in_a_fresh_process(mm_checkpoint: Path, tmp_path: Path) -> None:
    # A fresh interpreter: the model registry alone must find multimodal_vit (issue 12's bug).
    out = tmp_path / "digits.json"
    proc = subprocess.run([sys.executable, "-m", "graphfm.cli", "adapt", "--checkpoint", str(mm_checkpoint),
                           "--target", "digits", "--task", "item", "--shots", "5", "--tasks", "10", "--seeds", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {k: result[k] for k in ("target", "task", "shots", "tasks", "seeds", "n")} == \
        {"target": "digits", "task": "item", "shots": 5, "tasks": 10, "seeds": 2, "n": 20}
    assert len(result["accuracies"]) == 20 and 10.0 < result["mean"] <= 100.0   # above chance (10 classes)


def test_graph_tasks_on_a_multimodal_checkpoint_say_use_item(mm_checkpoint: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    code = main(["adapt", "--checkpoint", str(mm_checkpoint), "--target", "digits", "--out", str(tmp_path / "x.json")])
    assert code == 2 and "use --task item" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_embed_plot_writes_a_png_coloured_by_label(mm_checkpoint: Path, tmp_path: Path) -> None:
    png = tmp_path / "digits.png"
    assert main(["embed", "--checkpoint", str(mm_checkpoint), "--dataset", "digits", "--out",
                 str(tmp_path / "d.npy"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert np.load(tmp_path / "d.npy").shape == (1797, 16)
    assert main(["embed", "--checkpoint", str(mm_checkpoint), "--dataset", "digits", "--out",
                 str(tmp_path / "e.npy"), "--plot", str(tmp_path / "p.jpg")]) == 2


def test_adapt_items_scores_separable_embeddings_perfectly() -> None:
    labels = torch.arange(4).repeat_interleave(10)
    emb = torch.nn.functional.one_hot(labels, 4).float() + 0.01 * torch.randn(40, 4)
    result = adapt_items(emb, labels, shots=1, tasks=5, seeds=2)
    assert result["n"] == 10 and result["mean"] == 100.0
    assert sample_tasks(labels, 1, 5, seed=0).num_classes == 4

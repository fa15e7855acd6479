"""Exact resume: a run continued from state/ ends bit for bit where the uninterrupted run ends."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from graphfm.engine import pretrain
from graphfm.errors import CheckpointError
from graphfm.models import PretrainedModel

GRAPH = {"name": "resume", "seed": 0,
         "data": {"name": "graph_domains", "datasets": ["synthetic-0", "synthetic-1"], "mode": "ego",
                  "batch_size": 64},
         "model": {"name": "samgpt", "hidden": 16, "align_dim": 8},
         "objective": {"name": "graph_contrastive", "variant": "graphcl"},
         "trainer": {"max_steps": 12, "lr": 0.01, "ckpt_every": 4, "log_every": 2, "progress": False, "patience": 3}}
MULTIMODAL = ["data.num_samples=96", "data.batch_size=16", "model.dim=16", "model.depth=1", "objective.decoder_dim=16",
              "trainer.lr=0.01", "trainer.warmup_steps=2", "trainer.log_every=2", "trainer.progress=false"]


def _with(cfg, **trainer):
    return {**cfg, "trainer": {**cfg["trainer"], **trainer}}


def _same_weights(a: Path, b: Path) -> None:
    sa, sb = PretrainedModel.from_pretrained(a).state_dict(), PretrainedModel.from_pretrained(b).state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _rows(run: Path):
    return list(csv.DictReader(open(run / "logs" / "metrics.csv")))


def test_extending_a_finished_run_equals_the_long_run(tmp_path):
    pretrain(GRAPH, tmp_path / "long")
    pretrain(_with(GRAPH, max_steps=8), tmp_path / "split")
    pretrain(GRAPH, tmp_path / "split", resume=True)                 # raising max_steps is allowed
    _same_weights(tmp_path / "long", tmp_path / "split")
    long, split = _rows(tmp_path / "long"), _rows(tmp_path / "split")
    assert [r["step"] for r in split] == [r["step"] for r in long]   # the first run's rows survive
    assert [r["train/loss"] for r in split] == [r["train/loss"] for r in long]


def test_a_different_config_is_refused(tmp_path):
    pretrain(_with(GRAPH, max_steps=4), tmp_path / "run")
    with pytest.raises(CheckpointError, match="trainer.lr"):
        pretrain(_with(GRAPH, lr=0.5), tmp_path / "run", resume=True)
    with pytest.raises(CheckpointError, match="model"):
        pretrain({**GRAPH, "model": {**GRAPH["model"], "hidden": 8}}, tmp_path / "run", resume=True)


def test_a_truncated_state_is_refused(tmp_path):
    pretrain(_with(GRAPH, max_steps=4), tmp_path / "run")
    state = tmp_path / "run" / "state" / "last.ckpt"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable"):
        pretrain(GRAPH, tmp_path / "run", resume=True)


def _cli(*args: str) -> list:
    return [sys.executable, "-m", "graphfm.cli", *args]


def _kill_after_state(cmd: list, run: Path, min_step: int, env: dict, timeout: float = 240.0) -> None:
    """Start ``cmd``, SIGKILL it once state/last.ckpt holds a step >= ``min_step``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    state = run / "state" / "last.ckpt"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if state.is_file():
                try:
                    step = torch.load(state, map_location="cpu", weights_only=True)["global_step"]
                except Exception:  # being renamed into place: try again
                    step = -1
                if step >= min_step:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed; give it more steps"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["graph", "multimodal"])
def test_sigkill_then_resume_is_bitwise_equal(kind, tmp_path, data_root):
    if kind == "graph":
        cfg = tmp_path / "graph.yaml"
        cfg.write_text(yaml.safe_dump(_with(GRAPH, max_steps=60, ckpt_every=3, patience=0)))
        args, sets = ["pretrain", "--config", str(cfg)], []
    else:
        args, sets = ["pretrain", "--config", "multimodal/multimae"], [
            "--set", "trainer.max_steps=40", "--set", "trainer.ckpt_every=3", *sum((["--set", s] for s in MULTIMODAL), [])]
    env = {**os.environ, "GRAPHFM_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(*args, *sets, "--out", str(tmp_path / "whole")), check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_after_state(_cli(*args, *sets, "--out", str(tmp_path / "killed")), tmp_path / "killed", 6, env)
    done = subprocess.run(_cli(*args, *sets, "--out", str(tmp_path / "killed"), "--resume"), env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    _same_weights(tmp_path / "whole", tmp_path / "killed")
    assert [r["step"] for r in _rows(tmp_path / "killed")] == [r["step"] for r in _rows(tmp_path / "whole")]
    assert sorted(p.name for p in (tmp_path / "killed" / "state").iterdir()) == ["last.ckpt"]
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.endswith(".tmp")]

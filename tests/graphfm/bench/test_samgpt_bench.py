"""The SAMGPT benchmark (quick mode) and the demo."""
import json

import numpy as np
import pytest

from graphfm.bench import BENCHMARKS, load_benchmarks
from graphfm.bench.samgpt import PAPER, config_path
from graphfm.config import load_experiment


def test_configs_leave_the_target_out():
    for target in PAPER:
        if target == "PubMed":
            continue
        cfg = load_experiment(config_path(target))
        assert cfg.data["name"] == "graph_domains" and target not in cfg.data["datasets"]
        assert len(cfg.data["datasets"]) == 5 and cfg.model["name"] == "samgpt"


@pytest.mark.slow
def test_quick_bench_writes_the_table(tmp_path, data_root):
    load_benchmarks()
    result = BENCHMARKS.get("samgpt")(tmp_path, data_root=str(data_root), quick=True, progress=False,
                                      protocol="both")
    rows = json.loads((tmp_path / "samgpt.json").read_text())["rows"]
    assert rows == result["rows"]
    derived = [r for r in rows if r["target"] == "Cora-derived"]
    assert {r["method"] for r in derived} == {"samgpt", "no_pretrain"} and all(r["task"] == "node" for r in derived)
    rows = [r for r in rows if r["target"] == "Cora"]
    methods = ("samgpt", "samgpt_frozen", "no_pretrain", "target_ssl", "supervised_gcn", "prototype")
    assert {(r["task"], r["method"], r["protocol"]) for r in rows} == {
        (t, m, p) for t in ("node", "graph") for m in methods for p in ("graphfm", "paper")}
    assert all(r["target"] == "Cora" and r["n"] == 10 and len(r["accuracies"]) == 10 and 0 <= r["mean"] <= 100
               for r in rows)
    assert all(r["n"] == 10 and max(r["accuracies"]) <= 100 for r in rows)
    md = (tmp_path / "samgpt.md").read_text()
    assert "| Cora | node | 47.8 |" in md and "Time (seconds)" in md
    assert "samgpt − no_pretrain" in md and "samgpt − target_ssl" in md and "Protocol `paper`" in md
    assert "| Cora-derived |" in md


@pytest.mark.slow
def test_demo_leaves_checkpoint_and_embeddings(tmp_path):
    from graphfm.bench.demo import run_demo
    from graphfm.models import PretrainedModel

    summary = run_demo(tmp_path, steps=3, tasks=5, seeds=1)
    emb = np.load(tmp_path / "embeddings.npy")
    assert emb.dtype == np.float32 and emb.shape[0] == 1200
    assert PretrainedModel.from_pretrained(tmp_path).model_name == "samgpt"
    assert set(summary) >= {"samgpt", "no_pretrain", "target"}


@pytest.mark.slow
def test_quick_curve_scores_every_point_on_the_same_tasks(tmp_path, data_root):
    result = BENCHMARKS.get("samgpt_curve")(tmp_path, data_root=str(data_root), quick=True, progress=False)
    rows = result["rows"]
    steps = {r["method"]: r["steps"] for r in rows}
    assert steps["no_pretrain"] == 0 and steps["steps_2"] == 2 and steps["steps_4"] == 4 and steps["default"] == 3
    assert steps["converged"] >= 4
    assert {r["method"] for r in rows} == {"no_pretrain", "steps_2", "steps_4", "default", "converged"}
    assert all(r["n"] == 10 and len(r["accuracies"]) == 10 for r in rows)
    assert (tmp_path / "samgpt_curve.png").is_file() and "− untrained" in (tmp_path / "samgpt_curve.md").read_text()

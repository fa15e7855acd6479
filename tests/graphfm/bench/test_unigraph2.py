"""The unigraph2 benchmark: scoring helpers, the quick experiment, and an end-to-end run on small graphs."""
import json

import pytest
import torch
import yaml
from torch_geometric.data import Data

from graphfm.bench import BENCHMARKS
from graphfm.bench.base import ROW_KEYS
from graphfm.bench.unigraph2 import experiment, probe_split, run, score_embeddings
from graphfm.config import resolve_config
from graphfm.errors import ConfigError


def test_registered():
    assert BENCHMARKS.get("unigraph2") is run


def test_probe_split_takes_per_class_nodes():
    y = torch.tensor([0] * 30 + [1] * 25 + [2] * 40 + [-1] * 5)
    train, test = probe_split(y, 20, seed=0)
    assert torch.bincount(y[train]).tolist() == [20, 20, 20]
    assert set(train.tolist()).isdisjoint(test.tolist()) and (y[test] >= 0).all()
    assert train.numel() + test.numel() == 95
    assert torch.equal(probe_split(y, 20, seed=0)[0], train) and not torch.equal(probe_split(y, 20, 1)[0], train)


def test_scores_separate_good_from_useless_embeddings():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(50)
    good = torch.nn.functional.one_hot(y, 4).float() * 5 + 0.1 * torch.randn(200, 4, generator=gen)
    noise = torch.randn(200, 4, generator=gen)
    good_rows, noise_rows = score_embeddings(good, y, tasks=10, seeds=2), score_embeddings(noise, y, 10, 2)
    assert [r["protocol"] for r in good_rows] == ["prototype", "prototype", "linear_probe"]
    assert all(r["mean"] > 95 for r in good_rows)
    assert all(r["mean"] < 50 for r in noise_rows)
    assert good_rows[0]["n"] == 20 and good_rows[2]["n"] == 2


def test_quick_experiment_shrinks_the_config():
    cfg = experiment(quick=True, steps=7, cache_dir="/tmp/x")
    names = [g["name"] if isinstance(g, dict) else g for g in cfg["data"]["graphs"]]
    assert names == ["CiteSeer-TAG", "digits-graph"]
    assert set(cfg["data"]["modalities"]) == {"text", "image"}
    assert cfg["trainer"]["max_steps"] == 7 and cfg["data"]["cache_dir"] == "/tmp/x"
    assert experiment()["trainer"]["max_steps"] >= 100


def test_end_to_end_on_small_graphs(tmp_path):
    """Pretrain on a synthetic domain, score a held-out graph that shares its modality."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(40)
    target = Data(x=torch.randn(120, 48, generator=gen) + 2 * torch.nn.functional.one_hot(y, 48).float(),
                  edge_index=torch.randint(120, (2, 400), generator=gen), y=y)
    torch.save(target.to_dict(), tmp_path / "held_out.pt")
    cfg = yaml.safe_load(open(resolve_config("unigraph2/tiny")))
    cfg["data"]["graphs"] = ["synthetic-0"]
    cfg["data"]["modalities"] = {"feat": {"encoder": {"name": "precomputed"}}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    result = run(tmp_path / "out", config=str(tmp_path / "cfg.yaml"), targets=[str(tmp_path / "held_out.pt")],
                 tasks=5, seeds=2, steps=3)
    rows = json.loads((tmp_path / "out" / "unigraph2.json").read_text())["rows"]
    assert rows == result["rows"] and len(rows) == 9
    assert {r["method"] for r in rows} == {"unigraph2", "frozen_encoder", "random_init"}
    assert all(set(ROW_KEYS) <= set(r) and 0 <= r["mean"] <= 100 for r in rows)
    md = (tmp_path / "out" / "unigraph2.md").read_text()
    assert "| unigraph2 |" in md and "Summary" in md
    with pytest.raises(ConfigError, match="held-out"):
        run(tmp_path / "out", config=str(tmp_path / "cfg.yaml"), targets=["synthetic-0"], steps=1)

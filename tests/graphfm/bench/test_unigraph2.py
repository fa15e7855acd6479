"""The unigraph2 benchmark: held-out sources, scoring, the paired report, and an end-to-end run on small graphs."""
import json

import pytest
import torch
import yaml
from torch_geometric.data import Data

from graphfm.bench import BENCHMARKS
from graphfm.bench.base import ROW_KEYS
from graphfm.bench.unigraph2 import (METHODS, experiment, probe_split, run, score_embeddings, sources_for,
                                     target_only)
from graphfm.bench.unigraph2_report import paired, report_markdown
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
    g, n = score_embeddings(good, y, tasks=10, seed=0), score_embeddings(noise, y, 10, 0)
    assert sorted(g) == [("linear_probe", 20), ("prototype", 1), ("prototype", 5)]
    assert len(g[("prototype", 1)]) == 10 and len(g[("linear_probe", 20)]) == 5
    assert all(sum(v) / len(v) > 95 for v in g.values()) and all(sum(v) / len(v) < 50 for v in n.values())


def test_sources_hold_out_every_form_of_the_target():
    cfg = experiment()
    names = lambda c: [g["name"] if isinstance(g, dict) else g for g in c["data"]["graphs"]]  # noqa: E731
    assert {"Cora-TAG", "CiteSeer-TAG"} <= set(names(cfg))
    cora = sources_for(cfg, "Cora-TAG")
    assert "Cora-TAG" not in names(cora) and "CiteSeer-TAG" in names(cora)
    assert "Cora" not in {n.split("-")[0] for n in names(cora)}
    citeseer = sources_for(cfg, "CiteSeer-TAG")
    assert "CiteSeer-TAG" not in names(citeseer) and "Cora-TAG" in names(citeseer)
    photo = sources_for(cfg, "Photo")
    assert "photo_bow" not in photo["data"]["modalities"] and "computers_bow" in photo["data"]["modalities"]
    ssl = target_only(cora, "Cora-TAG", ["text"])
    assert names(ssl) == ["Cora-TAG"] and list(ssl["data"]["modalities"]) == ["text"]
    assert ssl["model"] == cora["model"] and ssl["objective"] == cora["objective"]
    with pytest.raises(ConfigError, match="no pretraining source"):
        sources_for({"data": {"graphs": ["Cora-TAG"], "modalities": {}}}, "Cora")


def test_quick_experiment_shrinks_the_config():
    cfg = experiment(quick=True, steps=7, cache_dir="/tmp/x")
    assert {g["name"] for g in cfg["data"]["graphs"]} == {"Cora-TAG", "CiteSeer-TAG", "digits-graph"}
    assert set(cfg["data"]["modalities"]) == {"text", "image"}
    assert cfg["trainer"]["max_steps"] == 7 and cfg["data"]["cache_dir"] == "/tmp/x"
    assert cfg["data"]["modalities"]["image"]["encoder"]["name"] == "graphfm"
    assert experiment()["trainer"]["max_steps"] >= 100


def test_paired_report_splits_the_seeds():
    a = {"accuracies": [60.0, 62.0, 50.0, 52.0], "per_seed": 2, "mean": 56.0, "std": 1.0}
    b = {"accuracies": [50.0, 50.0, 51.0, 51.0], "per_seed": 2, "mean": 50.5, "std": 1.0}
    d = paired(a, b)
    assert d["per_seed"] == [11.0, 0.0] and d["diff"] == pytest.approx(5.5) and d["n"] == 4
    rows = [dict(target="T", method=m, protocol="prototype", shots=1, **r)
            for m, r in (("unigraph2", a), ("random_init", b), ("frozen_encoder", b))]
    md = report_markdown(rows, {"diagnostics": {"T": {"unigraph2": {"effective_rank": 8.0, "mean_cosine": 0.1},
                                                      "random_init": {"effective_rank": 10.0, "mean_cosine": 0.2}}}})
    assert "+5.50" in md and "(seeds: +11.00, +0.00)" in md and "0.80" in md
    assert "every seed's mean difference positive at **0 of 1**" in md


def test_end_to_end_on_small_graphs(tmp_path):
    """Pretrain on a synthetic domain, score a held-out graph that shares its modality: five methods."""
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
                 tasks=4, seeds=2, steps=3, prompt_steps=2)
    rows = json.loads((tmp_path / "out" / "unigraph2.json").read_text())["rows"]
    assert rows == result["rows"] and {r["method"] for r in rows} == set(METHODS)
    assert all(set(ROW_KEYS) <= set(r) and 0 <= r["mean"] <= 100 for r in rows)
    proto = [r for r in rows if r["protocol"] == "prototype"]
    assert all(len(r["accuracies"]) == 8 and r["per_seed"] == 4 for r in proto)
    assert len(proto) == 2 * len(METHODS)
    md = (tmp_path / "out" / "unigraph2.md").read_text()
    assert "unigraph2 − random_init" in md and "(seeds: " in md and "Collapse" in md and "Verdicts" in md
    assert "unigraph2_target_ssl − target_ssl" in md
    assert result["diagnostics"][str(tmp_path / "held_out.pt")]["random_init"]["effective_rank"] > 1

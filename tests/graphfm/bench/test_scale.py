"""graphfm bench scale: the generated graphs, the measured processes, the report files."""
import json

import numpy as np
import pytest

from graphfm.bench import BENCHMARKS
from graphfm.bench.scale import checks, graph_file, power_law_graph


def test_power_law_graph_is_undirected_sorted_and_seeded():
    ei, x = power_law_graph(3000, avg_degree=10, num_features=8, seed=1)
    n = 3000
    key = ei[0] * n + ei[1]
    assert np.all(key[1:] > key[:-1])                         # sorted, no duplicates
    assert np.all(ei[0] != ei[1])
    rev = np.sort(ei[1] * n + ei[0])
    assert np.array_equal(rev, key)                           # both directions
    assert ei.shape[1] == 2 * round(10 * n / 2) and x.shape == (n, 8) and x.dtype == np.float32
    deg = np.bincount(ei[0], minlength=n)
    assert deg.max() > 8 * deg.mean()                         # heavy tail
    ei2, x2 = power_law_graph(3000, avg_degree=10, num_features=8, seed=1)
    assert np.array_equal(ei, ei2) and np.array_equal(x, x2)


def test_graph_file_is_cached(tmp_path):
    first = graph_file(500, cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert graph_file(500, cache_dir=tmp_path) == first and first.stat().st_mtime_ns == stamp
    z = np.load(first)
    assert set(z.files) == {"edge_index", "x"}


def test_checks_compare_against_the_floor():
    def row(n, task, method, metric, value):
        return {"nodes": n, "task": task, "method": method, "metric": metric, "mean": value, "status": "ok"}

    rows = [row(10**6, "embed", "graphfm", "time", 30.0), row(10**6, "embed", "floor", "time", 25.0),
            row(10**6, "embed", "graphfm", "peak_rss", 3.5), row(10**5, "embed", "graphfm", "time", 2.0),
            row(10**6, "pretrain", "samgpt_sampled", "train_peak_minus_loaded", 0.5),
            row(10**5, "pretrain", "samgpt_sampled", "train_peak_minus_loaded", 0.45)]
    got = checks(rows)
    assert got["embed_over_floor_ok"] and got["embed_peak_ok"] and got["pretrain_memory_ok"]
    assert got["t_1e6_over_t_1e5"] == 15.0 and not got["scaling_ok"]


@pytest.mark.slow
def test_quick_run_writes_every_measurement(tmp_path):
    result = BENCHMARKS.get("scale")(tmp_path, quick=True, progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {"scale.json", "scale.md", "scale.png"}
    rows = json.loads((tmp_path / "scale.json").read_text())["rows"]
    assert rows == result["rows"]
    got = {(r["method"], r["metric"]): r for r in rows}
    for method in ("graphfm", "floor", "pyg_full_batch"):
        assert got[(method, "time")]["status"] == "ok", got[(method, "time")].get("log")
        assert got[(method, "time")]["unit"] == "seconds" and got[(method, "peak_rss")]["unit"] == "GB"
        assert 0.05 < got[(method, "peak_rss")]["mean"] < 8
        timing = got[(method, "time")]                    # quick mode: two fresh runs, per-run values kept
        assert timing["n"] == 2 and len(timing["accuracies"]) == 2
        assert abs(sum(timing["accuracies"]) / 2 - timing["mean"]) < 1e-3
    for method in ("samgpt_sampled", "unigraph2_sampled"):
        pre = got[(method, "throughput")]
        assert pre["status"] == "ok" and pre["unit"] == "steps/s" and pre["mean"] > 0, pre.get("log")
        assert got[(method, "train_peak_minus_loaded")]["unit"] == "GB"
    assert "Acceptance checks" in (tmp_path / "scale.md").read_text()


@pytest.mark.slow
def test_pyg_out_of_memory_is_recorded(tmp_path):
    import sys

    from graphfm.bench.scale import WORKERS, _measure

    path = graph_file(100_000)            # messages of 10^6 edges x 256 floats: 1 GB per layer
    res = _measure([sys.executable, str(WORKERS), "pyg", str(path), "256", "3", str(tmp_path / "o.npy")],
                   tmp_path / "o.npy", memory_gb=4.2)   # imports alone reserve ~3.6 GB of address space
    assert res["status"] == "out_of_memory" and not (tmp_path / "o.npy").exists()

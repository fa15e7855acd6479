import json

import pytest

from graphfm.bench.base import ROW_KEYS
from graphfm.errors import ConfigError


@pytest.mark.slow
def test_bench_writes_paired_rows_for_every_objective(tmp_path):
    from multimodal.bench import OBJECTIVES, run

    result = run(tmp_path, quick=True, steps={name: 2 for name in OBJECTIVES})
    saved = json.loads((tmp_path / "multimodal.json").read_text())
    assert saved["rows"] == result["rows"]
    methods = {(r["protocol"], r["method"]) for r in result["rows"]}
    for name in OBJECTIVES:
        assert (f"{name} pretraining", name) in methods and (f"{name} pretraining", "random_init") in methods
    assert ("bm_mae pretraining", "voxels") in methods and ("uniter pretraining", "bow_x_regions") in methods
    cells = {}
    for row in result["rows"]:
        assert set(ROW_KEYS) <= set(row) and 0 <= row["mean"]
        if "accuracies" in row and row["target"] != "throughput":
            assert len(row["accuracies"]) == row["n"]
            cells.setdefault((row["protocol"], row["task"]), set()).add(row["n"])
    assert all(len(ns) == 1 for ns in cells.values())  # every method of a cell scored on the same items
    md = (tmp_path / "multimodal.md").read_text()
    assert "| digits | image-text matching" in md and "## Paired differences" in md
    assert "| phantoms | rebuild missing flair (MSE per subject) | bm_mae | linear_from_present |" in md


def test_bench_rejects_unknown_targets(tmp_path):
    from multimodal.bench import run

    with pytest.raises(ConfigError, match="unknown \\['cora'\\]"):
        run(tmp_path, targets=["cora"])
    with pytest.raises(ConfigError, match="no few-shot tasks"):
        run(tmp_path, tasks=5)

import json

import pytest

from graphfm.bench.base import ROW_KEYS
from graphfm.errors import ConfigError


@pytest.mark.slow
def test_bench_writes_rows_for_every_objective(tmp_path):
    from graphfm.bench.multimodal import run

    result = run(tmp_path, quick=True, steps={"multimae": 2, "m3i": 2, "bm_mae": 2, "uniter": 2})
    saved = json.loads((tmp_path / "multimodal.json").read_text())
    assert saved["rows"] == result["rows"]
    methods = {(r["target"], r["method"]) for r in result["rows"]}
    for name in ("multimae", "m3i", "bm_mae", "uniter"):
        assert ("throughput", name) in methods
    assert ("digits", "random_init") in methods and ("phantoms", "bm_mae") in methods
    for row in result["rows"]:
        assert set(ROW_KEYS) <= set(row) and 0 <= row["mean"]
    assert "| digits | image-text matching" in (tmp_path / "multimodal.md").read_text()


def test_bench_rejects_unknown_targets(tmp_path):
    from graphfm.bench.multimodal import run

    with pytest.raises(ConfigError, match="unknown \\['cora'\\]"):
        run(tmp_path, targets=["cora"])
    with pytest.raises(ConfigError, match="no few-shot tasks"):
        run(tmp_path, tasks=5)

"""GPU check: the scale benchmark plus a few bf16 steps of every objective, on CUDA.

    python scripts/gpu_check.py --out results/gpu

Where CUDA is absent it says so and exits 0 without writing anything. Otherwise it
writes ``OUT/gpu_check.json`` and ``.md`` (one row per objective: steps, seconds,
final loss, peak CUDA memory, status) and runs ``graphfm bench scale --out OUT`` (the
embedding and pretraining timings of that machine; the CPU-side floor and PyG rows are
the same measurements as on a CPU machine). Exit status 1 if any objective failed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

#: (objective, bundled config): every registered objective, on its smallest offline config.
RUNS = (
    ("graph_contrastive (SAMGPT, subgraph)", "samgpt/demo", []),
    ("graph_contrastive (SAMGPT, graphcl, sampled)", "samgpt/demo",
     ["objective.variant=graphcl", "data.mode=ego", "data.batch_size=128", "data.max_degree=10"]),
    ("unigraph2", "unigraph2/tiny", []),
    ("multimae", "multimodal/multimae", []),
    ("m3i", "multimodal/m3i", []),
    ("uniter", "multimodal/uniter", []),
    ("bm_mae", "multimodal/bm_mae", []),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/gpu", help="output folder (default: results/gpu)")
    parser.add_argument("--steps", type=int, default=5, help="bf16 steps per objective (default: 5)")
    parser.add_argument("--skip-bench", action="store_true", help="only the objectives")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu_check: CUDA is not available on this machine; nothing was run (exit 0).")
        return 0
    from graphfm.bench.base import write_results
    from graphfm.config import resolve_config
    from graphfm.engine import pretrain

    out = Path(args.out)
    rows, failed = [], 0
    for name, config, extra in RUNS:
        overrides = [f"trainer.max_steps={args.steps}", "trainer.accelerator=gpu", "trainer.devices=1",
                     "trainer.precision=bf16-mixed", "trainer.progress=false", "trainer.log_every=1"] + extra
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        row = {"target": "cuda", "task": "bf16_steps", "method": name, "config": config, "std": 0.0, "n": 1,
               "unit": "final loss", "steps": args.steps}
        try:
            with tempfile.TemporaryDirectory() as tmp:
                _, objective = pretrain(resolve_config(config), Path(tmp) / "run", overrides=overrides,
                                        return_objective=True)
                loss = _last_loss(Path(tmp) / "run" / "logs" / "metrics.csv")
            row.update(mean=loss, status="ok" if loss == loss else "nan_loss")
        except Exception as exc:  # noqa: BLE001  (report every objective, then fail at the end)
            row.update(mean=None, status=f"failed: {type(exc).__name__}: {str(exc)[:300]}")
        row["seconds"] = round(time.perf_counter() - start, 2)
        row["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        failed += row["status"] != "ok"
        rows.append(row)
        print(f"[gpu_check] {name:<45} {row['status']:<10} {row['seconds']:7.1f} s  loss {row['mean']}", flush=True)
    write_results(out, "gpu_check", rows, columns=("method", "config", "steps", "mean", "unit", "status", "seconds",
                                                    "peak_cuda_gb"),
                  extra={"device": torch.cuda.get_device_name(0)})
    if not args.skip_bench:
        from graphfm.bench.scale import run

        run(out)
    return 1 if failed else 0


def _last_loss(csv_path: Path) -> float:
    import csv

    with open(csv_path) as fh:
        values = [float(r["train/loss"]) for r in csv.DictReader(fh) if r.get("train/loss")]
    return values[-1] if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())

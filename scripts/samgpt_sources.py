"""Does a more diverse pretraining mix make SAMGPT transfer? Measured on a held-out *source*.

The protocol of the README ("How the SAMGPT defaults were chosen"): the Cora config's sources
minus CiteSeer are pretrained with the committed settings, then one-shot node classification on
CiteSeer (100 tasks x 2 seeds, the default adaptation), paired task by task with the same network
untrained (``untrained_copy(0)`` of each variant). No target's label is read: CiteSeer is a
source of every leave-one-out config but its own. The variants add built-in synthetic SBM domains
(``synthetic-<k>``) and/or the six TU graph sets (each as one graph of disconnected components)
to the four real sources.

    PYTHONPATH=. python scripts/samgpt_sources.py --out results/samgpt_sources [--only LABEL ...]
    PYTHONPATH=. python scripts/samgpt_sources.py --out results/samgpt_sources --merge a.json b.json

writes ``<out>.json`` (per-task accuracies) and ``<out>.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

REAL = ["Photo", "Computers", "FacebookPagePage", "LastFMAsia"]
SYNTHETIC = [f"synthetic-{k}" for k in range(6)]
TU = ["MUTAG", "PROTEINS", "ENZYMES", "IMDB-BINARY", "COX2", "BZR"]
VARIANTS = {
    "4 real sources (the default mix)": REAL,
    "+ 6 synthetic SBM domains": REAL + SYNTHETIC,
    "+ 6 TU graph sets": REAL + TU,
    "+ synthetic + TU": REAL + SYNTHETIC + TU,
    "6 synthetic SBM domains only": SYNTHETIC,
}
HELD_OUT = "CiteSeer"


def measure(label: str, datasets: list, work: Path, tasks: int, seeds: int) -> dict:
    from graphfm.adapt import PromptConfig, adapt_model, load_target
    from graphfm.bench.samgpt import ADAPT, config_path
    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel
    from graphfm.stats import paired_difference

    run_dir = work / "".join(c if c.isalnum() else "_" for c in label)
    start = time.perf_counter()
    pretrain(config_path("Cora"), run_dir, overrides=[f"data.datasets=[{','.join(datasets)}]", "trainer.progress=false"])
    pretrain_s = time.perf_counter() - start
    model = PretrainedModel.from_pretrained(run_dir)
    data, ptr, labels = load_target(HELD_OUT)
    res = {name: adapt_model(m, data, labels, "node", 1, tasks, seeds, method="prompt", config=PromptConfig(), **ADAPT)
           for name, m in (("pretrained", model), ("untrained", model.untrained_copy(seed=0)))}
    diff = paired_difference(res["pretrained"]["accuracies"], res["untrained"]["accuracies"])
    return {"variant": label, "datasets": datasets, "pretrain_seconds": round(pretrain_s, 1),
            "seconds": round(time.perf_counter() - start, 1), "difference": diff,
            **{f"{k}_mean": v["mean"] for k, v in res.items()},
            **{f"{k}_accuracies": v["accuracies"] for k, v in res.items()}}


def markdown(rows: list, tasks: int, seeds: int) -> str:
    lines = [f"# SAMGPT pretraining mix, measured on a held-out source ({HELD_OUT})", "",
             f"- machine: {os.uname().machine}, {os.cpu_count()} cores, torch {torch.__version__}; written "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- one-shot node classification on {HELD_OUT}, {tasks} tasks x {seeds} seeds, default adaptation; "
             "pretraining: `configs/samgpt/cora.yaml` with `data.datasets` replaced (one pretraining seed)",
             "- Δ = pretrained − the same network untrained, paired by task, 95 % t-interval", "",
             "| variant | sources | pretrained | untrained | Δ [95 % CI] | pretrain s |", "|---|---|---|---|---|---|"]
    for r in rows:
        d = r["difference"]
        lines.append(f"| {r['variant']} | {len(r['datasets'])} | {r['pretrained_mean']:.2f} | {r['untrained_mean']:.2f} | "
                     f"{d['diff']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] | {r['pretrain_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path without suffix")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/samgpt-sources")
    parser.add_argument("--merge", nargs="+", help="only merge these <out>.json files (runs of variant subsets)")
    args = parser.parse_args()
    rows = []
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        found = {r["variant"]: r for part in parts for r in part["rows"]}
        rows = [found[label] for label in VARIANTS if label in found]
        args.tasks, args.seeds = parts[0]["tasks"], parts[0]["seeds"]
    for label, datasets in ([] if args.merge else VARIANTS.items()):
        if args.only and label not in args.only:
            continue
        rows.append(measure(label, datasets, Path(args.work), args.tasks, args.seeds))
        d = rows[-1]["difference"]
        print(f"{label}: {rows[-1]['pretrained_mean']:.2f} vs {rows[-1]['untrained_mean']:.2f} "
              f"({d['diff']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}])", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"tasks": args.tasks, "seeds": args.seeds, "rows": rows}, indent=1))
    tmp.replace(out.with_suffix(".json"))
    out.with_suffix(".md.tmp").write_text(markdown(rows, args.tasks, args.seeds))
    out.with_suffix(".md.tmp").replace(out.with_suffix(".md"))


if __name__ == "__main__":
    main()

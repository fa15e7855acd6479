"""SAMGPT choices measured on held-out *sources* (no target's label is read).

The protocol of the README ("How the SAMGPT defaults were chosen"): the Cora config's sources minus
one held-out source are pretrained with the committed settings plus a variant's changes, then
one-shot node classification on the held-out source (100 tasks x 2 seeds, the default adaptation),
paired task by task with the same network untrained (``untrained_copy(0)``). Each held-out graph is
a source of every leave-one-out config but its own, so its labels are never a target's test labels
in a run that uses them. Groups of variants:

* ``mix``: the pretraining mix (built-in synthetic SBM domains ``synthetic-<k>`` and/or the six TU
  graph sets, each one graph of disconnected components, added to or replacing the real sources);
* ``objective``: settings of the objective (VICReg's variance/covariance terms);
* ``align``: the feature alignment (``model.align_order``);
* ``basis``: random rotations of every source's aligned features while pretraining
  (``objective.rotate_features``);
* ``seeds``: the committed objective and the rotation under pretraining seeds 1 and 2.

    PYTHONPATH=. python scripts/studies/samgpt_sources.py --out results/studies/samgpt_sources --group mix
    PYTHONPATH=. python scripts/studies/samgpt_sources.py --out results/studies/samgpt_objective --group objective \\
        --held-out CiteSeer Photo FacebookPagePage [--only LABEL ...]
    PYTHONPATH=. python scripts/studies/samgpt_sources.py --out OUT --merge a.json b.json   # runs of subsets

writes ``<out>.json`` (benchmark rows ``samgpt`` / ``no_pretrain`` with per-task ``accuracies``, the
same tasks for both, plus each run's sources and times) and ``<out>.md``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


CORA_SOURCES = ["CiteSeer", "Photo", "Computers", "FacebookPagePage", "LastFMAsia"]
SYNTHETIC = [f"synthetic-{k}" for k in range(6)]
TU = ["MUTAG", "PROTEINS", "ENZYMES", "IMDB-BINARY", "COX2", "BZR"]
VICREG = ["objective.var_weight=1.0", "objective.cov_weight=0.04"]
ROTATION, NO_ROTATION = "objective.rotate_features=true", "objective.rotate_features=false"   # default since 2026-11-28
GROUPS = {
    "mix": {
        "4 real sources (the default mix)": {},
        "+ 6 synthetic SBM domains": {"extra": SYNTHETIC},
        "+ 6 TU graph sets": {"extra": TU},
        "+ synthetic + TU": {"extra": SYNTHETIC + TU},
        "6 synthetic SBM domains only": {"extra": SYNTHETIC, "replace": True},
    },
    "objective": {
        "committed objective": {},
        "+ VICReg (1.0 / 0.04)": {"overrides": VICREG},
        "+ VICReg x0.25 (0.25 / 0.01)": {"overrides": ["objective.var_weight=0.25", "objective.cov_weight=0.01"]},
    },
    "align": {
        "committed alignment (principal components by variance)": {},
        "smoothness-ordered alignment": {"overrides": ["model.align_order=smoothness"]},
        "principal components ordered by smoothness": {"overrides": ["model.align_order=pc_smoothness"]},
    },
    "basis": {
        "committed objective": {"overrides": [NO_ROTATION]},
        "random rotation of the aligned features every step": {"overrides": [ROTATION]},
        "random rotation, 100 steps": {"overrides": [ROTATION, "trainer.max_steps=100"]},
    },
    "seeds": {   # how much the pooled difference moves with the pretraining seed (the untrained copy stays seed 0)
        **{f"committed objective, pretraining seed {s}": {"overrides": [NO_ROTATION, f"seed={s}"]}
           for s in (1, 2)},
        **{f"random rotation, pretraining seed {s}": {"overrides": [ROTATION, f"seed={s}"]}
           for s in (1, 2)},
    },
}

#: Groups measured before the rotation became the configs' default (2026-11-28) keep measuring
#: what they measured then: "committed" in their labels means the objective without it.
for _group in ("mix", "objective", "align"):
    for _variant in GROUPS[_group].values():
        _variant["overrides"] = [NO_ROTATION, *_variant.get("overrides", [])]


def measure(label: str, variant: dict, held_out: str, work: Path, tasks: int, seeds: int) -> dict:
    from graphfm.adapt import PromptConfig, adapt_model, few_shot_target
    from graphfm.data import load_graph
    from graphfm.bench.samgpt import ADAPT, config_path
    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel
    from graphfm.stats import paired_difference

    real = [d for d in CORA_SOURCES if d != held_out]
    datasets = list(variant["extra"]) if variant.get("replace") else real + list(variant.get("extra", []))
    run_dir = work / "".join(c if c.isalnum() else "_" for c in f"{label}_{held_out}")
    start = time.perf_counter()
    overrides = [f"data.datasets=[{','.join(datasets)}]", "trainer.progress=false", *variant.get("overrides", [])]
    pretrain(config_path("Cora"), run_dir, overrides=overrides, overwrite=True)     # a rerun replaces it
    pretrain_s = time.perf_counter() - start
    model = PretrainedModel.from_pretrained(run_dir)
    data, ptr, labels = few_shot_target(load_graph(held_out))
    res = {name: adapt_model(m, data, labels, "node", 1, tasks, seeds, method="prompt", config=PromptConfig(), **ADAPT)
           for name, m in (("pretrained", model), ("untrained", model.untrained_copy(seed=0)))}
    diff = paired_difference(res["pretrained"]["accuracies"], res["untrained"]["accuracies"])
    return {"variant": label, "held_out": held_out, "datasets": datasets, "overrides": variant.get("overrides", []),
            "pretrain_seconds": round(pretrain_s, 1), "seconds": round(time.perf_counter() - start, 1),
            "difference": diff, **{f"{k}_mean": v["mean"] for k, v in res.items()},
            **{f"{k}_accuracies": v["accuracies"] for k, v in res.items()}}


def markdown(rows: list, tasks: int, seeds: int) -> str:
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval, paired_difference

    held = list(dict.fromkeys(r["held_out"] for r in rows))
    lines = ["", f"## SAMGPT choices, measured on held-out sources ({', '.join(held)})", "",
             f"- one-shot node classification on the held-out source, {tasks} tasks x {seeds} seeds, default "
             "adaptation; pretraining: `configs/samgpt/cora.yaml` on its other sources with the variant's changes "
             "(one pretraining seed)",
             "- Δ = pretrained − the same network untrained, paired by task, 95 % t-interval", ""]
    lines += markdown_table(["variant", "held out", "sources", "pretrained", "untrained", "Δ [95 % CI]", "pretrain s"],
                            [[r["variant"], r["held_out"], len(r["datasets"]), f"{r['pretrained_mean']:.2f}",
                              f"{r['untrained_mean']:.2f}", format_interval(r["difference"]),
                              f"{r['pretrain_seconds']:.0f}"] for r in rows])
    if len(held) > 1:
        lines += ["", "Pooled over the held-out sources (every task of every held-out source one pair):", ""]
        table = []
        for label in dict.fromkeys(r["variant"] for r in rows):
            runs = [r for r in rows if r["variant"] == label]
            d = paired_difference([a for r in runs for a in r["pretrained_accuracies"]],
                                  [a for r in runs for a in r["untrained_accuracies"]])
            table.append([label, len(runs), format_interval(d)])
        lines += markdown_table(["variant", "held out", "Δ [95 % CI]"], table)
    return "\n".join(lines) + "\n" + against_committed(rows)


def _family_and_seed(label: str) -> tuple:
    """``("random rotation", 1)`` for ``"random rotation, pretraining seed 1"``; seed 0 when unnamed."""
    family, _, seed = label.partition(", pretraining seed ")
    return FAMILIES.get(family, family), int(seed) if seed else 0


#: Seed-0 labels of a family whose other seeds are named "<family>, pretraining seed N".
FAMILIES = {"random rotation of the aligned features every step": "random rotation"}


def against_committed(rows: list) -> str:
    """Each variant family minus the committed objective, paired by held-out source, pretraining seed
    and task (the pretrained networks' accuracies), pooled; empty without committed runs."""
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval, paired_difference

    committed = {(r["held_out"], _family_and_seed(r["variant"])[1]): r for r in rows
                 if r["variant"].startswith("committed")}
    families: dict = {}
    for r in rows:
        family, seed = _family_and_seed(r["variant"])
        if not r["variant"].startswith("committed") and (r["held_out"], seed) in committed:
            families.setdefault(family, []).append((r, committed[(r["held_out"], seed)]))
    if not families:
        return ""
    lines = ["", "Variant − committed objective, paired by held-out source, pretraining seed and task:", ""]
    table = []
    for family, pairs in families.items():
        d = paired_difference([a for r, _ in pairs for a in r["pretrained_accuracies"]],
                              [b for _, c in pairs for b in c["pretrained_accuracies"]])
        held = ", ".join(dict.fromkeys(r["held_out"] for r, _ in pairs))
        seeds = sorted({_family_and_seed(r["variant"])[1] for r, _ in pairs})
        table.append([family, held, seeds, d["n"], format_interval(d)])
    return "\n".join(lines + markdown_table(["variant", "held out", "seeds", "pairs", "Δ [95 % CI]"], table)) + "\n"


#: The two networks of every run, as benchmark methods.
METHODS = {"pretrained": "samgpt", "untrained": "no_pretrain"}


def bench_rows(runs: list) -> list:
    """Benchmark rows (per-task ``accuracies``, the same tasks for both methods of a run)."""
    from graphfm.stats import summarise

    return [{"target": r["held_out"], "task": "node", "shots": 1, "method": method, "variant": r["variant"],
             **summarise(r[f"{key}_accuracies"], r["seconds"])} for r in runs for key, method in METHODS.items()]


def runs_of(part: dict) -> list:
    """The runs of a written file, accuracies re-attached from its rows (files written before the
    rows carried them hold whole runs in ``rows``)."""
    if "runs" not in part:
        return [{"held_out": "CiteSeer", **r} for r in part["rows"]]
    acc = {(r["variant"], r["target"], r["method"]): r["accuracies"] for r in part["rows"]}
    return [{**run, **{f"{key}_accuracies": acc[(run["variant"], run["held_out"], method)]
                       for key, method in METHODS.items()}} for run in part["runs"]]


def write(out: Path, runs: list, tasks: int, seeds: int) -> None:
    from graphfm.bench.base import write_results

    meta = [{k: v for k, v in r.items() if not k.endswith("_accuracies")} for r in runs]
    write_results(out.parent, out.name, bench_rows(runs), extra_md=markdown(runs, tasks, seeds),
                  columns=("variant", "target", "method", "mean", "std", "n", "seconds"),
                  extra={"tasks": tasks, "seeds": seeds, "runs": meta})


def main() -> None:
    from graphfm.stats import format_interval

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path without suffix")
    parser.add_argument("--group", choices=sorted(GROUPS), default="mix")
    parser.add_argument("--held-out", nargs="+", default=["CiteSeer"], choices=CORA_SOURCES)
    parser.add_argument("--only", nargs="+", help="run these variants of the group only")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/samgpt-sources")
    parser.add_argument("--merge", nargs="+", help="only merge these <out>.json files (runs of subsets)")
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        found = {(r["variant"], r["held_out"]): r for part in parts for r in runs_of(part)}
        order = [label for group in GROUPS.values() for label in group]
        rows = sorted(found.values(), key=lambda r: (order.index(r["variant"]) if r["variant"] in order else 99,
                                                     CORA_SOURCES.index(r["held_out"])))
        return write(Path(args.out), rows, parts[0]["tasks"], parts[0]["seeds"])
    variants = GROUPS[args.group]
    unknown = set(args.only or []) - set(variants)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)} of group {args.group}; valid: {sorted(variants)}")
    rows = []
    for label, variant in variants.items():
        if args.only and label not in args.only:
            continue
        for held_out in args.held_out:
            rows.append(measure(label, variant, held_out, Path(args.work), args.tasks, args.seeds))
            d = rows[-1]["difference"]
            print(f"{label} / {held_out}: {rows[-1]['pretrained_mean']:.2f} vs {rows[-1]['untrained_mean']:.2f} "
                  f"({format_interval(d)})", flush=True)
    write(Path(args.out), rows, args.tasks, args.seeds)


if __name__ == "__main__":
    main()

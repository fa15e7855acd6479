"""Does SAMGPT's cross-domain pretraining help as an *initialisation* for self-supervised
training on the target? (continued pretraining, ``trainer.init_from``)

For each target, with its leave-one-out config ``configs/samgpt/<target>.yaml`` (one pretraining
seed, the config's seed), four networks of the same architecture are adapted with the default
adaptation (self-supervised prompts, then one-shot tuning) on the very same one-shot node tasks:

* ``samgpt``: pretrained on the other domains (the committed config; ``--before-rotation``
  pretrains without the basis rotation, as the table was first measured);
* ``samgpt_target_ssl``: that checkpoint trained further on the unlabelled target alone, with the
  config's objective, optimiser and stopping rule (``trainer.init_from``);
* ``target_ssl``: the same training on the target from a random initialisation;
* ``no_pretrain``: the network untrained (``untrained_copy(0)``).

``samgpt_target_ssl − target_ssl`` is what the other domains add to training on the target alone.
Nothing here chooses a default: every method runs with the committed settings.

    PYTHONPATH=. python scripts/studies/samgpt_continued.py --out results/studies/samgpt_continued [--targets Cora ...]
    PYTHONPATH=. python scripts/studies/samgpt_continued.py --out OUT --merge a.json b.json   # runs of subsets

writes ``<out>.json`` (rows with per-task ``accuracies``, the same tasks for every method of a
target) and ``<out>.md`` (means and paired differences with 95 % intervals).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: The objective before the basis rotation became the configs' default (``--before-rotation``).
#: Training on the target alone never rotates (on one domain the rotation only discards that
#: domain's basis), as the bench's ``target_ssl`` does.
BEFORE_ROTATION = ["objective.rotate_features=false"]
METHODS = ("samgpt", "samgpt_target_ssl", "target_ssl", "no_pretrain")
PAIRS = (("samgpt_target_ssl", "target_ssl"), ("samgpt_target_ssl", "no_pretrain"), ("samgpt", "no_pretrain"),
         ("target_ssl", "no_pretrain"))


def measure(target: str, work: Path, tasks: int, seeds: int, source_args: list) -> list:
    from graphfm.adapt import few_shot_target
    from graphfm.data import load_graph
    from graphfm.bench.samgpt import _pretrain

    work = work / target
    times = {}
    t0 = time.perf_counter()
    model = _pretrain(target, work / "sources", None, False, source_args)
    times["samgpt"] = time.perf_counter() - t0
    own_args = [f"data.datasets=[{target}]", *BEFORE_ROTATION]
    t0 = time.perf_counter()
    own = _pretrain(target, work / "target", None, False, own_args)
    times["target_ssl"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cont = _pretrain(target, work / "continued", None, False, own_args + [f"trainer.init_from={work / 'sources'}"])
    times["samgpt_target_ssl"] = time.perf_counter() - t0
    times["no_pretrain"] = 0.0
    data, _, labels = few_shot_target(load_graph(target))
    nets = {"samgpt": model, "samgpt_target_ssl": cont, "target_ssl": own, "no_pretrain": model.untrained_copy(seed=0)}
    return adapt_rows(target, nets, times, data, labels, tasks, seeds)


def adapt_rows(target: str, nets: dict, times: dict, graph, labels, tasks: int, seeds: int) -> list:
    """One row per network (in ``nets``' order): one-shot node accuracy under the default
    adaptation on the same tasks, with its training seconds from ``times``."""
    from graphfm.adapt import PromptConfig, adapt_model
    from graphfm.bench.samgpt import ADAPT
    from graphfm.stats import summarise

    rows = []
    for method, net in nets.items():
        t0 = time.perf_counter()
        res = adapt_model(net, graph, labels, "node", 1, tasks, seeds, method="prompt", config=PromptConfig(),
                          **ADAPT)
        rows.append({"target": target, "task": "node", "shots": 1, "method": method,
                     "train_seconds": round(times[method], 1),
                     **summarise(res["accuracies"], time.perf_counter() - t0, digits=2)})
        print(f"{target} {method}: {rows[-1]['mean']:.2f}", flush=True)
    return rows


def markdown(rows: list, tasks: int, seeds: int, rotation: bool) -> str:
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval, paired_difference

    by = {(r["target"], r["method"]): r for r in rows}
    targets = list(dict.fromkeys(r["target"] for r in rows))
    lines = ["", "## One-shot node accuracy (%), default adaptation", "",
             f"{tasks} tasks x {seeds} seeds per target, every method on the same tasks; one pretraining seed. "
             "Training seconds: pretraining on the sources, or the training on the target. Basis rotation: "
             + ("while pretraining on the sources (the configs' default), never on the target." if rotation else
                "none (measured before it became the configs' default)."), ""]
    lines += markdown_table(["target", *METHODS], [
        [t, *(f"{by[(t, m)]['mean']:.2f} ({by[(t, m)]['train_seconds']:.0f} s)" for m in METHODS)] for t in targets])
    lines += ["", "## Paired differences (points, 95 % t-interval over the tasks)", ""]
    pooled = {p: ([], []) for p in PAIRS}
    table = []
    for t in targets:
        cells = []
        for a, b in PAIRS:
            d = paired_difference(by[(t, a)]["accuracies"], by[(t, b)]["accuracies"])
            pooled[(a, b)][0].extend(by[(t, a)]["accuracies"])
            pooled[(a, b)][1].extend(by[(t, b)]["accuracies"])
            cells.append(format_interval(d))
        table.append([t, *cells])
    if len(targets) > 1:
        table.append(["all (pooled)", *(format_interval(paired_difference(*pooled[pair])) for pair in PAIRS)])
    lines += markdown_table(["target", *(f"{a} − {b}" for a, b in PAIRS)], table)
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list, tasks: int, seeds: int, rotation: bool) -> None:
    from graphfm.bench.base import write_results

    write_results(out.parent, out.name, rows, extra_md=markdown(rows, tasks, seeds, rotation),
                  columns=("target", "method", "mean", "std", "n", "train_seconds", "seconds"),
                  extra={"tasks": tasks, "seeds": seeds, "rotation": rotation})


def main() -> None:
    from graphfm.bench.samgpt import TARGETS

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path without suffix")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/samgpt-continued")
    parser.add_argument("--merge", nargs="+", help="only merge these <out>.json files (runs of subsets)")
    parser.add_argument("--before-rotation", action="store_true",
                        help="pretrain on the sources without the basis rotation (the committed table before it)")
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        rows = [r for part in parts for r in part["rows"]]
        rows.sort(key=lambda r: (TARGETS.index(r["target"]), METHODS.index(r["method"])))
        return write(Path(args.out), rows, parts[0]["tasks"], parts[0]["seeds"], parts[0].get("rotation", False))
    source_args = BEFORE_ROTATION if args.before_rotation else []
    rows = [r for target in args.targets
            for r in measure(target, Path(args.work), args.tasks, args.seeds, source_args)]
    write(Path(args.out), rows, args.tasks, args.seeds, not args.before_rotation)


if __name__ == "__main__":
    main()

"""Choose UniGraph2's objective defaults on the *sources* only (no target label is read).

Pretrains on the sources of the Cora-TAG setting (CiteSeer-TAG, digits-graph, Photo,
Computers; pretraining seed ``--seed``) with each variant and measures, against the same
network untrained:

* few-shot prototype accuracy on the labelled *source* graphs Photo and Computers (in-domain;
  CiteSeer-TAG's labels are never read: it is the other held-out target), and on
  FacebookPagePage-TAG (page names as text: a source where a variant adds it, else held out);
* the effective rank of the embeddings of those graphs and CiteSeer-TAG (label-free).

    PYTHONPATH=. python scripts/studies/unigraph2_defaults.py --out results/studies/unigraph2_regularisation [--steps 300]
        [--only LABEL ...] [--shots 1 5] [--seed S] [--tasks 100] [--work DIR --reuse]
    PYTHONPATH=. python scripts/studies/unigraph2_defaults.py --out results/studies/unigraph2_regularisation \
        --merge a.json b.json      # pool runs of several seeds (or variant subsets)

writes ``<out>.json`` (benchmark rows with per-task ``accuracies`` of the pretrained model and
its untrained copy, plus each run's ranks and time) and ``<out>.md``.

The variants change the committed config (``configs/unigraph2/pretrain.yaml``) by the options given.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

#: Options over the committed config. Every variant spells out the settings it was measured with
#: (the config's defaults have changed since), so a rerun measures the same.
VICREG_1 = {"var_weight": 1.0, "cov_weight": 0.04}
NO_VICREG = {"var_weight": 0.0, "cov_weight": 0.0}
VARIANTS = {
    "gnn decoder, mask 0.5 (previous default)": {"decoder": "gnn", "mask_rate": 0.5, "num_layers": 2, **NO_VICREG},
    "gnn decoder, mask 0.5, VICReg": {"decoder": "gnn", "mask_rate": 0.5, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.5": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 2, **NO_VICREG},
    "3 layers, no VICReg": {"mask_rate": 0.5, **NO_VICREG},
    "mlp decoders, mask 0.5, VICReg": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.1, VICReg": {"decoder": "mlp", "mask_rate": 0.1, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.5, VICReg, 3 layers": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 3, **VICREG_1},
    "3 layers, VICReg (1.0 / 0.04, the previous default)": {"mask_rate": 0.5, **VICREG_1},
    "3 layers, VICReg, DGI 1.0": {"mask_rate": 0.5, "contrast_weight": 1.0, **VICREG_1},
    "3 layers, DGI 1.0, no VICReg": {"mask_rate": 0.5, "contrast_weight": 1.0, **NO_VICREG},
    "3 layers, VICReg, DGI 0.3": {"mask_rate": 0.5, "contrast_weight": 0.3, **VICREG_1},
    "3 layers, VICReg x0.25": {"mask_rate": 0.5, "var_weight": 0.25, "cov_weight": 0.01},
    "3 layers, VICReg x0.25, DGI 1.0": {"mask_rate": 0.5, "var_weight": 0.25, "cov_weight": 0.01, "contrast_weight": 1.0},
    "3 layers, VICReg x0.1": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004},
    "3 layers, VICReg x0.5": {"mask_rate": 0.5, "var_weight": 0.5, "cov_weight": 0.02},
    "3 layers, VICReg x0.1, residual": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004, "residual": True},
    "3 layers, VICReg x0.1, width 384": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004, "hidden_dim": 384},
    "3 layers, VICReg x0.1, + FacebookPagePage-TAG": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004,
                                                      "graphs": [{"name": "FacebookPagePage-TAG", "weight": 4.0}]},
    "3 layers, VICReg x0.1, + FacebookPagePage-TAG at weight 1": {
        "mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004,
        "graphs": [{"name": "FacebookPagePage-TAG", "weight": 1.0}]},
    "3 layers, VICReg x0.1, mask 0.25": {"var_weight": 0.1, "cov_weight": 0.004, "mask_rate": 0.25},
    "3 layers, VICReg x0.1, mask 0.75": {"var_weight": 0.1, "cov_weight": 0.004, "mask_rate": 0.75},
    "3 layers, VICReg x0.1, no SPD": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004, "spd_weight": 0.0},
    "3 layers, VICReg x0.1, SPD 1.0": {"mask_rate": 0.5, "var_weight": 0.1, "cov_weight": 0.004, "spd_weight": 1.0},
    "3 layers, VICReg x0.25, mask 0.25": {"var_weight": 0.25, "cov_weight": 0.01, "mask_rate": 0.25},
}
#: Variant options that set the model, not the objective.
MODEL_OPTIONS = ("num_layers", "residual", "hidden_dim")


GRAPHS = ("Photo", "Computers", "CiteSeer-TAG", "FacebookPagePage-TAG")
#: Sources of every variant, scored in-domain (the "own accuracy" of a variant).
IN_DOMAIN = ("Photo", "Computers")
#: CiteSeer-TAG's labels are never read: it is the other held-out target. FacebookPagePage-TAG is a
#: source of the variants that add it (option ``graphs``) and held out from the others.
SCORED = IN_DOMAIN + ("FacebookPagePage-TAG",)


def measure(label: str, options: dict, base: dict, graphs: dict, args: argparse.Namespace) -> tuple:
    """Pretrain one variant with seed ``args.seed``; score it and its untrained copy on the same
    tasks. Returns benchmark rows (per-task ``accuracies``) and a record of ranks and time."""
    from graphfm.adapt import prototype_accuracy, sample_tasks
    from graphfm.bench.unigraph2 import _pretrain
    from graphfm.models.unigraph2 import UniGraph2
    from graphfm.stats import effective_rank, summarise

    options = dict(options)
    cfg = copy.deepcopy(base)
    cfg["seed"] = args.seed
    cfg["model"].update({k: options.pop(k) for k in MODEL_OPTIONS if k in options})
    cfg["data"]["graphs"] += options.pop("graphs", [])
    cfg["objective"].update(options)
    start = time.perf_counter()
    run_dir = Path(args.work) / f"{label.replace(' ', '_').replace(',', '').replace('+_', '')}_seed{args.seed}"
    if not (args.reuse and (run_dir / "model.safetensors").is_file()):
        _pretrain(cfg, run_dir)
    model = UniGraph2.from_pretrained(run_dir)
    methods = {"unigraph2": model, "random_init": model.untrained_copy(seed=args.seed)}
    rows, ranks = [], {}
    for name, data in graphs.items():
        feats, masks = model.prepare(data, progress=False)
        emb = {m: net.embed_features(feats, masks, data.edge_index) for m, net in methods.items()}
        ranks[name] = effective_rank(emb["unigraph2"]) / effective_rank(emb["random_init"])
        if name in SCORED:
            for shots in args.shots:
                few = sample_tasks(data.y, shots, args.tasks, seed=0)
                for method, e in emb.items():
                    t = time.perf_counter()
                    rows.append({"target": name, "task": "node", "shots": shots, "method": method, "variant": label,
                                 "seed": args.seed, **summarise(prototype_accuracy(e, few), time.perf_counter() - t)})
    return rows, {"variant": label, "seed": args.seed, "ranks": ranks, "seconds": time.perf_counter() - start}


def differences(rows: list) -> dict:
    """``{(variant, seed, "target k"): [pretrained - untrained per task]}`` from paired rows."""
    index = {(r["variant"], r["seed"], f"{r['target']} {r['shots']}", r["method"]): r["accuracies"] for r in rows}
    return {key[:3]: [a - b for a, b in zip(acc, index[key[:3] + ("random_init",)])]
            for key, acc in index.items() if key[3] == "unigraph2"}


def markdown(rows: list, records: list, steps: int, tasks: int) -> str:
    """One line per variant: paired differences pooled over the seeds it ran with."""
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval, paired_difference

    diff = differences(rows)
    keys = list(dict.fromkeys(k[2] for k in diff))
    seeds = sorted({r["seed"] for r in records})
    lines = ["", f"## Pretrained − untrained, pooled over the pretraining seeds {seeds}", "",
             f"{steps} pretraining steps; prototypes, {tasks} tasks per seed, on the source graphs Photo and "
             "Computers (and FacebookPagePage-TAG, a source of the variant that adds it and held out from the others); "
             "effective rank of the embeddings (label-free) of Photo, Computers, CiteSeer-TAG and FacebookPagePage-TAG. "
             "Δ = pretrained − untrained (the same network, `untrained_copy(seed)`), pooled over the seeds; "
             "[95 % t-interval over the pooled tasks] and (each seed's mean) when there is more than one seed; the "
             "interval does not cover the variation between pretraining seeds, which the per-seed means show.", ""]
    header = ["variant", *(f"{k}-shot Δ" for k in keys), "pretrained accuracy (mean of the Photo and Computers cells)",
              f"rank ratio {GRAPHS[0]}", *GRAPHS[1:], "seconds"]
    table = []
    for label in dict.fromkeys(r["variant"] for r in records):
        runs = [r for r in records if r["variant"] == label]
        cells = []
        for k in keys:
            if any((label, r["seed"], k) not in diff for r in runs):   # a graph this run did not score
                cells.append("–")
                continue
            per_run = [diff[(label, r["seed"], k)] for r in runs]
            pooled = [d for run in per_run for d in run]
            if len(runs) > 1:
                pd = paired_difference(pooled, [0.0] * len(pooled))
                per_seed = " / ".join(f"{sum(run) / len(run):+.1f}" for run in per_run)
                cells.append(f"{format_interval(pd)} ({per_seed})")
            else:
                cells.append(f"{sum(pooled) / len(pooled):+.2f}")
        ranks = [f"{sum(r['ranks'][g] for r in runs) / len(runs):.2f}" if all(g in r["ranks"] for r in runs)
                 else "–" for g in GRAPHS]
        secs = sum(r["seconds"] for r in runs) / len(runs)
        own = [r["mean"] for r in rows if r["variant"] == label and r["method"] == "unigraph2"
               and r["target"] in IN_DOMAIN]
        table.append([label, *cells, f"{sum(own) / len(own):.2f}", *ranks, f"{secs:.0f}"])
    return "\n".join(lines + markdown_table(header, table)) + "\n"


def write(out: Path, rows: list, records: list, steps: int, tasks: int) -> None:
    """``out`` (``.json``) and its ``.md``: the benchmark rows, then the paired summary."""
    from graphfm.bench.base import write_results

    write_results(out.parent, out.stem, rows, extra_md=markdown(rows, records, steps, tasks),
                  columns=("variant", "seed", "target", "shots", "method", "mean", "std", "n"),
                  extra={"steps": steps, "tasks": tasks, "records": records})


def main() -> None:
    from graphfm.bench.unigraph2 import ensure_image_encoder, experiment, sources_for
    from graphfm.data import load_graph

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path; writes <out>.json and <out>.md")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--work", default="/tmp/unigraph2-defaults")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants only")
    parser.add_argument("--shots", nargs="+", type=int, default=[5])
    parser.add_argument("--seed", type=int, default=0, help="pretraining seed")
    parser.add_argument("--reuse", action="store_true",
                        help="score a finished run of the same variant and seed in --work instead of pretraining")
    parser.add_argument("--merge", nargs="+", help="only merge these <out>.json files (runs of subsets or seeds)")
    args = parser.parse_args()
    out = Path(args.out).with_suffix("")
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        return write(out, [r for p in parts for r in p["rows"]], [r for p in parts for r in p["records"]],
                     parts[0]["steps"], parts[0]["tasks"])
    base = sources_for(experiment(steps=args.steps), "Cora-TAG")
    ensure_image_encoder(base, None)
    graphs = {name: load_graph(name) for name in GRAPHS}
    rows, records = [], []
    for label, options in VARIANTS.items():
        if not args.only or label in args.only:
            new_rows, record = measure(label, options, base, graphs, args)
            rows += new_rows
            records.append(record)
            print(label, {k[2]: round(sum(v) / len(v), 2) for k, v in differences(new_rows).items()}, flush=True)
    write(out, rows, records, args.steps, args.tasks)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

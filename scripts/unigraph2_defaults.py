"""Choose UniGraph2's objective defaults on the *sources* only (no target label is read).

Pretrains on the sources of the Cora-TAG setting (CiteSeer-TAG, digits-graph, Photo,
Computers; pretraining seed ``--seed``) with each variant and measures, against the same
network untrained:

* few-shot prototype accuracy on the labelled *source* graphs Photo and Computers (in-domain;
  CiteSeer-TAG's labels are never read: it is the other held-out target);
* the effective rank of the embeddings of Photo, Computers and CiteSeer-TAG (label-free).

    PYTHONPATH=. python scripts/unigraph2_defaults.py --out results/unigraph2_defaults.md [--steps 300]
        [--only LABEL ...] [--shots 1 5] [--seed S]
    PYTHONPATH=. python scripts/unigraph2_defaults.py --out results/unigraph2_defaults.md \
        --merge a.json b.json      # pool runs of several seeds (or variant subsets)

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
#: (the config's defaults have changed since: 3 layers, VICReg 0.25 / 0.01), so a rerun measures the same.
VICREG_1 = {"var_weight": 1.0, "cov_weight": 0.04}
NO_VICREG = {"var_weight": 0.0, "cov_weight": 0.0}
VARIANTS = {
    "gnn decoder, mask 0.5 (previous default)": {"decoder": "gnn", "mask_rate": 0.5, "num_layers": 2, **NO_VICREG},
    "gnn decoder, mask 0.5, VICReg": {"decoder": "gnn", "mask_rate": 0.5, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.5": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 2, **NO_VICREG},
    "3 layers, no VICReg": {**NO_VICREG},
    "mlp decoders, mask 0.5, VICReg": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.1, VICReg": {"decoder": "mlp", "mask_rate": 0.1, "num_layers": 2, **VICREG_1},
    "mlp decoders, mask 0.5, VICReg, 3 layers": {"decoder": "mlp", "mask_rate": 0.5, "num_layers": 3, **VICREG_1},
    "3 layers, VICReg (1.0 / 0.04, the previous default)": {**VICREG_1},
    "3 layers, VICReg, DGI 1.0": {"contrast_weight": 1.0, **VICREG_1},
    "3 layers, DGI 1.0, no VICReg": {"contrast_weight": 1.0, **NO_VICREG},
    "3 layers, VICReg, DGI 0.3": {"contrast_weight": 0.3, **VICREG_1},
    "3 layers, VICReg x0.25": {"var_weight": 0.25, "cov_weight": 0.01},
    "3 layers, VICReg x0.25, DGI 1.0": {"var_weight": 0.25, "cov_weight": 0.01, "contrast_weight": 1.0},
    "3 layers, VICReg x0.1": {"var_weight": 0.1, "cov_weight": 0.004},
    "3 layers, VICReg x0.5": {"var_weight": 0.5, "cov_weight": 0.02},
}


GRAPHS = ("Photo", "Computers", "CiteSeer-TAG")
SCORED = ("Photo", "Computers")      # CiteSeer-TAG's labels are never read: it is the other held-out target


def measure(label: str, options: dict, base: dict, graphs: dict, args: argparse.Namespace) -> dict:
    """Pretrain one variant with seed ``args.seed``; per-task differences to its untrained copy."""
    from graphfm.adapt import prototype_accuracy, sample_tasks
    from graphfm.bench.unigraph2 import _pretrain
    from graphfm.models.unigraph2 import UniGraph2
    from graphfm.stats import effective_rank

    options = dict(options)
    cfg = copy.deepcopy(base)
    cfg["seed"] = args.seed
    layers = options.pop("num_layers", None)
    cfg["objective"].update(options)
    if layers:
        cfg["model"]["num_layers"] = layers
    start = time.perf_counter()
    run_dir = Path(args.work) / f"{label.replace(' ', '_').replace(',', '')}_seed{args.seed}"
    _pretrain(cfg, run_dir)
    model = UniGraph2.from_pretrained(run_dir)
    untrained = model.untrained_copy(seed=args.seed)
    cells, ranks = {}, {}
    for name, data in graphs.items():
        feats, masks = model.prepare(data, progress=False)
        pre = model.embed_features(feats, masks, data.edge_index)
        raw = untrained.embed_features(feats, masks, data.edge_index)
        ranks[name] = effective_rank(pre) / effective_rank(raw)
        if name in SCORED:
            for shots in args.shots:
                few = sample_tasks(data.y, shots, args.tasks, seed=0)
                cells[f"{name} {shots}"] = (prototype_accuracy(pre, few) - prototype_accuracy(raw, few)).tolist()
    return {"variant": label, "seed": args.seed, "cells": cells, "ranks": ranks,
            "seconds": time.perf_counter() - start}


def markdown(records: list, steps: int, tasks: int) -> str:
    """One row per variant: paired differences pooled over the seeds it ran with."""
    from graphfm.stats import paired_difference

    keys = list(dict.fromkeys(k for r in records for k in r["cells"]))
    seeds = sorted({r["seed"] for r in records})
    lines = [f"# UniGraph2 defaults, measured on the sources (Cora-TAG setting, pretraining seeds {seeds})", "",
             f"{steps} pretraining steps; prototypes, {tasks} tasks per seed, on the source graphs Photo and "
             "Computers; effective rank of the embeddings (label-free) of Photo, Computers and CiteSeer-TAG. "
             "Δ = pretrained − untrained (the same network, `untrained_copy(seed)`), pooled over the seeds; "
             "[95 % t-interval over the pooled tasks] and (each seed's mean) when there is more than one seed; the "
             "interval does not cover the variation between pretraining seeds, which the per-seed means show.", "",
             "| variant | " + " | ".join(f"{k}-shot Δ" for k in keys) + " | rank ratio " +
             " | ".join(GRAPHS) + " | seconds |", "|---|" + "---|" * (len(keys) + len(GRAPHS) + 1)]
    for label in dict.fromkeys(r["variant"] for r in records):
        runs = [r for r in records if r["variant"] == label]
        cells = []
        for k in keys:
            diffs = [d for r in runs for d in r["cells"].get(k, [])]
            if len(runs) > 1:
                pd = paired_difference(diffs, [0.0] * len(diffs))
                per_seed = " / ".join(f"{sum(r['cells'][k]) / len(r['cells'][k]):+.1f}" for r in runs)
                cells.append(f"{pd['diff']:+.2f} [{pd['low']:+.2f}, {pd['high']:+.2f}] ({per_seed})")
            else:
                cells.append(f"{sum(diffs) / len(diffs):+.2f}")
        ranks = [f"{sum(r['ranks'][g] for r in runs) / len(runs):.2f}" for g in GRAPHS]
        secs = sum(r["seconds"] for r in runs) / len(runs)
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ranks) + f" | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from graphfm.bench.unigraph2 import ensure_image_encoder, experiment, sources_for
    from graphfm.engine.datamodules.multimodal_graph import load_graph

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="Markdown file; the per-task differences go to the same name with .json")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--work", default="/tmp/unigraph2-defaults")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants only")
    parser.add_argument("--shots", nargs="+", type=int, default=[5])
    parser.add_argument("--seed", type=int, default=0, help="pretraining seed")
    parser.add_argument("--merge", nargs="+", help="only merge these <out>.json files into --out")
    args = parser.parse_args()
    out = Path(args.out)
    if args.merge:
        records = [r for f in args.merge for r in json.loads(Path(f).read_text())["records"]]
        meta = json.loads(Path(args.merge[0]).read_text())
        out.with_suffix(".json").write_text(json.dumps({**meta, "records": records}, indent=1))
        out.write_text(markdown(records, meta["steps"], meta["tasks"]))
        return
    base = sources_for(experiment(steps=args.steps), "Cora-TAG")
    ensure_image_encoder(base, None)
    graphs = {name: load_graph(name) for name in GRAPHS}
    records = []
    for label, options in VARIANTS.items():
        if not args.only or label in args.only:
            records.append(measure(label, options, base, graphs, args))
            print(label, {k: round(sum(v) / len(v), 2) for k, v in records[-1]["cells"].items()}, flush=True)
    data = {"steps": args.steps, "tasks": args.tasks, "records": records}
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    out.write_text(markdown(records, args.steps, args.tasks))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

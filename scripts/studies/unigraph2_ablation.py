"""Diagnostic ablations of UniGraph2 pretraining on held-out Cora-TAG (seed 0).

Not used to choose any default (those come from scripts/studies/unigraph2_defaults.py, on the
sources): this only tells which part of the pretraining moves the held-out score.
Each variant is pretrained on the Cora-TAG sources of `graphfm bench unigraph2` and
scored against the same network untrained, on the same 1- and 5-shot tasks.

    PYTHONPATH=. python scripts/studies/unigraph2_ablation.py --out results/studies/unigraph2_ablation.md
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

VARIANTS = {
    # results/studies/unigraph2_ablation.md labels this row with the default of its time (mask 0.5, VICReg 1.0 / 0.04)
    "bench default (configs/unigraph2/pretrain.yaml as committed)": ({}, {}),
    "without VICReg": ({"var_weight": 0.0, "cov_weight": 0.0}, {}),
    "without domain tokens": ({"domain_tokens": False}, {}),
    "CiteSeer-TAG text only (no digits, Photo, Computers)": ({}, {"text_only": True}),
    "without VICReg and without domain tokens": ({"var_weight": 0.0, "cov_weight": 0.0, "domain_tokens": False}, {}),
}


def main() -> None:
    from graphfm.adapt import prototype_accuracy, sample_tasks
    from graphfm.bench.unigraph2 import _pretrain, ensure_image_encoder, experiment, sources_for
    from graphfm.data import load_graph
    from graphfm.models.unigraph2 import UniGraph2
    from graphfm.report import markdown_row, markdown_table
    from graphfm.stats import effective_rank, format_interval, paired_difference

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--work", default="/tmp/unigraph2-ablation")
    parser.add_argument("--append", action="store_true", help="add the variants whose rows --out lacks")
    args = parser.parse_args()
    base = sources_for(experiment(), "Cora-TAG")
    ensure_image_encoder(base, None)
    data = load_graph("Cora-TAG")
    lines = ["# UniGraph2 ablations on held-out Cora-TAG (diagnostic; seed 0)", "",
             f"Pretrained − untrained (same network, `untrained_copy(0)`), the same {args.tasks} tasks, paired 95 % "
             "t-interval; rank ratio = effective rank of the scored embeddings / untrained.", "",
             *markdown_table(["variant", "1-shot", "5-shot", "rank ratio"], [])]
    if args.append and Path(args.out).is_file():
        lines = Path(args.out).read_text().splitlines()
    for label, (objective, other) in VARIANTS.items():
        if any(line.startswith(f"| {label} |") for line in lines):
            continue
        cfg = copy.deepcopy(base)
        cfg["objective"].update(objective)
        if other.get("text_only"):
            cfg["data"]["graphs"] = [g for g in cfg["data"]["graphs"] if g["name"] == "CiteSeer-TAG"]
            cfg["data"]["modalities"] = {"text": cfg["data"]["modalities"]["text"]}
        run_dir = Path(args.work) / f"v{len(lines)}"
        _pretrain(cfg, run_dir)
        model = UniGraph2.from_pretrained(run_dir)
        feats, masks = model.prepare(data, progress=False)
        pre = model.embed_features(feats, masks, data.edge_index)
        raw = model.untrained_copy(seed=0).embed_features(feats, masks, data.edge_index)
        cells = []
        for k in (1, 5):
            few = sample_tasks(data.y, k, args.tasks, seed=0)
            d = paired_difference(prototype_accuracy(pre, few), prototype_accuracy(raw, few))
            cells.append(format_interval(d))
        lines.append(markdown_row([label, *cells, f"{effective_rank(pre) / effective_rank(raw):.2f}"]))
        print(lines[-1], flush=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

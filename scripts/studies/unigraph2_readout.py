"""Which UniGraph2 layer output to score, measured on the *sources* only (no target label is read).

UniGraph2 scores the last GNN layer's output. A jumping-knowledge readout that also keeps the
GNN's input (the fused, MoE-aligned modalities) or every layer might keep the fine detail that
5-shot prototypes and the linear probe need. This script scores parameter-free readouts of
checkpoints pretrained on the Cora-TAG setting's sources (``scripts/studies/unigraph2_defaults.py`` with
the committed defaults writes them) and of their untrained copies, in-domain on the labelled
sources Photo and Computers, 1- and 5-shot prototypes, 100 tasks per checkpoint:

* ``last``: the last layer (what UniGraph2 scores);
* ``input + last``: the GNN's input and the last layer, each column standardised, concatenated;
* ``all layers``: the input and every layer so, concatenated;
* ``mean of layers``: the mean of the standardised layer outputs;
* ``last, centred``: the last layer minus its mean over the graph's nodes (label-free; SimpleShot's
  centring before the cosine, which an uncentred embedding with a large shared direction lacks).

``--graphs`` adds FacebookPagePage-TAG (a text graph held out from those sources) to the scored
graphs; ``--readouts`` restricts the readouts.

    PYTHONPATH=. python scripts/studies/unigraph2_defaults.py --only "3 layers, VICReg x0.1" --seed 0 --work W
    PYTHONPATH=. python scripts/studies/unigraph2_defaults.py --only "3 layers, VICReg x0.1" --seed 1 --work W
    PYTHONPATH=. python scripts/studies/unigraph2_readout.py --out results/studies/unigraph2_readout \\
        --runs W/3_layers_VICReg_x0.1_seed0 W/3_layers_VICReg_x0.1_seed1

writes ``<out>.json`` (rows with per-task ``accuracies``) and ``<out>.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch
from torch import Tensor

SCORED = ("Photo", "Computers")   # CiteSeer-TAG, also a source, is the other held-out target: never read
HELD_OUT = ("FacebookPagePage-TAG",)   # text, held out from the sources


def _z(e: Tensor) -> Tensor:
    return (e - e.mean(0)) / (e.std(0) + 1e-6)


READOUTS: Dict[str, Callable[[List[Tensor]], Tensor]] = {
    "last": lambda outs: outs[-1],
    "input + last": lambda outs: torch.cat([_z(outs[0]), _z(outs[-1])], dim=1),
    "all layers": lambda outs: torch.cat([_z(o) for o in outs], dim=1),
    "mean of layers": lambda outs: torch.stack([_z(o) for o in outs[1:]]).mean(0),
    "last, centred": lambda outs: outs[-1] - outs[-1].mean(0),
}


@torch.no_grad()
def layer_outputs(model, feats, masks, edge_index: Tensor) -> List[Tensor]:
    """The GNN's input and every layer's output ``[N, H]`` (eval mode, mean source tokens)."""
    model.eval()
    h = model.encode_inputs(feats, masks)[0]
    return model.propagate(h, edge_index, model.structure_scales(), all_layers=True)


def measure(run: Path, seed: int, tasks: int, graphs=SCORED, readouts=tuple(READOUTS)) -> list:
    from graphfm.adapt import prototype_accuracy, sample_tasks
    from graphfm.data import load_graph
    from graphfm.models.unigraph2 import UniGraph2
    from graphfm.stats import summarise

    model = UniGraph2.from_pretrained(run)
    nets = {"unigraph2": model, "random_init": model.untrained_copy(seed=seed)}
    rows = []
    for name in graphs:
        data = load_graph(name)
        feats, masks = model.prepare(data, progress=False)
        outs = {m: layer_outputs(net, feats, masks, data.edge_index) for m, net in nets.items()}
        assert torch.allclose(outs["unigraph2"][-1], model.embed_features(feats, masks, data.edge_index), atol=1e-5)
        for shots in (1, 5):
            few = sample_tasks(data.y, shots, tasks, seed=0)
            for readout in readouts:
                fn = READOUTS[readout]
                for method, o in outs.items():
                    t = time.perf_counter()
                    acc = prototype_accuracy(fn(o), few)
                    rows.append({"target": name, "task": "node", "shots": shots, "readout": readout,
                                 "method": method, "seed": seed, **summarise(acc, time.perf_counter() - t)})
    return rows


def markdown(rows: list) -> str:
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval as interval, paired_difference

    cells = list(dict.fromkeys((r["target"], r["shots"]) for r in rows))
    index = {(r["readout"], r["target"], r["shots"], r["method"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})

    def pooled(readout: str, target: str, shots: int, method: str = "unigraph2") -> list:
        return [x for s in seeds for x in index[(readout, target, shots, method, s)]["accuracies"]]

    lines = ["", "## Readouts, pretrained (and − untrained), pooled over the checkpoints", "",
             f"Prototype accuracy of the pretrained model (mean over the tasks of seeds {seeds}) and, in brackets, "
             "its paired difference to the same network untrained with the same readout.", ""]
    columns = [f"{t} {k}-shot" for t, k in cells]
    table = []
    for readout in dict.fromkeys(r["readout"] for r in rows):
        out = []
        for target, shots in cells:
            a = pooled(readout, target, shots)
            out.append(f"{sum(a) / len(a):.2f} ({interval(paired_difference(a, pooled(readout, target, shots, 'random_init')))})")
        table.append([readout, *out])
    lines += markdown_table(["readout", *columns], table)
    if not any(r["readout"] == "last" for r in rows):
        return "\n".join(lines) + "\n"
    lines += ["", "## Each readout − the last layer, pretrained model, the same tasks", "",
              "Paired difference [95 % t-interval] over the tasks of every checkpoint, per cell and pooled over the cells.",
              ""]
    table = []
    for readout in dict.fromkeys(r["readout"] for r in rows if r["readout"] != "last"):
        pairs = [(pooled(readout, t, k), pooled("last", t, k)) for t, k in cells]
        diffs = [paired_difference(a, b) for a, b in pairs]
        total = paired_difference([x for a, _ in pairs for x in a], [x for _, b in pairs for x in b])
        table.append([readout, *(interval(d) for d in diffs + [total])])
    lines += markdown_table(["readout", *columns, "pooled"], table)
    return "\n".join(lines) + "\n"


def main() -> None:
    from graphfm.bench.base import write_results

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path without suffix")
    parser.add_argument("--runs", nargs="+", required=True, help="checkpoints named ..._seed<S>")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--graphs", nargs="+", choices=SCORED + HELD_OUT, default=list(SCORED))
    parser.add_argument("--readouts", nargs="+", choices=list(READOUTS), default=list(READOUTS))
    args = parser.parse_args()
    rows = []
    for run in map(Path, args.runs):
        rows += measure(run, int(run.name.rsplit("seed", 1)[-1]), args.tasks, args.graphs, args.readouts)
    out = Path(args.out)
    write_results(out.parent, out.name, rows, extra_md=markdown(rows),
                  columns=("readout", "seed", "target", "shots", "method", "mean", "std", "n"))


if __name__ == "__main__":
    main()

"""Issue 23, point 8: does the bundled text checkpoint gain over the same config trained for 0 steps
on text graphs nobody here has seen, given as user files?

``configs/unigraph2/text.yaml`` is pretrained as ``graphfm pretrain --config unigraph2/text`` runs it
(Cora-TAG, CiteSeer-TAG, FacebookPagePage-TAG and Debian), and again with ``trainer.max_steps=0``;
both adapt through :func:`graphfm.adapt.run_adaptation` (what ``graphfm adapt --checkpoint RUN
--target FILE --shots K`` runs) to each unseen graph at 0 and 1 shots, on the same tasks (20 per
seed, 3 seeds). The unseen graphs come from :mod:`text_unseen_graphs` (manual pages as a ``.pt``
dict, SciPy's API as a ``nodes.csv``/``edges.csv`` folder) unless ``--graphs`` names others.

Usage::

    python scripts/studies/text_unseen.py --out results/studies/text_unseen
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

SHOTS = (0, 1)


def checkpoints(work: Path, data_root: str = None) -> Dict[str, Path]:
    from graphfm.config import resolve_config
    from graphfm.engine import pretrain

    cfg = resolve_config("unigraph2/text")
    runs = {"pretrained": work / "pretrained", "0_steps": work / "zero_steps"}
    pretrain(cfg, runs["pretrained"], data_root=data_root, overrides=["trainer.progress=false"], overwrite=True)
    pretrain(cfg, runs["0_steps"], data_root=data_root, overrides=["trainer.max_steps=0", "trainer.progress=false"],
             overwrite=True)
    return runs


def compare(runs: Dict[str, Path], graphs: List[str], tasks: int, seeds: int) -> List[Dict[str, Any]]:
    from graphfm.adapt import run_adaptation
    from graphfm.stats import paired_difference

    rows = []
    for graph in graphs:
        for shots in SHOTS:
            res = {name: run_adaptation(run, graph, shots=shots, tasks=tasks, seeds=seeds) for name, run in runs.items()}
            a, b = res["pretrained"], res["0_steps"]
            row = {"graph": Path(graph).stem, "shots": shots, "pretrained": a["mean"], "0_steps": b["mean"],
                   "difference": paired_difference(a["accuracies"], b["accuracies"]), "n": a["n"],
                   "label_rule": a.get("label_rule"), "accuracies": {k: r["accuracies"] for k, r in res.items()}}
            if "balanced_accuracies" in a:
                row["balanced"] = {k: r.get("balanced_mean") for k, r in res.items()}
            rows.append(row)
            print(f"{row['graph']} {shots}-shot: pretrained {a['mean']:.2f}, 0 steps {b['mean']:.2f}, "
                  f"difference {row['difference']['diff']:+.2f} [{row['difference']['low']:+.2f}, "
                  f"{row['difference']['high']:+.2f}]", flush=True)
    return rows


def write(out: Path, payload: Dict[str, Any]) -> None:
    from graphfm.io import write_json, write_text
    from graphfm.stats import format_interval

    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The text checkpoint on unseen text graphs (issue 23, point 8)", "",
             f"Machine: {payload['machine']}; {payload['seconds']:.0f} s. `configs/unigraph2/text.yaml` pretrained "
             "(200 steps) against the same config with `trainer.max_steps=0`, adapted with `run_adaptation` "
             f"({payload['tasks']} tasks x {payload['seeds']} seeds, the same tasks for both).", "",
             "| graph | shots | pretrained | 0 steps | difference [95 % CI] | tasks |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['graph']} | {r['shots']} | {r['pretrained']:.2f} | {r['0_steps']:.2f} | "
              f"{format_interval(r['difference'])} | {r['n']} |" for r in payload["rows"]]
    lines += ["", "Graphs: " + "; ".join(f"{g['name']}: {g['nodes']} nodes, {g['edges']} directed edges, "
                                          f"{g['classes']} classes" for g in payload["graphs"]), ""]
    write_json(out / "text_unseen.json", payload)
    write_text(out / "text_unseen.md", "\n".join(lines))


def main() -> None:
    from graphfm.data import load_graph

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/studies/text_unseen"))
    parser.add_argument("--work", type=Path, default=None, help="folder of the runs and built graphs")
    parser.add_argument("--graphs", nargs="*", default=None, help="text-graph files (default: build two)")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="text-unseen-") as tmp:
        work = args.work or Path(tmp)
        graphs = args.graphs
        if not graphs:
            from text_unseen_graphs import build_manpages, build_scipy

            graphs = [str(build_manpages(work)), str(build_scipy(work))]
        runs = checkpoints(work, args.data_root)
        rows = compare(runs, graphs, args.tasks, args.seeds)
        info = []
        for g in graphs:
            d = load_graph(g)
            info.append({"name": Path(g).stem, "nodes": int(d.num_nodes), "edges": int(d.edge_index.size(1)),
                         "classes": len(d.label_names)})
    write(args.out, {"rows": rows, "graphs": info, "tasks": args.tasks, "seeds": args.seeds,
                     "seconds": time.perf_counter() - start,
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"})
    print((args.out / "text_unseen.md").read_text())


if __name__ == "__main__":
    main()

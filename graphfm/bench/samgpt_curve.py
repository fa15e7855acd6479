"""``graphfm bench samgpt_curve``: what each amount of SAMGPT pretraining gives an unseen target.

For Cora and Photo, the target's leave-one-out config is pretrained once until the
training loss stops improving (``trainer.patience``), with snapshots after 20 and 100
steps; the default run (the config as it is) and the untrained network (0 steps) join
them. Every checkpoint gets the same adaptation (:class:`~graphfm.adapt.PromptConfig`)
on the same one-shot node tasks, so the points compare pair by pair.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.report import markdown_table
from graphfm.stats import format_interval, paired_difference

__all__ = ["run", "TARGETS", "SNAPSHOTS"]

TARGETS = ("Cora", "Photo")
SNAPSHOTS = (20, 100)
#: The convergence run: at most this many steps, stopped after ``PATIENCE`` without a lower loss.
MAX_STEPS, PATIENCE = 1000, 20
QUICK = {"targets": ["Cora"], "sources": ["CiteSeer", "LastFMAsia"], "snapshots": (2, 4), "max_steps": 8,
         "patience": 2, "tasks": 10, "seeds": 1}


@BENCHMARKS.register("samgpt_curve")
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, targets: Optional[Sequence[str]] = None,
        tasks: int = 100, seeds: int = 5, progress: bool = True) -> Dict[str, Any]:
    """Write ``out_dir/samgpt_curve.json``, ``.md`` and ``.png``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root.
        quick (bool): Tiny version for smoke tests. (default: ``False``)
        targets (Sequence[str], optional): Targets (default: :data:`TARGETS`).
        tasks (int): One-shot node tasks per seed. (default: ``100``)
        seeds (int): Seeds. (default: ``5``)
        progress (bool): Print a line per point. (default: ``True``)
    """
    snapshots, max_steps, patience = SNAPSHOTS, MAX_STEPS, PATIENCE
    if quick:
        targets = list(targets or QUICK["targets"])
        tasks, seeds = min(tasks, QUICK["tasks"]), min(seeds, QUICK["seeds"])
        snapshots, max_steps, patience = QUICK["snapshots"], QUICK["max_steps"], QUICK["patience"]
    start = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="samgpt_curve_") as tmp:
        for target in targets or TARGETS:
            rows += _target(target, Path(tmp) / target, data_root, quick, tasks, seeds, snapshots, max_steps,
                            patience, progress)
    total = round(time.perf_counter() - start, 1)
    png = _plot(rows, Path(out_dir) / "samgpt_curve.png")
    extra = {"total_seconds": total, "tasks": tasks, "seeds": seeds, "snapshots": list(snapshots),
             "max_steps": max_steps, "patience": patience, "quick": quick}
    return write_results(Path(out_dir), "samgpt_curve", rows, extra=extra, extra_md=_markdown(rows, png, total),
                         columns=("target", "task", "method", "steps", "mean", "std", "n", "seconds"))


def _target(target: str, root: Path, data_root: Optional[str], quick: bool, tasks: int, seeds: int,
            snapshots: Sequence[int], max_steps: int, patience: int, progress: bool) -> List[Dict[str, Any]]:
    import csv

    from graphfm.adapt import PromptConfig, adapt_model, few_shot_target
    from graphfm.data import load_graph
    from graphfm.bench.samgpt import _pretrain
    from graphfm.models import PretrainedModel

    default = _pretrain(target, root / "default", data_root, quick)
    steps_of_default = default_steps(root / "default")
    _pretrain(target, root / "long", data_root, quick,
              [f"trainer.max_steps={max_steps}", f"trainer.patience={patience}",
               f"trainer.snapshots=[{','.join(map(str, snapshots))}]"])
    log = list(csv.DictReader(open(root / "long" / "logs" / "metrics.csv")))
    last = max(int(r["step"]) for r in log) + 1
    best = max((float(r["train/best_loss"]), int(r["step"])) for r in log if r.get("train/best_loss"))
    points = [(0, "no_pretrain", default.untrained_copy(seed=0))]
    points += [(s, f"steps_{s}", PretrainedModel.from_pretrained(root / "long" / f"step_{s}")) for s in snapshots]
    points += [(steps_of_default, "default", default), (last, "converged", PretrainedModel.from_pretrained(root / "long"))]
    data, _, labels = few_shot_target(load_graph(target, root=data_root))
    rows = []
    for steps, name, model in points:
        res = adapt_model(model, data, labels, "node", 1, tasks, seeds, method="prompt", config=PromptConfig())
        rows.append({"target": target, "task": "node", "method": name, "steps": steps, "mean": res["mean"],
                     "std": res["std"], "n": res["n"], "seconds": res["seconds"], "shots": 1,
                     "protocol": "graphfm", "accuracies": res["accuracies"]})
        if name == "converged":
            rows[-1]["best_loss"] = best[0]
        if progress:
            print(f"[samgpt_curve] {target:<8} {name:<12} {steps:>5} steps  {res['mean']:6.2f} ± {res['std']:5.2f}",
                  flush=True)
    return rows


def default_steps(run_dir: Path) -> int:
    """Optimisation steps the run in ``run_dir`` made (from its resolved config)."""
    import yaml

    cfg = yaml.safe_load((run_dir / "experiment.yaml").read_text())
    return int(cfg["trainer"]["max_steps"])


def _markdown(rows: List[Dict[str, Any]], png: Optional[Path], total: float) -> str:
    lines = ["", "## One-shot node accuracy (%) after each amount of pretraining", "",
             "Same adaptation and the same tasks for every point; difference to the untrained network (0 steps) "
             "with its paired 95 % interval.", ""]
    table = []
    for target in dict.fromkeys(r["target"] for r in rows):
        by = {r["method"]: r for r in rows if r["target"] == target}
        for r in sorted(by.values(), key=lambda r: r["steps"]):
            d = paired_difference(r["accuracies"], by["no_pretrain"]["accuracies"])
            table.append([target, r["method"], r["steps"], r["mean"], format_interval(d)])
    lines += markdown_table(["target", "point", "steps", "accuracy", "− untrained (95 % CI)"], table)
    lines += ["", f"`converged`: stopped after {PATIENCE} steps without a lower training loss (at most {MAX_STEPS}), "
              "best weights kept; `default`: the config as committed.", ""]
    if png is not None:
        lines += [f"![pretraining curve]({png.name})", ""]
    return "\n".join(lines + [f"Total: {total} s.", ""])


def _plot(rows: List[Dict[str, Any]], png: Path) -> Optional[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphfm.io import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for target in dict.fromkeys(r["target"] for r in rows):
        pts = sorted((r["steps"], r["mean"]) for r in rows if r["target"] == target)
        ax.plot(*zip(*pts), marker="o", label=target)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("pretraining steps")
    ax.set_ylabel("one-shot node accuracy (%)")
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png

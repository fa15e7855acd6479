"""``graphfm bench text_curve``: the gain of pretraining over ``random_init`` against the number of text sources.

For each target of :data:`graphfm.bench.text.TARGETS`, the ``unigraph2`` text config is
pretrained once on all the other graphs; its statistics are kept per source domain, so the
model of a subset ``S`` of those sources is the same run with ``W`` computed from ``S``'s
statistics only (what pretraining on ``S`` alone gathers, up to the sampling of batches).
For every subset of 1, 2 and 3 sources, the template, ``k`` and the name rule are chosen on
that subset (:func:`graphfm.bench.text_choice.choose_rule`) and the whitening power is the
config's (a leave-one-source-out choice needs two sources). Rows hold the per-task accuracies
of ``unigraph2`` and of the untrained network with the same choices (``random_init``) at 0, 1
and 5 shots; the score is their difference, task by task; per number of sources, the difference is averaged over the subsets of that
size, then over targets and tasks with a 95 % interval. Writes ``text_curve.{json,md,png}``.
"""
from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.bench.text_fold import folder_name
from graphfm.report import markdown_table
from graphfm.stats import format_interval, paired_difference

NAME = "text_curve"
SHOTS = (0, 1, 5)


@BENCHMARKS.register(NAME)
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, targets: Optional[Sequence[str]] = None,
        tasks: Optional[int] = None, seeds: Optional[int] = None, steps: Optional[int] = None,
        graphs: Optional[Sequence[str]] = None, cache_dir: Optional[str] = None) -> Dict[str, Any]:
    """Run the curve and write ``out_dir/text_curve.{json,md,png}``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root.
        quick (bool): Cora-TAG / CiteSeer-TAG / FacebookPagePage-TAG only, 5 tasks, one seed, 20 steps.
        targets (list[str], optional): Targets. (default: every graph of the bench)
        tasks (int, optional): Tasks per seed and shot count. (default: ``20``)
        seeds (int, optional): Task seeds. (default: ``3``)
        steps (int, optional): Pretraining steps. (default: the config's)
        graphs (list[str], optional): The text graphs (names or files, as ``graphfm bench text``).
        cache_dir (str, optional): Encoder-output cache.
    """
    from graphfm.adapt.text_baselines import RawText
    from graphfm.bench.text import CONFIG, TARGETS
    from graphfm.bench.text_choice import GraphView, choose_rule
    from graphfm.bench.text_fold import _pretrained
    from graphfm.bench.unigraph2 import experiment, sources_for
    from graphfm.data import load_graph

    start = time.perf_counter()
    graphs = [str(g) for g in (graphs or (TARGETS[:3] if quick else TARGETS))]
    settings = {"tasks": tasks or (5 if quick else 20), "seeds": seeds or (1 if quick else 3), "graphs": graphs}
    cfg = experiment(config=CONFIG, steps=20 if quick and steps is None else steps, cache_dir=cache_dir)
    cfg["data"]["graphs"] = [{"name": g, "weight": 1.0} for g in graphs]
    route = RawText(encoder=dict(cfg["data"]["modalities"]["text"]["encoder"]), cache_dir=cache_dir)
    views = {g: GraphView(load_graph(g, root=data_root), route) for g in graphs}
    rows: List[Dict[str, Any]] = []
    choices: Dict[tuple, Dict[str, Any]] = {}      # a subset's choice serves every target it is a fold of
    with tempfile.TemporaryDirectory(prefix="text-curve-") as tmp:
        for target in targets or graphs:
            src_cfg = sources_for(cfg, target)
            model = _pretrained(src_cfg, Path(tmp) / folder_name(target), data_root)
            names = [g["name"] for g in src_cfg["data"]["graphs"]]
            for m in range(1, len(names) + 1):
                for subset in itertools.combinations(names, m):
                    if subset not in choices:
                        choices[subset] = choose_rule([views[g] for g in subset])
                    rows += _subset_rows(model, views, target, list(subset), choices[subset], settings)
    per_size = summarise(rows)
    extra = {"settings": settings, "curve": per_size, "total_seconds": round(time.perf_counter() - start, 1)}
    md = "\n" + "\n".join(curve_table(per_size)) + "\n"
    payload = write_results(Path(out_dir), NAME, rows, extra_md=md, extra=extra,
                            columns=("target", "sources", "method", "task", "mean", "std", "n", "seconds"))
    plot(per_size, Path(out_dir) / f"{NAME}.png")
    return payload


def _subset_rows(model: Any, views: Dict[str, Any], target: str, subset: List[str], choice: Dict[str, Any],
                 settings: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per shot count, the per-task accuracies of ``unigraph2`` (whitened with the statistics of
    ``subset``) and of ``random_init``, with the template, ``k`` and rule chosen on ``subset``."""
    from graphfm.adapt import sample_tasks
    from graphfm.adapt.names import label_aware_accuracy
    from graphfm.bench.text_fold import _row

    t0 = time.perf_counter()
    view, rule, k = views[target], choice["rule"], choice["hops"]
    w = model.whitening_matrix(domains=[views[s].name for s in subset])
    x, names = view.hops[k], view.names(rule.template)
    acc: Dict[tuple, List[float]] = {}
    for seed in range(settings["seeds"]):
        for shots in SHOTS:
            tasks = sample_tasks(view.y, shots, settings["tasks"], seed=seed)
            for method, (e, n) in (("unigraph2", (x @ w, names @ w)), ("random_init", (x, names))):
                acc.setdefault((method, shots), []).extend(label_aware_accuracy(e, tasks, n, rule).tolist())
    seconds = round(time.perf_counter() - t0, 1)
    info = {"sources": "+".join(views[s].name for s in subset), "num_sources": len(subset), "hops": k,
            "rule": rule.to_dict()}
    return [{**_row(target, method, f"{shots}-shot", values, seconds), **info}
            for (method, shots), values in acc.items()]


def gains(rows: Sequence[Dict[str, Any]]) -> Dict[tuple, List[float]]:
    """``unigraph2`` minus ``random_init``, task by task, per ``(target, sources, task)`` cell."""
    acc = {(r["target"], r["sources"], r["task"], r["method"]): r["accuracies"] for r in rows}
    return {cell[:3]: [a - b for a, b in zip(values, acc[(*cell[:3], "random_init")])]
            for cell, values in acc.items() if cell[3] == "unigraph2"}


def summarise(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per number of sources (and per shot count, and all shots together): the per-task gain
    averaged over the subsets of that size, with a 95 % interval over targets and tasks."""
    size = {(r["target"], r["sources"]): r["num_sources"] for r in rows}
    diffs = gains(rows)
    out: Dict[str, Dict[str, Any]] = {}
    for m in sorted(set(size.values())):
        per: Dict[str, List[float]] = {}
        for task in [f"{s}-shot" for s in SHOTS]:
            values: List[float] = []
            for target in dict.fromkeys(r["target"] for r in rows):
                subsets = [d for (t, src, k), d in diffs.items() if t == target and k == task and size[(t, src)] == m]
                if subsets:
                    values += torch.tensor(subsets).mean(0).tolist()
            per[task] = values
        per["all"] = [v for task in per for v in per[task]]
        out[str(m)] = {task: paired_difference(v, [0.0] * len(v)) for task, v in per.items() if v}
    return out


def curve_table(per_size: Dict[str, Dict[str, Any]]) -> List[str]:
    tasks = [f"{s}-shot" for s in SHOTS] + ["all"]
    body = [[m] + [format_interval(d[t]) if t in d else "" for t in tasks] for m, d in per_size.items()]
    return ["## Gain over random_init (points; mean over subsets, 95 % interval over targets x tasks)", ""] + \
        markdown_table(["sources"] + tasks, body)


def plot(per_size: Dict[str, Dict[str, Any]], path: Path) -> None:
    """The curve as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphfm.io import atomic_path

    sizes = [int(m) for m in per_size]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for task, style in (("0-shot", ":"), ("1-shot", "--"), ("5-shot", "-."), ("all", "-")):
        d = [per_size[str(m)][task] for m in sizes]
        mean = [x["diff"] for x in d]
        err = [[x["diff"] - x["low"] for x in d], [x["high"] - x["diff"] for x in d]]
        ax.errorbar(sizes, mean, yerr=err, linestyle=style, marker="o", capsize=3, label=task,
                    linewidth=2.2 if task == "all" else 1.2)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(sizes)
    ax.set_xlabel("text sources in pretraining")
    ax.set_ylabel("accuracy gain over random_init (points)")
    ax.set_title("graphfm bench text_curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)

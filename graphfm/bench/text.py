"""``graphfm bench text``: text-graph foundation models against what a user gets without one.

Leave-one-out over the registered text graphs (:data:`TARGETS`: Cora-TAG, CiteSeer-TAG,
FacebookPagePage-TAG, Debian; three domains). For each target, the *fold* is the other
graphs (every graph sharing the target's base name is dropped, so the target is never seen
in any form), and every choice is made by :mod:`graphfm.bench.text_choice` from the fold's
sources only: the name template, the propagation steps ``k``, the rule mixing class names
and supports (shared by every row, so no cell is won by the names alone) and the whitening
power ``alpha``. Rows, all scored on the same tasks:

* ``unigraph2``: ``configs/unigraph2/text.yaml`` (backbone ``propagate``: frozen MiniLM
  features whitened with the statistics of the sources, then ``Â^k``) pretrained on the fold;
* ``samgpt_text``: SAMGPT (arXiv:2502.05424) with the text encoder as feature alignment,
  pretrained on the fold (:mod:`graphfm.bench.text_samgpt`);
* ``random_init``: the ``unigraph2`` network untrained (``untrained_copy``);
* ``target_ssl``: the ``unigraph2`` config pretrained on the target alone (no labels);
* ``sgc_lm``: ``Â^k X`` of the frozen features with the model's normalisation, no training;
* ``dgi_target``: PyG's DeepGraphInfomax recipe (3 GCN layers of 256, PReLU, 200 epochs,
  lr 1e-3) on the target's frozen features, one model per task seed, cached;
* ``raw_lm``: the normalised frozen features, no graph.

Scores: label-aware nearest-prototype accuracy (:mod:`graphfm.adapt.names`) at 0, 1 and 5
shots on ``tasks`` tasks per seed (seeds ``0 .. seeds-1``; zero-shot on the 1-shot tasks'
queries), and a logistic-regression probe (20 labelled nodes per class, ``probe_splits``
splits per seed); Debian also with balanced accuracy (:data:`BALANCED`). The report
(:mod:`graphfm.bench.text_report`) pairs every row with the headline task by task.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.errors import ConfigError

NAME = "text"
CONFIG = "unigraph2/text"
TARGETS = ("Cora-TAG", "CiteSeer-TAG", "FacebookPagePage-TAG", "Debian")
BALANCED = ("Debian",)
ROWS = ("unigraph2", "samgpt_text", "random_init", "target_ssl", "sgc_lm", "dgi_target", "raw_lm")
SHOTS = (0, 1, 5)
PROBE_PER_CLASS = 20


@BENCHMARKS.register(NAME)
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, targets: Optional[Sequence[str]] = None,
        tasks: Optional[int] = None, seeds: Optional[int] = None, steps: Optional[int] = None,
        rows: Optional[Sequence[str]] = None, probe_splits: Optional[int] = None, graphs: Optional[Sequence[str]] = None,
        cache_dir: Optional[str] = None, checkpoint_dir: Optional[str] = None) -> Dict[str, Any]:
    """Run the benchmark and write ``out_dir/text.{json,md}``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root. (default: ``$GRAPHFM_DATA`` or ``./data``)
        quick (bool): Smoke-test size (Cora-TAG and CiteSeer-TAG only, 5 tasks, one seed,
            20 steps, no ``dgi_target``/``samgpt_text``). (default: ``False``)
        targets (list[str], optional): Targets, each held out in turn. (default: every graph)
        tasks (int, optional): Few-shot tasks per seed and shot count. (default: ``20``)
        seeds (int, optional): Task seeds (``dgi_target`` trains one model per seed). (default: ``3``)
        steps (int, optional): Pretraining steps. (default: the config's)
        rows (list[str], optional): Rows to run. (default: :data:`ROWS`)
        probe_splits (int, optional): Probe splits per seed. (default: ``2``)
        graphs (list[str], optional): The text graphs of the leave-one-out: registered names or
            a user's text-graph files (a ``.pt`` dict or a ``nodes.csv``/``edges.csv`` folder), each
            with ``label_names``. (default: :data:`TARGETS`)
        cache_dir (str, optional): Encoder-output cache. (default: ``$GRAPHFM_CACHE``)
        checkpoint_dir (str, optional): Keep the pretrained checkpoints there.
    """
    from graphfm.bench.unigraph2 import experiment

    start = time.perf_counter()
    graphs = [str(g) for g in (graphs or (TARGETS[:2] if quick else TARGETS))]
    targets = list(targets or graphs)
    unknown = sorted(set(targets) - set(graphs))
    if unknown or len(graphs) < 2:
        raise ConfigError(f"text-bench targets must be among its graphs ({', '.join(graphs)}), and it needs at "
                          f"least two graphs; got targets {targets}")
    wanted = list(rows or ([r for r in ROWS if r not in ("dgi_target", "samgpt_text")] if quick else ROWS))
    bad = sorted(set(wanted) - set(ROWS))
    if bad or "unigraph2" not in wanted:
        raise ConfigError(f"--rows must include unigraph2 and name only {', '.join(ROWS)}; got {wanted}")
    settings = {"tasks": tasks or (5 if quick else 20), "seeds": seeds or (1 if quick else 3),
                "probe_splits": probe_splits or (1 if quick else 2), "rows": wanted, "graphs": graphs}
    cfg = experiment(config=CONFIG, steps=20 if quick and steps is None else steps, cache_dir=cache_dir)
    cfg["data"]["graphs"] = [{"name": g, "weight": 1.0} for g in graphs]
    settings["steps"] = cfg["trainer"]["max_steps"]
    out_rows: List[Dict[str, Any]] = []
    folds: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="text-bench-") as tmp:
        work = Path(checkpoint_dir or tmp)
        for target in targets:
            from graphfm.bench.text_fold import run_fold

            t0 = time.perf_counter()
            fold_rows, folds[target] = run_fold(cfg, target, work, data_root, settings)
            out_rows += fold_rows
            folds[target]["seconds"] = round(time.perf_counter() - t0, 1)
    extra = {"settings": settings, "folds": folds, "total_seconds": round(time.perf_counter() - start, 1),
             "config": {k: cfg[k] for k in ("model", "objective", "trainer")}}
    from graphfm.bench.text_report import report_markdown

    return write_results(Path(out_dir), NAME, out_rows, extra_md=report_markdown(out_rows, extra), extra=extra,
                         columns=("target", "method", "task", "mean", "std", "n", "seconds"))


def probe_scores(emb: Tensor, y: Tensor, splits: Sequence[tuple]) -> Dict[str, List[float]]:
    """Accuracy and balanced accuracy (percent) of a logistic-regression probe
    (:func:`graphfm.adapt.fewshot.linear_probe_predictions`) per ``(seed, (train, test))`` split."""
    from sklearn.metrics import balanced_accuracy_score

    from graphfm.adapt.fewshot import linear_probe_predictions

    labels = y.cpu().numpy()
    acc, bal = [], []
    for seed, (tr, te) in splits:
        pred, truth = linear_probe_predictions(emb, y, tr, te, seed=seed), labels[te.numpy()]
        acc.append(float((pred == truth).mean() * 100.0))
        bal.append(float(balanced_accuracy_score(truth, pred) * 100.0))
    return {"accuracies": acc, "balanced_accuracies": bal}

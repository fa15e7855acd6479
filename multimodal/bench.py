"""``graphfm bench multimodal``: the multimodal objectives on small real and synthetic data.

Each objective is pretrained from ``configs/multimodal/<name>.yaml`` through
:func:`graphfm.engine.pretrain` (the train split only; the test split is never seen), once per
pretraining seed, then scored on held-out items. Every probe is a logistic regression on frozen
embeddings (the probe of :func:`graphfm.adapt.linear_probe_accuracy`, per item), fitted on the
same labelled train split for three encoders: the pretrained one, ``random_init`` (the same
architecture untrained, :meth:`PretrainedModel.untrained_copy`: only the encoder differs, the
trained head and labelled budget are the same) and the raw inputs.

* **MultiMAE** (arXiv:2204.01678), **M3I** (arXiv:2211.09807) with and without its supervised
  term: digit classes from the RGB modality alone; raw baseline ``pixels``.
* **BM-MAE** (arXiv:2505.00568): lesion-size class (3) of phantoms with all contrasts and with
  each contrast missing; raw baseline ``voxels``. Missing-modality reconstruction: MSE of the
  dropped contrast rebuilt from the others, against a voxel-wise linear regression from the
  present contrasts (``linear_from_present``, fitted on the train split).
* **UNITER** (arXiv:1909.11740): image-text matching of held-out captions with their own
  regions or with those of a random item whose caption does not fit (chance 50); raw baseline
  ``bow_x_regions`` (bag of words x mean region feature, a bilinear raw input).
* steps per second of each objective (``pretrain`` wall time / steps; torch threads of the run).

Accuracy rows hold ``accuracies``: per test item (0 or 100), seeds concatenated, in the same
order for every method of a cell; the Markdown adds paired differences with 95% intervals.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.errors import ConfigError
from graphfm.report import markdown_table
from graphfm.stats import format_interval, paired_difference
from multimodal import evaluate as ev

NAME = "multimodal"
OBJECTIVES = ("multimae", "m3i", "m3i_label_free", "bm_mae", "uniter")
STEPS = {"multimae": 900, "m3i": 300, "m3i_label_free": 900, "bm_mae": 900, "uniter": 2000}
QUICK_STEPS = {"multimae": 10, "m3i": 10, "m3i_label_free": 10, "bm_mae": 10, "uniter": 10}
COLUMNS = ("protocol", "target", "task", "method", "mean", "std", "n", "seconds", "unit", "steps")


@BENCHMARKS.register(NAME)
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, seeds: Optional[int] = None,
        targets: Optional[Sequence[str]] = None, tasks: Optional[int] = None,
        steps: Optional[Dict[str, int]] = None, threads: int = 1) -> Dict[str, Any]:
    """Run the benchmark and write ``out_dir/multimodal.{json,md}``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Unused (digits ship with scikit-learn; phantoms are synthetic).
        quick (bool): A smoke-test version (a few steps, one seed). (default: ``False``)
        seeds (int, optional): Pretraining seeds (``--seeds``). (default: ``3``, quick ``1``)
        targets (list[str], optional): Objectives to run, among :data:`OBJECTIVES`
            (``--targets`` on the command line). (default: all)
        tasks (int, optional): Not used (no few-shot tasks here); giving it is an error.
        steps (dict, optional): Objective -> pretraining steps. (default: :data:`STEPS`)
        threads (int): Torch CPU threads during the run (restored afterwards). (default: ``1``)
    """
    objectives = list(targets or OBJECTIVES)
    unknown = sorted(set(objectives) - set(OBJECTIVES))
    if unknown:
        raise ConfigError(f"bench multimodal: --targets are objectives; unknown {unknown}, "
                          f"valid: {', '.join(OBJECTIVES)}")
    if tasks is not None:
        raise ConfigError("bench multimodal has no few-shot tasks; drop --tasks")
    plan = {**(QUICK_STEPS if quick else STEPS), **(steps or {})}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        rows = _measure(objectives, seeds or (1 if quick else 3), plan)
    finally:
        torch.set_num_threads(previous)
    wall = time.perf_counter() - start
    return write_results(Path(out_dir), NAME, rows, columns=COLUMNS, extra_md=_notes(rows, wall, threads),
                         extra={"wall_seconds": round(wall, 1), "torch_threads": threads})


def _measure(objectives: Sequence[str], seeds: int, plan: Dict[str, int]) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-multimodal-") as tmp:
        for name in objectives:
            runs = [_pretrain(name, seed, plan[name], Path(tmp) / f"{name}-{seed}") for seed in range(seeds)]
            rows += [{**r, "protocol": f"{name} pretraining"} for r in ev.EVALUATORS[name](name, runs)]
            device = "CUDA bf16" if torch.cuda.is_available() else "CPU"
            rows.append(ev.row("throughput", f"pretraining steps/s (batch {runs[0]['batch_size']}, {device})", name,
                               [r["steps"] / r["seconds"] for r in runs], sum(r["seconds"] for r in runs),
                               unit="steps/s", steps=plan[name], protocol=f"{name} pretraining"))
    return rows


def _pretrain(name: str, seed: int, steps: int, out: Path) -> Dict[str, Any]:
    """Pretrain ``configs/multimodal/<name>.yaml`` with :func:`graphfm.engine.pretrain`."""
    from graphfm.config import load_experiment, resolve_config
    from graphfm.engine import pretrain

    overrides = [f"seed={seed}", f"trainer.max_steps={steps}", "trainer.progress=false",
                 f"trainer.log_every={max(1, steps // 10)}"]
    cfg = load_experiment(resolve_config(f"multimodal/{name}"), overrides)
    start = time.perf_counter()
    _, objective = pretrain(cfg, out, return_objective=True)
    seconds = time.perf_counter() - start
    objective = objective.cpu().eval()
    return {"objective": objective, "model": objective.model, "seed": seed, "seconds": seconds, "steps": steps,
            "batch_size": cfg.data.get("batch_size", 64), "data": cfg.data}


def _notes(rows: List[Dict[str, Any]], wall: float, threads: int) -> str:
    """Paired differences (objective minus baseline, same test item under the same seed) with 95% CIs."""
    lines = ["", "## Paired differences", "",
             "Objective minus baseline on the same test item under the same pretraining seed, pooled over "
             "seeds (95% t-interval). Accuracy cells: higher is better; MSE cells: lower is better.", ""]
    table = []
    verdicts: Dict[str, List[str]] = {}
    cells: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        if r["target"] != "throughput":
            cells.setdefault((r["protocol"], r["target"], r["task"]), []).append(r)
    for (_, target, task), cell in cells.items():
        lower_better = cell[0].get("unit") == "MSE"
        objectives = [r for r in cell if r["method"] not in ev.BASELINES and not r["method"].endswith("_itm_head")]
        baselines = [r for r in cell if r["method"] in ev.BASELINES]
        for obj in objectives:
            for base in baselines:
                d = paired_difference(obj["accuracies"], base["accuracies"])
                better = d["high"] < 0 if lower_better else d["low"] > 0
                worse = d["low"] > 0 if lower_better else d["high"] < 0
                verdict = "better" if better else ("worse" if worse else "no clear difference")
                table.append([target, task, obj["method"], base["method"],
                              format_interval(d, 4 if lower_better else 2, sep=" | "), d["n"], verdict])
                verdicts.setdefault(obj["method"], []).append(f"{verdict} than {base['method']} on {task}")
    lines += markdown_table(["target", "task", "objective", "baseline", "diff", "95% CI", "pairs", "verdict"], table)
    lines += ["", "## Verdicts", ""]
    for method, items in verdicts.items():
        beats_random = all(v.startswith("better") for v in items if "random_init" in v)
        raw = [v for v in items if any(f"than {b} " in v for b in set(ev.RAW.values()) | {"bow_x_regions"})]
        below_raw = [v for v in raw if not v.startswith("better")]
        text = f"- **{method}**: " + ("beats its random-init encoder on every probe" if beats_random else
                                      "does NOT beat its random-init encoder on every probe: " +
                                      "; ".join(v for v in items if "random_init" in v and not v.startswith("better")))
        if below_raw:
            text += "; does NOT beat the raw-input baseline: " + "; ".join(below_raw)
        elif raw:
            text += "; beats the raw-input baseline"
        lines.append(text + ".")
    lines += ["", f"Wall time of the whole benchmark: {wall / 60:.1f} min with {threads} torch thread(s) "
              "(run pinned to one core of the machine above, other jobs sharing the machine). Rows: `mean`/`std` "
              "(sample) over per-item outcomes (0/100 for accuracies), `n` = test items x seeds; `seconds` of a "
              "pretrained method include its pretraining. Throughput rows: steps/s per seed (`pretrain` wall time "
              "including setup, logging and saving). No CUDA device was available, so no bf16 throughput is listed.",
              "",
              "Not comparable with the papers (ImageNet / BraTS / COCO scale), so no paper numbers are listed. "
              "M3I is judged on its label-free variant (`m3i_label_free`: no supervised term; its caption term "
              "still sees the digit's name); `m3i` keeps the supervised term, trained on the labels the probe "
              "scores. The UNITER regions are the offline default (quadrant crops, not a detector). "
              "`uniter_itm_head` is the pretrained ITM classifier itself (no probe); it has no random-init "
              "counterpart. The BM-MAE reconstruction has no random-init row (an untrained decoder is not a "
              "baseline); `linear_from_present` regresses the missing contrast voxel-wise from the present ones.", ""]
    return "\n".join(lines)

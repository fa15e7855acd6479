"""``graphfm bench samgpt``: SAMGPT's leave-one-out one-shot table (Yu et al., WWW 2025).

For each target domain SAMGPT (https://arxiv.org/abs/2502.05424) is pretrained on
every other domain (``configs/samgpt/<target>.yaml``), then adapted to the target
with prompts: one-shot node classification and one-shot graph classification
(ego-networks of labelled nodes, labelled by their centre), ``tasks x seeds`` tasks
each. Two baselines run on the very same tasks: the same GCN and prompts without
pretraining (``no_pretrain``) and a nearest-prototype classifier on the target's
aligned raw features (``prototype``).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.errors import ConfigError

__all__ = ["run", "PAPER", "TARGETS", "ADAPT", "config_path"]

TARGETS = ("Cora", "CiteSeer", "Photo", "Computers", "FacebookPagePage", "LastFMAsia")
#: SAMGPT's one-shot accuracy (%) in the paper (Tables 2 and 3): (node, graph).
PAPER: Dict[str, tuple] = {"Cora": (47.80, 55.35), "CiteSeer": (36.38, 38.75), "Photo": (58.71, 58.75),
                           "Computers": (48.22, 48.72), "FacebookPagePage": (42.70, 43.71),
                           "LastFMAsia": (33.36, 48.28), "PubMed": (None, None)}
#: Targets whose features here differ from the paper's (see the data README).
FEATURE_NOTES = {
    "FacebookPagePage": "features are the 4,714 raw binary MUSAE feature ids (the paper uses PyG's 128-d "
                        "preprocessed features)",
    "LastFMAsia": "no feature file is available: structural features (the paper uses PyG's 128-d features)",
}
#: Adaptation settings of the table: graph items are 1-hop ego-networks; at most 1,000 queries.
ADAPT: Dict[str, Any] = {"ego_hops": 1, "max_query": 1000}
#: Prompt-tuning steps of the table. ``0`` scores every task with the prompts at their
#: initialisation (the mean source tokens): in one-shot tasks tuning moved accuracy by
#: -5 to +1.5 points in our measurements while costing a full GCN pass per task and
#: branch, so the table reports the untuned model; pass ``prompt_steps`` to tune.
PROMPT_STEPS = 0
QUICK = {"targets": ["Cora"], "sources": ["CiteSeer", "LastFMAsia"], "tasks": 10, "seeds": 1,
         "overrides": ["trainer.max_steps=3", "model.hidden=32", "objective.num_samples=256"]}


def config_path(target: str) -> Path:
    """``configs/samgpt/<target>.yaml`` of the repository (lower-case target name)."""
    path = Path(__file__).resolve().parents[2] / "configs" / "samgpt" / f"{target.lower()}.yaml"
    if not path.is_file():
        raise ConfigError(f"no experiment file for target '{target}' at {path}; write one like "
                          "configs/samgpt/cora.yaml (data.datasets = every other domain)")
    return path


def available_targets(data_root: Optional[str]) -> List[str]:
    """The table's targets, plus PubMed when its raw files are present."""
    from graphfm.data import get_spec, resolve_root

    targets = list(TARGETS)
    try:
        get_spec("PubMed").check_files(resolve_root(data_root))
        targets.append("PubMed")
    except Exception:  # PubMed's files are not shipped offline
        pass
    return targets


@BENCHMARKS.register("samgpt")
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, targets: Optional[Sequence[str]] = None,
        tasks: int = 100, seeds: int = 5, checkpoints: Optional[Path] = None, progress: bool = True,
        prompt_steps: int = PROMPT_STEPS) -> Dict[str, Any]:
    """Run the leave-one-out table and write ``out_dir/samgpt.json`` and ``.md``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root.
        quick (bool): A tiny version (one target, two small sources, 3 pretraining
            steps, 10 tasks, one seed) for smoke tests. (default: ``False``)
        targets (Sequence[str], optional): Targets to run (default: all available).
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Seeds. (default: ``5``)
        checkpoints (Path, optional): Keep each target's pretrained checkpoint in
            ``checkpoints/<target>`` (default: a temporary folder, deleted).
        progress (bool): Print progress lines. (default: ``True``)
        prompt_steps (int): Prompt-tuning steps per task (see :data:`PROMPT_STEPS`).
            (default: ``0``)
    """
    if quick:
        targets = list(targets or QUICK["targets"])
        tasks, seeds = min(tasks, QUICK["tasks"]), min(seeds, QUICK["seeds"])
    targets = list(targets or available_targets(data_root))
    unknown = [t for t in targets if t.lower() not in {k.lower() for k in PAPER}]
    if unknown:
        raise ConfigError(f"unknown SAMGPT target(s) {unknown}; valid: {', '.join(PAPER)}")
    start = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    timing: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="samgpt_bench_") as tmp:
        root = Path(checkpoints) if checkpoints else Path(tmp)
        for target in targets:
            target_rows, timing[target] = run_target(target, root / target, data_root, quick, tasks, seeds, progress,
                                                     prompt_steps)
            rows.extend(target_rows)
    total = round(time.perf_counter() - start, 1)
    extra = {"targets": timing, "total_seconds": total, "tasks": tasks, "seeds": seeds, "quick": quick,
             "prompt_steps": prompt_steps, **ADAPT}
    return write_results(Path(out_dir), "samgpt", rows, extra_md=summary_markdown(rows, timing, total, extra),
                         columns=("target", "task", "method", "mean", "std", "n", "seconds", "paper"), extra=extra)


def run_target(target: str, ckpt_dir: Path, data_root: Optional[str], quick: bool, tasks: int, seeds: int,
               progress: bool = True, prompt_steps: int = PROMPT_STEPS) -> tuple:
    """Pretrain on the other domains, adapt to ``target``; return ``(rows, timing)``."""
    from graphfm.adapt import (PromptConfig, adapt_model, aligned_features, load_target, raw_feature_accuracy,
                               sample_tasks, summarise)
    from graphfm.engine import pretrain
    from graphfm.engine.train import load_components
    from graphfm.models import PretrainedModel

    load_components()
    t0 = time.perf_counter()
    overrides = list(QUICK["overrides"]) + [f"data.datasets=[{','.join(QUICK['sources'])}]"] if quick else []
    overrides.append("trainer.progress=false")
    pretrain(config_path(target), ckpt_dir, data_root=data_root, overrides=overrides)
    pretrain_s = time.perf_counter() - t0
    model = PretrainedModel.from_pretrained(ckpt_dir)
    untrained = model.untrained_copy(seed=0)
    data, ptr, labels = load_target(target, data_root)
    aligned = aligned_features(data, model.align_dim)
    rows = []
    for task in ("node", "graph"):
        for method, m in (("samgpt", model), ("no_pretrain", untrained)):
            res = adapt_model(m, data, labels, task, 1, tasks, seeds, method="prompt", graph_ptr=ptr,
                              config=PromptConfig(steps=prompt_steps), **ADAPT)
            rows.append(_row(target, task, method, res))
            _log(progress, rows[-1])
        t = time.perf_counter()
        accs = torch.cat([raw_feature_accuracy(data, sample_tasks(labels, 1, tasks, s, ADAPT["max_query"]), task,
                                               ADAPT["ego_hops"], ptr, aligned=aligned) for s in range(seeds)])
        rows.append(_row(target, task, "prototype", summarise(accs, time.perf_counter() - t)))
        _log(progress, rows[-1])
    seconds = time.perf_counter() - t0
    return rows, {"pretrain_seconds": round(pretrain_s, 1), "seconds": round(seconds, 1)}


def _row(target: str, task: str, method: str, res: Dict[str, Any]) -> Dict[str, Any]:
    paper = PAPER.get(target, (None, None))[0 if task == "node" else 1] if method == "samgpt" else None
    return {"target": target, "task": task, "method": method, "mean": res["mean"], "std": res["std"],
            "n": res["n"], "seconds": res["seconds"], "paper": paper}


def _log(enabled: bool, row: Dict[str, Any]) -> None:
    if enabled:
        print(f"[samgpt] {row['target']:<16} {row['task']:<5} {row['method']:<11} {row['mean']:6.2f} ± "
              f"{row['std']:5.2f}  ({row['seconds']:.1f} s)", flush=True)


def summary_markdown(rows: List[Dict[str, Any]], timing: Dict[str, Dict[str, float]], total: float,
                     settings: Optional[Dict[str, Any]] = None) -> str:
    """Side-by-side table (paper, ours, baselines), wins, notes and timings."""
    by = {(r["target"], r["task"], r["method"]): r for r in rows}
    lines = ["", "## SAMGPT vs the paper and the baselines (one-shot accuracy, %)", "",
             "| target | task | paper | samgpt | no_pretrain | prototype | vs paper | beats both baselines |",
             "|---|---|---|---|---|---|---|---|"]
    wins_paper = wins_base = cells = 0
    for (target, task, method), r in by.items():
        if method != "samgpt":
            continue
        cells += 1
        base = [by.get((target, task, b), {}).get("mean") for b in ("no_pretrain", "prototype")]
        paper = r["paper"]
        delta = f"{r['mean'] - paper:+.2f}" if paper is not None else "–"
        wins_paper += int(paper is not None and r["mean"] > paper)
        beats = all(b is not None and r["mean"] > b for b in base)
        wins_base += int(beats)
        note = " ¹" if target in FEATURE_NOTES else ""
        lines.append(f"| {target}{note} | {task} | {paper if paper is not None else '–'} | {r['mean']:.2f} ± "
                     f"{r['std']:.2f} | {_m(base[0])} | {_m(base[1])} | {delta} | {'yes' if beats else 'no'} |")
    lines += ["", f"SAMGPT beats the paper in {wins_paper} of {cells} cells and both baselines in "
              f"{wins_base} of {cells} cells.", ""]
    lines += closing_notes(by)
    for i, (target, note) in enumerate(FEATURE_NOTES.items()):
        if any(r["target"] == target for r in rows):
            lines.append(f"¹ {target}: {note}; the paper's numbers are not directly comparable.  ")
    if settings:
        lines += ["", f"Protocol: one-shot, {settings.get('tasks')} tasks x {settings.get('seeds')} seeds per cell "
                  f"(the same tasks for every method), at most {settings.get('max_query')} queries per task, "
                  f"nearest class prototype by cosine similarity; graph items are "
                  f"{settings.get('ego_hops')}-hop ego-networks (mean readout of the node embeddings); "
                  f"prompt-tuning steps per task: {settings.get('prompt_steps')} (0 = prompts at their "
                  "initialisation, the mean source tokens).  "]
    lines += ["", "## Time (seconds)", "", "| target | pretraining | total |", "|---|---|---|"]
    lines += [f"| {t} | {v['pretrain_seconds']} | {v['seconds']} |" for t, v in timing.items()]
    lines += [f"| all | | {total} |", ""]
    return "\n".join(lines)


def closing_notes(by: Dict[tuple, Dict[str, Any]]) -> List[str]:
    """Cells below the paper or within noise of a baseline, with the margins."""
    notes = []
    for (target, task, method), r in by.items():
        if method != "samgpt":
            continue
        if r["paper"] is not None and r["mean"] <= r["paper"]:
            why = FEATURE_NOTES.get(target, "see the protocol notes below (graph items are pooled 1-hop "
                                    "ego-networks of full-graph embeddings, not separately encoded subgraphs)")
            notes.append(f"- {target} {task}: {r['paper'] - r['mean']:.2f} points below the paper; {why}.")
        for base in ("no_pretrain", "prototype"):
            other = by.get((target, task, base))
            # the standard error of a 500-task mean is about std / sqrt(n)
            if other and abs(r["mean"] - other["mean"]) < 2 * r["std"] / max(r["n"], 1) ** 0.5:
                notes.append(f"- {target} {task}: {r['mean'] - other['mean']:+.2f} points over {base}, within two "
                             "standard errors: pretraining on the other domains gives this target little.")
    return (["Where SAMGPT does not clearly win:", ""] + notes + [""]) if notes else []


def _m(value: Optional[float]) -> str:
    return f"{value:.2f}" if value is not None else "–"

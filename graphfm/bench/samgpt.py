"""``graphfm bench samgpt``: SAMGPT's leave-one-out one-shot table (Yu et al., WWW 2025).

For each target domain SAMGPT (https://arxiv.org/abs/2502.05424) is pretrained on
every other domain (``configs/samgpt/<target>.yaml``), then adapted to the target:
one-shot node classification and one-shot graph classification (ego-networks of
labelled nodes, labelled by their centre), ``tasks x seeds`` tasks each. Every method
of a cell is scored on the very same tasks, so that they compare pair by pair:

* ``samgpt``: the pretrained model with the default adaptation
  (:class:`~graphfm.adapt.PromptConfig`: self-supervised prompts, then few-shot tuning);
* ``samgpt_frozen``: the pretrained model, prompts at the neutral mean source tokens, untuned;
* ``no_pretrain``: the same network untrained, same adaptation;
* ``target_ssl``: the same network and objective trained on the unlabelled target alone
  (same optimiser and stopping rule as pretraining), same adaptation; without the sources'
  basis rotation (``objective.rotate_features``), which exists for transfer across domains and
  only discards a single domain's basis (the stronger baseline);
* ``supervised_gcn``: a GCN (SGC) trained on each task's labelled support alone;
* ``prototype``: nearest class prototype on the target's aligned raw features.

The pretraining curve is a benchmark of its own (``graphfm bench samgpt_curve``,
:mod:`graphfm.bench.samgpt_curve`), and so is its cost.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.bench.samgpt_report import PAPER, summary_markdown
from graphfm.errors import ConfigError

__all__ = ["run", "PAPER", "TARGETS", "ADAPT", "config_path"]

TARGETS = ("Cora", "CiteSeer", "Photo", "Computers", "FacebookPagePage", "LastFMAsia")
#: Adaptation settings of the table: graph items are 1-hop ego-networks; at most 1,000 queries.
ADAPT: Dict[str, Any] = {"ego_hops": 1, "max_query": 1000}
PROTOCOLS = ("graphfm", "paper", "both")
#: Graph items of the paper's protocol: the node with its 1- and 2-hop neighbours.
PAPER_EGO_HOPS = 2
QUICK = {"targets": ["Cora"], "sources": ["CiteSeer", "LastFMAsia"], "tasks": 10, "seeds": 1,
         "overrides": ["trainer.max_steps=3", "model.hidden=32"]}


def config_path(target: str) -> Path:
    """The leave-one-out experiment of ``target``: the bundled ``samgpt/<target>`` config."""
    from graphfm.config import resolve_config

    try:
        return resolve_config(f"samgpt/{target.lower()}")
    except ConfigError:
        raise ConfigError(f"no experiment file for target '{target}' (bundled name samgpt/{target.lower()}); write "
                          "one like configs/samgpt/cora.yaml (data.datasets = every other domain)") from None


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
        protocol: str = "graphfm") -> Dict[str, Any]:
    """Run the leave-one-out table and write ``out_dir/samgpt.json`` and ``.md``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root.
        quick (bool): A tiny version (one target, two small sources, 3 pretraining
            steps, 10 tasks, one seed) for smoke tests. (default: ``False``)
        targets (Sequence[str], optional): Targets to run (default: all available).
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Seeds. (default: ``5``)
        checkpoints (Path, optional): Keep each target's checkpoints in
            ``checkpoints/<target>`` (default: a temporary folder, deleted).
        progress (bool): Print progress lines. (default: ``True``)
        protocol (str): ``"graphfm"`` (ours: queries = all other labelled nodes, at most
            1,000; 1-hop ego-networks as graph items), ``"paper"`` (the public code's: queries
            = the last 100 node ids, 2-hop ego-networks) or ``"both"``; rows carry
            ``protocol``. (default: ``"graphfm"``)
    """
    from graphfm.adapt import PromptConfig

    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol '{protocol}' is unknown; valid: {', '.join(PROTOCOLS)}")
    protocols = ("graphfm", "paper") if protocol == "both" else (protocol,)
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
            target_rows, timing[target] = run_target(target, root / target, data_root, quick, tasks, seeds,
                                                     progress, protocols)
            rows.extend(target_rows)
    total = round(time.perf_counter() - start, 1)
    extra = {"targets": timing, "total_seconds": total, "tasks": tasks, "seeds": seeds, "quick": quick,
             "adaptation": dict(PromptConfig().__dict__), **ADAPT}
    return write_results(Path(out_dir), "samgpt", rows, extra_md=summary_markdown(rows, timing, total, extra),
                         columns=("target", "task", "protocol", "method", "mean", "std", "n", "seconds", "paper"),
                         extra=extra)


def _pretrain(target: str, out: Path, data_root: Optional[str], quick: bool, extra: Sequence[str] = ()) -> Any:
    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel

    overrides = list(QUICK["overrides"]) + [f"data.datasets=[{','.join(QUICK['sources'])}]"] if quick else []
    pretrain(config_path(target), out, data_root=data_root, overrides=overrides + ["trainer.progress=false", *extra],
             overwrite=True)      # the benchmark's own working folders
    return PretrainedModel.from_pretrained(out)


def run_target(target: str, ckpt_dir: Path, data_root: Optional[str], quick: bool, tasks: int, seeds: int,
               progress: bool = True, protocols: Sequence[str] = ("graphfm",)) -> tuple:
    """Pretrain on the other domains (and on the target alone), adapt every model to
    ``target`` on the same tasks; return ``(rows, timing)``."""
    from graphfm.adapt import PromptConfig, aligned_features, few_shot_target
    from graphfm.data import load_graph

    t0 = time.perf_counter()
    model = _pretrain(target, ckpt_dir / "sources", data_root, quick)
    pretrain_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    own = _pretrain(target, ckpt_dir / "target", data_root, quick, [f"data.datasets=[{target}]",
                                                                         "objective.rotate_features=false"])
    target_s = time.perf_counter() - t1
    data, ptr, labels = few_shot_target(load_graph(target, root=data_root))
    aligned = aligned_features(data, model.align_dim)
    models = {"samgpt": (model, PromptConfig()), "samgpt_frozen": (model, PromptConfig(steps=0, ssl_steps=0)),
              "no_pretrain": (model.untrained_copy(seed=0), PromptConfig()), "target_ssl": (own, PromptConfig())}
    rows = []
    for protocol in protocols:
        rows += _score(target, data, ptr, labels, aligned, models, tasks, seeds, progress, protocol)
    rows += _derived(target, data, ckpt_dir, data_root, quick, model, tasks, seeds, progress)
    seconds = time.perf_counter() - t0
    return rows, {"pretrain_seconds": round(pretrain_s, 1), "target_ssl_seconds": round(target_s, 1),
                  "seconds": round(seconds, 1)}


def derived_graph(data: Any, seed: int = 0, dim: int = 300, drop: float = 0.2) -> Dict[str, Any]:
    """A graph a user might bring, derived from ``data``: its features through a random
    Gaussian projection to ``dim`` columns, a ``drop`` fraction of its undirected edges
    removed, labels kept (arrays of a user's ``.npz``)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = data.x.float() @ (torch.randn(data.x.size(1), dim, generator=gen) / data.x.size(1) ** 0.5)
    row, col = data.edge_index
    upper = row < col
    row, col = row[upper], col[upper]
    keep = torch.rand(row.numel(), generator=gen) >= drop
    row, col = row[keep], col[keep]
    edge_index = torch.stack([torch.cat([row, col]), torch.cat([col, row])])
    return {"x": x.numpy(), "edge_index": edge_index.numpy(), "y": data.y.numpy()}


def _derived(target: str, data: Any, ckpt_dir: Path, data_root: Optional[str], quick: bool, model: Any,
             tasks: int, seeds: int, progress: bool) -> List[Dict[str, Any]]:
    """A target nobody tuned for: ``derived_graph(target)`` saved as a user's ``.npz`` and
    loaded as users load theirs, adapted (node, 1-shot) from the target's checkpoint and
    from the same config trained for 0 steps."""
    import numpy as np

    from graphfm.adapt import PromptConfig, adapt_model, few_shot_target
    from graphfm.data import load_graph

    path = ckpt_dir / f"{target}-derived.npz"
    np.savez(path, **derived_graph(data))
    graph, ptr, labels = few_shot_target(load_graph(str(path)))
    zero = _pretrain(target, ckpt_dir / "steps0", data_root, quick, ["trainer.max_steps=0", "trainer.patience=0"])
    rows = []
    for name, m in (("samgpt", model), ("no_pretrain", zero)):
        res = adapt_model(m, graph, labels, "node", 1, tasks, seeds, method="prompt", config=PromptConfig(), **ADAPT)
        rows.append({**_row(f"{target}-derived", "node", name, res, "graphfm"), "paper": None})
        _log(progress, rows[-1])
    return rows


def _score(target: str, data: Any, ptr: Any, labels: Any, aligned: Any, models: Dict[str, tuple], tasks: int,
           seeds: int, progress: bool, protocol: str = "graphfm") -> List[Dict[str, Any]]:
    """Rows of every method on the node and graph tasks (the same tasks for all)."""
    import torch

    from graphfm.adapt import PromptTuner, adapt_model, raw_feature_accuracy, supervised_sgc_accuracy
    from graphfm.adapt.run import task_sampler
    from graphfm.stats import summarise

    opts = {**ADAPT, "ego_hops": PAPER_EGO_HOPS if protocol == "paper" else ADAPT["ego_hops"]}
    sampler = task_sampler(protocol)
    rows = []
    tuners = {name: PromptTuner(m, data, "node", opts["ego_hops"], cfg, ptr) for name, (m, cfg) in models.items()}
    for task in ("node", "graph"):
        for name, (m, cfg) in models.items():
            res = adapt_model(m, data, labels, task, 1, tasks, seeds, method="prompt", graph_ptr=ptr, config=cfg,
                              tuner=tuners[name], protocol=protocol, **opts)
            rows.append(_row(target, task, name, res, protocol))
            _log(progress, rows[-1])
        for name, fn in (("supervised_gcn", supervised_sgc_accuracy), ("prototype", raw_feature_accuracy)):
            t = time.perf_counter()
            accs = torch.cat([fn(data, sampler(labels, 1, tasks, s, opts["max_query"]), task, opts["ego_hops"],
                                 ptr, aligned=aligned) for s in range(seeds)])
            rows.append(_row(target, task, name, summarise(accs, time.perf_counter() - t), protocol))
            _log(progress, rows[-1])
    return rows


def _row(target: str, task: str, method: str, res: Dict[str, Any], protocol: str) -> Dict[str, Any]:
    paper = PAPER.get(target, (None, None))[0 if task == "node" else 1] if method == "samgpt" else None
    return {"target": target, "task": task, "method": method, "mean": res["mean"], "std": res["std"],
            "n": res["n"], "seconds": res["seconds"], "paper": paper, "shots": 1, "protocol": protocol,
            "accuracies": res["accuracies"]}


def _log(enabled: bool, row: Dict[str, Any]) -> None:
    if enabled:
        print(f"[samgpt] {row['target']:<16} {row['task']:<5} {row['protocol']:<7} {row['method']:<18} "
              f"{row['mean']:6.2f} ± {row['std']:5.2f}  ({row['seconds']:.1f} s)", flush=True)

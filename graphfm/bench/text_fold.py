"""One fold of ``graphfm bench text``: choose on the sources, pretrain, score every row on the target."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from graphfm.adapt.names import LabelRule, label_aware_predictions, task_accuracy
from graphfm.bench.text_choice import GraphView, choose_alpha, choose_rule

#: A row's embeddings of the target and of its class names for one task seed.
Route = Callable[[int], Tuple[Tensor, Tensor]]


def run_fold(cfg: Mapping[str, Any], target: str, work: Path, data_root: Optional[str],
             settings: Mapping[str, Any]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Rows of one target and what the fold chose (with the time of each stage)."""
    from graphfm.adapt.text_baselines import RawText
    from graphfm.bench.unigraph2 import sources_for
    from graphfm.data import load_graph

    src_cfg = sources_for(cfg, target)
    encoder = dict(cfg["data"]["modalities"]["text"]["encoder"])
    route = RawText(encoder=encoder, cache_dir=cfg["data"].get("cache_dir"))
    timing: Dict[str, float] = {}
    t0 = time.perf_counter()
    sources = [GraphView(load_graph(g["name"], root=data_root), route) for g in src_cfg["data"]["graphs"]]
    _say(settings, target, f"choosing template, hops and label rule on {', '.join(v.name for v in sources)}")
    choice = choose_rule(sources)
    timing["choose_rule"] = round(time.perf_counter() - t0, 1)
    hops, rule = choice["hops"], choice["rule"]
    t0 = time.perf_counter()
    _say(settings, target, f"pretraining unigraph2 ({src_cfg['trainer']['max_steps']} steps)")
    work = work / folder_name(target)
    model = _pretrained(src_cfg, work / "unigraph2", data_root)
    timing["pretrain"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    alpha, alpha_table = choose_alpha(model, sources, hops, rule)
    timing["choose_alpha"] = round(time.perf_counter() - t0, 1)
    model.hops, model.whiten_alpha = hops, alpha
    view = GraphView(load_graph(target, root=data_root), route)
    routes = _routes(settings["rows"], model, view, rule, cfg, target, work, data_root, encoder, sources, timing)
    rows = score_rows(target, view, routes, rule, settings, timing)
    info = {"sources": [v.name for v in sources], "template": rule.template, "hops": hops,
            "rule": rule.to_dict(), "alpha": alpha, "choice_table": {**choice["table"], "alpha": alpha_table},
            "timing": timing}
    return rows, info


def _say(settings: Mapping[str, Any], target: str, message: str) -> None:
    """One progress line (``settings["progress"]``, default on)."""
    if settings.get("progress", True):
        print(f"[bench text] {target}: {message}", flush=True)


def folder_name(target: str) -> str:
    """A folder name for ``target`` (a registered name, or a user's file path: its stem)."""
    import re

    name = Path(target).stem if ("/" in target or "." in target) else target
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name) or "target"


def _pretrained(cfg: Mapping[str, Any], run_dir: Path, data_root: Optional[str]) -> Any:
    from graphfm.bench.unigraph2 import _pretrain
    from graphfm.models import PretrainedModel

    _pretrain(dict(cfg), run_dir, data_root)
    return PretrainedModel.from_pretrained(run_dir).eval()


def _model_route(model: Any, view: GraphView, rule: LabelRule) -> Route:
    emb = model.embed(view.data, progress=False).float()
    names = model.embed_texts(rule.texts(view.data.label_names), view.data).float()
    return lambda seed: (emb, names)


def _routes(rows: List[str], model: Any, view: GraphView, rule: LabelRule, cfg: Mapping[str, Any], target: str,
            work: Path, data_root: Optional[str], encoder: Dict[str, Any], sources: List[GraphView],
            timing: Dict[str, float]) -> Dict[str, Route]:
    """Every requested row's route (the costly ones built here, timed)."""
    from graphfm.bench.unigraph2 import target_only

    hops, names = model.hops, view.names(rule.template)
    out: Dict[str, Route] = {}
    for row in rows:
        t0 = time.perf_counter()
        _say({}, target, f"building row {row}")
        if row == "unigraph2":
            out[row] = _model_route(model, view, rule)
        elif row == "random_init":
            untrained = model.untrained_copy(0)
            untrained.hops = hops
            out[row] = _model_route(untrained, view, rule)
        elif row == "target_ssl":
            own = _pretrained(target_only(cfg, target, ["text"]), work / "target_ssl", data_root)
            own.hops, own.whiten_alpha = hops, model.whiten_alpha
            out[row] = _model_route(own, view, rule)
        elif row == "sgc_lm":
            out[row] = (lambda e: lambda seed: (e, names))(view.hops[hops])
        elif row == "raw_lm":
            out[row] = (lambda e: lambda seed: (e, names))(view.hops[0])
        elif row == "dgi_target":
            out[row] = _dgi_route(view, rule, encoder)
        elif row == "samgpt_text":
            from graphfm.bench.text_samgpt import pretrain_samgpt_text

            samgpt = pretrain_samgpt_text([v.data for v in sources], str(work / "samgpt_text"), seed=0,
                                          cache_dir=cfg["data"].get("cache_dir"))
            out[row] = _model_route(samgpt, view, rule)
        timing[f"build_{row}"] = round(time.perf_counter() - t0, 1)
    return out


def _dgi_route(view: GraphView, rule: LabelRule, encoder: Dict[str, Any]) -> Route:
    """DGI on the target, one model per task seed (trained on first use, cached on disk)."""
    from graphfm.adapt.text_baselines import DGITarget

    texts = rule.texts(view.data.label_names)

    def route(seed: int) -> Tuple[Tensor, Tensor]:
        dgi = DGITarget(seed=seed, encoder=encoder, center=False)   # raw features: the stronger recipe
        return dgi.embed(view.data).float(), dgi.embed_texts(texts, view.data).float()

    return route


def score_rows(target: str, view: GraphView, routes: Mapping[str, Route], rule: LabelRule,
               settings: Mapping[str, Any], timing: Dict[str, float]) -> List[Dict[str, Any]]:
    """Per row and task (``0-shot``, ``1-shot``, ``5-shot``, ``probe``): per-task accuracies (and
    balanced accuracies where the target is in :data:`~graphfm.bench.text.BALANCED`)."""
    from graphfm.adapt import sample_tasks
    from graphfm.bench.text import BALANCED, PROBE_PER_CLASS, SHOTS, probe_scores
    from graphfm.bench.unigraph2 import probe_split

    y, seeds, n_tasks, per_seed = view.y, settings["seeds"], settings["tasks"], settings["probe_splits"]
    tasks = {(k, s): sample_tasks(y, k, n_tasks, seed=s) for k in SHOTS for s in range(seeds)}
    smallest = int(torch.bincount(y[y >= 0]).clamp(min=1).min())
    per_class = min(PROBE_PER_CLASS, max(1, smallest // 2))    # small graphs keep half of a class to test
    splits = [(s, probe_split(y, per_class, s * per_seed + i)) for s in range(seeds) for i in range(per_seed)]
    rows = []
    for method, route in routes.items():
        t0 = time.perf_counter()
        acc: Dict[str, List[float]] = {}
        bal: Dict[str, List[float]] = {}
        for s in range(seeds):
            emb, names = route(s)
            for k in SHOTS:
                few = tasks[(k, s)]
                pred = label_aware_predictions(emb, few, names, rule)     # once for both accuracies
                acc.setdefault(f"{k}-shot", []).extend(task_accuracy(pred, few).tolist())
                bal.setdefault(f"{k}-shot", []).extend(task_accuracy(pred, few, balanced=True).tolist())
            probe = probe_scores(emb, y, [sp for sp in splits if sp[0] == s])
            acc.setdefault("probe", []).extend(probe["accuracies"])
            bal.setdefault("probe", []).extend(probe["balanced_accuracies"])
        seconds = round(time.perf_counter() - t0 + timing.get(f"build_{method}", 0.0), 1)
        for task, values in acc.items():
            row = _row(target, method, task, values, seconds)
            if target in BALANCED:
                row["balanced_accuracies"] = [round(v, 4) for v in bal[task]]
                row["balanced_mean"] = round(float(torch.tensor(bal[task]).mean()), 2)
            rows.append(row)
    return rows


def _row(target: str, method: str, task: str, values: List[float], seconds: float) -> Dict[str, Any]:
    t = torch.tensor(values, dtype=torch.float64)
    return {"target": target, "method": method, "task": task, "mean": round(float(t.mean()), 2),
            "std": round(float(t.std()) if t.numel() > 1 else 0.0, 2), "n": int(t.numel()), "seconds": seconds,
            "accuracies": [round(v, 4) for v in values]}

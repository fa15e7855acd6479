"""``graphfm bench unigraph2``: UniGraph2 pretrained on other graphs, scored on held-out text-attributed graphs.

UniGraph2 (He et al., WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_)
is pretrained with ``configs/unigraph2/pretrain.yaml``. For each target (Cora-TAG,
CiteSeer-TAG) every graph of the config that shares the target's base name (``Cora``
for ``Cora-TAG``) is dropped from the sources, so the target is never seen in any form.
The digits graph's images go through a MultiMAE encoder pretrained on the digits images
(``configs/multimodal/multimae.yaml``; pretrained first, once, when the config's
checkpoint does not exist). For each of ``seeds`` pretraining seeds ``s``:

* ``unigraph2``: pretrained with seed ``s``; its embeddings of the target (mean token);
* ``unigraph2_prompted``: the same backbone with dual prompts tuned per task
  (:mod:`graphfm.adapt.unigraph2`);
* ``random_init``: the same architecture untrained (``untrained_copy(s)``);
* ``frozen_encoder``: the normalised frozen modality features, no graph;
* ``target_ssl``: the same backbone and objective trained on the target alone (no labels),
  as many steps, seed ``s``;
* ``unigraph2_target_ssl``: ``target_ssl``'s training started from the pretrained weights
  (``trainer.init_from``) instead of a random initialisation: continued self-supervised
  pretraining on the unlabelled target, as a user of a foundation model would run it. Its
  difference to ``target_ssl`` is what pretraining on the other graphs adds to training on
  the target alone.

Scores, all methods on the same items: nearest-prototype (cosine) few-shot accuracy at
1 and 5 shots on ``tasks`` tasks drawn with seed ``s``, and a logistic-regression probe
on ``PROBE_PER_CLASS`` nodes per class (``PROBE_SPLITS`` splits per seed). The Markdown
(:mod:`graphfm.bench.unigraph2_report`) pairs the same task under the same seed.
"""
from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.errors import ConfigError

NAME = "unigraph2"
CONFIG = "unigraph2/pretrain"
IMAGE_CONFIG = "multimodal/multimae"
IMAGE_STEPS = 1200   # MultiMAE steps on the digits images (its probe beats random init after ~1000)
TARGETS = ("Cora-TAG", "CiteSeer-TAG")
METHODS = ("unigraph2", "unigraph2_prompted", "unigraph2_target_ssl", "random_init", "frozen_encoder",
           "target_ssl")
SHOTS = (1, 5)
PROBE_PER_CLASS = 20
PROBE_SPLITS = 5


@BENCHMARKS.register(NAME)
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False,
        targets: Optional[Sequence[str]] = None, tasks: Optional[int] = None, seeds: Optional[int] = None,
        steps: Optional[int] = None, config: Optional[str] = None, cache_dir: Optional[str] = None,
        checkpoint_dir: Optional[str] = None, prompt_steps: Optional[int] = None) -> Dict[str, Any]:
    """Run the benchmark and write ``out_dir/unigraph2.{json,md}``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Data root. (default: ``$GRAPHFM_DATA`` or ``./data``)
        quick (bool): Smoke-test size (text + digits sources, 32-token texts, 30 steps,
            10 tasks, one seed, first target). (default: ``False``)
        targets (list[str], optional): Held-out targets. (default: Cora-TAG and CiteSeer-TAG)
        tasks (int, optional): Few-shot tasks per seed and shot count. (default: ``20``; the dual
            prompts dominate the time)
        seeds (int, optional): Pretraining seeds. (default: ``3``)
        steps (int, optional): Pretraining (and ``target_ssl``) steps. (default: the config's)
        config (str, optional): Pretraining config. (default: ``configs/unigraph2/pretrain.yaml``)
        cache_dir (str, optional): Encoder-output cache; the MultiMAE checkpoint is kept
            beside it. (default: ``$GRAPHFM_CACHE``)
        checkpoint_dir (str, optional): Keep the pretrained checkpoints there.
        prompt_steps (int, optional): Dual-prompt tuning steps. (default: ``DualPromptConfig``'s)
    """
    from graphfm.adapt.unigraph2 import DualPromptConfig

    start = time.perf_counter()
    quick_targets = list(targets or TARGETS)[:1] if quick else list(targets or TARGETS)
    tasks, seeds = tasks or (10 if quick else 20), seeds or (1 if quick else 3)
    cfg = experiment(quick=quick, config=config, steps=steps, cache_dir=cache_dir)
    timing: Dict[str, Any] = {"image_encoder_seconds": ensure_image_encoder(cfg, cache_dir, quick)}
    prompt_cfg = DualPromptConfig(**({} if prompt_steps is None else {"steps": int(prompt_steps)}))
    rows: List[Dict[str, Any]] = []
    diagnostics: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="unigraph2-bench-") as tmp:
        work = Path(checkpoint_dir or tmp)
        for target in quick_targets:
            t0 = time.perf_counter()
            result = evaluate_target(cfg, target, work, data_root, tasks, seeds, prompt_cfg)
            rows += result["rows"]
            diagnostics[target] = result["diagnostics"]
            timing[target] = dict(result["timing"], seconds=round(time.perf_counter() - t0, 1))
    timing["total_seconds"] = round(time.perf_counter() - start, 1)
    extra = {"timing": timing, "diagnostics": diagnostics, "settings": {
        "tasks": tasks, "seeds": seeds, "shots": list(SHOTS), "probe_per_class": PROBE_PER_CLASS,
        "probe_splits": PROBE_SPLITS, "steps": cfg["trainer"]["max_steps"], "prompt": vars(prompt_cfg),
        "model": cfg["model"], "objective": cfg["objective"], "quick": quick}}
    from graphfm.bench.unigraph2_report import report_markdown

    return write_results(Path(out_dir), NAME, rows, extra_md=report_markdown(rows, extra), extra=extra,
                         columns=("target", "method", "protocol", "shots", "mean", "std", "n", "seconds"))


def experiment(quick: bool = False, config: Optional[str] = None, steps: Optional[int] = None,
               cache_dir: Optional[str] = None) -> Dict[str, Any]:
    """The pretraining experiment as a dict (the YAML file, shrunk when ``quick``)."""
    from graphfm.config import load_yaml, resolve_config

    cfg = copy.deepcopy(load_yaml(resolve_config(config or CONFIG)))
    data, trainer = cfg["data"], cfg.setdefault("trainer", {})
    if quick:
        data["graphs"] = [g for g in data["graphs"] if _name(g) in ("Cora-TAG", "CiteSeer-TAG", "digits-graph")]
        data["modalities"] = {k: v for k, v in data["modalities"].items() if not v.get("domains")}
        if "text" in data["modalities"]:
            data["modalities"]["text"]["encoder"]["max_length"] = 32
        trainer["max_steps"] = 30
    if steps is not None:
        trainer["max_steps"] = int(steps)
    if cache_dir is not None:
        data["cache_dir"] = cache_dir
    trainer["progress"] = False
    data["progress"] = False
    return cfg


def sources_for(cfg: Mapping[str, Any], target: str) -> Dict[str, Any]:
    """The experiment for ``target``: every graph sharing its base name (``Cora`` of
    ``Cora-TAG``) dropped, and modalities no remaining graph has removed."""
    out = copy.deepcopy(dict(cfg))
    base = _base(target)
    graphs = [g for g in out["data"]["graphs"] if _base(_name(g)) != base]
    if not graphs:
        raise ConfigError(f"no pretraining source is left once graphs like '{target}' are held out; add other "
                          "graphs to data.graphs")
    out["data"]["graphs"] = graphs
    names = {_base(_name(g)) for g in graphs}
    out["data"]["modalities"] = {k: v for k, v in out["data"]["modalities"].items()
                                 if not v.get("domains") or any(_base(str(d)) in names for d in v["domains"])}
    return out


def target_only(cfg: Mapping[str, Any], target: str, modalities: Sequence[str]) -> Dict[str, Any]:
    """The ``target_ssl`` experiment: the same model and objective on the target graph alone."""
    out = copy.deepcopy(dict(cfg))
    out["name"] = f"{out.get('name', NAME)}-target-ssl"
    out["data"]["graphs"] = [{"name": target, "weight": 1.0}]
    out["data"]["modalities"] = {k: v for k, v in out["data"]["modalities"].items() if k in modalities}
    return out


def ensure_image_encoder(cfg: Dict[str, Any], cache_dir: Optional[str], quick: bool = False) -> float:
    """Point every ``graphfm`` image encoder of ``cfg`` whose checkpoint does not exist at a
    MultiMAE run on the digits images, pretraining it first if needed; returns the seconds spent."""
    from graphfm.config import load_yaml, resolve_config
    from graphfm.encoders.cache import default_cache_dir

    specs = [s for s in cfg["data"]["modalities"].values()
             if isinstance(s.get("encoder"), Mapping) and s["encoder"].get("name") == "graphfm"
             and not (Path(str(s["encoder"].get("checkpoint") or "")) / "model.safetensors").is_file()]
    if not specs:
        return 0.0
    image_cfg = copy.deepcopy(load_yaml(resolve_config(IMAGE_CONFIG)))
    image_cfg["trainer"]["max_steps"] = 20 if quick else IMAGE_STEPS
    image_cfg["trainer"]["progress"] = False
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    run_dir = root.parent / "checkpoints" / f"multimae-digits-{image_cfg['trainer']['max_steps']}steps"
    start = time.perf_counter()
    if not (run_dir / "model.safetensors").is_file():
        _pretrain(image_cfg, run_dir)
    for spec in specs:
        spec["encoder"]["checkpoint"] = str(run_dir)
    return round(time.perf_counter() - start, 1)


def _pretrain(cfg: Dict[str, Any], run_dir: Path, data_root: Optional[str] = None) -> float:
    from graphfm.engine import pretrain

    start = time.perf_counter()
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)   # small batches: one CPU thread avoids costly thread sync per op
    try:
        pretrain(cfg, run_dir, data_root=data_root, overwrite=True)    # the benchmark's own working folders
    finally:
        torch.set_num_threads(threads)
    return time.perf_counter() - start


def evaluate_target(cfg: Dict[str, Any], target: str, work: Path, data_root: Optional[str], tasks: int,
                    seeds: int, prompt_cfg: Any) -> Dict[str, Any]:
    """Pretrain per seed, train ``target_ssl``, score every method on the same tasks."""
    from graphfm.adapt.unigraph2 import DualPromptTuner
    from graphfm.data import load_graph
    from graphfm.models.unigraph2 import UniGraph2
    from graphfm.stats import effective_rank, mean_cosine

    data = load_graph(target, root=data_root)
    src_cfg = sources_for(cfg, target)
    acc: Dict[tuple, List[float]] = {}
    secs: Dict[str, float] = {m: 0.0 for m in METHODS}
    diag: Dict[str, Dict[str, List[float]]] = {m: {"effective_rank": [], "mean_cosine": []} for m in METHODS}
    timing = {"pretrain_seconds": 0.0, "target_ssl_seconds": 0.0, "unigraph2_target_ssl_seconds": 0.0}
    for seed in range(seeds):
        run_cfg = dict(copy.deepcopy(src_cfg), seed=seed)
        run_cfg["data"]["seed"] = seed
        run_dir = work / f"{_base(target)}-seed{seed}"
        timing["pretrain_seconds"] += _pretrain(run_cfg, run_dir, data_root)
        model = UniGraph2.from_pretrained(run_dir)
        feats, masks = model.prepare(data, progress=False, cache_dir=cfg["data"].get("cache_dir"))
        ssl_dir, cont_dir = work / f"{_base(target)}-ssl-seed{seed}", work / f"{_base(target)}-cont-seed{seed}"
        ssl_cfg = target_only(run_cfg, target, sorted(feats))
        timing["target_ssl_seconds"] += _pretrain(ssl_cfg, ssl_dir, data_root)
        ssl_cfg["trainer"]["init_from"] = str(run_dir)
        timing["unigraph2_target_ssl_seconds"] += _pretrain(ssl_cfg, cont_dir, data_root)
        ssl, cont = UniGraph2.from_pretrained(ssl_dir), UniGraph2.from_pretrained(cont_dir)
        ssl_feats, ssl_masks = ssl.prepare(data, progress=False, cache_dir=cfg["data"].get("cache_dir"))
        untrained = model.untrained_copy(seed=seed)
        embed = {
            "unigraph2": lambda: model.embed_features(feats, masks, data.edge_index),
            "random_init": lambda: untrained.embed_features(feats, masks, data.edge_index),
            "frozen_encoder": lambda: torch.cat([feats[m] for m in sorted(feats)], dim=1),
            "target_ssl": lambda: ssl.embed_features(ssl_feats, ssl_masks, data.edge_index),
            "unigraph2_target_ssl": lambda: cont.embed_features(ssl_feats, ssl_masks, data.edge_index),
        }
        for method, fn in embed.items():
            t0 = time.perf_counter()
            emb = fn()
            diag[method]["effective_rank"].append(effective_rank(emb))
            diag[method]["mean_cosine"].append(mean_cosine(emb))
            for key, values in score_embeddings(emb, data.y, tasks, seed).items():
                acc.setdefault((method,) + key, []).extend(values)
            secs[method] += time.perf_counter() - t0
        t0 = time.perf_counter()
        tuner = DualPromptTuner(model, feats, masks, data.edge_index, prompt_cfg)
        for k, few in _tasks(data.y, tasks, seed).items():
            acc.setdefault(("unigraph2_prompted", "prototype", k), []).extend(tuner.run(few, seed=seed).tolist())
        secs["unigraph2_prompted"] += time.perf_counter() - t0
        diag["unigraph2_prompted"] = diag["unigraph2"]   # the same frozen backbone before tuning
    rows = []
    per_seed = {"prototype": tasks, "linear_probe": PROBE_SPLITS}
    from graphfm.stats import summarise

    for (method, protocol, shots), values in acc.items():
        rows.append(dict(target=target, task="node", method=method, protocol=protocol, shots=shots,
                         **summarise(values, seconds=secs[method], digits=2), seeds=seeds,
                         per_seed=per_seed[protocol]))
    rows.sort(key=lambda r: (METHODS.index(r["method"]), r["protocol"] != "prototype", r["shots"]))
    summary = {m: {k: round(sum(v) / len(v), 2) for k, v in d.items() if v} for m, d in diag.items()}
    return {"rows": rows, "diagnostics": summary,
            "timing": {k: round(v, 1) for k, v in timing.items()}}


def _tasks(y: Tensor, tasks: int, seed: int) -> Dict[int, Any]:
    from graphfm.adapt import sample_tasks

    return {k: sample_tasks(y, k, tasks, seed=seed) for k in SHOTS}


def score_embeddings(emb: Tensor, y: Tensor, tasks: int, seed: int) -> Dict[tuple, List[float]]:
    """Per-task prototype accuracies at every shot count and per-split probe accuracies (percent)."""
    from graphfm.adapt import linear_probe_accuracy, prototype_accuracy

    out: Dict[tuple, List[float]] = {}
    for k, few in _tasks(y, tasks, seed).items():
        out[("prototype", k)] = prototype_accuracy(emb, few).tolist()
    splits = [probe_split(y, PROBE_PER_CLASS, seed * PROBE_SPLITS + i) for i in range(PROBE_SPLITS)]
    out[("linear_probe", PROBE_PER_CLASS)] = [linear_probe_accuracy(emb, y, tr, te, seed=seed) for tr, te in splits]
    return out


def probe_split(y: Tensor, per_class: int, seed: int) -> tuple:
    """``per_class`` random labelled nodes of every class for training, all other labelled nodes for testing."""
    gen = torch.Generator().manual_seed(seed)
    train = []
    for c in torch.unique(y[y >= 0]).tolist():
        idx = (y == c).nonzero().view(-1)
        train.append(idx[torch.randperm(idx.numel(), generator=gen)[:per_class]])
    train = torch.cat(train)
    test = torch.ones_like(y, dtype=torch.bool)
    test[train] = False
    return train, (test & (y >= 0)).nonzero().view(-1)


def _name(entry: Any) -> str:
    return str(entry["name"] if isinstance(entry, Mapping) else entry)


def _base(name: str) -> str:
    """``Cora`` for ``Cora-TAG``, ``Cora`` and ``cora_tag``: graphs that are one data set in another form."""
    return Path(str(name)).stem.replace("_", "-").split("-")[0].lower()

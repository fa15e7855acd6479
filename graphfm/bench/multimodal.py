"""``graphfm bench multimodal``: the four multimodal objectives on small real and synthetic data.

Each objective is pretrained from ``configs/multimodal/<name>.yaml`` on the engine's
LightningModule (the train split only; the test split is never seen), then:

* **MultiMAE** (arXiv:2204.01678) and **M3I** (arXiv:2211.09807): logistic-regression probe
  of digit classes on frozen encoder embeddings of the RGB modality alone (any-subset
  inference), against the same encoder randomly initialised and the raw pixels;
* **BM-MAE** (arXiv:2505.00568): lesion-size probe (3 classes) on phantom embeddings with all
  contrasts and with each contrast missing, against the random encoder;
* **UNITER** (arXiv:1909.11740): image-text matching accuracy on held-out digits, each caption
  paired with its own regions and with the regions of a digit of another class (chance 50%);
* steps per second of each objective (fit wall time / steps, batch size of its config).

Rows: accuracy in percent, ``mean``/``std`` over ``seeds`` pretraining seeds, ``n`` = seeds.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.errors import ConfigError

NAME = "multimodal"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "multimodal"
OBJECTIVES = ("multimae", "m3i", "bm_mae", "uniter")
STEPS = {"multimae": 1200, "m3i": 400, "bm_mae": 200, "uniter": 400}
QUICK_STEPS = {"multimae": 20, "m3i": 20, "bm_mae": 10, "uniter": 20}


@BENCHMARKS.register(NAME)
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, seeds: Optional[int] = None,
        targets: Optional[Sequence[str]] = None, tasks: Optional[int] = None,
        steps: Optional[Dict[str, int]] = None, threads: int = 1) -> Dict[str, Any]:
    """Run the benchmark and write ``out_dir/multimodal.{json,md}``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Unused (digits ship with scikit-learn; phantoms are synthetic).
        quick (bool): A smoke-test version (a few steps, one seed). (default: ``False``)
        seeds (int, optional): Pretraining seeds (``--seeds``). (default: ``1``)
        targets (list[str], optional): Objectives to run, among ``multimae, m3i, bm_mae, uniter``
            (``--targets`` on the command line). (default: all)
        tasks (int, optional): Not used (no few-shot tasks here); giving it is an error.
        steps (dict, optional): Objective -> pretraining steps. (default: :data:`STEPS`)
        threads (int): Torch CPU threads during the run; one avoids thread-sync overhead with
            these tiny models (restored afterwards). (default: ``1``)
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
    try:
        rows = _measure(objectives, seeds or 1, plan)
    finally:
        torch.set_num_threads(previous)
    note = ("\nAccuracies in percent (mean ± std over pretraining seeds, `n` = seeds); throughput in steps/s "
            f"(torch threads: {threads}). The papers report ImageNet / BraTS / COCO-scale numbers "
            "that these CPU-sized runs are not comparable with, so none are listed.\n")
    return write_results(Path(out_dir), NAME, rows, extra_md=note)


def _measure(objectives: Sequence[str], seeds: int, plan: Dict[str, int]) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    for name in objectives:
        runs = [_pretrain(name, seed, plan[name]) for seed in range(seeds)]
        rows += _EVALUATORS[name](runs)
        rows.append(_row("throughput", f"steps/s (batch {runs[0]['batch_size']}, CPU)", name,
                         [r["steps_per_s"] for r in runs], sum(r["seconds"] for r in runs), steps=plan[name]))
    return rows


# ----------------------------------------------------------------------------- training
def _pretrain(name: str, seed: int, steps: int) -> Dict[str, Any]:
    """Pretrain ``configs/multimodal/<name>.yaml`` on the engine's LightningModule; keep the objective."""
    import lightning.pytorch as pl

    from graphfm.config import load_experiment
    from graphfm.engine.module import PretrainModule
    from graphfm.engine.train import _quiet_lightning, build
    import graphfm.engine.datamodules.multimodal  # noqa: F401  (registers the data module)

    path = CONFIG_DIR / f"{name}.yaml"
    cfg = load_experiment(path, [f"seed={seed}", f"trainer.max_steps={steps}", "trainer.progress=false"])
    pl.seed_everything(seed, workers=True, verbose=False)
    datamodule, objective = build(cfg)
    _quiet_lightning()
    trainer = pl.Trainer(max_steps=steps, max_epochs=-1, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         gradient_clip_val=cfg.trainer.grad_clip or None, num_sanity_val_steps=0,
                         limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(PretrainModule(objective, cfg.trainer), train_dataloaders=datamodule.train_dataloader())
    seconds = time.perf_counter() - start
    objective.eval()
    return {"objective": objective, "seed": seed, "seconds": seconds, "steps_per_s": steps / seconds,
            "batch_size": cfg.data.get("batch_size", 64), "data": cfg.data}


# ----------------------------------------------------------------------------- evaluation
def _probe(emb: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Logistic-regression accuracy (percent) on standardised embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # BLAS threads only slow these small fits down
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        clf.fit(emb[train], labels[train])
        return 100.0 * float(clf.score(emb[test], labels[test]))


def _split(dataset: str, data_cfg: Dict[str, Any]) -> Tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    from graphfm.engine.datamodules.multimodal import MultimodalDataModule
    from multimodal.data import load_multimodal, split_indices

    dm = MultimodalDataModule(**{k: v for k, v in data_cfg.items() if k != "name"})
    data = load_multimodal(dataset, **dm.loader_options())
    train, test = split_indices(data, dm.test_fraction, dm.seed)
    return data, data.tensors["label"].numpy(), train, test


def _eval_digits_probe(name: str, runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    data, labels, train, test = _split("digits", runs[0]["data"])
    scores: Dict[str, List[float]] = {name: [], "random_init": []}
    start = time.perf_counter()
    for r in runs:
        model = r["objective"].model
        for method, m in ((name, model), ("random_init", model.untrained_copy(r["seed"]))):
            emb = m.embed_dataset("digits", modalities=["rgb"]).numpy()
            scores[method].append(_probe(emb, labels, train, test))
    pixels = _probe(data.tensors["rgb"].flatten(1).numpy(), labels, train, test)
    secs = time.perf_counter() - start
    task = "linear probe, rgb only"
    rows = [_row("digits", task, m, s, secs + sum(r["seconds"] for r in runs) * (m == name))
            for m, s in scores.items()]
    rows.append(_row("digits", task, "pixels", [pixels], 0.0))
    return rows


def _eval_bm_mae(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    data, labels, train, test = _split("phantoms", runs[0]["data"])
    contrasts = list(runs[0]["objective"].modalities)
    subsets = [("all contrasts", contrasts)] + [(f"no {c}", [m for m in contrasts if m != c]) for c in contrasts]
    rows = []
    for label, subset in subsets:
        scores: Dict[str, List[float]] = {"bm_mae": [], "random_init": []}
        start = time.perf_counter()
        for r in runs:
            model = r["objective"].model
            for method, m in (("bm_mae", model), ("random_init", model.untrained_copy(r["seed"]))):
                emb = _embed(m, {k: data.tensors[k] for k in subset})
                scores[method].append(_probe(emb, labels, train, test))
        secs = time.perf_counter() - start
        rows += [_row("phantoms", f"lesion probe, {label}", m, s, secs / 2) for m, s in scores.items()]
    return rows


def _eval_uniter(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    data, labels, _, test = _split("digits", runs[0]["data"])
    text, regions = data.tensors["text"][test], data.tensors["regions"][test]
    y = torch.from_numpy(labels[test])
    scores: Dict[str, List[float]] = {"uniter": [], "random_init": []}
    start = time.perf_counter()
    for r in runs:
        objective = r["objective"]
        gen = torch.Generator().manual_seed(r["seed"])
        partner = _other_class(y, gen)
        for method in scores:
            if method == "random_init":
                objective = type(objective)(objective.model.untrained_copy(r["seed"])).eval()
            with torch.no_grad():
                pos = objective.match_logits(text, regions).argmax(-1) == 1
                neg = objective.match_logits(text, regions[partner]).argmax(-1) == 0
            scores[method].append(100.0 * float(torch.cat([pos, neg]).float().mean()))
    secs = time.perf_counter() - start
    return [_row("digits", "image-text matching (chance 50)", m, s, secs / 2 + sum(x["seconds"] for x in runs)
                 * (m == "uniter")) for m, s in scores.items()]


def _other_class(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """For each item, a random item of a different class."""
    scores = torch.rand(len(labels), len(labels), generator=gen)
    return scores.masked_fill(labels[:, None] == labels[None, :], -1.0).argmax(1)


def _embed(model: torch.nn.Module, tensors: Dict[str, torch.Tensor], batch_size: int = 256) -> np.ndarray:
    with torch.no_grad():
        n = len(next(iter(tensors.values())))
        return torch.cat([model.embed({k: v[i:i + batch_size] for k, v in tensors.items()})
                          for i in range(0, n, batch_size)]).numpy()


def _row(target: str, task: str, method: str, values: Sequence[float], seconds: float, **extra: Any) -> Dict[str, Any]:
    arr = np.asarray(values, dtype=float)
    return {"target": target, "task": task, "method": method, "mean": round(float(arr.mean()), 2),
            "std": round(float(arr.std()), 2), "n": len(arr), "seconds": round(float(seconds), 1), **extra}


_EVALUATORS = {
    "multimae": lambda runs: _eval_digits_probe("multimae", runs),
    "m3i": lambda runs: _eval_digits_probe("m3i", runs),
    "bm_mae": _eval_bm_mae,
    "uniter": _eval_uniter,
}

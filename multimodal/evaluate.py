"""Held-out evaluations of pretrained multimodal encoders, per test item (for paired comparisons).

Used by ``graphfm bench multimodal``. Every evaluator takes the objective's name and its runs
(one per pretraining seed: ``{"objective", "model", "seed", "seconds", "data"}``) and returns
result rows (``DESIGN.md``) whose ``accuracies`` hold one outcome per test item, seeds
concatenated, in the same order for every method of a cell.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from graphfm.stats import summarise

#: Methods that are baselines (not pretrained objectives).
BASELINES = ("random_init", "pixels", "voxels", "bow_x_regions", "linear_from_present")
#: Raw-input baseline of each target.
RAW = {"digits": "pixels", "phantoms": "voxels"}


def row(target: str, task: str, method: str, values: Sequence[float], seconds: float, **extra: Any) -> Dict[str, Any]:
    """A result row: ``summarise`` (sample std) of ``values`` plus target/task/method and extras."""
    return {"target": target, "task": task, "method": method, **summarise(values, seconds, digits=3), **extra}


def probe_outcomes(emb: Tensor, y: Tensor, train: np.ndarray, test: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per-test-item outcomes (100 = right, 0 = wrong) of :func:`graphfm.adapt.linear_probe_accuracy`.

    The same pipeline (standardise, logistic regression) is refitted here to read predictions
    item by item; their mean is checked against ``linear_probe_accuracy`` itself.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from graphfm.adapt import linear_probe_accuracy

    x, labels = emb.detach().float().cpu().numpy(), torch.as_tensor(y).cpu().numpy()
    with threadpool_limits(1):
        scaler = StandardScaler().fit(x[train])
        clf = LogisticRegression(max_iter=1000, random_state=seed).fit(scaler.transform(x[train]), labels[train])
        outcomes = 100.0 * (clf.predict(scaler.transform(x[test])) == labels[test])
        reference = linear_probe_accuracy(emb, torch.as_tensor(y), torch.as_tensor(train), torch.as_tensor(test),
                                          seed=seed)
    if abs(float(outcomes.mean()) - reference) > 1e-6:
        raise RuntimeError(f"per-item probe ({outcomes.mean():.4f}) disagrees with linear_probe_accuracy "
                           f"({reference:.4f}); keep probe_outcomes in step with graphfm.adapt.fewshot")
    return outcomes


def _load(dataset: str, model: Any, data_cfg: Mapping[str, Any]) -> Tuple[Any, Tensor, np.ndarray, np.ndarray]:
    from multimodal.data import accepted_options, load_multimodal, split_indices

    data = load_multimodal(dataset, **accepted_options(dataset, model.data_options))
    train, test = split_indices(data, data_cfg.get("test_fraction", 0.3), data_cfg.get("seed", 0))
    return data, data.tensors["label"], train, test


def _embed(model: Any, tensors: Mapping[str, Tensor], batch_size: int = 256) -> Tensor:
    model.eval()
    n = len(next(iter(tensors.values())))
    with torch.no_grad():
        return torch.cat([model.embed({k: v[i:i + batch_size] for k, v in tensors.items()})
                          for i in range(0, n, batch_size)])


def _cell(target: str, task: str, scores: Dict[str, List[np.ndarray]], seconds: Dict[str, float],
          **extra: Any) -> List[Dict[str, Any]]:
    return [row(target, task, m, np.concatenate(v), seconds.get(m, 0.0), **extra) for m, v in scores.items()]


def eval_digits_probe(name: str, runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Digit classes from RGB embeddings: the objective, its random-init encoder, raw pixels."""
    data, y, train, test = _load("digits", runs[0]["model"], runs[0]["data"])
    scores: Dict[str, List[np.ndarray]] = {name: [], "random_init": [], "pixels": []}
    secs = {name: sum(r["seconds"] for r in runs), "random_init": 0.0, "pixels": 0.0}
    start = time.perf_counter()
    pixels = probe_outcomes(data.tensors["rgb"].flatten(1), y, train, test)
    secs["pixels"] = time.perf_counter() - start
    for r in runs:
        for method, model in ((name, r["model"]), ("random_init", r["model"].untrained_copy(r["seed"]))):
            start = time.perf_counter()
            scores[method].append(probe_outcomes(_embed(model, {"rgb": data.tensors["rgb"]}), y, train, test))
            secs[method] += time.perf_counter() - start
        scores["pixels"].append(pixels)
    return _cell("digits", "linear probe, rgb only", scores, secs)


def eval_bm_mae(name: str, runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Lesion-size probe with all / each-but-one contrasts, and rebuilding a dropped contrast."""
    data, y, train, test = _load("phantoms", runs[0]["model"], runs[0]["data"])
    contrasts = list(runs[0]["objective"].modalities)
    rows: List[Dict[str, Any]] = []
    for label, subset in [("all contrasts", contrasts)] + [(f"no {c}", [m for m in contrasts if m != c])
                                                          for c in contrasts]:
        tensors = {k: data.tensors[k] for k in subset}
        scores: Dict[str, List[np.ndarray]] = {name: [], "random_init": [], "voxels": []}
        secs = {name: sum(r["seconds"] for r in runs) if label == "all contrasts" else 0.0}
        start = time.perf_counter()
        voxels = probe_outcomes(torch.cat([v.flatten(1) for v in tensors.values()], 1), y, train, test)
        secs["voxels"] = time.perf_counter() - start
        for r in runs:
            for method, model in ((name, r["model"]), ("random_init", r["model"].untrained_copy(r["seed"]))):
                start = time.perf_counter()
                scores[method].append(probe_outcomes(_embed(model, tensors), y, train, test))
                secs[method] = secs.get(method, 0.0) + time.perf_counter() - start
            scores["voxels"].append(voxels)
        rows += _cell("phantoms", f"lesion probe, {label}", scores, secs)
    for missing in contrasts:
        present = [m for m in contrasts if m != missing]
        start = time.perf_counter()
        baseline = _linear_from_present(data.tensors, present, missing, train, test)
        base_secs = time.perf_counter() - start
        scores = {name: [], "linear_from_present": []}
        start = time.perf_counter()
        for r in runs:
            objective = r["objective"].eval()
            inputs = {k: data.tensors[k][test] for k in contrasts}
            scores[name].append(objective.missing_mse(inputs, missing).numpy())
            scores["linear_from_present"].append(baseline)
        rows += _cell("phantoms", f"rebuild missing {missing} (MSE per subject)", scores,
                      {name: time.perf_counter() - start, "linear_from_present": base_secs}, unit="MSE")
    return rows


def _linear_from_present(tensors: Mapping[str, Tensor], present: Sequence[str], missing: str,
                         train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per-subject MSE of a voxel-wise linear regression (shared coefficients) from the present contrasts."""
    def design(idx: np.ndarray) -> Tensor:
        cols = [tensors[m][idx].flatten(1) for m in present]
        return torch.stack(cols + [torch.ones_like(cols[0])], -1).double()  # [N, V, P + 1]

    x, t = design(train), tensors[missing][train].flatten(1).double()
    coef = torch.linalg.lstsq(x.reshape(-1, x.shape[-1]), t.reshape(-1, 1)).solution
    pred = design(test) @ coef
    return (pred[..., 0] - tensors[missing][test].flatten(1).double()).pow(2).mean(1).numpy()


def _content_pairs(content: Tensor, idx: np.ndarray, gen: torch.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item of ``idx`` with itself (match) and with a random item of ``idx`` of other content."""
    c = content[idx]
    scores = torch.rand(len(idx), len(idx), generator=gen).masked_fill(c[:, None] == c[None, :], -1.0)
    partner = idx[scores.argmax(1).numpy()]
    text = np.concatenate([idx, idx])
    regions = np.concatenate([idx, partner])
    return text, regions, np.concatenate([np.ones(len(idx)), np.zeros(len(idx))]).astype(np.int64)


def _bow_x_regions(text: Tensor, regions: Tensor, feature_dim: int) -> Tensor:
    """Raw bilinear features: caption bag of words (outer) mean region feature, flattened."""
    vocab, ids = torch.unique(text, return_inverse=True)
    bow = torch.zeros(len(text), len(vocab)).scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float))
    feat = regions[..., :feature_dim].mean(1)
    return (bow[:, :, None] * feat[:, None, :]).flatten(1)


def eval_uniter(name: str, runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Image-text matching probe on (caption, regions) pairs; the pretrained ITM head beside it."""
    data, _, train, test = _load("digits", runs[0]["model"], runs[0]["data"])
    text, regions, content = data.tensors["text"], data.tensors["regions"], data.tensors["content"]
    fdim = runs[0]["model"].adapters["regions"].feature_dim
    methods = (name, "random_init", "bow_x_regions", f"{name}_itm_head")
    scores: Dict[str, List[np.ndarray]] = {m: [] for m in methods}
    secs = {m: 0.0 for m in methods}
    secs[name] = sum(r["seconds"] for r in runs)
    for r in runs:
        gen = torch.Generator().manual_seed(1000 + r["seed"])
        tr_t, tr_r, tr_y = _content_pairs(content, train, gen)
        te_t, te_r, te_y = _content_pairs(content, test, gen)
        t_idx, r_idx = np.concatenate([tr_t, te_t]), np.concatenate([tr_r, te_r])
        y = torch.from_numpy(np.concatenate([tr_y, te_y]))
        fit, held = np.arange(len(tr_y)), np.arange(len(tr_y), len(y))
        pairs = {"text": text[t_idx], "regions": regions[r_idx]}
        for method, model in ((name, r["model"]), ("random_init", r["model"].untrained_copy(r["seed"]))):
            start = time.perf_counter()
            scores[method].append(probe_outcomes(_embed(model, pairs), y, fit, held))
            secs[method] += time.perf_counter() - start
        start = time.perf_counter()
        raw = _bow_x_regions(pairs["text"], pairs["regions"], fdim)
        scores["bow_x_regions"].append(probe_outcomes(raw, y, fit, held))
        secs["bow_x_regions"] += time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            logits = r["objective"].eval().match_logits(pairs["text"][held], pairs["regions"][held])
        scores[f"{name}_itm_head"].append(100.0 * (logits.argmax(-1) == y[held]).numpy())
        secs[f"{name}_itm_head"] += time.perf_counter() - start
    return _cell("digits", "image-text matching, random negatives (chance 50)", scores, secs)


EVALUATORS: Dict[str, Callable[[str, List[Dict[str, Any]]], List[Dict[str, Any]]]] = {
    "multimae": eval_digits_probe, "m3i": eval_digits_probe, "m3i_label_free": eval_digits_probe,
    "bm_mae": eval_bm_mae, "uniter": eval_uniter,
}

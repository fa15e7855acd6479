"""Summaries every benchmark reports: one ``summarise`` and one paired comparison.

Per-task (or per-item) outcomes are summarised with the *sample* standard deviation
(``ddof = 1``), the convention of the result contract in ``DESIGN.md``. Two methods
scored on the very same tasks are compared pair by pair: the mean of the per-task
differences with a Student-t 95 % confidence interval, which is far tighter than
comparing two means whose task-to-task spread is shared.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Optional, Sequence, Union

import torch

__all__ = ["summarise", "paired_difference", "format_interval", "t_quantile", "effective_rank", "mean_cosine"]

Numbers = Union[torch.Tensor, Sequence[float], Iterable[float]]


def _as_tensor(values: Numbers) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().double().reshape(-1).cpu()
    return torch.as_tensor(list(values), dtype=torch.float64).reshape(-1)


def summarise(values: Numbers, seconds: Optional[float] = None, digits: int = 4) -> Dict[str, Any]:
    """``mean``, ``std`` (sample, ddof 1; 0 for a single value), ``n``, ``seconds`` and the
    list of values (``accuracies``), as a benchmark row or ``graphfm adapt`` result holds them.

    Args:
        values: Per-task outcomes (e.g. accuracies in percent).
        seconds (float, optional): Wall time that produced them. (default: ``None``: omitted)
        digits (int): Rounding of every number. (default: ``4``)
    """
    v = _as_tensor(values)
    if v.numel() == 0:
        raise ValueError("summarise() needs at least one value")
    std = float(v.std(unbiased=True)) if v.numel() > 1 else 0.0
    out: Dict[str, Any] = {"mean": round(float(v.mean()), digits), "std": round(std, digits), "n": int(v.numel())}
    if seconds is not None:
        out["seconds"] = round(float(seconds), 3)
    out["accuracies"] = [round(float(a), digits) for a in v]
    return out


def paired_difference(a: Numbers, b: Numbers, confidence: float = 0.95) -> Dict[str, float]:
    """Mean of ``a - b`` over paired outcomes with a Student-t confidence interval.

    Args:
        a, b: Outcomes of two methods on the same tasks, in the same order.
        confidence (float): Two-sided level of the interval. (default: ``0.95``)

    Returns:
        dict: ``diff`` (mean difference), ``low`` / ``high`` (interval), ``n`` and
        ``wins`` (fraction of pairs where ``a > b``).
    """
    x, y = _as_tensor(a), _as_tensor(b)
    if x.numel() != y.numel() or x.numel() == 0:
        raise ValueError(f"paired_difference needs two equally long, non-empty series, got {x.numel()} and "
                         f"{y.numel()} values; score both methods on the same tasks")
    d = x - y
    n = d.numel()
    mean = float(d.mean())
    half = t_quantile(0.5 + confidence / 2, n - 1) * float(d.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.inf
    return {"diff": mean, "low": mean - half, "high": mean + half, "n": n, "wins": float((d > 0).double().mean())}


def format_interval(d: Dict[str, float], digits: int = 2, sep: str = " ") -> str:
    """A difference and its interval as text: ``"+1.23 [+0.45, +2.01]"``.

    Args:
        d (dict): ``diff``, ``low`` and ``high`` (e.g. :func:`paired_difference`'s result).
        digits (int): Decimals. (default: ``2``)
        sep (str): Between the difference and the bracket (``" | "`` puts them in two table
            cells). (default: ``" "``)
    """
    f = f"+.{digits}f"
    return f"{d['diff']:{f}}{sep}[{d['low']:{f}}, {d['high']:{f}}]"


def t_quantile(p: float, dof: int) -> float:
    """Quantile ``p`` of Student's t with ``dof`` degrees of freedom."""
    if dof <= 0:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(p, dof))


def effective_rank(emb: torch.Tensor) -> float:
    """``exp`` of the entropy of the normalised singular values of the centred embeddings
    ``[N, D]`` (Roy & Vetterli, 2007): ``D`` for isotropic embeddings, 1 for collapsed ones."""
    x = emb.detach().double()
    s = torch.linalg.svdvals(x - x.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def mean_cosine(emb: torch.Tensor, max_rows: int = 2000, seed: int = 0) -> float:
    """Mean cosine similarity of distinct rows of ``emb [N, D]`` (a seeded sample of at most
    ``max_rows``): near 1 when every embedding points the same way."""
    x = emb.detach().double()
    if x.size(0) > max_rows:
        x = x[torch.randperm(x.size(0), generator=torch.Generator().manual_seed(seed))[:max_rows]]
    x = torch.nn.functional.normalize(x, dim=-1)
    n = x.size(0)
    if n < 2:
        return 1.0
    total = x.sum(0)
    return float((total @ total - n) / (n * (n - 1)))

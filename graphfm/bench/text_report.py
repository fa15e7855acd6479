"""Markdown of ``graphfm bench text``: means, paired intervals against every baseline, the
issue's criteria counted cell by cell, and what each fold chose."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from graphfm.report import markdown_table
from graphfm.stats import format_interval, paired_difference

HEADLINE = "unigraph2"
TASKS = ("0-shot", "1-shot", "5-shot", "probe")


def _index(rows: Sequence[Mapping[str, Any]], key: str = "accuracies") -> Dict[tuple, List[float]]:
    return {(r["target"], r["method"], r["task"]): list(r[key]) for r in rows if key in r}


def _diff(idx: Mapping[tuple, List[float]], target: str, task: str, method: str,
          headline: str = HEADLINE) -> Optional[Dict[str, float]]:
    a, b = idx.get((target, headline, task)), idx.get((target, method, task))
    return paired_difference(a, b) if a and b and len(a) == len(b) else None


def means_table(rows: Sequence[Mapping[str, Any]], targets: Sequence[str], key: str = "mean") -> List[str]:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cells = {(r["target"], r["method"], r["task"]): r.get(key) for r in rows}
    header = ["method"] + [f"{t.replace('-TAG', '')} {task}" for t in targets for task in TASKS]
    body = [[m] + [("" if cells.get((t, m, task)) is None else f"{cells[(t, m, task)]:.2f}")
                   for t in targets for task in TASKS] for m in methods]
    return markdown_table(header, body)


def intervals_table(rows: Sequence[Mapping[str, Any]], targets: Sequence[str], key: str = "accuracies") -> List[str]:
    idx = _index(rows, key)
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != HEADLINE]
    body = []
    for t in targets:
        for task in TASKS:
            line = [t.replace("-TAG", ""), task]
            for m in methods:
                d = _diff(idx, t, task, m)
                line.append("" if d is None else format_interval(d) + (" *" if d["low"] > 0 else ""))
            body.append(line)
    return markdown_table(["target", "task"] + [f"vs {m}" for m in methods], body)


def criteria(rows: Sequence[Mapping[str, Any]], targets: Sequence[str]) -> List[List[str]]:
    """The issue's criteria for the headline row: ``[criterion, cells met, verdict]``."""
    idx = _index(rows)
    means = {(r["target"], r["method"], r["task"]): r["mean"] for r in rows}

    def count(method: str, tasks: Sequence[str]) -> tuple:
        ds = [(t, k, _diff(idx, t, k, method)) for t in targets for k in tasks]
        ok = [f"{t.replace('-TAG', '')} {k}" for t, k, d in ds if d is not None and d["low"] > 0]
        return len(ok), len([d for *_, d in ds if d is not None])

    out = []
    for method, tasks, need in (("sgc_lm", ("0-shot", "1-shot", "5-shot"), 10),
                                ("random_init", ("0-shot", "1-shot", "5-shot"), 10),
                                ("dgi_target", ("1-shot", "5-shot"), 7)):
        won, total = count(method, tasks)
        if total:
            out.append([f"interval above 0 vs {method} ({', '.join(tasks)}; need {need} of {4 * len(tasks)})",
                        f"{won} / {total}", _verdict(won >= need, total == 4 * len(tasks))])
    probe = [(t, means.get((t, HEADLINE, "probe")), means.get((t, "sgc_lm", "probe"))) for t in targets]
    low = [f"{t.replace('-TAG', '')} {a - b:+.2f}" for t, a, b in probe if a is not None and b is not None]
    if low:
        bad = [x for (t, a, b) in probe if a is not None and b is not None and a - b < -0.5 for x in [t]]
        out.append(["probe no more than 0.5 below sgc_lm", "; ".join(low), "not met" if bad else "met"])
    zs, total = count("sgc_lm", ("0-shot",))
    if total:
        out.append(["zero-shot interval above sgc_lm's (need 3 of 4)", f"{zs} / {total}", _verdict(zs >= 3, total == 4)])
    cora = means.get(("Cora-TAG", HEADLINE, "0-shot"))
    if cora is not None:
        out.append(["zero-shot >= 70 on Cora-TAG", f"{cora:.2f}", "met" if cora >= 70 else "not met"])
    mono = [(t, means.get((t, HEADLINE, "1-shot")), means.get((t, HEADLINE, "0-shot"))) for t in targets]
    mono = [(t, a, b) for t, a, b in mono if a is not None and b is not None]
    if mono:
        out.append(["1-shot >= 0-shot on every target", "; ".join(f"{t.replace('-TAG', '')} {a:.2f} vs {b:.2f}"
                                                                  for t, a, b in mono),
                    "met" if all(a >= b for _, a, b in mono) else "not met"])
    return out


def _verdict(ok: bool, complete: bool) -> str:
    return ("met" if ok else "not met") if complete else "partial run"


def folds_table(folds: Mapping[str, Mapping[str, Any]]) -> List[str]:
    body = []
    for target, f in folds.items():
        rule = f.get("rule", {})
        body.append([target, ", ".join(f.get("sources", [])), f"`{f.get('template')}`", str(f.get("hops")),
                     f"{rule.get('kind')} {rule.get('w0', 0):g}", f"{f.get('alpha')}",
                     f"{f.get('timing', {}).get('pretrain', '')}", f"{f.get('seconds', '')}"])
    return markdown_table(["target", "sources", "template", "k", "name rule", "alpha", "pretrain s", "fold s"], body)


def report_markdown(rows: Sequence[Mapping[str, Any]], extra: Mapping[str, Any]) -> str:
    targets = list(dict.fromkeys(r["target"] for r in rows))
    s = extra.get("settings", {})
    lines = ["", f"## Accuracy (mean over {s.get('seeds')} seeds x {s.get('tasks')} tasks; probe: "
                 f"{s.get('seeds', 0) * s.get('probe_splits', 0)} splits of {20} nodes per class)", ""]
    lines += means_table(rows, targets)
    if any("balanced_mean" in r for r in rows):
        bal_targets = [t for t in targets if any(r["target"] == t and "balanced_mean" in r for r in rows)]
        lines += ["", "Balanced accuracy:", ""] + means_table([r for r in rows if "balanced_mean" in r],
                                                              bal_targets, "balanced_mean")
    lines += ["", f"## `{HEADLINE}` minus each row, paired task by task (95 % interval; * = above zero)", ""]
    lines += intervals_table(rows, targets)
    if any("balanced_accuracies" in r for r in rows):
        lines += ["", "Balanced accuracy:", ""] + intervals_table(
            [r for r in rows if "balanced_accuracies" in r],
            [t for t in targets if any(r["target"] == t and "balanced_accuracies" in r for r in rows)],
            "balanced_accuracies")
    lines += ["", "## The issue's criteria, counted", ""]
    lines += markdown_table(["criterion", "cells", "verdict"], criteria(rows, targets))
    lines += ["", "## What each fold chose on its sources", ""] + folds_table(extra.get("folds", {}))
    lines += ["", f"Total: {extra.get('total_seconds')} s."]
    return "\n".join(lines) + "\n"

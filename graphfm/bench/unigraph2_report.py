"""The Markdown of ``graphfm bench unigraph2``: means, paired intervals per seed, collapse, verdicts.

Pairs are the same task (or probe split) under the same pretraining seed; the interval
pools the pairs of all seeds (:func:`graphfm.stats.paired_difference`, Student t, 95 %),
and each seed's mean difference is listed beside it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from graphfm.report import markdown_table
from graphfm.stats import format_interval, paired_difference

from graphfm.bench.unigraph2 import METHODS

PAIRS = (("unigraph2", "random_init"), ("unigraph2", "frozen_encoder"), ("unigraph2", "target_ssl"),
         ("unigraph2_prompted", "unigraph2"), ("unigraph2_prompted", "random_init"),
         ("unigraph2_prompted", "target_ssl"), ("unigraph2_target_ssl", "target_ssl"),
         ("unigraph2_target_ssl", "random_init"), ("unigraph2_target_ssl", "frozen_encoder"))
Cell = Tuple[str, str, int]   # (target, protocol, shots)
COLUMNS = ("1-shot", "5-shot", "linear probe")


def _label(protocol: str, shots: int) -> str:
    return "linear probe" if protocol == "linear_probe" else f"{shots}-shot"


def _cells(rows: List[Dict[str, Any]]) -> Dict[Cell, Dict[str, Dict[str, Any]]]:
    cells: Dict[Cell, Dict[str, Dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["target"], r["protocol"], int(r["shots"])), {})[r["method"]] = r
    return cells


def paired(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Pooled paired difference of two rows and the mean difference of each seed."""
    d = paired_difference(a["accuracies"], b["accuracies"])
    k = int(a.get("per_seed") or len(a["accuracies"]))
    diffs = [x - y for x, y in zip(a["accuracies"], b["accuracies"])]
    d["per_seed"] = [sum(diffs[i:i + k]) / len(diffs[i:i + k]) for i in range(0, len(diffs), k)]
    return d


def _ci(d: Dict[str, Any]) -> str:
    mark = " ✓" if d["low"] > 0 else (" ✗" if d["high"] < 0 else "")
    seeds = ", ".join(f"{x:+.2f}" for x in d["per_seed"])
    return f"{format_interval(d)}{mark} (seeds: {seeds})"


def report_markdown(rows: List[Dict[str, Any]], extra: Dict[str, Any]) -> str:
    """Everything under the row table of ``results/unigraph2.md``."""
    cells = _cells(rows)
    targets = list(dict.fromkeys(t for t, _, _ in cells))
    lines = ["", "## Accuracy (%, mean ± std over tasks × seeds; probe: splits × seeds)", ""]
    table = []
    for target in targets:
        for method in METHODS:
            vals = []
            for (t, protocol, shots), by in cells.items():
                if t == target and method in by:
                    vals.append((_label(protocol, shots), f"{by[method]['mean']:.2f} ± {by[method]['std']:.2f}"))
            v = dict(vals)
            if v:
                table.append([target, method, *(v.get(c, "–") for c in COLUMNS)])
    lines += markdown_table(["target", "method", *COLUMNS], table)
    lines += ["", "## Paired differences (points; 95 % t-interval over the pooled pairs; each seed's mean)", "",
              "✓ interval above zero, ✗ below zero. Pairs: the same task (probe split) under the same pretraining "
              "seed.", ""]
    diffs: Dict[Tuple[str, str, Cell], Dict[str, Any]] = {}
    for a, b in PAIRS:
        lines += [f"**{a} − {b}**", ""]
        table = []
        for target in targets:
            out = {}
            for cell, by in cells.items():
                if cell[0] == target and a in by and b in by:
                    diffs[(a, b, cell)] = paired(by[a], by[b])
                    out[_label(cell[1], cell[2])] = _ci(diffs[(a, b, cell)])
            table.append([target, *(out.get(c, "–") for c in COLUMNS)])
        lines += markdown_table(["target", *COLUMNS], table) + [""]
    lines += collapse_section(extra.get("diagnostics", {}))
    lines += verdicts(cells, diffs, extra.get("diagnostics", {}))
    lines += notes(extra)
    return "\n".join(lines) + "\n"


def collapse_section(diagnostics: Dict[str, Dict[str, Dict[str, float]]]) -> List[str]:
    """Effective rank and mean cosine of the scored target embeddings (mean over seeds)."""
    if not diagnostics:
        return []
    lines = ["## Collapse: the scored embeddings of the target", "",
             "Effective rank (exp of the entropy of the centred singular values) and mean cosine, mean over seeds; "
             "ratio = effective rank / that of `random_init`.", ""]
    table = []
    for target, by in diagnostics.items():
        base = by.get("random_init", {}).get("effective_rank")
        for method in METHODS:
            if method == "unigraph2_prompted" or method not in by:
                continue
            d = by[method]
            ratio = f"{d['effective_rank'] / base:.2f}" if base else "–"
            table.append([target, method, f"{d['effective_rank']:.1f}", ratio, f"{d['mean_cosine']:.3f}"])
    return lines + markdown_table(["target", "method", "effective rank", "ratio to random_init", "mean cosine"],
                                  table) + [""]


def verdicts(cells: Dict[Cell, Dict[str, Dict[str, Any]]], diffs: Dict[Tuple[str, str, Cell], Dict[str, Any]],
             diagnostics: Dict[str, Any]) -> List[str]:
    """The issue's acceptance conditions, computed from the tables."""
    lines = ["## Verdicts", ""]
    for target in dict.fromkeys(t for t, _, _ in cells):
        mine = {c: by for c, by in cells.items() if c[0] == target and "unigraph2" in by}
        beats = [c for c, by in mine.items() if all(by["unigraph2"]["mean"] > by[m]["mean"]
                                                      for m in ("random_init", "frozen_encoder") if m in by)]
        shots = [c for c in mine if c[1] == "prototype"]
        above = [c for c in shots if (d := diffs.get(("unigraph2", "random_init", c))) and d["low"] > 0]
        seeds_pos = [c for c in shots if (d := diffs.get(("unigraph2", "random_init", c)))
                     and all(x > 0 for x in d["per_seed"])]
        rank = diagnostics.get(target, {})
        ratio = (rank.get("unigraph2", {}).get("effective_rank", 0.0)
                 / max(rank.get("random_init", {}).get("effective_rank", 0.0), 1e-9)) if rank else float("nan")
        ssl = [f"{_label(c[1], c[2])} {d['diff']:+.2f}" for c in mine
               if (d := diffs.get(("unigraph2", "target_ssl", c)))]
        prompt = [f"{_label(c[1], c[2])} {d['diff']:+.2f}" for c in mine
                  if (d := diffs.get(("unigraph2_prompted", "unigraph2", c)))]
        cont = [f"{_label(c[1], c[2])} {format_interval(d)}" for c in mine
                if (d := diffs.get(("unigraph2_target_ssl", "target_ssl", c)))]
        lines += [f"- **{target}**: unigraph2 beats random_init and frozen_encoder in **{len(beats)} of "
                  f"{len(mine)}** cells; interval to random_init above zero at **{len(above)} of {len(shots)}** "
                  f"shot counts; every seed's mean difference positive at **{len(seeds_pos)} of {len(shots)}**; "
                  f"effective rank **{ratio:.2f}** × random_init's (goal ≥ 0.8); distance to target_ssl: "
                  f"{', '.join(ssl) or '–'}; prompts − frozen backbone: {', '.join(prompt) or '–'}; "
                  f"continued on the target − target_ssl (what pretraining adds to training on the target): "
                  f"{', '.join(cont) or '–'}."]
    return lines + [""]


def notes(extra: Dict[str, Any]) -> List[str]:
    s, timing = extra.get("settings", {}), extra.get("timing", {})
    lines = ["## Settings and time", "",
             f"- {s.get('seeds')} pretraining seeds; per seed {s.get('tasks')} tasks per shot count (all classes, "
             f"queries: up to 1000 other labelled nodes, cosine prototypes) and {s.get('probe_splits')} probe splits "
             f"({s.get('probe_per_class')} nodes per class train, the rest test). Every method sees the same tasks.",
             f"- Pretraining, target_ssl and unigraph2_target_ssl: {s.get('steps')} steps each; model {s.get('model')}; objective "
             f"{s.get('objective')}.",
             f"- Dual prompts: {s.get('prompt')}.",
             f"- Time (s): image encoder (MultiMAE on the digits images; 0 when its checkpoint was cached) "
             f"{timing.get('image_encoder_seconds')}; " + "; ".join(
                 f"{t}: pretraining {v['pretrain_seconds']}, target_ssl {v['target_ssl_seconds']}, "
                 f"unigraph2_target_ssl {v.get('unigraph2_target_ssl_seconds', '–')}, all {v['seconds']}"
                 for t, v in timing.items() if isinstance(v, dict)) + f"; total **{timing.get('total_seconds')}**."]
    if s.get("quick"):
        lines.append("- **quick mode**: a smoke test, not a result.")
    return lines + [""]

#!/usr/bin/env python
"""Rerun one seed of each standing benchmark and compare it with the committed results.

Each standing benchmark (``results/<bench>.json``, written by ``graphfm bench <bench>``) is rerun
with ``--seeds 1`` and otherwise the settings recorded in its committed JSON (tasks, protocol),
into a temporary folder. Every per-task value of every result row (``accuracies``: per task,
per probe split or per test item, seed-major; the multimodal MSE rows too) is compared with the
first seed's values of the committed row of the same target, task, method, protocol and shots.
Timings are excepted: throughput rows and benchmarks whose rows are all time or memory
(``scale``) are not compared, nor ``text_curve``, whose rows are differences between two
rows of one pretraining (``text`` is compared: its seed 0 reuses the cached DGI embeddings).

A quick form (``--quick``) is not used: its numbers come from other settings than the committed
ones, so they have nothing to be compared with.

Usage (from the repository root; CPU heavy, about an hour on two cores)::

    nice -n 10 python scripts/check_results.py
    python scripts/check_results.py --benches samgpt --targets samgpt=Cora,CiteSeer
    python scripts/check_results.py --compare-only /tmp/check   # folders written before

Exit status: 0 when every compared value matches within ``--tolerance`` (default ``1e-6``),
1 on a mismatch or a failed rerun, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
#: The standing benchmarks (scripts/all.sh) and the targets rerun by default (None: all the
#: committed JSON has). samgpt_curve's convergence runs are the longest: Cora only.
BENCHES: Dict[str, Optional[List[str]]] = {"samgpt": None, "samgpt_curve": ["Cora"], "unigraph2": None,
                                           "text": None, "multimodal": None, "scale": None}
#: Row fields that identify a row of a bench (the first seed of a committed row has the same key).
KEY_FIELDS = ("target", "task", "method", "protocol", "shots")
#: Rows that are timings or memory, not results.
TIMING_UNITS = {"seconds", "steps/s", "GB"}


def row_key(row: Dict[str, Any]) -> Tuple[Any, ...]:
    return tuple(row.get(k) for k in KEY_FIELDS)


def is_timing(row: Dict[str, Any]) -> bool:
    return row.get("target") == "throughput" or row.get("unit") in TIMING_UNITS or "metric" in row


def committed_seeds(payload: Dict[str, Any]) -> int:
    """Seeds of a committed run (top-level ``seeds`` or ``settings.seeds``; multimodal: 3)."""
    seeds = payload.get("seeds", payload.get("settings", {}).get("seeds"))
    return int(seeds) if seeds is not None else 3


def bench_args(name: str, payload: Dict[str, Any], targets: Optional[Sequence[str]]) -> List[str]:
    """``graphfm bench`` options that rerun seed 0 of ``payload`` (the committed JSON)."""
    args = ["--seeds", "1"]
    tasks = payload.get("tasks", payload.get("settings", {}).get("tasks"))
    if tasks is not None and name != "multimodal":
        args += ["--tasks", str(tasks)]
    protocols = {r.get("protocol") for r in payload["rows"]}
    if name == "samgpt" and protocols >= {"graphfm", "paper"}:
        args += ["--protocol", "both"]
    elif name == "samgpt" and protocols == {"paper"}:
        args += ["--protocol", "paper"]
    if targets:
        args += ["--targets", *targets]
    return args


def rerun(name: str, args: List[str], out: Path, data_root: Optional[str]) -> Tuple[int, float]:
    """Run ``graphfm bench name args --out out``; return (exit status, seconds). Output goes to ``out/run.log``."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "graphfm.cli", "bench", name, "--out", str(out), *args]
    if data_root:
        cmd += ["--data-root", data_root]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    start = time.perf_counter()
    with open(out / "run.log", "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    return rc, time.perf_counter() - start


def compare(committed: Dict[str, Any], new: Dict[str, Any], tolerance: float) -> Dict[str, Any]:
    """Compare every non-timing row of ``new`` (one seed) with seed 0 of ``committed``."""
    seeds = committed_seeds(committed)
    old = {row_key(r): r for r in committed["rows"] if not is_timing(r)}
    rows = [r for r in new["rows"] if not is_timing(r)]
    problems: List[str] = []
    max_diff, values = 0.0, 0
    for r in rows:
        ref = old.get(row_key(r))
        if ref is None:
            problems.append(f"{row_key(r)}: not in the committed JSON")
            continue
        got, want = list(r.get("accuracies", [])), list(ref.get("accuracies", []))
        if len(want) != len(got) * seeds:
            problems.append(f"{row_key(r)}: {len(got)} values for one seed, committed {len(want)} for {seeds} seeds")
            continue
        diffs = [abs(float(a) - float(b)) for a, b in zip(got, want[:len(got)])]
        values += len(diffs)
        worst = max(diffs, default=0.0)
        max_diff = max(max_diff, worst)
        if worst > tolerance:
            bad = sum(d > tolerance for d in diffs)
            problems.append(f"{row_key(r)}: {bad}/{len(diffs)} values differ, max {worst:.6g} "
                            f"(mean of seed 0: {sum(map(float, got)) / max(len(got), 1):.4f} vs "
                            f"{sum(map(float, want[:len(got)])) / max(len(got), 1):.4f})")
    rerun = {(r["target"], r.get("protocol")) for r in rows}     # multimodal: protocol = objective
    keys = {row_key(r) for r in rows}
    missing = [k for k, r in old.items() if (r["target"], r.get("protocol")) in rerun and k not in keys]
    problems += [f"{k}: committed, not rerun" for k in missing]
    return {"rows": len(rows), "values": values, "max_diff": max_diff, "problems": problems}


def check(name: str, out: Path, targets: Optional[Sequence[str]], data_root: Optional[str], tolerance: float,
          compare_only: bool) -> Dict[str, Any]:
    committed = json.loads((RESULTS / f"{name}.json").read_text())
    result: Dict[str, Any] = {"bench": name, "commit": committed.get("commit", "–"), "args": "", "seconds": 0.0}
    if all(is_timing(r) for r in committed["rows"]):
        return {**result, "status": "skipped: only timing/memory rows", "rows": 0, "values": 0, "max_diff": None,
                "problems": []}
    if committed.get("quick") or committed.get("settings", {}).get("quick"):
        return {**result, "status": "skipped: committed JSON is a --quick run", "rows": 0, "values": 0,
                "max_diff": None, "problems": []}
    args = bench_args(name, committed, targets)
    result["args"] = " ".join(args)
    if not compare_only:
        rc, result["seconds"] = rerun(name, args, out / name, data_root)
        if rc != 0:
            tail = (out / name / "run.log").read_text().splitlines()[-5:]
            return {**result, "status": f"rerun failed (exit {rc})", "rows": 0, "values": 0, "max_diff": None,
                    "problems": tail}
    new_path = out / name / f"{name}.json"
    if not new_path.is_file():
        return {**result, "status": f"no {new_path}", "rows": 0, "values": 0, "max_diff": None, "problems": []}
    found = compare(committed, json.loads(new_path.read_text()), tolerance)
    status = "match" if not found["problems"] else "MISMATCH"
    return {**result, **found, "status": status}


def report(results: List[Dict[str, Any]], tolerance: float) -> str:
    head = ["bench", "committed at", "rerun options", "rows", "values", "max abs diff", "status", "rerun s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        diff = "–" if r["max_diff"] is None else f"{r['max_diff']:.3g}"
        lines.append(f"| {r['bench']} | {r['commit']} | `{r['args']}` | {r['rows']} | {r['values']} | {diff} | "
                     f"{r['status']} | {r['seconds']:.0f} |")
    for r in results:
        if r["problems"]:
            lines += ["", f"{r['bench']}: {len(r['problems'])} problem(s) (tolerance {tolerance:g})"]
            lines += [f"  {p}" for p in r["problems"][:40]]
            if len(r["problems"]) > 40:
                lines.append(f"  ... {len(r['problems']) - 40} more")
    return "\n".join(lines)


def parse_targets(items: Sequence[str]) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for item in items:
        name, sep, targets = item.partition("=")
        if not sep or name not in BENCHES:
            raise SystemExit(f"error: --targets takes BENCH=T1,T2 with BENCH in {', '.join(BENCHES)}; got '{item}'")
        out[name] = [t for t in targets.split(",") if t] or None
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--benches", nargs="+", default=list(BENCHES), choices=list(BENCHES), help="benches to check")
    p.add_argument("--targets", nargs="*", default=[], metavar="BENCH=T1,T2",
                   help="rerun only these targets of a bench (default: all; samgpt_curve: Cora)")
    p.add_argument("--out", help="output folder (default: a temporary folder, removed unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the temporary output folder")
    p.add_argument("--compare-only", metavar="DIR", help="compare DIR/<bench>/<bench>.json without rerunning")
    p.add_argument("--jobs", type=int, default=1, help="benches rerun at the same time (default: 1)")
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest accepted absolute difference")
    p.add_argument("--data-root", default=None, help="dataset root (default: $GRAPHFM_DATA or ./data)")
    args = p.parse_args(argv)
    targets = {**{k: v for k, v in BENCHES.items()}, **parse_targets(args.targets)}
    out_arg = args.compare_only or args.out
    tmp = None if out_arg else tempfile.mkdtemp(prefix="check_results_")
    out = Path(out_arg or tmp)
    print(f"output folder: {out}", flush=True)

    def one(name: str) -> Dict[str, Any]:
        res = check(name, out, targets.get(name), args.data_root, args.tolerance, bool(args.compare_only))
        print(f"[check_results] {name}: {res['status']} ({res['seconds']:.0f} s)", flush=True)
        return res

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, args.benches))
    print(report(results, args.tolerance))
    if tmp and not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    ok = all(r["status"] == "match" or r["status"].startswith("skipped") for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

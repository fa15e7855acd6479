"""Benchmark registry and the result files every benchmark writes.

``graphfm bench NAME --out DIR`` writes ``DIR/NAME.json``::

    {"machine": str, "date": str, "commit": str, "command": str,
     "rows": [{"target": str, "task": str, "method": str, "mean": float, "std": float,
               "n": int, "seconds": float, ...}]}

and ``DIR/NAME.md``, the same rows as a Markdown table. ``commit`` is the git commit of
the source the numbers were made with (:func:`source_commit`).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from graphfm.io import write_json, write_text
from graphfm.report import markdown_table
from graphfm.registry import Registry

BENCHMARKS = Registry("benchmark", group="graphfm.benchmarks")

ROW_KEYS = ("target", "task", "method", "mean", "std", "n", "seconds")


def machine_description() -> str:
    """A one-line description of the machine: CPU count, memory, GPU if any."""
    import torch

    cores = os.cpu_count() or 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f", {mem:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{platform.machine()} {cores} cores{mem_s}{gpu}, torch {torch.__version__}"


def command_line() -> str:
    return " ".join(["graphfm"] + sys.argv[1:]) if sys.argv and sys.argv[0].endswith("graphfm") \
        else " ".join(sys.argv)


def source_commit() -> str:
    """The short hash of the git commit graphfm runs from, with ``+dirty`` when tracked files have
    uncommitted changes; ``graphfm <version>`` when graphfm is not run from a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> Optional[str]:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    head = git("rev-parse", "--short", "HEAD") if top and Path(top).resolve() == root else None
    if not head:
        from graphfm import __version__

        return f"graphfm {__version__}"
    changes = git("status", "--porcelain", "--untracked-files=no")
    return head + ("+dirty" if changes else "")


def write_results(out_dir: Path, name: str, rows: List[Dict[str, Any]], command: Optional[str] = None,
                  extra_md: str = "", columns: Optional[Sequence[str]] = None,
                  extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Write ``out_dir/name.json`` and ``out_dir/name.md`` atomically; return the JSON dict.

    Args:
        rows: One dict per measurement with at least the keys of ``ROW_KEYS``.
        command: The command that produced the numbers (default: this process's argv).
        extra_md: Markdown appended under the table (notes, paper numbers, ...).
        columns: Columns of the Markdown table (default: every key seen in ``rows``).
        extra: Additional top-level JSON entries (e.g. totals).
    """
    out_dir = Path(out_dir)
    for row in rows:
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"benchmark row {row} lacks {missing}")
    payload: Dict[str, Any] = {
        "machine": machine_description(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": source_commit(),
        "command": command or command_line(),
        "rows": rows,
    }
    if extra:
        payload.update(extra)
    write_json(out_dir / f"{name}.json", payload)
    write_text(out_dir / f"{name}.md", markdown_report(name, payload, columns) + extra_md)
    return payload


def markdown_report(name: str, payload: Dict[str, Any], columns: Optional[Sequence[str]] = None) -> str:
    rows = payload["rows"]
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = [f"# {name}", "", f"- machine: {payload['machine']}", f"- date: {payload['date']}",
             *([f"- commit: {payload['commit']}"] if payload.get("commit") else []),
             f"- command: `{payload['command']}`", ""]
    lines += markdown_table(columns, [[row.get(c, "") for c in columns] for row in rows])
    return "\n".join(lines) + "\n"

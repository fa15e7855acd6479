"""Layering: the multimodal package is a plugin on graphfm; nothing under graphfm/ imports it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "graphfm"


def _imports_of_multimodal(path: Path, root: Path = PACKAGE.parent):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("importlib.import_module", "import_module",
                                                                        "__import__") and node.args:
            first = node.args[0]
            names = [first.value] if isinstance(first, ast.Constant) and isinstance(first.value, str) else []
        for name in names:
            if name == "multimodal" or name.startswith("multimodal."):
                yield f"{path.relative_to(root)}:{node.lineno}: {name}"


def test_no_module_under_graphfm_imports_multimodal():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    hits = [hit for path in files for hit in _imports_of_multimodal(path)]
    assert hits == [], "graphfm must not import the multimodal plugin (register through entry points):\n" + \
        "\n".join(hits)


def test_the_scan_sees_every_import_form(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import multimodal\nfrom multimodal.data import x\nimport importlib\n"
                     "importlib.import_module('multimodal.model')\nimport multimodality\n")
    assert [h.split(": ")[1] for h in _imports_of_multimodal(probe, tmp_path)] == \
        ["multimodal", "multimodal.data", "multimodal.model"]


def test_the_core_runs_without_the_plugin_loaded():
    # Importing every graphfm module (the CLI, engine, adapt, benchmarks) loads no multimodal module.
    code = ("import sys, pkgutil, importlib, graphfm\n"
            "skip = ('graphfm.bench.scale_workers',)\n"
            "for m in pkgutil.walk_packages(graphfm.__path__, 'graphfm.'):\n"
            "    if m.name not in skip: importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'multimodal'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"

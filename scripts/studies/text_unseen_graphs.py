"""Two text graphs built from what this machine has, seen by no pretraining and no choice of graphfm.

* ``manpages.pt`` (the ``.pt`` dict layout): the manual pages of sections 1-5, 7 and 8 under
  ``/usr/share/man`` (all pages of the small sections, a seeded sample of 600 of sections 1
  and 3); text = the description of the NAME line with the page's own name removed (``ls \\-
  list directory contents`` -> ``list directory contents``), edges = SEE ALSO references
  between kept pages, label = the section, named as ``man(7)`` names them.
* ``scipy/`` (the ``nodes.csv`` / ``edges.csv`` folder layout): SciPy's public functions and
  classes of 12 subpackages; text = the first line of the docstring, edges = the docstring's
  "See Also" references resolved inside SciPy, label = the subpackage's subject.

Usage::

    python scripts/studies/text_unseen_graphs.py --out /tmp/unseen
"""
from __future__ import annotations

import argparse
import csv
import gzip
import importlib
import inspect
import random
import re
from pathlib import Path
from typing import Dict, List, Tuple

import torch

MAN_SECTIONS = {"1": "user commands", "2": "system calls", "3": "library functions",
                "4": "special files and devices", "5": "file formats and configuration files",
                "7": "overviews and conventions", "8": "system administration commands"}
SCIPY = {"fft": "fast Fourier transforms", "integrate": "numerical integration",
         "interpolate": "interpolation", "io": "reading and writing data files", "linalg": "linear algebra",
         "ndimage": "image processing", "optimize": "optimization and root finding",
         "signal": "signal processing", "sparse": "sparse matrices", "spatial": "spatial algorithms",
         "special": "special mathematical functions", "stats": "statistics"}
_TROFF = [(re.compile(r"\\f[BIRPC]|\\f\(..|\\&|\\\*\(..|\\s[-+]?\d"), ""), (re.compile(r"\\-|\\\(em|\\\(en"), "-"),
          (re.compile(r"\\\(aq|\\\(cq"), "'"), (re.compile(r'\\\(lq|\\\(rq|\\"'), '"'), (re.compile(r"\\e"), r"\\")]
_REF = re.compile(r"(?:\\fB|\.BR?\s+|^)\s*([A-Za-z0-9_.:+-]+)(?:\\f[PR])?\s*\((\d)[a-z]*\)")


def _clean(line: str) -> str:
    for pattern, repl in _TROFF:
        line = pattern.sub(repl, line)
    return re.sub(r"\s+", " ", line).strip()


def _man_page(path: Path) -> Tuple[str, List[Tuple[str, str]]]:
    """(description, [(name, section) referenced in SEE ALSO])."""
    try:
        lines = gzip.open(path, "rt", errors="replace").read().splitlines()
    except OSError:
        return "", []
    desc, refs, part = "", [], None
    for line in lines:
        if line.startswith(".SH") or line.startswith(".Sh"):
            part = line[3:].strip().strip('"').upper()
            continue
        if part == "NAME" and not desc and not line.startswith(".") and line.strip():
            desc = _clean(line)
            desc = desc.split(" - ", 1)[1] if " - " in desc else ""
        elif part == "SEE ALSO":
            refs += [(m.group(1), m.group(2)) for m in _REF.finditer(line)]
    return desc, refs


def build_manpages(out: Path, per_big: int = 600, seed: int = 0, root: Path = Path("/usr/share/man")) -> Path:
    rng = random.Random(seed)
    pages = []
    for sec in MAN_SECTIONS:
        files = sorted((root / f"man{sec}").glob("*.gz"))
        if len(files) > per_big:
            files = sorted(rng.sample(files, per_big))
        pages += [(f, sec) for f in files]
    texts, y, index, refs = [], [], {}, []
    for path, sec in pages:
        desc, see = _man_page(path)
        if not desc:
            continue
        name = path.name[:-3].rsplit(".", 1)[0]
        index[(name, path.name[:-3].rsplit(".", 1)[1][:1])] = len(texts)
        texts.append(desc)
        y.append(list(MAN_SECTIONS).index(sec))
        refs.append(see)
    edges = {(i, index[r]) for i, see in enumerate(refs) for r in see if r in index and index[r] != i}
    edge_index = torch.tensor(sorted(edges), dtype=torch.long).t().reshape(2, -1)
    path = out / "manpages.pt"
    torch.save({"raw_texts": texts, "edge_index": edge_index, "y": torch.tensor(y),
                "label_names": list(MAN_SECTIONS.values())}, path)
    print(f"manpages: {len(texts)} pages, {edge_index.size(1)} SEE ALSO edges -> {path}")
    return path


def _scipy_items() -> Dict[str, Tuple[str, str, List[str]]]:
    """qualified name -> (subject, first docstring line, See Also names)."""
    items: Dict[str, Tuple[str, str, List[str]]] = {}
    for sub, subject in SCIPY.items():
        module = importlib.import_module(f"scipy.{sub}")
        for name in sorted(getattr(module, "__all__", dir(module))):
            obj = getattr(module, name, None)
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)
                                            or type(obj).__name__ == "ufunc"):
                continue
            doc = inspect.getdoc(obj) or ""
            first = next((ln.strip() for ln in doc.splitlines() if ln.strip()), "")
            if not first or first.startswith(name + "("):
                continue
            see = re.split(r"\n-{3,}\n", doc.split("See Also\n--------\n", 1)[1])[0] if "See Also\n----" in doc else ""
            names = re.findall(r"^\s*:?(?:\w+:`)?~?([\w.]+)`?\s*(?::|,|$)", see, flags=re.M)
            items.setdefault(f"scipy.{sub}.{name}", (subject, first, names))
    return items


def build_scipy(out: Path) -> Path:
    items = _scipy_items()
    keys = list(items)
    short: Dict[str, List[str]] = {}
    for key in keys:
        short.setdefault(key.rsplit(".", 1)[1], []).append(key)
    index = {k: i for i, k in enumerate(keys)}
    edges = set()
    for key, (_, _, names) in items.items():
        sub = key.rsplit(".", 1)[0]
        for name in names:
            cands = [name] if name in index else [f"{sub}.{name}"] if f"{sub}.{name}" in index \
                else [f"scipy.{name}"] if f"scipy.{name}" in index else short.get(name.rsplit(".", 1)[-1], [])
            if len(cands) == 1 and cands[0] != key:
                edges.add((index[key], index[cands[0]]))
    folder = out / "scipy"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "nodes.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        w.writerows([i, items[k][1], items[k][0]] for i, k in enumerate(keys))
    with open(folder / "edges.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["src", "dst"])
        w.writerows(sorted(edges))
    print(f"scipy: {len(keys)} functions and classes, {len(edges)} See Also edges -> {folder}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_manpages(args.out)
    build_scipy(args.out)


if __name__ == "__main__":
    main()

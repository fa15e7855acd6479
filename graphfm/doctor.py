"""``graphfm doctor``: is this installation ready to run, and what will it run on?

Prints the versions of the packages graphfm needs, the devices (CUDA, bf16), the
thread settings, the data root with every dataset's state (present, and its raw
files verified against the sha256 manifest) and the size of the encoder cache, naming
each damaged cache entry (checked from its header: truncated, garbage, wrong shape, ...).

It exits 1 when something *required* is broken, after printing each problem with
its fix: a required package missing or outside the version range graphfm declares,
a data root that does not exist or is not writable, a raw file that fails its
checksum. No GPU, and datasets whose files are simply absent (e.g. PubMed, which is
not in the offline copy), are reported but are not failures. A damaged cache entry is a
warning, not a failure: the cache recomputes it on next use.

Example::

    $ graphfm doctor
    $ graphfm doctor --data-root /data/graphfm
"""
from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, TextIO, Tuple

#: (distribution, import name) of every package graphfm needs at run time.
REQUIRED: Tuple[Tuple[str, str], ...] = (
    ("torch", "torch"), ("torch-geometric", "torch_geometric"), ("lightning", "lightning"),
    ("transformers", "transformers"), ("open_clip_torch", "open_clip"), ("safetensors", "safetensors"),
    ("numpy", "numpy"), ("scipy", "scipy"), ("scikit-learn", "sklearn"), ("PyYAML", "yaml"),
    ("huggingface_hub", "huggingface_hub"),
)

_COPY_FIX = ("copy the offline datasets there (cp -r ../shared/datasets {root} && chmod -R u+w {root}) or "
             "point --data-root / $GRAPHFM_DATA at such a copy")


@dataclass
class Report:
    """What :func:`diagnose` found: printable sections and the problems (each with its fix)."""

    sections: List[Tuple[str, List[Tuple[str, str]]]] = field(default_factory=list)
    problems: List[Tuple[str, str]] = field(default_factory=list)
    warnings: List[Tuple[str, str]] = field(default_factory=list)

    def add(self, title: str) -> List[Tuple[str, str]]:
        rows: List[Tuple[str, str]] = []
        self.sections.append((title, rows))
        return rows

    def problem(self, what: str, fix: str) -> None:
        self.problems.append((what, fix))

    def warning(self, what: str, fix: str) -> None:
        """Something worth fixing that does not stop graphfm from running (exit code unchanged)."""
        self.warnings.append((what, fix))


def _declared_ranges() -> Dict[str, str]:
    """``{normalised distribution name: specifier}`` from graphfm's own metadata."""
    try:
        from packaging.requirements import Requirement

        reqs = [Requirement(r) for r in metadata.requires("graphfm") or [] if "extra ==" not in r]
    except Exception:  # not installed as a distribution, or no packaging: skip range checks
        return {}
    return {r.name.lower().replace("_", "-"): str(r.specifier) for r in reqs}


def _packages(report: Report) -> None:
    rows = report.add("packages")
    rows.append(("python", sys.version.split()[0]))
    try:
        rows.append(("graphfm", metadata.version("graphfm")))
    except metadata.PackageNotFoundError:
        rows.append(("graphfm", "not installed as a package (running from the source tree)"))
    ranges = _declared_ranges()
    for dist, module in REQUIRED:
        spec = ranges.get(dist.lower().replace("_", "-"), "")
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = None
        if version is None or importlib.util.find_spec(module) is None:
            rows.append((dist, "MISSING"))
            report.problem(f"required package '{dist}' is not installed", f"pip install '{dist}{spec}' "
                           "(or reinstall graphfm: pip install -e .)")
            continue
        ok = True
        if spec:
            from packaging.specifiers import SpecifierSet

            ok = SpecifierSet(spec).contains(version, prereleases=True)
        rows.append((dist, f"{version}" + ("" if ok else f"  (graphfm needs {spec})")))
        if not ok:
            report.problem(f"'{dist}' {version} is outside the range graphfm supports ({spec})",
                           f"pip install '{dist}{spec}'")


def _devices(report: Report) -> None:
    import torch

    rows = report.add("devices")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            rows.append((f"cuda:{i}", f"{props.name}, {props.total_memory / 2**30:.0f} GiB, "
                                      f"compute {props.major}.{props.minor}"))
        rows.append(("bf16", "supported (precision auto = bf16-mixed)" if torch.cuda.is_bf16_supported()
                     else "not supported on this GPU: set trainer.precision: 32"))
    else:
        rows.append(("cuda", "no CUDA device: training runs on the CPU in fp32 (fine for tests and small runs)"))
        rows.append(("bf16", "not used on the CPU"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        rows.append(("mps", "available"))
    rows = report.add("threads")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows.append(("cpu cores", f"{usable} usable of {os.cpu_count()}"))
    rows.append(("torch threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        rows.append((var, os.environ.get(var, "unset")))


def _data(report: Report, data_root: Optional[str]) -> None:
    from graphfm.data import list_datasets
    from graphfm.data.registry import ENV_VAR, get_spec, resolve_root
    from graphfm.data.verify import load_manifest, verify_root

    root = resolve_root(data_root)
    source = "--data-root" if data_root else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default ./data")
    rows = report.add(f"data root {root} ({source})")
    if not root.is_dir():
        rows.append(("state", "MISSING"))
        report.problem(f"data root '{root}' does not exist", _COPY_FIX.format(root=root))
        return
    writable = os.access(root, os.W_OK | os.X_OK)
    rows.append(("writable", "yes" if writable else "NO"))
    if not writable:
        report.problem(f"data root '{root}' is not writable (PyG writes processed/ beside raw/)",
                       "copy it to a writable folder: " + _COPY_FIX.format(root="<writable folder>"))
    manifest = load_manifest()
    for row in list_datasets(root):
        spec = get_spec(row["name"])
        rels = [f"{spec.folder}/{f}" for f in spec.files]
        if not rels:
            rows.append((row["name"], "built in (no raw files)"))
            continue
        if not row["present"]:
            rows.append((row["name"], f"missing {len(row['missing'])} of {len(rels)} raw files (optional; "
                                      f"from {spec.source.split(' (')[0]})"))
            continue
        if not all(rel in manifest for rel in rels):
            rows.append((row["name"], "present, not in the manifest (unverified)"))
            continue
        bad = [p for p in verify_root(root, folders=[spec.folder]) if p.split(": ", 1)[1].split(" ")[0] in rels]
        if bad:
            rows.append((row["name"], f"present, {len(bad)} file(s) FAIL the checksum"))
            report.problem(f"dataset '{row['name']}': {bad[0]}",
                           f"copy '{spec.folder}' again from ../shared/datasets (`graphfm data verify` lists all)")
        else:
            rows.append((row["name"], "present, verified"))


def _cache(report: Report) -> None:
    from graphfm.encoders.cache import check_entry, default_cache_dir

    rows = report.add("encoder cache")
    cache = default_cache_dir()
    if not cache.is_dir():
        rows.append((str(cache), "empty (created on first use)"))
        return
    files = [p for p in cache.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    entries = [p for p in files if p.suffix == ".safetensors" and not p.name.startswith(".")]
    leftovers = [p for p in files if p.name.startswith(".") and p.name.endswith(".tmp")]
    damaged = [(p, why) for p, why in ((p, check_entry(p)) for p in entries) if why]
    rows.append((str(cache), f"{len(entries)} entries, {size / 2**20:.1f} MiB"
                 + (f", {len(damaged)} damaged" if damaged else "")
                 + (f", {len(leftovers)} leftover temporary files" if leftovers else "")))
    for path, why in damaged:
        rows.append((path.name, f"DAMAGED: {why}"))
        report.warning(f"damaged encoder cache entry '{path}' ({why})", "delete it, or it is recomputed on next use")
    if leftovers:
        report.warning(f"{len(leftovers)} temporary files of interrupted cache writes in '{cache}' "
                       f"(e.g. {leftovers[0].name})", "delete them when no graphfm process is running")


def diagnose(data_root: Optional[str] = None) -> Report:
    """Collect the report (see the module docstring); prints nothing."""
    report = Report()
    _packages(report)
    if not any("torch'" in what for what, _ in report.problems):
        _devices(report)
    _data(report, data_root)
    _cache(report)
    return report


def run_doctor(data_root: Optional[str] = None, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Print the report to ``out`` (default: stdout) and, when something is broken, one
    ``error:`` line to ``err`` (default: stderr); return the exit code (``1`` if a
    required part is broken, else ``0``)."""
    out, err = out or sys.stdout, err or sys.stderr
    report = diagnose(data_root)
    for title, rows in report.sections:
        print(title, file=out)
        width = max((len(k) for k, _ in rows), default=0)
        for key, value in rows:
            print(f"  {key:<{width}}  {value}", file=out)
    if report.warnings:
        print(f"{len(report.warnings)} warning(s):", file=out)
        for what, fix in report.warnings:
            print(f"  - {what}; fix: {fix}", file=out)
    if not report.problems:
        print("ok: nothing required is missing", file=out)
        return 0
    print(f"{len(report.problems)} problem(s):", file=out)
    for what, fix in report.problems:
        print(f"  - {what}; fix: {fix}", file=out)
    what, fix = report.problems[0]
    more = f" (and {len(report.problems) - 1} more above)" if len(report.problems) > 1 else ""
    print(f"error: {what}; fix: {fix}{more}", file=err)
    return 1


__all__ = ["REQUIRED", "Report", "diagnose", "run_doctor"]

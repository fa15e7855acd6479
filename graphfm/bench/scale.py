"""``graphfm bench scale``: embedding and sampled pretraining from 10^4 to 10^6 nodes.

For each size, a power-law random graph (Chung–Lu with degree exponent 3, average
degree 10, 64 Gaussian features; generated vectorised and cached under the temporary
folder, not committed) is embedded three ways, each in a fresh process timed from
launch until its output exists, memory being that process's peak RSS:

* ``graphfm``: ``graphfm embed`` of an (untrained) SAMGPT checkpoint, width 256, 3
  layers: layer-wise chunked inference on worker threads, appended to the ``.npy``;
* ``pyg_full_batch``: three PyG ``GCNConv(256)`` layers on the whole graph, in a process
  capped at ``pyg_memory_gb`` of address space (recorded as out of memory where it
  does not fit);
* ``floor``: ``torch.sparse.mm`` on a CSR ``Â`` plus the dense products of the same three
  layers, all threads, the result left in memory (the hardware floor).

Sampled SAMGPT pretraining (``data.mode=ego``, 2-hop ego-graphs, ``max_degree`` 10, the
GraphCL objective) reports steps/s and the peak RSS of the training steps minus the RSS
once the graph is loaded (graph, cached CSR, fitted alignment); so does sampled UniGraph2
pretraining (the graph's features as a precomputed modality, 16 random-walk subgraphs of
64 nodes per step, 3 GAT layers, the settings of ``configs/unigraph2/pretrain.yaml``).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from graphfm.bench.base import BENCHMARKS, write_results
from graphfm.io import atomic_path

__all__ = ["run", "power_law_graph", "graph_file", "SIZES"]

SIZES = (10_000, 100_000, 1_000_000)
WIDTH, LAYERS, FEATURES, AVG_DEGREE = 256, 3, 64, 10
QUICK = {"sizes": (2_000,), "steps": 3, "warmup": 1, "batch": 32}
#: Sampled pretraining runs: method -> (worker model, items per step).
PRETRAIN = {"samgpt_sampled": ("samgpt", None), "unigraph2_sampled": ("unigraph2", 16)}
WORKERS = Path(__file__).with_name("scale_workers.py")


def power_law_graph(num_nodes: int, avg_degree: float = AVG_DEGREE, num_features: int = FEATURES,
                    exponent: float = 3.0, seed: int = 0):
    """A Chung–Lu random graph: ``(edge_index [2, E] int64, x [N, F] float32)``.

    Node ``i`` has expected degree proportional to ``(i + 1)^(-1 / (exponent - 1))``; node
    ids are then shuffled. Edges are undirected (both directions), without self-loops or
    duplicates, sorted by ``(row, col)``; ``E ≈ avg_degree * N``.

    Args:
        num_nodes (int): ``N``.
        avg_degree (float): Average degree. (default: ``10``)
        num_features (int): Gaussian feature columns. (default: ``64``)
        exponent (float): Degree-distribution exponent ``γ > 2``. (default: ``3.0``)
        seed (int): Seed. (default: ``0``)
    """
    rng = np.random.default_rng(seed)
    n = int(num_nodes)
    weight = (np.arange(1, n + 1, dtype=np.float64)) ** (-1.0 / (exponent - 1.0))
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    target = int(round(avg_degree * n / 2))
    pairs = np.empty(0, dtype=np.int64)
    while pairs.size < target:
        draw = int((target - pairs.size) * 1.2) + 16
        u = np.searchsorted(cdf, rng.random(draw))
        v = np.searchsorted(cdf, rng.random(draw))
        keep = u != v
        u, v = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
        pairs = np.unique(np.concatenate([pairs, u * n + v]))
    pairs = rng.permutation(pairs)[:target]
    perm = rng.permutation(n)
    u, v = perm[pairs // n], perm[pairs % n]
    key = np.sort(np.concatenate([u * n + v, v * n + u]))
    edge_index = np.stack([key // n, key % n])
    x = rng.standard_normal((n, num_features), dtype=np.float32)
    return edge_index, x


def graph_file(num_nodes: int, cache_dir: Optional[Path] = None, seed: int = 0) -> Path:
    """The ``.npz`` of :func:`power_law_graph` (``edge_index``, ``x``), generated once and cached."""
    cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "graphfm_scale")
    path = cache_dir / f"powerlaw_{num_nodes}_d{AVG_DEGREE}_f{FEATURES}_s{seed}.npz"
    if not path.is_file():
        edge_index, x = power_law_graph(num_nodes, seed=seed)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, edge_index=edge_index, x=x)
    return path


def _measure(cmd: List[str], output: Optional[Path], memory_gb: Optional[float] = None) -> Dict[str, Any]:
    """Run ``cmd`` in a fresh process: wall seconds from launch to exit, its peak RSS (GB,
    from ``wait4``), and ``status`` (``ok``, ``out_of_memory`` or ``failed``). With
    ``memory_gb`` the process's address space is capped there (``RLIMIT_AS``)."""
    root = str(Path(__file__).resolve().parents[2])       # graphfm importable in the children
    env = dict(os.environ, PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))

    def limit():
        if memory_gb:
            cap = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit)
        _, wait_status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(wait_status)
        log.seek(0)
        text = log.read().decode(errors="replace")
    ok = code == 0 and (output is None or output.is_file())
    status = "ok" if ok else ("out_of_memory" if _is_oom(text, code) else "failed")
    return {"seconds": round(seconds, 2), "peak_gb": round(usage.ru_maxrss / 2**20, 3), "status": status,
            "log": "" if ok else text[-1500:]}


def _is_oom(text: str, code: int) -> bool:
    marks = ("MemoryError", "can't allocate memory", "bad_alloc", "Cannot allocate memory", "out of memory")
    return code in (-9, 137) or any(m in text for m in marks)


def _checkpoint(directory: Path) -> Path:
    """An untrained SAMGPT of width :data:`WIDTH` and :data:`LAYERS` layers (timing only)."""
    import torch

    from graphfm.models.samgpt import SAMGPT

    torch.manual_seed(0)
    return SAMGPT(hidden=WIDTH, num_layers=LAYERS, align_dim=50).save_pretrained(directory)


@BENCHMARKS.register("scale")
def run(out_dir: Path, data_root: Optional[str] = None, quick: bool = False, sizes: Optional[Sequence[int]] = None,
        pyg_memory_gb: float = 12.0, steps: int = 20, warmup: int = 3, batch_size: int = 256,
        progress: bool = True, repeats: int = 3) -> Dict[str, Any]:
    """Write ``out_dir/scale.json``, ``.md`` and ``.png``.

    Args:
        out_dir (Path): Output folder.
        data_root (str, optional): Unused (the graphs are generated).
        quick (bool): One tiny graph and a few steps, for smoke tests. (default: ``False``)
        sizes (Sequence[int], optional): Node counts (default: :data:`SIZES`).
        pyg_memory_gb (float): Address-space cap of the PyG process. (default: ``12``)
        steps (int): Timed pretraining steps. (default: ``20``)
        warmup (int): Untimed pretraining steps first. (default: ``3``)
        batch_size (int): Ego-graph centres per pretraining step. (default: ``256``)
        progress (bool): Print a line per measurement. (default: ``True``)
        repeats (int): Fresh runs of every measurement; rows give their mean, std and the
            per-run values (``accuracies``). (default: ``3``; 2 in ``quick`` mode)
    """
    if quick:
        sizes = sizes or QUICK["sizes"]
        steps, warmup, batch_size = QUICK["steps"], QUICK["warmup"], QUICK["batch"]
        repeats = min(repeats, 2)
    sizes = [int(s) for s in (sizes or SIZES)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="graphfm_scale_") as tmp:
        tmp = Path(tmp)
        ckpt = _checkpoint(tmp / "ckpt")
        for n in sizes:
            graph = graph_file(n)
            runs = {
                "floor": (["floor", str(graph), str(WIDTH), str(LAYERS)], None, None),
                "graphfm": (None, tmp / f"graphfm_{n}.npy", None),
                "pyg_full_batch": (["pyg", str(graph), str(WIDTH), str(LAYERS), str(tmp / f"pyg_{n}.npy")],
                                   tmp / f"pyg_{n}.npy", pyg_memory_gb),
            }
            for method, (args, output, cap) in runs.items():
                cmd = [sys.executable, "-m", "graphfm.cli", "embed", "--checkpoint", str(ckpt), "--dataset",
                       str(graph), "--out", str(output)] \
                    if method == "graphfm" else [sys.executable, str(WORKERS)] + args
                rows += _repeated(partial(_embed_once, n, method, cmd, output, cap), repeats)
                _log(progress, n, method, rows[-2:])
            for method, (model, items) in PRETRAIN.items():
                record = tmp / f"pretrain_{model}_{n}.json"
                cmd = [sys.executable, str(WORKERS), "pretrain", str(graph), str(WIDTH), str(LAYERS), str(steps),
                       str(warmup), str(items or batch_size), str(record), model, str(tmp / "cache")]
                rows += _repeated(partial(_pretrain_once, n, method, cmd, record), repeats)
                _log(progress, n, method, rows[-3:])
    extra = {"total_seconds": round(time.perf_counter() - start, 1), "sizes": sizes, "width": WIDTH,
             "layers": LAYERS, "features": FEATURES, "avg_degree": AVG_DEGREE, "pyg_memory_gb": pyg_memory_gb,
             "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
             "pretrain": {"steps": steps, "warmup": warmup, "batch_size": batch_size, "hops": 2, "max_degree": 10,
                          "unigraph2_subgraphs_per_batch": PRETRAIN["unigraph2_sampled"][1], "subgraph_size": 64},
             "repeats": repeats, "checks": checks(rows), "quick": quick}
    png = _plot(rows, Path(out_dir) / "scale.png")
    columns = ("target", "task", "method", "metric", "mean", "std", "n", "unit", "status", "seconds")
    return write_results(Path(out_dir), "scale", rows, columns=columns, extra=extra,
                         extra_md=_markdown(extra, png))


def _row(n: int, task: str, method: str, metric: str, value: Optional[float], unit: str, seconds: float,
         status: str) -> Dict[str, Any]:
    return {"target": f"{n} nodes", "nodes": n, "task": task, "method": method, "metric": metric,
            "mean": None if value is None else round(float(value), 4), "std": 0.0, "n": 1, "unit": unit,
            "status": status, "seconds": seconds}


def _embed_once(n: int, method: str, cmd: List[str], output: Optional[Path], cap: Optional[float]
                ) -> List[Dict[str, Any]]:
    """Time and memory rows of one fresh embedding process; its output file is removed."""
    res = _measure(cmd, output, cap)
    if output is not None and output.exists():
        output.unlink()
    return _rows(n, "embed", method, res)


def _pretrain_once(n: int, method: str, cmd: List[str], record: Path) -> List[Dict[str, Any]]:
    """The rows of one fresh sampled-pretraining process (its record file written anew)."""
    if record.exists():
        record.unlink()
    return _pretrain_rows(n, _measure(cmd, record), record, method)


def _repeated(measure: Callable[[], List[Dict[str, Any]]], repeats: int) -> List[Dict[str, Any]]:
    """The rows of ``repeats`` fresh runs of one measurement, merged row by row: ``mean``,
    ``std`` (ddof 1), ``n`` and the per-run outcomes (``accuracies``, in the row's ``unit``)
    over the runs that produced a value, ``seconds`` their mean; the status and log of the
    first run that failed, if any."""
    from graphfm.stats import summarise

    merged = []
    for parts in zip(*[measure() for _ in range(repeats)]):
        row = dict(parts[0])
        values = [p["mean"] for p in parts if p["mean"] is not None]
        seconds = sum(p["seconds"] for p in parts) / len(parts)
        row.update(summarise(values, seconds) if values else {"n": 0, "accuracies": [], "seconds": round(seconds, 3)})
        failed = next((p for p in parts if p["status"] != "ok"), None)
        row.pop("log", None)
        if failed is not None:
            row["status"] = failed["status"]
            if "log" in failed:
                row["log"] = failed["log"]
        merged.append(row)
    return merged


def _log(enabled: bool, n: int, method: str, rows: List[Dict[str, Any]]) -> None:
    if enabled:
        print(f"[scale] {n:>9} nodes  {method:<17} " + ", ".join(
            f"{r['metric']} {r['mean']} ± {r['std']} {r['unit']}" for r in rows) + f"  {rows[0]['status']}",
            flush=True)


def _rows(n: int, task: str, method: str, res: Dict[str, Any]) -> List[Dict[str, Any]]:
    ok = res["status"] == "ok"
    rows = [_row(n, task, method, "time", res["seconds"] if ok else None, "seconds", res["seconds"], res["status"]),
            _row(n, task, method, "peak_rss", res["peak_gb"], "GB", res["seconds"], res["status"])]
    if res["log"]:
        rows[0]["log"] = res["log"]
    return rows


def _pretrain_rows(n: int, res: Dict[str, Any], record: Path, method: str = "samgpt_sampled") -> List[Dict[str, Any]]:
    import json

    rec = json.loads(record.read_text()) if res["status"] == "ok" else {}
    status, seconds = res["status"], res["seconds"]
    rows = [_row(n, "pretrain", method, "throughput", rec.get("steps_per_s"), "steps/s", seconds, status),
            _row(n, "pretrain", method, "train_peak_minus_loaded", rec.get("train_peak_minus_loaded_gb"),
                 "GB", seconds, status),
            _row(n, "pretrain", method, "loaded_rss", rec.get("loaded_gb"), "GB", seconds, status)]
    if res["log"]:
        rows[0]["log"] = res["log"]
    return rows


def _value(rows, n, task, method, metric) -> Optional[float]:
    for r in rows:
        if (r["nodes"], r["task"], r["method"], r["metric"]) == (n, task, method, metric) and r["status"] == "ok":
            return r["mean"]
    return None


def checks(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The issue's acceptance numbers, where the run has the sizes they need."""
    big, mid = 1_000_000, 100_000
    out: Dict[str, Any] = {}
    t_big, floor_big = _value(rows, big, "embed", "graphfm", "time"), _value(rows, big, "embed", "floor", "time")
    mem_big, t_mid = _value(rows, big, "embed", "graphfm", "peak_rss"), _value(rows, mid, "embed", "graphfm", "time")
    if t_big and floor_big:
        out["embed_over_floor_1e6"] = round(t_big / floor_big, 3)
        out["embed_over_floor_ok"] = t_big <= 1.3 * floor_big
    if mem_big:
        out["embed_peak_gb_1e6"] = mem_big
        out["embed_peak_ok"] = mem_big < 4.0
    if t_big and t_mid:
        out["t_1e6_over_t_1e5"] = round(t_big / t_mid, 2)
        out["scaling_ok"] = t_big <= 12 * t_mid
    p_big = _value(rows, big, "pretrain", "samgpt_sampled", "train_peak_minus_loaded")
    p_mid = _value(rows, mid, "pretrain", "samgpt_sampled", "train_peak_minus_loaded")
    if p_big is not None and p_mid:
        out["pretrain_memory_ratio_1e6_over_1e5"] = round(p_big / p_mid, 3)
        out["pretrain_memory_ok"] = abs(p_big / p_mid - 1.0) <= 0.2
    return out


def _markdown(extra: Dict[str, Any], png: Optional[Path]) -> str:
    lines = ["", "## Acceptance checks (issue 10)", ""]
    lines += [f"- {k}: {v}" for k, v in extra["checks"].items()] or ["- (the run lacks the 10^5 / 10^6 sizes)"]
    lines += ["", f"Load average (1 min) before the run: {extra['load_average_before']}, after: "
              f"{extra['load_average_after']}. Every timing is a fresh process from launch until its output "
              "exists (the floor: until its result is in memory); memory is that process's peak RSS. "
              f"PyG runs under a {extra['pyg_memory_gb']} GB address-space cap. The embedding checkpoint is an "
              "untrained SAMGPT (timing only). Sampled SAMGPT pretraining: `data.mode=ego`, "
              f"{extra['pretrain']['batch_size']} centres per step, 2 hops, `max_degree` 10, GraphCL objective; "
              f"sampled UniGraph2 pretraining: {extra['pretrain']['unigraph2_subgraphs_per_batch']} random-walk "
              f"subgraphs of {extra['pretrain']['subgraph_size']} nodes per step, 3 GAT layers, the graph's features "
              "as a precomputed modality; both "
              f"{extra['pretrain']['steps']} timed steps after {extra['pretrain']['warmup']} warm-up steps; "
              "`train_peak_minus_loaded` = peak RSS of the timed steps minus the RSS once the graph (with its "
              "CSR and alignment, or its features) is loaded.", ""]
    if png is not None:
        lines += [f"![time and memory against size]({png.name})", ""]
    return "\n".join(lines + [f"Total: {extra['total_seconds']} s.", ""])


def _plot(rows: List[Dict[str, Any]], png: Path) -> Optional[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "time", "seconds (launch to output)"), (axes[1], "peak_rss", "peak RSS (GB)")):
        for method in ("graphfm", "pyg_full_batch", "floor"):
            pts = sorted((r["nodes"], r["mean"]) for r in rows
                         if r["task"] == "embed" and r["method"] == method and r["metric"] == metric
                         and r["status"] == "ok" and r["mean"] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=method)
            oom = [r["nodes"] for r in rows if r["method"] == method and r["metric"] == metric
                   and r["status"] == "out_of_memory"]
            for n in oom:
                ax.annotate("OOM", (n, ax.get_ylim()[1]), fontsize=7, color="red")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("graphfm bench scale: embedding, width 256, 3 layers")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png

"""Benchmarks behind `graphfm bench NAME`."""
import importlib

from graphfm.bench.base import BENCHMARKS, write_results

#: Modules that register a benchmark when imported.
BENCHMARK_MODULES = ("graphfm.bench.samgpt", "graphfm.bench.unigraph2", "graphfm.bench.multimodal")


def load_benchmarks() -> None:
    """Import the benchmark modules so that they register themselves."""
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)


__all__ = ["BENCHMARKS", "write_results", "load_benchmarks"]

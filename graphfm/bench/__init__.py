"""Benchmarks behind `graphfm bench NAME`."""
from graphfm.bench.base import BENCHMARKS, write_results


def load_benchmarks() -> None:
    """Load every ``graphfm.benchmarks`` entry point (kept for callers; ``BENCHMARKS.get`` does it on a miss)."""
    BENCHMARKS.load()


__all__ = ["BENCHMARKS", "write_results", "load_benchmarks"]

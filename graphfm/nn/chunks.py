"""Row-chunked work spread over CPU cores: the engine of layer-wise inference.

``torch``'s own CPU parallelism splits every operation across its threads and meets at
a barrier after each; on small, cache-sized chunks (a few thousand rows) those barriers
dominate, and a core busy with anything else stalls every operation. Here each worker
thread takes whole chunks and runs their operations single-threaded (PyTorch releases
the GIL inside its kernels), so the cores never wait for each other and each chunk
stays in its core's cache.

Example::

    out = torch.empty(n, d)

    def layer(a, b):
        out[a:b] = act(lin(adj.rows(a, b).product(h)))

    for _ in map_row_chunks(layer, n, chunk_size=2048):
        pass
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Tuple, TypeVar

import torch

__all__ = ["map_row_chunks", "default_workers", "single_threaded"]

T = TypeVar("T")


def default_workers(device: Optional[torch.device] = None) -> int:
    """Worker threads for :func:`map_row_chunks`: ``torch.get_num_threads()`` on CPU
    (``OMP_NUM_THREADS`` or the cores), one on an accelerator."""
    if device is not None and torch.device(device).type != "cpu":
        return 1
    return max(1, torch.get_num_threads())


def map_row_chunks(fn: Callable[[int, int], T], num_rows: int, chunk_size: int,
                   workers: Optional[int] = None) -> Iterator[Tuple[int, int, T]]:
    """``(start, stop, fn(start, stop))`` for consecutive spans of ``chunk_size`` rows, in order.

    With ``workers > 1`` the spans run on that many threads, each with single-threaded
    torch operations, at most ``2 * workers`` spans ahead of the consumer (memory stays
    bounded by the chunk size). ``fn`` must only write rows ``start .. stop - 1`` of shared
    buffers. Torch's thread count is restored when the iterator ends or is closed.

    Args:
        fn (callable): ``fn(start, stop)``, the work of one span.
        num_rows (int): Rows in all.
        chunk_size (int): Rows per span.
        workers (int, optional): Threads. (default: :func:`default_workers`)
    """
    spans = [(a, min(num_rows, a + chunk_size)) for a in range(0, num_rows, chunk_size)]
    workers = default_workers() if workers is None else int(workers)
    if workers <= 1 or len(spans) <= 1:
        for a, b in spans:
            yield a, b, fn(a, b)
        return
    grad = torch.is_grad_enabled()                # thread-local: the workers take the caller's mode

    def run(a: int, b: int) -> T:
        with torch.set_grad_enabled(grad):
            return fn(a, b)

    with single_threaded(), ThreadPoolExecutor(workers, initializer=torch.set_num_threads,
                                                     initargs=(1,)) as pool:
        window: deque = deque()
        todo = iter(spans)
        for a, b in todo:
            window.append((a, b, pool.submit(run, a, b)))
            if len(window) >= 2 * workers:
                break
        while window:
            a, b, future = window.popleft()
            result = future.result()
            nxt = next(todo, None)
            if nxt is not None:
                window.append((*nxt, pool.submit(run, *nxt)))
            yield a, b, result


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch operations on one thread inside the block; the thread count is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

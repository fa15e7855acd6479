"""map_row_chunks: spans in order, on worker threads, errors and settings carried back."""
import threading

import pytest
import torch

from graphfm.nn.chunks import default_workers, map_row_chunks


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_spans_in_order_and_results_match(workers):
    out = torch.zeros(103)
    seen = set()

    def fill(a, b):
        seen.add(threading.get_ident())
        out[a:b] = torch.arange(a, b, dtype=torch.float32)
        return b - a

    got = list(map_row_chunks(fill, 103, 10, workers))
    assert [(a, b) for a, b, _ in got] == [(a, min(103, a + 10)) for a in range(0, 103, 10)]
    assert [r for _, _, r in got] == [10] * 10 + [3]
    assert torch.equal(out, torch.arange(103, dtype=torch.float32))
    if workers > 1:
        assert threading.get_ident() not in seen


def test_workers_take_the_callers_grad_mode_and_threads_are_restored():
    w = torch.ones(3, requires_grad=True)
    threads = torch.get_num_threads()
    with torch.no_grad():
        flags = [r for _, _, r in map_row_chunks(lambda a, b: (w * 2).requires_grad, 40, 4, workers=2)]
    assert flags == [False] * 10
    flags = [r for _, _, r in map_row_chunks(lambda a, b: (w * 2).requires_grad, 40, 4, workers=2)]
    assert flags == [True] * 10
    assert torch.get_num_threads() == threads


def test_an_error_in_a_chunk_reaches_the_caller():
    def boom(a, b):
        if a == 20:
            raise ValueError("chunk 20")
        return a

    threads = torch.get_num_threads()
    with pytest.raises(ValueError, match="chunk 20"):
        list(map_row_chunks(boom, 100, 10, workers=2))
    assert torch.get_num_threads() == threads


def test_default_workers():
    assert default_workers() == max(1, torch.get_num_threads())
    assert default_workers(torch.device("meta")) == 1


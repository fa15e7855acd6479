"""Few-shot task sampling and the prototype / linear-probe classifiers."""
import pytest
import torch

from graphfm.adapt import linear_probe_accuracy, prototype_accuracy, sample_tasks
from graphfm.errors import DataError


def _labels(n: int = 300, c: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))


def test_sample_tasks_shapes_and_disjoint_support_query():
    y = _labels()
    tasks = sample_tasks(y, shots=2, num_tasks=7, seed=1, max_query=50)
    assert tasks.support.shape == (7, 8) and tasks.query.shape == (7, 50)
    assert tasks.support.dtype == torch.long and tasks.query.dtype == torch.long
    # support is class-major: two items of class 0, then two of class 1, ...
    assert torch.equal(tasks.support_y, torch.arange(4).repeat_interleave(2).expand(7, -1))
    assert torch.equal(y[tasks.support], tasks.classes[tasks.support_y])
    assert torch.equal(y[tasks.query], tasks.classes[tasks.query_y])
    assert not (tasks.query.unsqueeze(-1) == tasks.support.unsqueeze(1)).any()
    assert all(row.unique().numel() == row.numel() for row in tasks.query)


def test_sample_tasks_seeded_and_all_queries_when_few():
    y = _labels(60, 3)
    a, b = sample_tasks(y, 1, 5, seed=3), sample_tasks(y, 1, 5, seed=3)
    assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    assert not torch.equal(a.support, sample_tasks(y, 1, 5, seed=4).support)
    assert a.query.size(1) == 60 - 3  # every other labelled node is a query


def test_sample_tasks_ignores_unlabelled_nodes():
    y = _labels(100, 3)
    y[::2] = -1
    tasks = sample_tasks(y, 1, 4, seed=0)
    assert (y[tasks.query] >= 0).all() and (y[tasks.support] >= 0).all()


def test_sample_tasks_errors():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    with pytest.raises(DataError, match="class 2 has 1"):
        sample_tasks(y, shots=1, num_tasks=2, seed=0)
    with pytest.raises(DataError, match="at least 2 classes"):
        sample_tasks(torch.zeros(10, dtype=torch.long), shots=1, num_tasks=2, seed=0)


def test_prototype_accuracy_vectorised_over_tasks():
    y = _labels(200, 4)
    tasks = sample_tasks(y, 1, 10, seed=0)
    perfect = torch.nn.functional.one_hot(y, 4).float() * 3 + 1
    assert torch.allclose(prototype_accuracy(perfect, tasks), torch.full((10,), 100.0))
    shuffled = perfect[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    acc = prototype_accuracy(shuffled, tasks)
    assert acc.shape == (10,) and acc.mean() < 60
    per_task = perfect.unsqueeze(0).expand(10, -1, -1)  # [T, N, D] embeddings give the same
    assert torch.allclose(prototype_accuracy(per_task, tasks, metric="euclidean"), torch.full((10,), 100.0))


def test_linear_probe_accuracy():
    y = _labels(200, 3)
    x = torch.nn.functional.one_hot(y, 3).float() + 0.05 * torch.randn(200, 3)
    assert linear_probe_accuracy(x, y, torch.arange(100), torch.arange(100, 200), seed=0) > 95


def test_paper_tasks_query_the_last_ids_and_never_support_them():
    import torch

    from graphfm.adapt import paper_tasks

    y = torch.arange(400) % 4
    y[390] = -1                                                     # unlabelled test node: not a query
    tasks = paper_tasks(y, 2, 5, seed=1)
    assert tasks.query.shape == (5, 99) and (tasks.query >= 300).all() and not (tasks.query == 390).any()
    assert (tasks.support < 300).all()
    assert torch.equal(tasks.classes[tasks.query_y], y[tasks.query])
    assert torch.equal(tasks.classes[tasks.support_y], y[tasks.support])

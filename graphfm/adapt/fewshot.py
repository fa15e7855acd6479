"""The few-shot protocol: seeded task sampling and the classifiers that score embeddings.

A *task* draws ``shots`` labelled items per class as support and keeps the other
labelled items (or a fixed seeded sample of at most ``max_query`` of them) as
queries, as in the one-shot protocol of SAMGPT (Yu et al., WWW 2025,
`arXiv:2502.05424 <https://arxiv.org/abs/2502.05424>`_). Tasks are sampled as
tensors with a leading task dimension so that many tasks are scored (or tuned) in
one vectorised pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphfm.errors import DataError

__all__ = ["FewShotTasks", "sample_tasks", "paper_tasks", "prototype_accuracy", "linear_probe_accuracy",
           "linear_probe_predictions", "class_prototypes"]


@dataclass
class FewShotTasks:
    """A batch of ``T`` few-shot tasks over ``C`` classes.

    Attributes:
        support (Tensor): Support item indices ``[T, C * shots]`` (long), class-major:
            columns ``c * shots ... (c + 1) * shots - 1`` belong to class ``classes[c]``.
        support_y (Tensor): Task-local labels ``0..C-1`` of the support ``[T, C * shots]``.
        query (Tensor): Query item indices ``[T, Q]`` (long).
        query_y (Tensor): Task-local labels of the queries ``[T, Q]``.
        classes (Tensor): The original label of each task-local class ``[C]``.
        shots (int): Support items per class.
    """

    support: Tensor
    support_y: Tensor
    query: Tensor
    query_y: Tensor
    classes: Tensor
    shots: int

    @property
    def num_tasks(self) -> int:
        return int(self.support.size(0))

    @property
    def num_classes(self) -> int:
        return int(self.classes.numel())

    def subset(self, index: Tensor | slice) -> "FewShotTasks":
        """The tasks selected by ``index`` (along the task dimension)."""
        return FewShotTasks(self.support[index], self.support_y[index], self.query[index],
                            self.query_y[index], self.classes, self.shots)


def sample_tasks(y: Tensor, shots: int, num_tasks: int, seed: int, max_query: int = 1000,
                 classes: Optional[Sequence[int]] = None, query_items: Optional[Tensor] = None) -> FewShotTasks:
    """Sample ``num_tasks`` ``C``-way ``shots``-shot tasks from labels ``y``.

    Support items are drawn per class without replacement with a generator seeded by
    ``seed``. The queries of a task are all labelled items outside its support when
    there are at most ``max_query`` of them; otherwise a fixed seeded sample of
    ``max_query`` items is drawn once (shared by all tasks) and each task's queries
    are that sample minus its own support, padded back to a common length with
    other non-support labelled items so that every task has the same ``Q``.

    ``shots=0`` gives zero-shot tasks (scored from class names, see
    :mod:`graphfm.adapt.names`): the queries of the 1-shot tasks of the same seed, with an
    empty support, so that zero-shot and 1-shot results pair task by task.

    Args:
        y (Tensor): Labels ``[N]``; negative entries mark unlabelled items.
        shots (int): Support items per class (``0``: zero-shot, see above).
        num_tasks (int): Number of tasks ``T``.
        seed (int): Seed of the sampling generator.
        max_query (int): Most queries per task. (default: ``1000``)
        classes (Sequence[int], optional): Classes to use (default: every label present).
        query_items (Tensor, optional): A fixed test set: every task's queries are these
            items (those labelled with one of the classes) and supports are drawn from the
            other items, as in the public SAMGPT evaluation (the last 100 node ids, see
            :func:`paper_tasks`). (default: ``None``)

    Raises:
        DataError: if there are fewer than two classes or a class has ``shots`` or
            fewer items (no query would be left) -- the message names the class.
    """
    y = torch.as_tensor(y).long().view(-1).cpu()
    if shots == 0:
        one = sample_tasks(y, 1, num_tasks, seed, max_query, classes, query_items)
        return FewShotTasks(one.support[:, :0], one.support_y[:, :0], one.query, one.query_y, one.classes, 0)
    if shots < 1 or num_tasks < 1:
        raise DataError(f"shots ({shots}) must be at least 0 and tasks ({num_tasks}) at least 1")
    fixed = None
    if query_items is not None:
        fixed = torch.as_tensor(query_items).long().view(-1)
        y_all, y = y, y.clone()
        y[fixed] = -1                                                          # never a support item
    labelled = torch.nonzero(y >= 0).view(-1)
    cls = torch.as_tensor(list(classes), dtype=torch.long) if classes is not None \
        else torch.unique(y[labelled])
    if cls.numel() < 2:
        raise DataError(f"few-shot classification needs at least 2 classes, the target has {cls.numel()}; "
                        "pick a labelled target with several classes")
    members = [labelled[y[labelled] == c] for c in cls.tolist()]
    for c, idx in zip(cls.tolist(), members):
        if idx.numel() <= shots - (fixed is not None):
            raise DataError(f"class {c} has {idx.numel()} labelled item(s), fewer than shots + 1 = {shots + 1}; "
                            f"lower --shots or drop that class")
    gen = torch.Generator().manual_seed(int(seed))
    support = torch.stack([
        torch.cat([idx[torch.randperm(idx.numel(), generator=gen)[:shots]] for idx in members])
        for _ in range(num_tasks)])                                            # [T, C*shots]
    remap = torch.full((int(max(y.max(), 0 if fixed is None else y_all.max())) + 1,), -1, dtype=torch.long)
    remap[cls] = torch.arange(cls.numel())
    if fixed is not None:
        query = fixed[(y_all[fixed] >= 0) & (remap[y_all[fixed].clamp_min(0)] >= 0)].expand(num_tasks, -1)
        return FewShotTasks(support, remap[y[support]], query, remap[y_all[query]], cls, shots)
    pool = torch.cat(members)
    if pool.numel() - support.size(1) > max_query:
        pool = pool[torch.randperm(pool.numel(), generator=gen)]
    query = _queries(pool, support, max_query)                                  # [T, Q]
    return FewShotTasks(support, remap[y[support]], query, remap[y[query]], cls, shots)


def paper_tasks(y: Tensor, shots: int, num_tasks: int, seed: int, test_size: int = 100) -> FewShotTasks:
    """Tasks of the public SAMGPT evaluation: the queries are the last ``test_size`` node
    ids, the same for every task; supports are drawn per class from the other nodes.

    Args:
        y (Tensor): Labels ``[N]``.
        shots (int): Support items per class.
        num_tasks (int): Number of tasks.
        seed (int): Seed of the support sampling.
        test_size (int): Size of the fixed test set. (default: ``100``)
    """
    n = int(torch.as_tensor(y).numel())
    return sample_tasks(y, shots, num_tasks, seed, query_items=torch.arange(max(0, n - test_size), n))


def _queries(pool: Tensor, support: Tensor, max_query: int) -> Tensor:
    """Per task, the first ``Q`` items of ``pool`` that are not in its support."""
    q = min(max_query, pool.numel() - support.size(1))
    in_support = (pool.view(1, -1, 1) == support.unsqueeze(1)).any(-1)        # [T, P]
    order = torch.argsort(in_support.to(torch.int8), dim=1, stable=True)       # non-support first
    return pool[order[:, :q]]


def class_prototypes(emb: Tensor, tasks: FewShotTasks) -> Tensor:
    """Mean support embedding per task and class ``[T, C, D]``.

    Args:
        emb (Tensor): Item embeddings ``[N, D]`` shared by all tasks, or per-task
            embeddings ``[T, N, D]``.

    Raises:
        DataError: for zero-shot tasks (no support): score those from class names
            (:func:`graphfm.adapt.names.label_aware_accuracy`).
    """
    if tasks.shots < 1:
        raise DataError("zero-shot tasks have no support to average; score them from class names with "
                        "graphfm.adapt.names.label_aware_accuracy")
    sup = _gather(emb, tasks.support)                                            # [T, C*s, D]
    t, _, d = sup.shape
    return sup.view(t, tasks.num_classes, tasks.shots, d).mean(dim=2)


def prototype_accuracy(emb: Tensor, tasks: FewShotTasks, metric: str = "cosine") -> Tensor:
    """Nearest-prototype accuracy (percent) of every task ``[T]``.

    Args:
        emb (Tensor): Embeddings ``[N, D]`` (or per-task ``[T, N, D]``).
        tasks (FewShotTasks): The tasks to score.
        metric (str): ``"cosine"`` or ``"euclidean"``. (default: ``"cosine"``)
    """
    emb = emb.detach().float()
    proto = class_prototypes(emb, tasks)                                         # [T, C, D]
    query = _gather(emb, tasks.query)                                            # [T, Q, D]
    if metric == "cosine":
        score = F.normalize(query, dim=-1) @ F.normalize(proto, dim=-1).transpose(1, 2)
    elif metric == "euclidean":
        score = -torch.cdist(query, proto)
    else:
        raise ValueError(f"unknown metric '{metric}'; use 'cosine' or 'euclidean'")
    pred = score.argmax(dim=-1)                                                  # [T, Q]
    return (pred == tasks.query_y.to(pred.device)).float().mean(dim=1) * 100.0


def linear_probe_predictions(emb: Tensor, y: Tensor, train_idx: Tensor, test_idx: Tensor, seed: int = 0,
                             max_iter: int = 1000) -> np.ndarray:
    """Predicted labels of ``test_idx`` by a logistic-regression probe trained on ``emb[train_idx]``
    (features standardised on the training rows).

    Args:
        emb (Tensor): Embeddings ``[N, D]``.
        y (Tensor): Labels ``[N]``.
        train_idx (Tensor): Training item indices.
        test_idx (Tensor): Test item indices.
        seed (int): Seed of the solver. (default: ``0``)
        max_iter (int): Solver iterations. (default: ``1000``)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = emb.detach().float().cpu().numpy()
    labels = torch.as_tensor(y).cpu().numpy()
    tr, te = torch.as_tensor(train_idx).cpu().numpy(), torch.as_tensor(test_idx).cpu().numpy()
    scaler = StandardScaler().fit(x[tr])
    clf = LogisticRegression(max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(x[tr]), labels[tr])
    return clf.predict(scaler.transform(x[te]))


def linear_probe_accuracy(emb: Tensor, y: Tensor, train_idx: Tensor, test_idx: Tensor, seed: int = 0,
                          max_iter: int = 1000) -> float:
    """Accuracy (percent) of :func:`linear_probe_predictions` on ``test_idx`` (same arguments)."""
    pred = linear_probe_predictions(emb, y, train_idx, test_idx, seed, max_iter)
    labels = torch.as_tensor(y).cpu().numpy()[torch.as_tensor(test_idx).cpu().numpy()]
    return float((pred == labels).mean() * 100.0)


def _gather(emb: Tensor, index: Tensor) -> Tensor:
    """``emb[index]`` for shared ``[N, D]`` or per-task ``[T, N, D]`` embeddings -> ``[T, K, D]``."""
    index = index.to(emb.device)
    if emb.dim() == 2:
        return emb[index]
    return torch.gather(emb, 1, index.unsqueeze(-1).expand(-1, -1, emb.size(-1)))

"""Baselines of the few-shot protocol: prototypes on frozen embeddings or aligned raw features."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from graphfm.adapt.fewshot import FewShotTasks, prototype_accuracy
from graphfm.nn import NormalizedAdjacency, ego_members, mean_pool_matrix

__all__ = ["item_embeddings", "frozen_embeddings_accuracy", "raw_feature_accuracy", "aligned_features",
           "supervised_sgc_accuracy"]


def item_embeddings(emb: Tensor, data: Any, items: Tensor, task: str = "node", ego_hops: int = 1,
                    graph_ptr: Optional[Tensor] = None) -> Tensor:
    """Embeddings ``[S, D]`` of ``items``: node rows, or mean rows of their graphs.

    Args:
        emb (Tensor): Node embeddings ``[N, D]``.
        data: The graph (its ``edge_index`` defines ego-networks).
        items (Tensor): ``[S]`` node ids (centres for ``task="graph"``) or graph ids.
        task (str): ``"node"`` or ``"graph"``. (default: ``"node"``)
        ego_hops (int): Ego-network radius. (default: ``1``)
        graph_ptr (Tensor, optional): Graph offsets of a batched graph set.
    """
    if task == "node":
        return emb[items]
    if graph_ptr is not None:
        from graphfm.adapt.samgpt import graph_members

        item, node = graph_members(graph_ptr, items)
    else:
        item, node = ego_members(NormalizedAdjacency(data.edge_index, data.num_nodes), items, ego_hops)
    pool = mean_pool_matrix(item, torch.arange(item.numel()), items.numel(), item.numel())
    return pool @ emb[node].float()


def _score(emb: Tensor, data: Any, tasks: FewShotTasks, task: str, ego_hops: int,
           graph_ptr: Optional[Tensor]) -> Tensor:
    items = torch.unique(torch.cat([tasks.support.reshape(-1), tasks.query.reshape(-1)]))
    feats = item_embeddings(emb, data, items, task, ego_hops, graph_ptr)
    local = FewShotTasks(torch.searchsorted(items, tasks.support), tasks.support_y,
                         torch.searchsorted(items, tasks.query), tasks.query_y, tasks.classes, tasks.shots)
    return prototype_accuracy(feats, local)


def frozen_embeddings_accuracy(model: Any, data: Any, tasks: FewShotTasks, task: str = "node", ego_hops: int = 1,
                               graph_ptr: Optional[Tensor] = None) -> Tensor:
    """Nearest-prototype accuracy ``[T]`` on ``model.embed(data)`` (no tuning)."""
    with torch.no_grad():
        emb = model.embed(data)
    return _score(emb, data, tasks, task, ego_hops, graph_ptr)


def raw_feature_accuracy(data: Any, tasks: FewShotTasks, task: str = "node", ego_hops: int = 1,
                         graph_ptr: Optional[Tensor] = None, dim: int = 50,
                         aligned: Optional[Tensor] = None) -> Tensor:
    """Nearest-prototype accuracy ``[T]`` on the target's features aligned by its own SVD
    to ``dim`` columns (the alignment every model sees), mean-pooled for graph items.

    Args:
        aligned (Tensor, optional): The aligned features ``[N, dim]`` if already computed
            (:func:`aligned_features`), to skip the SVD.
    """
    if aligned is None:
        aligned = aligned_features(data, dim)
    return _score(aligned, data, tasks, task, ego_hops, graph_ptr)


def aligned_features(data: Any, dim: int = 50) -> Tensor:
    """The target's features projected by its own SVD to ``dim`` columns ``[N, dim]``."""
    from graphfm.data import FeatureAligner

    return FeatureAligner(dim).transform(data.x.float())


def supervised_sgc_accuracy(data: Any, tasks: FewShotTasks, task: str = "node", ego_hops: int = 1,
                            graph_ptr: Optional[Tensor] = None, aligned: Optional[Tensor] = None,
                            hops: int = 2, steps: int = 100, lr: float = 0.1,
                            weight_decay: float = 5e-4) -> Tensor:
    """Query accuracy ``[T]`` of a GCN trained on each task's labelled support alone: SGC
    (Wu et al., ICML 2019, https://arxiv.org/abs/1902.07153), a softmax classifier on
    ``Â^hops X`` (aligned features), one per task, all tasks trained together with Adam.

    Args:
        aligned (Tensor, optional): The aligned features ``[N, D]`` (default: own SVD to 50).
        hops (int): Propagation steps. (default: ``2``)
        steps (int): Adam steps. (default: ``100``)
        lr (float): Learning rate. (default: ``0.1``)
        weight_decay (float): L2 penalty on the weights. (default: ``5e-4``)
    """
    x = aligned if aligned is not None else aligned_features(data)
    adj = NormalizedAdjacency(data.edge_index, data.num_nodes).matrix()
    for _ in range(hops):
        x = adj @ x
    items = torch.unique(torch.cat([tasks.support.reshape(-1), tasks.query.reshape(-1)]))
    feats = item_embeddings(x, data, items, task, ego_hops, graph_ptr)                   # [S, D]
    feats = (feats - feats.mean(0)) / feats.std(0).clamp_min(1e-6)
    support = feats[torch.searchsorted(items, tasks.support)]                            # [T, C*s, D]
    query = feats[torch.searchsorted(items, tasks.query)]                                # [T, Q, D]
    t, c = tasks.num_tasks, tasks.num_classes
    gen = torch.Generator().manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(t, feats.size(1), c, generator=gen) * 0.01)
    bias = torch.nn.Parameter(torch.zeros(t, 1, c))
    opt = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        logits = support @ weight + bias                                                 # [T, C*s, C]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, c), tasks.support_y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = (query @ weight + bias).argmax(-1)
    return (pred == tasks.query_y).float().mean(1) * 100.0

"""The few-shot protocol end to end: load a checkpoint and a target, sample tasks, score.

``graphfm adapt`` calls :func:`run_adaptation`; benchmarks call :func:`adapt_model`
and the baselines in :mod:`graphfm.adapt.baselines`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from graphfm.adapt.baselines import frozen_embeddings_accuracy
from graphfm.adapt.fewshot import paper_tasks, prototype_accuracy, sample_tasks
from graphfm.adapt.samgpt import PromptConfig, PromptTuner
from graphfm.errors import ConfigError, DataError
from graphfm.stats import summarise

__all__ = ["run_adaptation", "adapt_model", "adapt_items", "load_target", "load_items", "item_labels", "summarise"]

METHODS = ("auto", "prompt", "frozen")
PROTOCOLS = ("graphfm", "paper")


def task_sampler(protocol: str):
    """``(labels, shots, tasks, seed, max_query) -> FewShotTasks`` of a protocol."""
    if protocol == "paper":
        return lambda y, shots, tasks, seed, max_query: paper_tasks(y, shots, tasks, seed)
    return lambda y, shots, tasks, seed, max_query: sample_tasks(y, shots, tasks, seed=seed, max_query=max_query)


def load_target(target: Any, data_root: Optional[str] = None) -> Tuple[Any, Optional[Tensor], Tensor]:
    """Load a target by name/path (or take a ``Data``); return ``(graph, graph_ptr, labels)``.

    A node-level graph gives ``graph_ptr=None`` and node labels; a graph set (list of
    ``Data``) is batched into one disjoint graph with ``graph_ptr`` and graph labels.
    """
    from torch_geometric.data import Batch, Data

    from graphfm.data import load_dataset, validate_graph

    data = load_dataset(str(target), root=data_root) if isinstance(target, (str, Path)) else target
    if isinstance(data, list):
        if not data or any(getattr(g, "y", None) is None for g in data):
            raise DataError(f"target '{target}' is a graph set without a label per graph; few-shot graph "
                            "classification needs data.y on every graph")
        labels = torch.cat([g.y.view(-1)[:1] for g in data]).long()
        batch = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index, num_nodes=g.num_nodes) for g in data])
        batch.domain = str(getattr(data[0], "domain", target))
        return batch, batch.ptr, labels
    validate_graph(data)
    y = getattr(data, "y", None)
    if y is None or y.numel() != data.num_nodes:
        raise DataError(f"target '{target}' has no node labels (data.y of shape [N]); few-shot evaluation needs "
                        "labels (use -1 for unlabelled nodes)")
    return data, None, y.long()


def adapt_model(model: Any, data: Any, labels: Tensor, task: str = "node", shots: int = 1, tasks: int = 100,
                seeds: int = 5, method: str = "auto", ego_hops: int = 1, max_query: int = 1000,
                graph_ptr: Optional[Tensor] = None, config: Optional[PromptConfig] = None,
                progress: bool = False, tuner: Optional[PromptTuner] = None,
                protocol: str = "graphfm") -> Dict[str, Any]:
    """Score ``model`` on ``seeds x tasks`` few-shot tasks of ``data``.

    Args:
        model: A :class:`~graphfm.models.PretrainedModel`; SAMGPT models are prompt-tuned
            (``method="prompt"``), others classified by prototypes of ``model.embed``.
        data: Target graph (batched graph set when ``graph_ptr`` is given).
        labels (Tensor): Labels of the items (nodes, or graphs of a set).
        task (str): ``"node"`` or ``"graph"``. (default: ``"node"``)
        shots (int): Support items per class. (default: ``1``)
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Seeds ``0..seeds-1``, each drawing its own tasks. (default: ``5``)
        method (str): ``"auto"``, ``"prompt"`` or ``"frozen"``. (default: ``"auto"``)
        ego_hops (int): Ego-network radius of graph items. (default: ``1``)
        max_query (int): Most queries per task. (default: ``1000``)
        graph_ptr (Tensor, optional): Graph offsets of a batched graph set.
        config (PromptConfig, optional): Prompt-tuning options.
        progress (bool): Show a progress bar over seeds. (default: ``False``)
        tuner (PromptTuner, optional): A tuner of ``model`` on ``data`` to reuse (its
            self-supervised prompts are computed once); its level is set to ``task``.
        protocol (str): ``"graphfm"`` (queries: the other labelled items, at most
            ``max_query``) or ``"paper"`` (queries: the last 100 node ids, as the public
            SAMGPT code evaluates; see :func:`~graphfm.adapt.fewshot.paper_tasks`).
            (default: ``"graphfm"``)

    Returns:
        dict: ``mean``, ``std``, ``n``, ``seconds``, ``accuracies`` (percent, seed-major).
    """
    if method not in METHODS:
        raise ConfigError(f"adaptation method '{method}' is unknown; valid: {', '.join(METHODS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol '{protocol}' is unknown; valid: {', '.join(PROTOCOLS)}")
    if task not in ("node", "graph"):
        raise ConfigError(f"task must be 'node' or 'graph', got '{task}'")
    if graph_ptr is not None and task == "node":
        raise ConfigError("the target is a set of graphs: use --task graph")
    prompt = method == "prompt" or (method == "auto" and hasattr(model, "structure_tokens"))
    if prompt and not hasattr(model, "structure_tokens"):
        raise ConfigError(f"prompt tuning needs a SAMGPT model, not {type(model).__name__}; use method 'frozen'")
    start = time.perf_counter()
    if tuner is not None:
        tuner.level, tuner.ego_hops, tuner.graph_ptr = task, ego_hops, graph_ptr
    elif prompt:
        tuner = PromptTuner(model, data, task, ego_hops, config, graph_ptr)
    accs: List[Tensor] = []
    for seed in _progress(range(seeds), progress, f"{task} tasks"):
        few = task_sampler(protocol)(labels, shots, tasks, seed, max_query)
        if tuner is not None:
            accs.append(tuner.run(few, seed=seed))
        else:
            accs.append(frozen_embeddings_accuracy(model, data, few, task, ego_hops, graph_ptr))
    return summarise(torch.cat(accs), time.perf_counter() - start)


def embeds_items(model: Any) -> bool:
    """Whether ``model`` embeds multimodal items (e.g. ``multimodal_vit``) rather than graphs."""
    return hasattr(model, "modality_names")


def item_labels(model: Any, target: str, level: str = "node", data_root: Optional[str] = None) -> Optional[Tensor]:
    """Labels of the rows ``model.embed_dataset(target, level)`` returns, or ``None`` if unlabelled.

    Multimodal datasets (for models that :func:`embeds_items`) give their ``label``;
    graphs give node labels (``level="node"``) or one label per graph of a set.
    """
    if embeds_items(model):
        from multimodal.data import accepted_options, load_multimodal

        data = load_multimodal(str(target), **accepted_options(str(target), getattr(model, "data_options", {}) or {}))
        label = data.tensors.get("label")
        return None if label is None else label.view(-1).long()
    from graphfm.data import load_dataset

    data = load_dataset(str(target), root=data_root)
    graphs = data if isinstance(data, list) else [data]
    if level == "graph" or isinstance(data, list):
        ys = [getattr(g, "y", None) for g in graphs]
        if any(y is None or y.numel() == 0 for y in ys):
            return None
        if level == "graph":
            return torch.cat([y.view(-1)[:1] for y in ys]).long()
    ys = [getattr(g, "y", None) for g in graphs]
    if any(y is None or y.numel() != g.num_nodes for y, g in zip(ys, graphs)):
        return None
    return torch.cat([y.view(-1) for y in ys]).long()


def load_items(model: Any, target: str, data_root: Optional[str] = None) -> Tuple[Tensor, Tensor]:
    """Embeddings ``[N, D]`` and labels ``[N]`` of the items of ``target`` (``--task item``).

    Items are the rows :meth:`~graphfm.models.PretrainedModel.embed_dataset` gives: the
    items of a multimodal dataset (digit images, ...), the graphs of a graph set, or the
    nodes of a graph.
    """
    from graphfm.data import load_dataset

    level = "graph" if (not embeds_items(model) and isinstance(load_dataset(str(target), root=data_root), list)) \
        else "node"
    with torch.no_grad():
        emb = model.embed_dataset(str(target), level=level, data_root=data_root).detach().float().cpu()
    labels = item_labels(model, target, level, data_root)
    if labels is None or labels.numel() != emb.size(0):
        raise DataError(f"target '{target}' has no label per item ({emb.size(0)} items embedded); few-shot item "
                        "classification needs labels")
    return emb, labels


def adapt_items(emb: Tensor, labels: Tensor, shots: int = 1, tasks: int = 100, seeds: int = 5,
                max_query: int = 1000) -> Dict[str, Any]:
    """Nearest-prototype few-shot accuracy on fixed item embeddings (``--task item``).

    Returns:
        dict: ``mean``, ``std``, ``n``, ``seconds``, ``accuracies`` (percent, seed-major).
    """
    start = time.perf_counter()
    accs = [prototype_accuracy(emb, sample_tasks(labels, shots, tasks, seed=seed, max_query=max_query))
            for seed in range(seeds)]
    return summarise(torch.cat(accs), time.perf_counter() - start)


def run_adaptation(checkpoint: Union[str, Path], target: str, task: str = "node", shots: int = 1,
                   tasks: int = 100, seeds: int = 5, data_root: Optional[str] = None, **opts: Any) -> Dict[str, Any]:
    """Adapt a checkpoint to a target and report few-shot accuracy (``graphfm adapt``).

    Args:
        checkpoint: Run directory written by ``graphfm pretrain``, or a Hub repo id.
        target (str): Dataset name or path of the unseen target.
        task (str): ``"node"``, ``"graph"`` (ego-networks of a node-level target, or the
            graphs of a graph set) or ``"item"`` (nearest prototypes of the frozen
            embeddings of the target's items, see :func:`load_items`: the only task of
            multimodal checkpoints). (default: ``"node"``)
        shots (int): Support items per class. (default: ``1``)
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Number of seeds. (default: ``5``)
        data_root (str, optional): Data root.
        **opts: ``method``, ``ego_hops``, ``max_query``, ``progress`` and the fields of
            :class:`~graphfm.adapt.samgpt.PromptConfig` (``steps``, ``lr``, ``temperature``,
            ``alpha``, ``beta``, ``fanout``, ``chunk``); ``dual_prompts=True`` tunes UniGraph2's
            dual prompts (:mod:`graphfm.adapt.unigraph2`).

    Returns:
        dict: ``{"target", "task", "shots", "tasks", "seeds", "mean", "std", "n", "seconds",
        "accuracies"}`` (accuracies in percent).
    """
    from graphfm.models import PretrainedModel

    cfg_keys = set(PromptConfig.__dataclass_fields__)
    run_keys = {"method", "ego_hops", "max_query", "progress"}
    dual = bool(opts.pop("dual_prompts", False))
    unknown = sorted(set(opts) - cfg_keys - run_keys)
    if unknown:
        raise ConfigError(f"unknown adaptation option(s) {unknown}; valid: "
                          f"{', '.join(sorted(cfg_keys | run_keys | {'dual_prompts'}))}")
    model = PretrainedModel.from_pretrained(checkpoint)
    if dual:   # UniGraph2's dual prompts (graphfm.adapt.unigraph2)
        from graphfm.adapt.unigraph2 import adapt_unigraph2

        if task != "node" or not hasattr(model, "domain_tokens"):
            raise ConfigError("--dual-prompts adapts a UniGraph2 checkpoint on node tasks (--task node); "
                              f"got a {model.model_name} model and --task {task}")
        data, _, labels = load_target(target, data_root)
        result = adapt_unigraph2(model, data, labels, shots, tasks, seeds, max_query=int(opts.get("max_query", 1000)))
        return {"target": str(target), "task": task, "shots": shots, "tasks": tasks, "seeds": seeds, **result}
    if task == "item":
        emb, labels = load_items(model, target, data_root)
        result = adapt_items(emb, labels, shots, tasks, seeds, max_query=int(opts.get("max_query", 1000)))
        return {"target": str(target), "task": task, "shots": shots, "tasks": tasks, "seeds": seeds, **result}
    if embeds_items(model):
        raise ConfigError(f"checkpoint '{checkpoint}' holds a {model.model_name} model, which embeds items, not "
                          "graphs: use --task item (e.g. --target digits)")
    data, ptr, labels = load_target(target, data_root)
    config = PromptConfig(**{k: v for k, v in opts.items() if k in cfg_keys})
    result = adapt_model(model, data, labels, task, shots, tasks, seeds, graph_ptr=ptr, config=config,
                         **{k: v for k, v in opts.items() if k in run_keys})
    return {"target": str(target), "task": task, "shots": shots, "tasks": tasks, "seeds": seeds, **result}


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)

"""The few-shot protocol end to end: load a checkpoint and a target, sample tasks, score.

``graphfm adapt`` calls :func:`run_adaptation`; benchmarks call :func:`adapt_model` (on a
target prepared by :func:`few_shot_target`) and the baselines in :mod:`graphfm.adapt.baselines`.
How a model adapts is the model's to say (:meth:`PretrainedModel.adaptations
<graphfm.models.base.PretrainedModel.adaptations>`); the scorers are :data:`~graphfm.adapt.methods.ADAPTATIONS`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from graphfm.adapt.fewshot import paper_tasks, prototype_accuracy, sample_tasks
from graphfm.adapt.methods import ADAPTATIONS
from graphfm.adapt.names import (DEFAULT_RULE, LabelRule, check_label_names, check_template, label_aware_predictions,
                                 name_embeddings, parse_label_names, rule_for, task_accuracy)
from graphfm.adapt.samgpt import PromptConfig, PromptTuner
from graphfm.errors import ConfigError, DataError
from graphfm.stats import summarise

__all__ = ["run_adaptation", "adapt_model", "adapt_with_names", "adapt_items", "few_shot_target", "choose_adaptation",
           "summarise"]

PROTOCOLS = ("graphfm", "paper")
TASKS = ("node", "graph")


def task_sampler(protocol: str):
    """``(labels, shots, tasks, seed, max_query) -> FewShotTasks`` of a protocol."""
    if protocol == "paper":
        return lambda y, shots, tasks, seed, max_query: paper_tasks(y, shots, tasks, seed)
    return lambda y, shots, tasks, seed, max_query: sample_tasks(y, shots, tasks, seed=seed, max_query=max_query)


def few_shot_target(data: Any, name: Optional[str] = None) -> Tuple[Any, Optional[Tensor], Tensor]:
    """A loaded target (:func:`graphfm.data.load_graph`) as ``(graph, graph_ptr, labels)`` for few-shot tasks.

    A node-level graph gives ``graph_ptr=None`` and its node labels; a graph set (list of
    ``Data``) is batched into one disjoint graph with ``graph_ptr`` and one label per graph.

    Raises:
        DataError: a target without the labels few-shot tasks need.
    """
    name = name or str(getattr(data[0] if isinstance(data, list) and data else data, "name", "target"))
    if isinstance(data, list):
        from torch_geometric.data import Batch, Data

        if not data or any(getattr(g, "y", None) is None for g in data):
            raise DataError(f"target '{name}' is a graph set without a label per graph; few-shot graph "
                            "classification needs data.y on every graph")
        labels = torch.cat([g.y.view(-1)[:1] for g in data]).long()
        batch = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index, num_nodes=g.num_nodes) for g in data])
        batch.domain = str(getattr(data[0], "domain", name))
        return batch, batch.ptr, labels
    y = getattr(data, "y", None)
    if y is None or y.numel() != data.num_nodes:
        raise DataError(f"target '{name}' has no node labels (data.y of shape [N]); few-shot evaluation needs "
                        "labels (use -1 for unlabelled nodes)")
    return data, None, y.long()


def choose_adaptation(model: Any, task: str, method: str = "auto") -> str:
    """The adaptation (a name of :data:`~graphfm.adapt.methods.ADAPTATIONS`) ``model`` uses for few-shot
    ``task`` when asked for ``method`` (``"auto"``: the model's default).

    Raises:
        ConfigError: an unknown task, or a method the model does not offer (the message lists those it does).
    """
    if task not in TASKS:
        raise ConfigError(f"task must be 'node' or 'graph', got '{task}'")
    offered = model.adaptations(task)
    if method == "auto" and offered:
        return next(iter(offered.values()))
    if method not in offered:
        elsewhere = [t for t in TASKS if t != task and method in model.adaptations(t)]
        raise ConfigError(f"a {model.model_name} model does not adapt to {task} tasks by '{method}'; valid methods: "
                          f"{', '.join(['auto', *offered]) if offered else '(none)'}"
                          + "".join(f"; it adapts by '{method}' with --task {t}" for t in elsewhere[:1]))
    return offered[method]


def adapt_model(model: Any, data: Any, labels: Tensor, task: str = "node", shots: int = 1, tasks: int = 100,
                seeds: int = 5, method: str = "auto", ego_hops: int = 1, max_query: int = 1000,
                graph_ptr: Optional[Tensor] = None, config: Any = None,
                progress: bool = False, tuner: Optional[PromptTuner] = None,
                protocol: str = "graphfm") -> Dict[str, Any]:
    """Score ``model`` on ``seeds x tasks`` few-shot tasks of ``data``.

    Args:
        model: A :class:`~graphfm.models.PretrainedModel`, adapted as it says
            (:func:`choose_adaptation`): SAMGPT by prompt tuning, others by prototypes of
            ``model.embed``.
        data: Target graph (batched graph set when ``graph_ptr`` is given; see :func:`few_shot_target`).
        labels (Tensor): Labels of the items (nodes, or graphs of a set).
        task (str): ``"node"`` or ``"graph"``. (default: ``"node"``)
        shots (int): Support items per class. (default: ``1``)
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Seeds ``0..seeds-1``, each drawing its own tasks. (default: ``5``)
        method (str): ``"auto"`` (the model's default) or a method the model offers
            (``"prompt"``, ``"frozen"``, ``"dual_prompts"``, ...). (default: ``"auto"``)
        ego_hops (int): Ego-network radius of graph items. (default: ``1``)
        max_query (int): Most queries per task. (default: ``1000``)
        graph_ptr (Tensor, optional): Graph offsets of a batched graph set.
        config (optional): Options of the adaptation (:class:`PromptConfig` for prompt tuning,
            :class:`~graphfm.adapt.unigraph2.DualPromptConfig` for dual prompts).
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
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol '{protocol}' is unknown; valid: {', '.join(PROTOCOLS)}")
    adaptation = choose_adaptation(model, task, method)
    if graph_ptr is not None and task == "node":
        raise ConfigError("the target is a set of graphs: use --task graph")
    start = time.perf_counter()
    if tuner is not None:
        tuner.level, tuner.ego_hops, tuner.graph_ptr = task, ego_hops, graph_ptr
        scorer = tuner
    else:
        scorer = ADAPTATIONS.get(adaptation)(model, data, task=task, ego_hops=ego_hops, graph_ptr=graph_ptr,
                                             config=config)
    accs: List[Tensor] = []
    for seed in _progress(range(seeds), progress, f"{task} tasks"):
        accs.append(scorer.run(task_sampler(protocol)(labels, shots, tasks, seed, max_query), seed=seed))
    return summarise(torch.cat(accs), time.perf_counter() - start)


def adapt_with_names(route: Any, data: Any, labels: Tensor, names: Sequence[str], rule: LabelRule = DEFAULT_RULE,
                     shots: int = 1, tasks: int = 100, seeds: int = 5, max_query: int = 1000,
                     protocol: str = "graphfm") -> Dict[str, Any]:
    """Score nearest label-aware prototypes (:mod:`graphfm.adapt.names`) of ``route``'s frozen node
    embeddings on ``seeds x tasks`` tasks of ``data``: zero-shot from the names for ``shots=0`` (on
    the queries of the 1-shot tasks of the same seeds), names and supports mixed by ``rule`` otherwise.

    Args:
        route: A model or text baseline with ``embed(data)`` and ``embed_texts(texts, data)``.
        data: The target graph.
        labels (Tensor): Node labels ``[N]``.
        names (list[str]): One class name per class id.
        rule (LabelRule): How names become texts and mix with supports. (default: :data:`DEFAULT_RULE`)
        shots (int): Supports per class, ``0`` for zero-shot. (default: ``1``)
        tasks, seeds, max_query, protocol: As in :func:`adapt_model`.

    Returns:
        dict: ``mean``, ``std``, ``n``, ``seconds``, ``accuracies`` and ``balanced_accuracies``
        (mean per-class recall of each task's queries), ``balanced_mean`` (percent, seed-major).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol '{protocol}' is unknown; valid: {', '.join(PROTOCOLS)}")
    start = time.perf_counter()
    names_emb = name_embeddings(route, names, data, rule)
    with torch.no_grad():
        emb = route.embed(data).detach().float()
    accs: List[Tensor] = []
    balanced: List[Tensor] = []
    for seed in range(seeds):
        few = task_sampler(protocol)(labels, shots, tasks, seed, max_query)
        pred = label_aware_predictions(emb, few, names_emb, rule)
        accs.append(task_accuracy(pred, few))
        balanced.append(task_accuracy(pred, few, balanced=True))
    out = summarise(torch.cat(accs), time.perf_counter() - start)
    bal = summarise(torch.cat(balanced))
    return {**out, "balanced_mean": bal["mean"], "balanced_accuracies": bal["accuracies"]}


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


def item_target(model: Any, data: Any, name: str) -> Tuple[Tensor, Tensor]:
    """Embeddings ``[N, D]`` and labels ``[N]`` of the items of a loaded target (``--task item``):
    the rows :meth:`~graphfm.models.PretrainedModel.embed_loaded` gives (the items of a multimodal
    dataset, the graphs of a graph set, or the nodes of a graph) and their :meth:`item_labels`."""
    level = "graph" if isinstance(data, list) else "node"
    emb = model.embed_loaded(data, level).detach().float().cpu()
    labels = model.item_labels(data, level)
    if labels is None or labels.numel() != emb.size(0):
        raise DataError(f"target '{name}' has no label per item ({emb.size(0)} items embedded); few-shot item "
                        "classification needs labels")
    return emb, labels


def run_adaptation(checkpoint: Union[str, Path], target: str, task: str = "node", shots: int = 1,
                   tasks: int = 100, seeds: int = 5, data_root: Optional[str] = None,
                   label_names: Union[str, Sequence[str], None] = None, template: Optional[str] = None,
                   **opts: Any) -> Dict[str, Any]:
    """Adapt a checkpoint to a target and report few-shot accuracy (``graphfm adapt``).

    Args:
        checkpoint: Run directory written by ``graphfm pretrain``, or a Hub repo id.
        target (str): Dataset name or path of the unseen target (loaded once, by the model's
            :meth:`~graphfm.models.PretrainedModel.load_data`).
        task (str): ``"node"``, ``"graph"`` (ego-networks of a node-level target, or the
            graphs of a graph set) or ``"item"`` (nearest prototypes of the frozen
            embeddings of the target's items, see :func:`item_target`: the only task of
            multimodal checkpoints). (default: ``"node"``)
        shots (int): Support items per class; ``0``: zero-shot from the class names. (default: ``1``)
        tasks (int): Tasks per seed. (default: ``100``)
        seeds (int): Number of seeds. (default: ``5``)
        data_root (str, optional): Data root.
        label_names (str or list[str], optional): Class names in class-id order (``"a,b,c"`` or a
            list), in place of the target's ``label_names``.
        template (str, optional): Where a name goes in its text (one ``"{}"``), in place of the
            checkpoint's (or the library's) :class:`~graphfm.adapt.names.LabelRule` template.
        **opts: ``method``, ``ego_hops``, ``max_query``, ``progress`` and the fields of
            :class:`~graphfm.adapt.samgpt.PromptConfig` (``steps``, ``lr``, ``temperature``,
            ``alpha``, ``beta``, ``fanout``, ``chunk``); ``dual_prompts=True`` is
            ``method="dual_prompts"`` (UniGraph2, :mod:`graphfm.adapt.unigraph2`).

    Node tasks of a target with class names (its ``label_names``, or ``label_names``), scored
    with frozen prototypes (every model but SAMGPT by default; SAMGPT with ``method="frozen"``),
    use the names through the model's :meth:`~graphfm.models.PretrainedModel.embed_texts`: names
    and supports mixed by the checkpoint's rule (:func:`~graphfm.adapt.names.rule_for`), see
    :func:`adapt_with_names`. A model without a route from text, or a target without names,
    keeps the plain prototypes at ``shots >= 1``; ``shots=0`` needs both.

    Returns:
        dict: ``{"target", "task", "shots", "tasks", "seeds", "mean", "std", "n", "seconds",
        "accuracies"}`` (accuracies in percent); with names also ``balanced_mean``,
        ``balanced_accuracies``, ``label_rule`` (``template``, ``w0``, ``kind``, ``weight`` at
        these shots, ``source``) and ``label_names``.
    """
    from graphfm.models import PretrainedModel
    from graphfm.models.base import NoTextRouteError

    cfg_keys = set(PromptConfig.__dataclass_fields__)
    run_keys = {"method", "ego_hops", "max_query", "progress"}
    if opts.pop("dual_prompts", False):
        opts["method"] = "dual_prompts"
    unknown = sorted(set(opts) - cfg_keys - run_keys)
    if unknown:
        raise ConfigError(f"unknown adaptation option(s) {unknown}; valid: "
                          f"{', '.join(sorted(cfg_keys | run_keys | {'dual_prompts'}))}")
    named = _check_name_options(task, shots, label_names, template)
    if isinstance(label_names, str):
        label_names = parse_label_names(label_names)
    model = PretrainedModel.from_pretrained(checkpoint)
    head = {"target": str(target), "task": task, "shots": shots, "tasks": tasks, "seeds": seeds}
    if task == "item":
        emb, labels = item_target(model, model.load_data(target, data_root), str(target))
        return {**head, **adapt_items(emb, labels, shots, tasks, seeds, max_query=int(opts.get("max_query", 1000)))}
    method = opts.get("method", "auto")
    if shots == 0 and method == "auto":
        method = "frozen"                                  # zero-shot scores the frozen embeddings
    adaptation = choose_adaptation(model, task, method)   # fails before the target loads
    if (shots == 0 or named) and adaptation != "prototypes":
        raise ConfigError(f"class names score frozen embeddings (nearest label-aware prototypes), the '{adaptation}' "
                          "adaptation does not use them: drop --dual-prompts, or use --shots >= 1 without "
                          "--label-names / --template")
    data, ptr, labels = few_shot_target(model.load_data(target, data_root), str(target))
    names = label_names if label_names is not None else getattr(data, "label_names", None)
    if shots == 0 and not names:
        raise DataError(f"--shots 0 (zero-shot) classifies from class names, and target '{target}' has no "
                        "label_names: give them with --label-names 'name0,name1,...' (one per class, in class-id "
                        "order), or use --shots >= 1")
    if names and adaptation == "prototypes":
        names = check_label_names(names, labels, "--label-names" if label_names is not None
                                  else f"target '{target}' label_names")
        rule, source = rule_for(model, template)
        try:
            scored = adapt_with_names(model, data, labels, names, rule, shots, tasks, seeds,
                                      max_query=int(opts.get("max_query", 1000)))
        except NoTextRouteError:
            if shots == 0 or named:
                raise
            scored = None                                  # no route from text: plain prototypes below
        if scored is not None:
            return {**head, **scored, "label_rule": {**rule.to_dict(), "weight": rule.weight(shots) if shots else None,
                                                     "source": source}, "label_names": list(names)}
    config = PromptConfig(**{k: v for k, v in opts.items() if k in cfg_keys}) if adaptation == "prompt" else None
    result = adapt_model(model, data, labels, task, shots, tasks, seeds, graph_ptr=ptr, config=config,
                         **{k: v for k, v in opts.items() if k in run_keys})
    return {**head, **result}


def _check_name_options(task: str, shots: int, label_names: Any, template: Optional[str]) -> bool:
    """Check what can be checked before anything loads; whether names were asked for explicitly."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise ConfigError(f"shots must be a whole number >= 0 (0: zero-shot from class names), got {shots!r}")
    named = label_names is not None or template is not None
    if template is not None:
        check_template(template)
    if (shots == 0 or named) and task != "node":
        raise ConfigError(f"class names (--shots 0, --label-names, --template) classify the nodes of a text graph: "
                          f"use --task node, or --shots >= 1 without names for --task {task}")
    return named


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)

"""Multi-domain graph data module: one graph (or a batch of ego-graphs) per domain per step.

Under data parallelism (``trainer.strategy=ddp``, see :mod:`.sharding`) every rank gets
its own share: in ``"full"`` mode a share of the domains, in ``"ego"`` mode a share of
each step's sampled centres; the global batch is the same as in one process.
"""
from __future__ import annotations

import copy
from typing import Dict, Iterator, List, Optional

import torch
from torch.utils.data import DataLoader, IterableDataset
from torch_geometric.data import Data

from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.engine.datamodules.sharding import rank_and_world, rank_positions, rank_share
from graphfm.errors import ConfigError


def _identity(batch):
    return batch


@DATAMODULES.register("graph_domains")
class GraphDomainsDataModule(DataModule):
    """Several graphs from different domains, each trained on every step.

    Each batch is a ``list[Data]``, one entry per domain, carrying ``x`` (raw, not yet
    aligned: the model aligns), ``edge_index``, ``domain`` and ``domain_id`` (index in
    ``spec["domains"]``). ``spec`` = ``{"domains": [...], "in_dims": {domain: F}}``.

    ``"ego"`` mode is the sampled pretraining for graphs too large for full batches: each
    graph's CSR is built once in :meth:`setup` (:func:`~graphfm.data.sampling.cached_csr`)
    and every step extracts ``batch_size`` ego-graphs, mixed across the domains by
    ``weights``; with ``max_degree`` the memory of a step is bounded by ``batch_size``,
    ``hops`` and ``max_degree``, whatever the size of the graphs.

    Args:
        datasets (list[str]): Dataset names or file paths (see :func:`graphfm.data.load_graph`).
        mode (str): ``"full"`` gives each domain's whole graph every step; ``"ego"`` gives a
            batched ``Data`` of sampled ego-graphs per domain (``batch``, ``ptr``,
            ``center_index``, ``node_ids``), centres split across domains by ``weights``.
            (default: ``"full"``)
        batch_size (int): Ego-graph centres per step, all domains and all ranks together
            (``"ego"`` mode). (default: ``256``)
        hops (int): Ego-graph radius (``"ego"`` mode). (default: ``2``)
        weights (dict, optional): Relative sampling weight per domain (``"ego"`` mode);
            uniform when ``None``. (default: ``None``)
        seed (int): Sampling seed. (default: ``0``)
        max_degree (int, optional): Expand at most this many sampled neighbours of a node
            per hop (``"ego"`` mode; see :func:`~graphfm.data.sampling.k_hop_subgraphs`).
            (default: ``None``: all neighbours)
        data_root (str, optional): Data root, set by the engine. (default: ``None``)
    """

    MODES = ("full", "ego")

    def __init__(self, datasets: List[str], mode: str = "full", batch_size: int = 256, hops: int = 2,
                 weights: Optional[Dict[str, float]] = None, seed: int = 0, max_degree: Optional[int] = None,
                 data_root: Optional[str] = None) -> None:
        super().__init__(data_root)
        if not datasets:
            raise ConfigError("data.datasets is empty; list at least one dataset name, e.g. [CiteSeer, Photo]")
        if mode not in self.MODES:
            raise ConfigError(f"data.mode '{mode}' is unknown; valid modes: {', '.join(self.MODES)}")
        if int(batch_size) < 1 or int(hops) < 0 or (max_degree is not None and int(max_degree) < 1):
            raise ConfigError(f"data needs batch_size >= 1, hops >= 0 and max_degree >= 1 (or null), got "
                              f"{batch_size}, {hops}, {max_degree}")
        self.datasets, self.mode, self.batch_size, self.hops = list(datasets), mode, int(batch_size), int(hops)
        self.weights, self.seed, self.max_degree = weights, seed, max_degree
        self.graphs: List[Data] = []

    def setup(self) -> None:
        from graphfm.data import load_graph
        from graphfm.data.graphset import GraphSet
        from graphfm.data.sampling import cached_csr

        self.graphs = []
        for domain_id, name in enumerate(self.datasets):
            data = load_graph(name, root=self.data_root)
            if isinstance(data, list):     # a graph set (TU): one domain of disconnected graphs
                data = GraphSet.from_list(data, str(name)).union(name=str(name))
            data = copy.copy(data)     # own attributes, shared tensors (no copy of a large graph)
            data.domain = str(getattr(data, "domain", name))
            data.domain_id = domain_id
            if self.mode == "ego":
                cached_csr(data)
            self.graphs.append(data)
        domains = [g.domain for g in self.graphs]
        if len(set(domains)) != len(domains):
            raise ConfigError(f"data.datasets lists the same domain twice: {domains}")
        self.spec = {"domains": domains, "in_dims": {g.domain: int(g.num_features) for g in self.graphs}}

    def train_dataloader(self) -> DataLoader:
        if self.mode == "full":
            dataset = _FullGraphs(self.graphs)
        else:
            weights = [float((self.weights or {}).get(g.domain, 1.0)) for g in self.graphs]
            dataset = _EgoGraphs(self.graphs, self.batch_size, self.hops, weights, self.seed, self.max_degree)
        return DataLoader(dataset, batch_size=None, collate_fn=_identity)


class _FullGraphs(IterableDataset):
    #: Each rank's loss is a sum over its domains: ranks' gradients are summed, not averaged.
    rank_reduce = "sum"

    def __init__(self, graphs: List[Data]) -> None:
        self.graphs = graphs

    def __iter__(self) -> Iterator[List[Data]]:
        rank, world = rank_and_world()
        if world > len(self.graphs):
            raise ConfigError(f"data.mode=full gives every rank whole domains, but there are {len(self.graphs)} "
                              f"domain(s) for {world} ranks; use data.mode=ego (ranks share sampled centres) "
                              "or fewer devices")
        mine = rank_share(self.graphs, rank, world)
        while True:
            yield mine


class _EgoGraphs(IterableDataset):
    #: Each rank's loss is a mean over its centres: ranks' gradients are averaged (DDP's default).
    rank_reduce = "mean"

    def __init__(self, graphs: List[Data], batch_size: int, hops: int, weights: List[float], seed: int,
                 max_degree: Optional[int] = None) -> None:
        self.graphs, self.batch_size, self.hops, self.seed = graphs, batch_size, hops, seed
        self.max_degree = None if max_degree is None else int(max_degree)
        self.weights = torch.tensor(weights, dtype=torch.float)
        if (self.weights < 0).any() or self.weights.sum() <= 0:
            raise ConfigError(f"data.weights must be non-negative with a positive sum, got {weights}")

    def __iter__(self) -> Iterator[List[Data]]:
        from graphfm.data.sampling import k_hop_subgraphs

        rank, world = rank_and_world()
        if self.batch_size < world:
            raise ConfigError(f"data.batch_size ({self.batch_size}) is the global number of centres per step; "
                              f"give at least one per rank ({world})")
        gen = torch.Generator().manual_seed(self.seed)
        while True:
            counts = torch.bincount(torch.multinomial(self.weights, self.batch_size, True, generator=gen),
                                    minlength=len(self.graphs))
            drawn = [(graph, torch.randint(graph.num_nodes, (count,), generator=gen))
                     for graph, count in zip(self.graphs, counts.tolist()) if count]
            seed = int(torch.randint(2**31 - 1, (1,), generator=gen)) if self.max_degree is not None else 0
            keep, offset, batch = rank_positions(self.batch_size, rank, world), 0, []
            for graph, centres in drawn:
                mine = keep[(keep >= offset) & (keep < offset + centres.numel())] - offset
                offset += centres.numel()
                if mine.numel() == 0:
                    continue
                egos = k_hop_subgraphs(graph, centres[mine], self.hops, self.max_degree, as_batch=True, seed=seed)
                egos.domain, egos.domain_id = graph.domain, graph.domain_id
                batch.append(egos)
            yield batch

"""Multi-domain graph data module: one graph (or a batch of ego-graphs) per domain per step."""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import torch
from torch.utils.data import DataLoader, IterableDataset
from torch_geometric.data import Batch, Data

from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.errors import ConfigError


def _identity(batch):
    return batch


@DATAMODULES.register("graph_domains")
class GraphDomainsDataModule(DataModule):
    """Several graphs from different domains, each trained on every step.

    Each batch is a ``list[Data]``, one entry per domain, carrying ``x`` (raw, not yet
    aligned: the model aligns), ``edge_index``, ``domain`` and ``domain_id`` (index in
    ``spec["domains"]``). ``spec`` = ``{"domains": [...], "in_dims": {domain: F}}``.

    Args:
        datasets (list[str]): Dataset names or file paths (see :func:`graphfm.data.load_dataset`).
        mode (str): ``"full"`` gives each domain's whole graph every step; ``"ego"`` gives a
            :class:`~torch_geometric.data.Batch` of sampled ego-graphs per domain, centres
            split across domains by ``weights``. (default: ``"full"``)
        batch_size (int): Ego-graph centres per step, all domains together (``"ego"`` mode).
            (default: ``256``)
        hops (int): Ego-graph radius (``"ego"`` mode). (default: ``2``)
        weights (dict, optional): Relative sampling weight per domain (``"ego"`` mode);
            uniform when ``None``. (default: ``None``)
        seed (int): Sampling seed. (default: ``0``)
        data_root (str, optional): Data root, set by the engine. (default: ``None``)
    """

    MODES = ("full", "ego")

    def __init__(self, datasets: List[str], mode: str = "full", batch_size: int = 256, hops: int = 2,
                 weights: Optional[Dict[str, float]] = None, seed: int = 0,
                 data_root: Optional[str] = None) -> None:
        super().__init__(data_root)
        if not datasets:
            raise ConfigError("data.datasets is empty; list at least one dataset name, e.g. [CiteSeer, Photo]")
        if mode not in self.MODES:
            raise ConfigError(f"data.mode '{mode}' is unknown; valid modes: {', '.join(self.MODES)}")
        self.datasets, self.mode, self.batch_size, self.hops = list(datasets), mode, batch_size, hops
        self.weights, self.seed = weights, seed
        self.graphs: List[Data] = []

    def setup(self) -> None:
        from graphfm.data import load_dataset

        self.graphs = []
        for domain_id, name in enumerate(self.datasets):
            data = load_dataset(name, root=self.data_root)
            if isinstance(data, list):
                raise ConfigError(f"dataset '{name}' is a set of graphs; graph_domains pretrains on node-level "
                                  "graphs (Cora, Photo, ...)")
            data = data.clone()
            data.domain = str(getattr(data, "domain", name))
            data.domain_id = domain_id
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
            dataset = _EgoGraphs(self.graphs, self.batch_size, self.hops, weights, self.seed)
        return DataLoader(dataset, batch_size=None, collate_fn=_identity)


class _FullGraphs(IterableDataset):
    def __init__(self, graphs: List[Data]) -> None:
        self.graphs = graphs

    def __iter__(self) -> Iterator[List[Data]]:
        while True:
            yield self.graphs


class _EgoGraphs(IterableDataset):
    def __init__(self, graphs: List[Data], batch_size: int, hops: int, weights: List[float], seed: int) -> None:
        self.graphs, self.batch_size, self.hops, self.seed = graphs, batch_size, hops, seed
        self.weights = torch.tensor(weights, dtype=torch.float)
        if (self.weights < 0).any() or self.weights.sum() <= 0:
            raise ConfigError(f"data.weights must be non-negative with a positive sum, got {weights}")

    def __iter__(self) -> Iterator[List[Batch]]:
        from graphfm.data.sampling import ego_graphs

        gen = torch.Generator().manual_seed(self.seed)
        while True:
            counts = torch.bincount(torch.multinomial(self.weights, self.batch_size, True, generator=gen),
                                    minlength=len(self.graphs))
            batch = []
            for graph, count in zip(self.graphs, counts.tolist()):
                if count == 0:
                    continue
                centres = torch.randint(graph.num_nodes, (count,), generator=gen)
                egos = Batch.from_data_list(ego_graphs(graph, centres, self.hops))
                egos.domain, egos.domain_id = graph.domain, graph.domain_id
                batch.append(egos)
            yield batch

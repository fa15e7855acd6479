"""Data module ``multimodal_graphs``: subgraphs sampled across several multimodal graphs.

Used to pretrain UniGraph2 (He et al., WWW 2025, `arXiv:2502.00806
<https://arxiv.org/abs/2502.00806>`_). ``setup()`` loads every graph, runs the frozen
modality encoders once (outputs cached on disk by :mod:`graphfm.encoders`) and keeps
only the features; each training batch then holds ``subgraphs_per_batch`` subgraphs
(personalised-PageRank random-walk subgraphs or k-hop ego-graphs), their centres
spread over the graphs by per-graph weights::

    {"feats":  {modality: float [N, D_m]},    # zeros where a node lacks the modality
     "masks":  {modality: bool [N]},          # presence of each modality
     "edge_index": long [2, E],               # disjoint union of the subgraphs
     "batch":  long [N],                      # sorted subgraph id
     "domain": long [N]}                      # index of the node's graph in spec["domains"]

Under data parallelism (``trainer.strategy=ddp``) every rank samples the same global
batch and keeps the subgraphs at positions ``rank, rank + world, ...`` of it
(:mod:`.sharding`): the ranks' batches are disjoint and together are the batch one
process trains on; each rank's loss is a mean, DDP averages the gradients.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset
from torch_geometric.data import Data

from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.engine.datamodules.sharding import rank_and_world
from graphfm.errors import ConfigError

SAMPLERS = ("ppr", "khop")
#: Training steps whose subgraphs are sampled together (see ``sample_batch``).
CHUNK = 16


class _Graph:
    """One source graph reduced to what training needs: features, masks and edges."""

    def __init__(self, name: str, feats: Dict[str, Tensor], masks: Dict[str, Tensor], edge_index: Tensor,
                 num_nodes: int, weight: float) -> None:
        self.name, self.feats, self.masks, self.weight = name, feats, masks, weight
        self.structure = Data(edge_index=edge_index, num_nodes=num_nodes)
        present = torch.zeros(num_nodes, dtype=torch.bool)
        for m in masks.values():
            present |= m
        self.centres = present.nonzero().view(-1)


@DATAMODULES.register("multimodal_graphs")
class MultimodalGraphsDataModule(DataModule):
    """Several multimodal graphs, frozen features per modality, subgraph batches.

    Args:
        graphs (list): Graphs to train on: a dataset name (``"CiteSeer-TAG"``,
            ``"digits-graph"``, ``"Photo"``, a user file, an MM-Graph folder) or a dict
            ``{name, weight (default 1.0), features, split_halves}`` (the last two for
            MM-Graph folders, see :func:`graphfm.data.mmgraph.load_mmgraph`).
        modalities (dict): Modality name -> modality spec ``{encoder: {...}, field,
            domains}`` (see :mod:`graphfm.encoders.modalities`); the encoders' output
            widths are added as ``dim`` in ``spec["modalities"]``.
        sampler (str): ``"ppr"`` (random walks with restart, the most visited
            ``subgraph_size`` nodes) or ``"khop"`` (ego-graphs). (default: ``"ppr"``)
        subgraph_size (int): Nodes per PPR subgraph. (default: ``64``)
        walk_length (int): Steps per PPR walk. (default: ``8``)
        num_walks (int): Walks per PPR centre. (default: ``32``)
        restart_prob (float): PPR restart probability. (default: ``0.3``)
        hops (int): Ego-graph radius (``"khop"``). (default: ``2``)
        max_degree (int, optional): Neighbours expanded per node and hop (``"khop"``).
            (default: ``16``)
        subgraphs_per_batch (int): Subgraphs per batch, all graphs together. (default: ``16``)
        feature_norm (str): Per-graph normalisation of every modality's features
            (``"none"``, ``"center"``, ``"standardize"``, see
            :func:`graphfm.encoders.normalize_features`); passed on to the model through
            ``spec``. (default: ``"center"``)
        seed (int): Sampling seed. (default: ``0``)
        cache_dir (str, optional): Encoder cache. (default: ``$GRAPHFM_CACHE`` or
            ``~/.cache/graphfm/features``)
        progress (bool): Progress bars while encoding. (default: ``True``)
        data_root (str, optional): Data root, set by the engine. (default: ``None``)
    """

    def __init__(self, graphs: List[Any], modalities: Dict[str, Any], sampler: str = "ppr",
                 subgraph_size: int = 64, walk_length: int = 8, num_walks: int = 32, restart_prob: float = 0.3,
                 hops: int = 2, max_degree: Optional[int] = 16, subgraphs_per_batch: int = 16,
                 feature_norm: str = "center", seed: int = 0,
                 cache_dir: Optional[str] = None, progress: bool = True, data_root: Optional[str] = None) -> None:
        super().__init__(data_root)
        if not graphs:
            raise ConfigError("data.graphs is empty; list graphs such as [CiteSeer-TAG, digits-graph]")
        if not isinstance(modalities, Mapping) or not modalities:
            raise ConfigError("data.modalities must map modality names to specs, e.g. "
                              "{text: {encoder: {name: text, model: all-MiniLM-L6-v2}}}")
        if sampler not in SAMPLERS:
            raise ConfigError(f"data.sampler '{sampler}' is unknown; valid: {', '.join(SAMPLERS)}")
        self.graph_specs = [_graph_entry(g) for g in graphs]
        self.modality_specs = {str(k): dict(v) for k, v in modalities.items()}
        self.sampler, self.subgraph_size, self.walk_length = sampler, subgraph_size, walk_length
        self.num_walks, self.restart_prob, self.hops, self.max_degree = num_walks, restart_prob, hops, max_degree
        from graphfm.encoders import FEATURE_NORMS

        if feature_norm not in FEATURE_NORMS:
            raise ConfigError(f"data.feature_norm '{feature_norm}' is unknown; valid: {', '.join(FEATURE_NORMS)}")
        self.subgraphs_per_batch, self.feature_norm, self.seed = subgraphs_per_batch, feature_norm, seed
        self.cache_dir, self.progress = cache_dir, progress
        self.graphs: List[_Graph] = []
        self._chunk: List[Dict[str, Any]] = []
        self._chunk_id: Optional[tuple] = None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Load the graphs, encode (or read cached) features, fill ``spec``."""
        from graphfm.encoders import graph_modalities, normalize_features

        self.graphs, dims = [], {}
        for entry in self.graph_specs:
            data = _load_entry(entry, self.data_root)
            feats, masks = graph_modalities(data, self.modality_specs, cache_dir=self.cache_dir,
                                            progress=self.progress)
            if not feats:
                raise ConfigError(f"graph '{entry['name']}' carries none of the modalities "
                                  f"{sorted(self.modality_specs)}; add a modality whose field/domains match it")
            for name, x in feats.items():
                if dims.setdefault(name, x.size(1)) != x.size(1):
                    raise ConfigError(f"modality '{name}' has width {dims[name]} in one graph and {x.size(1)} in "
                                      f"'{entry['name']}'; give each feature width its own modality (with domains)")
            label = str(getattr(data, "name", None) or entry["name"])
            feats = normalize_features(feats, masks, self.feature_norm)
            self.graphs.append(_Graph(label, feats, masks, data.edge_index, data.num_nodes, entry["weight"]))
        unused = sorted(set(self.modality_specs) - set(dims))
        if unused:
            raise ConfigError(f"modalities {unused} match no graph in data.graphs; remove them or add a graph")
        self.spec = {"modalities": {name: dict(spec, dim=int(dims[name]))
                                    for name, spec in self.modality_specs.items()},
                     "domains": [g.name for g in self.graphs], "feature_norm": self.feature_norm}

    def train_dataloader(self) -> DataLoader:
        if not self.graphs:
            raise RuntimeError("call setup() before train_dataloader()")
        return DataLoader(_SubgraphStream(self), batch_size=None, num_workers=0)

    # ------------------------------------------------------------------ sampling
    def sample_batch(self, step: int, rank: int = 0, world: int = 1) -> Dict[str, Any]:
        """The batch of a given step (deterministic in ``seed`` and ``step``): with ``world > 1``,
        rank ``rank``'s share of it (the subgraphs at positions ``rank, rank + world, ...``).

        Steps are sampled :data:`CHUNK` at a time, with one sampler call per graph, so
        that building a large graph's adjacency is paid once per chunk, not per step.
        """
        if world > self.subgraphs_per_batch:
            raise ConfigError(f"data.subgraphs_per_batch ({self.subgraphs_per_batch}) is the global number of "
                              f"subgraphs per step; give at least one per rank ({world})")
        chunk, pos = divmod(step, CHUNK)
        if self._chunk_id != (chunk, rank, world):
            self._chunk, self._chunk_id = self._sample_chunk(chunk, rank, world), (chunk, rank, world)
        return self._chunk[pos]

    def _sample_chunk(self, chunk: int, rank: int = 0, world: int = 1) -> List[Dict[str, Any]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + chunk)
        weights = torch.tensor([g.weight for g in self.graphs], dtype=torch.float)
        owner = torch.multinomial(weights, CHUNK * self.subgraphs_per_batch, replacement=True, generator=gen)
        owner = owner.view(CHUNK, self.subgraphs_per_batch)
        steps: List[List[tuple]] = [[] for _ in range(CHUNK)]
        position = [0] * CHUNK                        # subgraphs of each step so far, all ranks
        for gi, graph in enumerate(self.graphs):
            counts = (owner == gi).sum(dim=1)                                   # subgraphs per step
            if int(counts.sum()) == 0:
                continue
            pick = torch.randint(graph.centres.numel(), (int(counts.sum()),), generator=gen)
            sub_seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
            sub = self._subgraphs(graph, graph.centres[pick], sub_seed)         # groups ordered by step
            bounds = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]).tolist()
            for j in range(CHUNK):
                count = bounds[j + 1] - bounds[j]
                mine = torch.arange(count)[(torch.arange(count) + position[j]) % world == rank]
                position[j] += count
                if mine.numel():
                    steps[j].append((gi, _groups(sub, bounds[j] + mine)))
        return [self._collate(parts) for parts in steps]

    def _subgraphs(self, graph: _Graph, centres: Tensor, seed: int) -> Data:
        from graphfm.data import sampling

        if self.sampler == "ppr":
            return sampling.random_walk_subgraphs(graph.structure, centres, walk_length=self.walk_length,
                                                  num_walks=self.num_walks, restart_prob=self.restart_prob,
                                                  max_nodes=self.subgraph_size, as_batch=True, seed=seed)
        return sampling.k_hop_subgraphs(graph.structure, centres, hops=self.hops, max_degree=self.max_degree,
                                        as_batch=True, seed=seed)

    def _collate(self, parts: List[tuple]) -> Dict[str, Any]:
        names = sorted({m for gi, _ in parts for m in self.graphs[gi].feats})
        dims = self.spec["modalities"]
        feats = {m: [] for m in names}
        masks = {m: [] for m in names}
        edges, batch, domain = [], [], []
        offset, groups = 0, 0
        for gi, sub in parts:
            graph, ids, n = self.graphs[gi], sub.node_ids, sub.node_ids.numel()
            for m in names:
                if m in graph.feats:
                    feats[m].append(graph.feats[m][ids])
                    masks[m].append(graph.masks[m][ids])
                else:
                    feats[m].append(torch.zeros(n, dims[m]["dim"]))
                    masks[m].append(torch.zeros(n, dtype=torch.bool))
            edges.append(sub.edge_index + offset)
            batch.append(sub.batch + groups)
            domain.append(torch.full((n,), gi, dtype=torch.long))
            offset, groups = offset + n, groups + sub.num_groups
        return {"feats": {m: torch.cat(v) for m, v in feats.items()},
                "masks": {m: torch.cat(v) for m, v in masks.items()},
                "edge_index": torch.cat(edges, dim=1), "batch": torch.cat(batch), "domain": torch.cat(domain)}


def _groups(sub: Data, groups: Tensor) -> Data:
    """Subgraphs ``groups`` (increasing ids) of a batched sampler output, renumbered from 0."""
    new_id = torch.full((sub.ptr.numel() - 1,), -1, dtype=torch.long)
    new_id[groups] = torch.arange(groups.numel())
    batch = new_id[sub.batch]
    node = batch >= 0
    index = node.long().cumsum(0) - 1                      # new position of every kept node
    keep = node[sub.edge_index[0]]
    return Data(node_ids=sub.node_ids[node], edge_index=index[sub.edge_index[:, keep]], batch=batch[node],
                num_groups=groups.numel())


class _SubgraphStream(IterableDataset):
    """An endless stream of batches from :meth:`MultimodalGraphsDataModule.sample_batch`,
    this rank's share of each under data parallelism."""

    #: Each rank's loss is a mean over its subgraphs' nodes: ranks' gradients are averaged.
    rank_reduce = "mean"

    def __init__(self, module: MultimodalGraphsDataModule) -> None:
        self.module = module

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        rank, world = rank_and_world()
        step = 0
        while True:
            yield self.module.sample_batch(step, rank, world)
            step += 1


def _graph_entry(entry: Any) -> Dict[str, Any]:
    if isinstance(entry, (str, Path)):
        entry = {"name": str(entry)}
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise ConfigError(f"data.graphs entries must be a dataset name or {{name: ..., weight: ...}}, got {entry!r}")
    valid = {"name", "weight", "features", "split_halves"}
    unknown = sorted(set(entry) - valid)
    if unknown:
        raise ConfigError(f"data.graphs entry '{entry['name']}': unknown key(s) {unknown}; valid: {sorted(valid)}")
    weight = entry.get("weight", 1.0)
    if not isinstance(weight, (int, float)) or weight <= 0:
        raise ConfigError(f"data.graphs entry '{entry['name']}': weight must be a positive number, got {weight!r}")
    return {"name": str(entry["name"]), "weight": float(weight), "features": entry.get("features"),
            "split_halves": list(entry.get("split_halves") or [])}


def _load_entry(entry: Mapping[str, Any], data_root: Optional[str] = None) -> Data:
    """The node-level graph a ``data.graphs`` entry names (:func:`graphfm.data.load_graph`)."""
    from graphfm.data import load_graph

    data = load_graph(entry["name"], root=data_root, features=entry["features"], split_halves=entry["split_halves"])
    if isinstance(data, list):
        raise ConfigError(f"dataset '{entry['name']}' is a set of graphs; multimodal_graphs needs node-level graphs")
    return data

"""Text-graph baselines: what a user gets from a frozen text encoder without any pretraining.

Every baseline reads the target's node texts through a frozen encoder (all-MiniLM-L6-v2,
128 tokens, as the UniGraph2 benchmark encodes them; cached on disk), normalises them as
UniGraph2's ``feature_norm="center"`` does (minus the graph's mean, divided by the mean row
norm; ``center=False`` keeps the raw features) and offers the two methods a model offers:
``embed(data) -> [N, D]`` and ``embed_texts(texts, data) -> [T, D]``, the second taking
texts (class names) through the same normalisation and the same network as isolated nodes
(``Â`` of an isolated node with its self-loop is ``1``), so that
:mod:`graphfm.adapt.names` treats baselines and models alike.

* ``raw_lm`` (:class:`RawText`): the normalised frozen features, no graph;
* ``sgc_lm`` (:class:`SGCText`): ``Â^k X`` (SGC without training, Wu et al., ICML 2019,
  https://arxiv.org/abs/1902.07153), ``Â = D^-1/2 (A + I) D^-1/2`` of the symmetrised graph;
* ``dgi_target`` (:class:`DGITarget`): Deep Graph Infomax (Veličković et al., ICLR 2019,
  https://arxiv.org/abs/1809.10341) trained on the target alone: PyG's
  :class:`~torch_geometric.nn.models.DeepGraphInfomax` (bilinear discriminator, summary
  ``sigmoid(mean h)``, corruption = shuffled feature rows) on an encoder of three GCN layers
  of 256 with PReLU (:class:`GCNEncoder`), Adam, lr 1e-3, 200 epochs, full batch. See
  :mod:`graphfm.adapt.dgi` for the fast training and the on-disk cache.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from graphfm.adapt.dgi import DGIRecipe, GCNEncoder, train_dgi_cached
from graphfm.errors import ConfigError, DataError

__all__ = ["DEFAULT_TEXT_ENCODER", "FrozenText", "RawText", "SGCText", "DGITarget", "TEXT_BASELINES",
           "text_baseline", "text_features", "normalise_with", "graph_adjacency"]

#: The frozen text encoder of the baselines (as configs/unigraph2/pretrain.yaml encodes texts).
DEFAULT_TEXT_ENCODER = {"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 128}


def text_features(data: Any, encoder: Optional[Mapping[str, Any]] = None, cache_dir: Any = None,
                  progress: bool = False) -> Tuple[Tensor, Tensor]:
    """Frozen features ``[N, D]`` of ``data.text`` and their presence mask ``[N]`` (``data.text_mask``
    and non-empty texts; missing rows are zero).

    Raises:
        DataError: the graph has no ``text``.
    """
    from graphfm.encoders import build_encoder, encode_modality

    texts = getattr(data, "text", None)
    if texts is None or len(texts) != int(data.num_nodes):
        raise DataError(f"graph '{getattr(data, 'name', 'graph')}' has no node texts (data.text, one string per "
                        "node); the text baselines need a text graph (a registered *-TAG graph, a .pt text dict or "
                        "a folder with nodes.csv/edges.csv)")
    enc = build_encoder(dict(encoder or DEFAULT_TEXT_ENCODER))
    return encode_modality(enc, texts, getattr(data, "text_mask", None), cache_dir=cache_dir, progress=progress)


def normalise_with(x: Tensor, ref: Tensor, mask: Tensor, center: bool = True) -> Tensor:
    """``x`` minus the mean of ``ref``'s present rows, divided by their mean centred row norm
    (``feature_norm="center"`` of :func:`graphfm.encoders.normalize_features` with ``ref``'s
    statistics); ``x`` unchanged without ``center``."""
    rows = ref[mask]
    if not center or rows.size(0) == 0:
        return x
    mean = rows.mean(0)
    return (x - mean) / (rows - mean).norm(dim=1).mean().clamp(min=1e-8)


def graph_adjacency(data: Any):
    """``Â`` of ``data`` as a :class:`~graphfm.nn.propagation.SparseMatrix` (edges symmetrised and
    deduplicated, self-loops replaced by one each)."""
    from torch_geometric.utils import to_undirected

    from graphfm.nn import NormalizedAdjacency

    n = int(data.num_nodes)
    edges = to_undirected(data.edge_index.long().cpu(), num_nodes=n) if data.edge_index.numel() else \
        data.edge_index.long().cpu().view(2, 0)
    return NormalizedAdjacency(edges, n).matrix()


class FrozenText:
    """Base of the text baselines: normalised frozen text features of a graph.

    Args:
        encoder (dict, optional): Text encoder spec. (default: :data:`DEFAULT_TEXT_ENCODER`)
        center (bool): Centre with the graph's mean (see :func:`normalise_with`). (default: ``True``)
        cache_dir (str, optional): Encoder cache folder. (default: ``$GRAPHFM_CACHE``)
        progress (bool): Progress bars while encoding. (default: ``False``)
    """

    name = "frozen_text"

    def __init__(self, encoder: Optional[Mapping[str, Any]] = None, center: bool = True, cache_dir: Any = None,
                 progress: bool = False) -> None:
        self.encoder = dict(encoder or DEFAULT_TEXT_ENCODER)
        if self.encoder.get("name") != "text":
            raise ConfigError(f"text baselines need a text encoder spec ({{name: text, ...}}), got {self.encoder}")
        self.center, self.cache_dir, self.progress = bool(center), cache_dir, progress
        self._memo: Dict[int, Tuple[Any, Tensor, Tensor]] = {}

    def features(self, data: Any) -> Tuple[Tensor, Tensor]:
        """``(frozen features [N, D], mask [N])`` of ``data`` (kept for the last graph asked)."""
        memo = self._memo.get(id(data))
        if memo is None or memo[0] is not data:
            x, mask = text_features(data, self.encoder, self.cache_dir, self.progress)
            self._memo = {id(data): (data, x, mask)}
            memo = self._memo[id(data)]
        return memo[1], memo[2]

    def inputs(self, data: Any) -> Tensor:
        """The normalised features ``[N, D]`` (missing rows stay zero)."""
        x, mask = self.features(data)
        out = torch.zeros_like(x)
        out[mask] = normalise_with(x[mask], x, mask, self.center)
        return out

    def text_inputs(self, texts: List[str], data: Any) -> Tensor:
        """``texts`` through the frozen encoder and ``data``'s normalisation ``[T, D]``."""
        from graphfm.encoders import build_encoder, encode_cached

        x, mask = self.features(data)
        enc = encode_cached(build_encoder(self.encoder), list(texts), cache_dir=self.cache_dir, progress=False)
        return normalise_with(enc, x, mask, self.center)

    def embed(self, data: Any) -> Tensor:
        return self.inputs(data)

    def embed_texts(self, texts: List[str], data: Any) -> Tensor:
        return self.text_inputs(texts, data)


class RawText(FrozenText):
    """``raw_lm``: the normalised frozen text features, no graph (see the module docstring)."""

    name = "raw_lm"


class SGCText(FrozenText):
    """``sgc_lm``: ``Â^hops X`` of the normalised frozen text features, nothing trained; texts
    (class names) are isolated nodes, left as they are.

    Args:
        hops (int): Propagation steps ``k``. (default: ``2``)
        **kwargs: Of :class:`FrozenText` (``encoder``, ``center``, ``cache_dir``, ``progress``).
    """

    name = "sgc_lm"

    def __init__(self, hops: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(hops) < 0:
            raise ConfigError(f"sgc_lm hops must be >= 0, got {hops}")
        self.hops = int(hops)

    def embed(self, data: Any) -> Tensor:
        x = self.inputs(data)
        if self.hops:
            adj = graph_adjacency(data)
            for _ in range(self.hops):
                x = adj @ x
        return x


class DGITarget(FrozenText):
    """``dgi_target``: DGI trained on the target's normalised frozen text features alone, seeded;
    embeddings cached on disk (:func:`graphfm.adapt.dgi.train_dgi_cached`). Texts (class names)
    go through the trained encoder as isolated nodes.

    Args:
        seed (int): Seed of the initialisation and the corruptions. (default: ``0``)
        recipe (DGIRecipe, optional): Width, depth, epochs, learning rate. (default: 3 x 256, 200
            epochs, lr 1e-3)
        baseline_cache (str or bool, optional): Folder of the cached embeddings; ``False`` turns the
            cache off. (default: ``None``: ``baselines/`` beside the feature cache)
        **kwargs: Of :class:`FrozenText`.
    """

    name = "dgi_target"

    def __init__(self, seed: int = 0, recipe: Optional[DGIRecipe] = None, baseline_cache: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed, self.recipe, self.baseline_cache = int(seed), recipe or DGIRecipe(), baseline_cache
        self._trained: Dict[int, Tuple[Any, Tensor, GCNEncoder]] = {}

    def trained(self, data: Any) -> Tuple[Tensor, GCNEncoder]:
        """``(embeddings [N, H], encoder)`` of ``data`` (trained once, or read from the cache)."""
        memo = self._trained.get(id(data))
        if memo is None or memo[0] is not data:
            emb, encoder = train_dgi_cached(self.inputs(data), graph_adjacency(data), self.seed, self.recipe,
                                            cache=self.baseline_cache)
            self._trained = {id(data): (data, emb, encoder)}
            memo = self._trained[id(data)]
        return memo[1], memo[2]

    def embed(self, data: Any) -> Tensor:
        return self.trained(data)[0]

    def embed_texts(self, texts: List[str], data: Any) -> Tensor:
        encoder = self.trained(data)[1]
        with torch.no_grad():
            return encoder(self.text_inputs(texts, data), None)


#: The text baselines by name.
TEXT_BASELINES = {"raw_lm": RawText, "sgc_lm": SGCText, "dgi_target": DGITarget}


def text_baseline(name: str, **options: Any) -> FrozenText:
    """The text baseline ``name`` (a key of :data:`TEXT_BASELINES`) built with ``options``.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    if name not in TEXT_BASELINES:
        raise ConfigError(f"unknown text baseline '{name}'; valid: {', '.join(TEXT_BASELINES)}")
    return TEXT_BASELINES[name](**options)

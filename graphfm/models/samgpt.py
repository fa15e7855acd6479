"""SAMGPT: text-free multi-domain graph pretraining with structure tokens.

Yu, Gong, Zhou, Fang, Zhang: "SAMGPT: Text-free Graph Foundation Model for
Multi-domain Pre-training and Cross-domain Adaptation", WWW 2025,
https://arxiv.org/abs/2502.05424.

Every source domain ``i`` is first aligned to a common width (per-domain SVD/PCA,
50 in the paper) and multiplied by a learnable **feature token** ``t_i^f``; a shared
GCN then aggregates with per-domain, per-layer **structure tokens** ``t_i^l``
(see :class:`~graphfm.nn.TokenGCN` for the two token placements). An unseen target
is aligned with its own SVD and encoded with *neutral* tokens (the mean source
tokens, or ones), or adapted with prompts (:mod:`graphfm.adapt.samgpt`).

On text graphs ``align="text"`` replaces the per-domain SVD by a frozen text encoder: every
graph's node texts are encoded and centred with the graph's own statistics
(:mod:`graphfm.models.samgpt_text`), one feature space shared by every domain; the tokens, the
GCN, the objective and the prompts are unchanged. Such a model also embeds free texts
(:meth:`SAMGPT.embed_texts`: class names for zero-shot classification).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.models.base import MODELS, NoTextRouteError, PretrainedModel
from graphfm.models.samgpt_text import ALIGNS, TextAlignment
from graphfm.nn import NormalizedAdjacency, TokenGCN, spmm_batched
from graphfm.nn.chunks import default_workers, map_row_chunks
from graphfm.nn.propagation import empty_rows

__all__ = ["SAMGPT", "PreparedGraph"]

BRANCHES = ("single", "dual")


@dataclass
class PreparedGraph:
    """A graph ready for the GCN: aligned features, ``Â`` and the first aggregation ``Â X̃``."""

    x: Tensor
    adj: NormalizedAdjacency
    agg1: Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.x.size(0))

    def with_rows(self, perm: Tensor) -> "PreparedGraph":
        """The same graph with its feature rows permuted (DGI's corrupted negatives)."""
        x = self.x[perm]
        return PreparedGraph(x, self.adj, spmm_batched(self.adj.matrix(), x.unsqueeze(1)).squeeze(1))

    def with_adjacency(self, adj: NormalizedAdjacency) -> "PreparedGraph":
        """The same features on another adjacency (an augmented view)."""
        return PreparedGraph(self.x, adj, spmm_batched(adj.matrix(), self.x.unsqueeze(1)).squeeze(1))


@MODELS.register("samgpt")
class SAMGPT(PretrainedModel):
    """SAMGPT backbone: feature alignment, feature tokens, structure tokens, GCN.

    Args:
        domains (list[str], optional): Source domain names, in token order
            (default: the keys of ``in_dims``).
        in_dims (dict[str, int], optional): Raw feature width of every source domain;
            sizes the alignment buffers. (default: ``None``: no source domain)
        align_dim (int): Common feature width after alignment. (default: ``50``)
        hidden (int): GCN width. (default: ``256``)
        num_layers (int): GCN depth. (default: ``3``)
        token_placement (str): ``"message"`` (token ⊙ neighbour messages, Eq. 6 of the
            paper) or ``"output"`` (token ⊙ layer output, the public code).
            (default: ``"message"``)
        activation (str): ``"prelu"`` or ``"relu"``. (default: ``"prelu"``)
        init (str): GCN weight init, ``"orthogonal"`` or ``"default"`` (see
            :class:`~graphfm.nn.TokenGCN`). (default: ``"orthogonal"``)
        neutral_tokens (str): Tokens used to embed an unseen domain: ``"mean"`` of the
            source tokens or ``"ones"`` (no modulation). (default: ``"mean"``)
        whiten (bool): Unit-variance columns after alignment instead of one scale per
            domain. (default: ``False``)
        residual (bool): Residual GCN layers from the second on (the public code).
            (default: ``False``)
        branches (str): ``"single"``: one GCN pass with both tokens; ``"dual"``: a
            *feature branch* (feature token on the input, no structure tokens) plus a
            *structure branch* (structure tokens, raw aligned input), summed, as the public
            code pretrains and as adaptation fuses ``H_fea + α (H_hol + β H_spe)``.
            (default: ``"single"``)
        token_init (str): ``"ones"`` (no modulation at first) or ``"random"`` (Glorot
            uniform around one; tokens of different domains start apart). (default: ``"ones"``)
        align (str): Feature alignment: ``"svd"`` (each domain's own SVD to ``align_dim``, the
            paper) or ``"text"`` (the node texts through the frozen ``text_encoder``, centred per
            graph; ``align_dim`` is the encoder's width and ``in_dims`` is not needed).
            (default: ``"svd"``)
        text_encoder (dict, optional): The text encoder spec of ``align="text"``. (default:
            ``{name: text, model: all-MiniLM-L6-v2, max_length: 128}``)
        text_encoder_id (str, optional): The encoder's ``encoder_id`` at pretraining time, recorded
            in the checkpoint; another encoder at embedding time is an error. (default: ``None``:
            the one ``text_encoder`` gives when the model is built)
        align_order (str): Columns of the aligned features: ``"variance"`` (principal
            components), ``"smoothness"`` (the same span rotated to unit-variance directions
            ordered from the smoothest over the graph, so that column ``k`` means the same in
            every domain) or ``"pc_smoothness"`` (the principal components reordered from the
            smoothest); see :class:`~graphfm.data.FeatureAligner`. (default: ``"variance"``)
    """

    def __init__(self, domains: Optional[List[str]] = None, in_dims: Optional[Dict[str, int]] = None,
                 align_dim: int = 50, hidden: int = 256, num_layers: int = 3, token_placement: str = "message",
                 activation: str = "prelu", init: str = "orthogonal", neutral_tokens: str = "mean",
                 whiten: bool = False, residual: bool = False, branches: str = "single",
                 token_init: str = "ones", align_order: str = "variance", align: str = "svd",
                 text_encoder: Optional[Dict[str, Any]] = None, text_encoder_id: Optional[str] = None) -> None:
        super().__init__()
        from graphfm.data import FeatureAligner

        if align not in ALIGNS:
            raise ConfigError(f"model.align must be one of {ALIGNS} (svd: each domain's own SVD; text: a frozen "
                              f"text encoder shared by every domain), got '{align}'")
        self.align = align
        self.text = TextAlignment(text_encoder, text_encoder_id) if align == "text" else None
        if self.text is not None and text_encoder_id is None:   # the checkpoint records the encoder it was built with
            self._init_kwargs["text_encoder_id"] = self.text.encoder_id
        in_dims = {str(k): int(v) for k, v in (in_dims or {}).items()}
        domains = [str(d) for d in (domains if domains is not None else list(in_dims))]
        missing = [d for d in domains if d not in in_dims] if self.text is None else []
        if missing:
            raise ConfigError(f"model.in_dims lacks the feature width of domain(s) {missing}; "
                              "give in_dims: {domain: num_features} for every domain")
        if neutral_tokens not in ("mean", "ones"):
            raise ConfigError(f"model.neutral_tokens must be 'mean' or 'ones', got '{neutral_tokens}'")
        if branches not in BRANCHES:
            raise ConfigError(f"model.branches must be one of {BRANCHES}, got '{branches}'")
        if token_init not in ("ones", "random"):
            raise ConfigError(f"model.token_init must be 'ones' or 'random', got '{token_init}'")
        self.domains, self.neutral, self.branches = domains, neutral_tokens, branches
        if align_order not in FeatureAligner.ORDERS:
            raise ConfigError(f"model.align_order must be one of {FeatureAligner.ORDERS}, got '{align_order}'")
        self.aligner = FeatureAligner(align_dim, domain_dims={d: in_dims[d] for d in domains} if self.text is None
                                      else {}, whiten=whiten, order=align_order)
        self.gcn = TokenGCN(align_dim, hidden, num_layers, token_placement, activation, init, residual)
        k = len(domains)
        self.feature_tokens = nn.Parameter(_tokens(k, align_dim, token_init))
        self.structure_tokens = nn.ParameterList(nn.Parameter(_tokens(k, d, token_init)) for d in self.gcn.token_dims)
        self._cache: Dict[Tuple, PreparedGraph] = {}
        self._tables: Dict[str, Tensor] = {}     # align="text": centred features of each source graph
        #: Text encoder cache folder of :meth:`embed` / :meth:`embed_texts` when they are given none.
        self.text_cache_dir: Optional[str] = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_datamodule(cls, datamodule: Any, **kwargs: Any) -> "SAMGPT":
        """Build for ``datamodule.spec`` (``domains``, ``in_dims``) and fit the alignment
        of every source domain on ``datamodule.graphs`` (``align="text"``: encode their texts,
        ``align_dim`` = the encoder's width)."""
        spec = getattr(datamodule, "spec", {}) or {}
        kwargs.setdefault("domains", list(spec.get("domains", [])))
        if kwargs.get("align", "svd") == "text":
            return cls._from_texts(datamodule, **kwargs)
        kwargs.setdefault("in_dims", dict(spec.get("in_dims", {})))
        model = cls(**kwargs)
        for graph in getattr(datamodule, "graphs", []):
            model.aligner.fit(str(graph.domain), graph.x.float(), graph.edge_index)
        return model

    @classmethod
    def _from_texts(cls, datamodule: Any, **kwargs: Any) -> "SAMGPT":
        text = TextAlignment(kwargs.get("text_encoder"), kwargs.get("text_encoder_id"))
        width = text.dim
        if kwargs.setdefault("align_dim", width) != width:
            raise ConfigError(f"model.align_dim is {kwargs['align_dim']}, but with align: text it is the width of "
                              f"the text encoder ({width}); leave align_dim out")
        kwargs["text_encoder"], kwargs["text_encoder_id"] = text.spec, text.encoder_id
        model = cls(**kwargs)
        for graph in getattr(datamodule, "graphs", []):
            model._tables[str(graph.domain)] = model.text.features(graph)
        return model

    @property
    def align_dim(self) -> int:
        return self.aligner.dim

    @property
    def hidden(self) -> int:
        return self.gcn.dims[-1]

    def domain_index(self, domain: str) -> int:
        try:
            return self.domains.index(str(domain))
        except ValueError:
            raise DataError(f"'{domain}' is not a source domain of this model (sources: {self.domains}); "
                            "use embed() for unseen domains") from None

    # ------------------------------------------------------------------ tokens
    def tokens_of(self, domain: str) -> Tuple[Tensor, List[Tensor]]:
        """Feature token ``[D_0]`` and structure tokens (one ``[D_l]`` per layer) of a source domain."""
        k = self.domain_index(domain)
        return self.feature_tokens[k], [tok[k] for tok in self.structure_tokens]

    def neutral_tokens(self) -> Tuple[Tensor, List[Tensor]]:
        """Tokens for an unseen domain: the mean source tokens (or ones)."""
        if self.neutral == "ones" or not self.domains:
            return (torch.ones_like(self.feature_tokens[0]) if self.domains else
                    torch.ones(self.align_dim, device=self.feature_tokens.device),
                    [torch.ones(d, device=self.feature_tokens.device) for d in self.gcn.token_dims])
        return self.feature_tokens.mean(0), [tok.mean(0) for tok in self.structure_tokens]

    def untrained_copy(self, seed: int = 0) -> "SAMGPT":
        """See :meth:`PretrainedModel.untrained_copy`; the copy reads the same text encoder cache."""
        copy = super().untrained_copy(seed)
        copy.text_cache_dir = self.text_cache_dir
        return copy

    #: The feature alignment is fitted to each run's own graphs: continued pretraining refits it.
    init_fitted = ("aligner.",)

    def _init_mapped(self, source: PretrainedModel) -> List[str]:
        """Feature and structure tokens by domain name (hook of :meth:`init_from`); a domain
        the source was not pretrained on starts from the source's neutral tokens. A token
        whose width differs keeps its initialisation; tokens are never copied by position."""
        names = ["feature_tokens"] + [f"structure_tokens.{i}" for i in range(len(self.structure_tokens))]
        if not isinstance(source, SAMGPT):
            return names
        mine = [self.feature_tokens, *self.structure_tokens]
        with torch.no_grad():
            for i, name in enumerate(self.domains):
                feature, structure = source.tokens_of(name) if name in source.domains else source.neutral_tokens()
                for tok, value in zip(mine, [feature, *structure]):
                    if tok.shape[1:] == value.shape:
                        tok[i] = value
        return names

    # ------------------------------------------------------------------ encoding
    def prepare(self, data: Any, domain: Optional[str] = None, cache: bool = True, cache_dir: Any = None,
                progress: bool = False) -> PreparedGraph:
        """Align ``data.x`` (stored projection for a source domain, own SVD otherwise; with
        ``align="text"`` its centred text features), build ``Â`` and ``Â X̃``. Whole graphs are
        cached per domain and size (the engine feeds the same graphs every step); batches of
        sampled subgraphs never are. ``cache_dir`` and ``progress``: of the text encoder."""
        domain = str(domain if domain is not None else getattr(data, "domain", "target"))
        cache = cache and getattr(data, "batch", None) is None
        x = getattr(data, "x", None)
        key = (domain, int(data.num_nodes), int(data.edge_index.size(1)), tuple(x.shape) if x is not None else None,
               str(x.device) if x is not None else "")
        if cache and key in self._cache:
            return self._cache[key]
        with torch.no_grad():
            prepared = _prepared(self.aligned(data, domain, cache_dir, progress),
                                 NormalizedAdjacency(data.edge_index.cpu(), int(data.num_nodes)))
        if cache:
            self._cache[key] = prepared
        return prepared

    def aligned(self, data: Any, domain: str, cache_dir: Any = None, progress: bool = False) -> Tensor:
        """The aligned input features ``X̃ [N, align_dim]`` of ``data`` as domain ``domain``: the stored
        SVD of a source domain or the graph's own; with ``align="text"`` its texts through the text
        encoder, centred with its statistics (a batch of sampled subgraphs of a source graph takes the
        rows of that graph, by ``node_ids``)."""
        if self.text is None:
            x = getattr(data, "x", None)
            if x is None:
                raise DataError(f"graph '{domain}' has no node features (data.x is None); give it features, e.g. "
                                "graphfm.data.structural.structural_features")
            known = domain if domain in self.domains else None
            return self.aligner.transform(x.float(), known, data.edge_index).to(self.feature_tokens.device)
        table, ids = self._tables.get(domain), getattr(data, "node_ids", None)
        if table is not None and ids is not None and getattr(data, "batch", None) is not None:
            out = table[ids.cpu()]
        else:
            out = self.text.features(data, cache_dir=cache_dir or self.text_cache_dir, progress=progress)
        self._check_width(out)
        return out.to(self.feature_tokens.device)

    def _check_width(self, x: Tensor) -> None:
        if x.size(1) != self.align_dim:
            raise ConfigError(f"the text encoder gives {x.size(1)} features but this SAMGPT model's align_dim is "
                              f"{self.align_dim}; with align: text leave align_dim out (it is the encoder's width)")

    def clear_cache(self) -> None:
        self._cache.clear()

    def __getstate__(self) -> Dict[str, Any]:
        # copies and pickles start with an empty cache of prepared graphs: it is derived data, and
        # its torch CSR matrices cannot be deep-copied (e.g. by the Snapshots callback)
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    def encode(self, prepared: PreparedGraph, feature_token: Tensor, structure_tokens: Sequence[Tensor]) -> Tensor:
        """Node embeddings ``[N, hidden]`` of a prepared graph under the given tokens (the sum
        of the branches for ``branches="dual"``)."""
        out = self.encode_branches(prepared, feature_token, structure_tokens)
        return out[0] if len(out) == 1 else out[0] + out[1]

    def encode_branches(self, prepared: PreparedGraph, feature_token: Optional[Tensor],
                        structure_tokens: Optional[Sequence[Tensor]]) -> List[Tensor]:
        """One ``[N, hidden]`` output per branch: ``[H]`` (single) or ``[H_fea, H_str]`` (dual)."""
        adj = [prepared.adj.matrix()] * (self.gcn.num_layers - 1)
        agg1 = prepared.agg1.unsqueeze(1)
        if self.branches == "single":
            first = agg1 * feature_token if feature_token is not None else agg1
            return [self.gcn.forward_plan(first, adj, structure_tokens).squeeze(1)]
        fea = agg1 * feature_token if feature_token is not None else agg1
        return [self.gcn.forward_plan(fea, adj, None).squeeze(1),
                self.gcn.forward_plan(agg1, adj, structure_tokens).squeeze(1)]

    def encode_domain(self, data: Any) -> Tuple[Tensor, PreparedGraph]:
        """Embeddings of a source-domain graph under its own tokens (pretraining)."""
        prepared = self.prepare(data)
        feature, structure = self.tokens_of(data.domain)
        return self.encode(prepared, feature, structure), prepared

    def embed(self, data: Any, cache_dir: Any = None, progress: bool = False) -> Tensor:
        """Node embeddings ``[N, hidden]``: a source domain with its tokens, an unseen
        one aligned with its own SVD (or its texts, ``align="text"``) and encoded with neutral tokens.

        Args:
            data: A graph (``x``, ``edge_index``, ``domain``; ``text`` with ``align="text"``).
            cache_dir (str, optional): Text encoder cache folder. (default: ``$GRAPHFM_CACHE``)
            progress (bool): Progress bar while encoding texts. (default: ``False``)
        """
        domain = str(getattr(data, "domain", "target"))
        prepared = self.prepare(data, domain, cache=False, cache_dir=cache_dir, progress=progress)
        with torch.no_grad():
            return self.encode(prepared, *self._tokens_for(domain))

    def _tokens_for(self, domain: str) -> Tuple[Tensor, List[Tensor]]:
        return self.tokens_of(domain) if domain in self.domains else self.neutral_tokens()

    def embed_texts(self, texts: List[str], graph: Any, cache_dir: Any = None, progress: bool = False) -> Tensor:
        """Embeddings ``[T, hidden]`` of ``texts`` as isolated nodes of ``graph`` (``align="text"``): the
        texts through the model's text encoder, centred with the statistics of ``graph``'s own texts,
        then the GCN on nodes without edges under the tokens :meth:`embed` uses for ``graph`` (the
        neutral tokens on an unseen graph). A text equal to a node's text embeds as that node would
        without neighbours.

        Raises:
            NoTextRouteError: the model aligns with SVD (no text encoder).
            DataError: ``graph`` has no node texts.
        """
        if self.text is None:
            raise NoTextRouteError("a 'samgpt' model has no route from text into its embedding space when it aligns "
                                   "features by SVD, and zero-shot classification from class names needs one; use "
                                   "--shots >= 1 without names, or a SAMGPT checkpoint pretrained with align: text")
        domain = str(getattr(graph, "domain", "target"))
        with torch.no_grad():
            x = self.text.texts_like(texts, graph, cache_dir or self.text_cache_dir, progress)
            self._check_width(x)
            isolated = NormalizedAdjacency(torch.zeros(2, 0, dtype=torch.long), x.size(0))
            return self.encode(_prepared(x.to(self.feature_tokens.device), isolated), *self._tokens_for(domain))

    def check_text_encoder(self, spec: Any) -> None:
        """Refuse a text encoder (spec or encoder) other than the one this model aligns with.

        Raises:
            NoTextRouteError: the model aligns with SVD.
            ConfigError: another encoder.
        """
        if self.text is None:
            raise NoTextRouteError("this SAMGPT model aligns features by SVD and has no text encoder; pretrain with "
                                   "model.align: text to use one")
        self.text.check(spec)

    def adaptations(self, task: str) -> Dict[str, str]:
        """SAMGPT adapts by prompt tuning (:mod:`graphfm.adapt.samgpt`), or frozen on request."""
        return {"prompt": "prompt", "frozen": "prototypes"}

    def embed_chunks(self, data: Any, chunk_size: int = 2048, workers: Optional[int] = None,
                     progress: Optional[Callable[[int, int], None]] = None) -> Iterator[Tuple[int, int, Tensor]]:
        """Node embeddings of :meth:`embed`, computed layer by layer in row chunks.

        Each layer but the last is computed into one ``[N, hidden]`` buffer (two per branch
        alive at a time), ``chunk_size`` rows at a time (``Â[rows] @ H`` then the dense
        layer, the tokens folded into its weight), so working memory beyond those buffers is
        bounded by the chunk size; the last layer is yielded chunk by chunk, for the caller
        to write out (e.g. appended to a ``.npy``, :func:`graphfm.embed.embed_chunked_to_npy`).
        Equal to :meth:`embed` up to float rounding.

        Args:
            data: A graph with ``x`` and ``edge_index`` (and ``domain``).
            chunk_size (int): Rows per chunk. (default: ``2048``: a chunk of a
                width-256 layer fits in a core's L2 cache, about 1.5x faster than 65536 rows
                at 10^6 nodes on the 2-core machine)
            workers (int, optional): Threads that take chunks concurrently, each with
                single-threaded operations (:func:`graphfm.nn.chunks.map_row_chunks`).
                (default: ``torch.get_num_threads()`` on CPU, one on an accelerator)
            progress (callable, optional): Called as ``progress(rows_done, rows_total)`` after
                every chunk of every layer (rows of all layers and branches counted).

        Yields:
            ``(start, stop, emb)``: rows ``start .. stop - 1`` of the embeddings, ``[stop - start, hidden]``.
        """
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size must be a positive number of rows, got {chunk_size}")
        chunk_size = int(chunk_size)
        domain = str(getattr(data, "domain", "target"))
        feature, structure = self._tokens_for(domain)
        n, device, last = int(data.num_nodes), self.feature_tokens.device, self.gcn.num_layers - 1
        workers = default_workers(device) if workers is None else int(workers)
        with torch.no_grad():
            mat = NormalizedAdjacency(data.edge_index.cpu(), n)
            aligned = self.aligned(data, domain)
            runs = [(feature, structure)] if self.branches == "single" else [(feature, None), (None, structure)]
            layers = [[self._folded_layer(i, feat, struct) for i in range(last + 1)] for feat, struct in runs]
            total, done = n * (last * len(layers) + 1), 0
            states = []
            for folded in layers:
                h = aligned
                for i in range(last):
                    nxt = empty_rows(n, self.gcn.dims[i + 1], device)
                    for a, b, _ in map_row_chunks(partial(self._fill_rows, nxt, mat, i, h, folded[i]), n, chunk_size,
                                                  workers):
                        done += b - a
                        if progress is not None:
                            progress(done, total)
                    h = nxt
                states.append(h)
            del aligned

            def output(a: int, b: int) -> Tensor:
                out = None
                for h, folded in zip(states, layers):
                    rows = self._layer_rows(mat, last, h, folded[last], a, b)
                    out = rows if out is None else out.add_(rows)
                return out

            for a, b, rows in map_row_chunks(output, n, chunk_size, workers):
                done += b - a
                if progress is not None:
                    progress(done, total)
                yield a, b, rows

    def _fill_rows(self, out: Tensor, mat: Any, index: int, h: Tensor, folded: Tuple, start: int, stop: int) -> None:
        out[start:stop] = self._layer_rows(mat, index, h, folded, start, stop)

    def _folded_layer(self, index: int, feature: Optional[Tensor], structure: Optional[Sequence[Tensor]]):
        """``(weight, bias, output_token)`` of GCN layer ``index`` with the input-side tokens (the
        feature token on layer 0, ``"message"`` structure tokens) folded into the weight's columns:
        ``(agg ⊙ t) Wᵀ = agg (W ⊙ t)ᵀ``, one pass over the rows fewer per token."""
        lin = self.gcn.lins[index]
        scale = feature.clone() if index == 0 and feature is not None else None
        token = structure[index] if structure is not None else None
        out_token = None
        if token is not None and self.gcn.placement == "message":
            scale = token.clone() if scale is None else scale * token
        elif token is not None:
            out_token = token
        weight = lin.weight if scale is None else lin.weight * scale
        return weight, lin.bias, out_token

    def _layer_rows(self, mat: Any, index: int, h: Tensor, folded: Tuple[Tensor, Tensor, Optional[Tensor]],
                    start: int, stop: int) -> Tensor:
        """Rows ``start .. stop - 1`` of GCN layer ``index`` on the previous layer's output ``h``."""
        import torch.nn.functional as F

        weight, bias, out_token = folded
        out = self.gcn.activate(index, F.linear(mat.rows_product(start, stop, h), weight, bias))
        if out_token is not None:
            out = out.mul_(out_token)
        if index > 0 and self.gcn.residual:
            out = out.add_(h[start:stop])
        return out

    def embed_graphs(self, graphs: Sequence[Any]) -> Tensor:
        """Graph embeddings ``[G, hidden]``: mean node embedding of each graph, the set
        aligned together (one SVD over all its nodes; with ``align="text"`` their texts centred
        together)."""
        from torch_geometric.data import Batch

        batch = Batch.from_data_list([_strip(g) for g in graphs])
        batch.domain = str(getattr(graphs[0], "domain", "target") or "target")
        if self.text is not None:        # the set's texts, centred together
            texts = [getattr(g, "text", None) for g in graphs]
            batch.text = None if any(t is None for t in texts) else [t for ts in texts for t in ts]
            masks = [getattr(g, "text_mask", None) for g in graphs]
            if batch.text is not None and all(m is not None for m in masks):
                batch.text_mask = torch.cat([torch.as_tensor(m, dtype=torch.bool).view(-1) for m in masks])
        emb = self.embed(batch)
        out = torch.zeros(len(graphs), emb.size(1), dtype=emb.dtype).index_add_(0, batch.batch, emb)
        return out / torch.bincount(batch.batch, minlength=len(graphs)).clamp_min(1).unsqueeze(1)


def _prepared(x: Tensor, adj: NormalizedAdjacency) -> PreparedGraph:
    """``X̃``, ``Â`` and the first aggregation ``Â X̃``."""
    return PreparedGraph(x, adj, spmm_batched(adj.matrix(), x.unsqueeze(1)).squeeze(1))


def _tokens(k: int, dim: int, init: str) -> Tensor:
    """``k`` tokens of width ``dim``: ones, or ones plus a Glorot-uniform perturbation."""
    tokens = torch.ones(k, dim)
    if init == "random" and k:
        tokens += nn.init.xavier_uniform_(torch.empty(k, dim))
    return tokens


def _strip(graph: Any) -> Any:
    """Keep only what the GCN needs, so graphs with odd attributes still batch."""
    from torch_geometric.data import Data

    return Data(x=graph.x, edge_index=graph.edge_index, num_nodes=graph.num_nodes)

"""UniGraph2: one embedding space for multimodal graphs from many domains.

He et al., "UniGraph2: Learning a Unified Embedding Space to Bind Multimodal Graphs",
WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_.

Pipeline for a graph whose nodes carry features from one or more modalities::

    frozen encoders (graphfm.encoders, cached)   text / image / precomputed -> [N, D_m]
    per-modality projection  Linear + LayerNorm  -> [N, H], averaged over the modalities
                                                    a node has (missing ones are skipped)
    [MASK] token             replaces masked nodes (pretraining) and nodes with no modality
    Mixture of Experts       h + MoE(h): top-k gated experts align domains / modalities
    GNN                      GAT (default), GCN or GraphSAGE layers -> embeddings [N, H];
                             the input of layer l is scaled by a structure token s_l [H]:
                             the token of the node's source domain while pretraining
                             (SAMGPT's domain tokens, Yu et al., WWW 2025,
                             https://arxiv.org/abs/2502.05424), the mean source token on
                             an unseen graph, or a prompt while adapting
                             (:mod:`graphfm.adapt.unigraph2`)

The pretraining objective (reconstruction of every modality + shortest-path
distances) is :class:`graphfm.objectives.unigraph2.UniGraph2Objective`.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.models.base import MODELS, PretrainedModel
from graphfm.nn.conv import build_conv
from graphfm.nn.moe import MoE
from graphfm.nn.whitening import check_alpha

GNNS = ("gat", "gcn", "sage")
BACKBONES = ("gnn", "propagate")


class UniGraph2Output(NamedTuple):
    """What :meth:`UniGraph2.encode` returns.

    Attributes:
        h (Tensor): Node embeddings ``[N, H]``.
        moe_loss (Tensor): The MoE load-balancing loss (scalar).
        moe_stats (dict): ``expert_load`` ``[E]`` and ``router_entropy`` (detached).
        present (Tensor): Bool ``[N]``, whether the node had at least one modality.
    """

    h: Tensor
    moe_loss: Tensor
    moe_stats: Dict[str, Tensor]
    present: Tensor


@MODELS.register("unigraph2")
class UniGraph2(PretrainedModel):
    """UniGraph2 encoder: modality projections, MoE alignment and a GNN.

    Args:
        modalities (dict): Modality name -> spec with ``dim`` (the frozen encoder's
            width) and how to encode it for :meth:`embed`: ``encoder`` (e.g.
            ``{name: text, model: all-MiniLM-L6-v2}``), optional ``field`` and ``domains``
            (see :mod:`graphfm.encoders.modalities`). Filled from the data module.
        hidden_dim (int): Width ``H`` of the shared space. (default: ``256``)
        num_experts (int): MoE experts. (default: ``8``)
        top_k (int): Experts per node. (default: ``2``)
        noisy_gating (bool): Noisy top-k gating while training. (default: ``True``)
        gnn (str): ``"gat"``, ``"gcn"`` or ``"sage"``. (default: ``"gat"``)
        num_layers (int): GNN layers. (default: ``2``)
        heads (int): Attention heads per GAT layer (``hidden_dim`` must divide by it).
            (default: ``4``)
        dropout (float): Dropout on features and attention. (default: ``0.1``)
        feature_norm (str): Per-graph normalisation of the frozen features before the
            model (``"none"``, ``"center"``, ``"standardize"``; see
            :func:`graphfm.encoders.normalize_features`); filled from the data module.
            (default: ``"center"``)
        domains (list[str], optional): Names of the pretraining graphs, in the order of the
            batches' ``domain`` index; each gets one learnable structure token per GNN layer
            (initialised to ones, i.e. no scaling). Filled from the data module.
            (default: ``None``: no tokens)
        residual (bool): Add every layer's input to its output (before the norm), so that a
            node keeps its own features through the layers. (default: ``False``)
        label_rule (dict, optional): The rule mixing class names and supports on text graphs
            (``{template, w0, kind}``, :class:`graphfm.adapt.names.LabelRule`), chosen on the
            sources while pretraining; read by :meth:`label_rule`. (default: ``None``: the
            library's rule)
    """

    def __init__(self, modalities: Dict[str, Any], hidden_dim: int = 256, num_experts: int = 8, top_k: int = 2,
                 noisy_gating: bool = True, gnn: str = "gat", num_layers: int = 2, heads: int = 4,
                 dropout: float = 0.1, feature_norm: str = "center", domains: Optional[Sequence[str]] = None,
                 residual: bool = False, label_rule: Optional[Dict[str, Any]] = None, backbone: str = "gnn",
                 hops: int = 2, whiten_alpha: float = 0.25) -> None:
        super().__init__()
        if label_rule is not None and (not isinstance(label_rule, Mapping)
                                       or set(label_rule) - {"template", "w0", "kind"}):
            raise ConfigError(f"model.label_rule must be a mapping with keys template, w0, kind, got {label_rule!r}")
        from graphfm.encoders import FEATURE_NORMS

        self.modalities = _check_modalities(modalities)
        if feature_norm not in FEATURE_NORMS:
            raise ConfigError(f"model.feature_norm '{feature_norm}' is unknown; valid: {', '.join(FEATURE_NORMS)}")
        self.feature_norm = feature_norm
        self.domains: List[str] = [str(d) for d in (domains or [])]
        if backbone not in BACKBONES:
            raise ConfigError(f"model.backbone '{backbone}' is unknown; valid: {', '.join(BACKBONES)}")
        self.backbone = backbone
        if backbone == "propagate":
            self._init_propagate(hops, whiten_alpha)
            return
        if gnn not in GNNS:
            raise ConfigError(f"model.gnn '{gnn}' is unknown; valid: {', '.join(GNNS)}")
        if gnn == "gat" and hidden_dim % heads:
            raise ConfigError(f"model.hidden_dim ({hidden_dim}) must be divisible by model.heads ({heads})")
        self.hidden_dim = hidden_dim
        self.proj = nn.ModuleDict({name: nn.Sequential(nn.Linear(int(spec["dim"]), hidden_dim),
                                                       nn.LayerNorm(hidden_dim))
                                   for name, spec in self.modalities.items()})
        self.mask_token = nn.Parameter(torch.zeros(hidden_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.moe = MoE(hidden_dim, hidden_dim, num_experts=num_experts, top_k=top_k, noisy_gating=noisy_gating,
                       dropout=dropout)
        self.convs = nn.ModuleList([build_conv(gnn, hidden_dim, heads, dropout) for _ in range(num_layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(hidden_dim) for _ in range(num_layers - 1)])
        self.dropout = nn.Dropout(dropout)
        self.residual = bool(residual)
        self.domain_tokens = nn.Parameter(torch.ones(len(self.domains), num_layers, hidden_dim))

    def _init_propagate(self, hops: int, alpha: float) -> None:
        from graphfm.nn.whitening import SourceWhitening

        dims = set(self.modality_dims.values())
        if len(dims) != 1:
            raise ConfigError(f"model.backbone 'propagate' keeps the frozen features as they are, so every modality "
                              f"needs the same width; got {self.modality_dims}; use backbone 'gnn'")
        if int(hops) < 0:
            raise ConfigError(f"model.hops must be >= 0, got {hops}")
        self.hidden_dim, self.hops = dims.pop(), int(hops)
        self.whiten = nn.ModuleDict({name: SourceWhitening(dim, len(self.domains), alpha)
                                     for name, dim in self.modality_dims.items()})

    #: The whitening statistics are learned by pretraining: an untrained copy starts without them.
    learned_buffers = ("whiten.",)

    @property
    def whiten_alpha(self) -> float:
        """The whitening power of the ``"propagate"`` backbone (settable, e.g. by a benchmark)."""
        return next(iter(self.whiten.values())).alpha

    @whiten_alpha.setter
    def whiten_alpha(self, alpha: float) -> None:
        for layer in self.whiten.values():
            layer.alpha = check_alpha(alpha)

    def whitening_matrix(self, alpha: Optional[float] = None, domains: Optional[Sequence[str]] = None,
                         modality: Optional[str] = None) -> Tensor:
        """``W [H, H]`` of a modality (default the first) from the statistics of ``domains``
        (names of pretraining graphs; default all), at power ``alpha`` (default the model's)."""
        layer = self.whiten[modality or next(iter(self.whiten))]
        idx = None
        if domains is not None:
            missing = sorted(set(domains) - set(self.domains))
            if missing:
                raise ConfigError(f"domains {missing} were not pretraining graphs of this model ({self.domains})")
            idx = [self.domains.index(d) for d in domains]
        return layer.matrix(alpha, idx)

    def _device(self) -> torch.device:
        return next(iter(list(self.parameters()) + list(self.buffers()))).device

    @property
    def num_layers(self) -> int:
        return len(self.convs) if self.backbone == "gnn" else 0

    def structure_scales(self, domain: Optional[Tensor] = None,
                         prompt: Optional[Sequence[Tensor]] = None) -> Optional[List[Tensor]]:
        """Per GNN layer, the scale of its input: ``prompt`` if given, else the node's
        domain token (``domain``: long ``[N]``), else the mean source token (``None`` when
        the model has no domain tokens)."""
        if prompt is not None:
            if len(prompt) != self.num_layers:
                raise ConfigError(f"a structure prompt needs one tensor per GNN layer ({self.num_layers}), "
                                  f"got {len(prompt)}")
            return list(prompt)
        if not self.domains:
            return None
        if domain is not None:
            tok = self.domain_tokens[domain.to(self.domain_tokens.device).long()]          # [N, L, H]
            return [tok[:, i] for i in range(self.num_layers)]
        mean = self.domain_tokens.mean(0)
        return [mean[i] for i in range(self.num_layers)]

    def _init_mapped(self, source: PretrainedModel) -> List[str]:
        """Domain tokens by domain name; a domain the source was not pretrained on starts
        from the source's mean token (what :meth:`structure_scales` uses on an unseen graph)."""
        if self.backbone != "gnn" or not isinstance(source, UniGraph2) or source.backbone != "gnn":
            return []
        if not source.domains \
                or source.domain_tokens.shape[1:] != self.domain_tokens.shape[1:]:
            return []
        with torch.no_grad():
            for i, name in enumerate(self.domains):
                j = source.domains.index(name) if name in source.domains else None
                self.domain_tokens[i] = source.domain_tokens[j] if j is not None else source.domain_tokens.mean(0)
        return ["domain_tokens"]

    @property
    def modality_dims(self) -> Dict[str, int]:
        """Modality name -> frozen feature width."""
        return {name: int(spec["dim"]) for name, spec in self.modalities.items()}

    # ------------------------------------------------------------------ forward
    def fuse(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]] = None) -> tuple:
        """Average of the projected modalities each node has.

        Args:
            feats (dict): Modality -> frozen features ``[N, D_m]`` (a subset of the
                model's modalities).
            masks (dict, optional): Modality -> bool ``[N]``, false where a node lacks
                it (default: every given modality present).

        Returns:
            ``(h [N, H], present [N] bool)``; rows with no modality are zero.
        """
        layers = self.proj if self.backbone == "gnn" else self.whiten
        unknown = sorted(set(feats) - set(layers))
        if unknown:
            raise DataError(f"modalities {unknown} are not known to this model; it was built for "
                            f"{sorted(layers)}")
        if not feats:
            raise DataError(f"no modality features given; this model expects some of {sorted(layers)}")
        n = next(iter(feats.values())).size(0)
        first = next(iter(feats.values()))
        dtype = self.mask_token.dtype if self.backbone == "gnn" else torch.float32
        total = torch.zeros(n, self.hidden_dim, dtype=dtype, device=first.device)
        count = torch.zeros(n, 1, dtype=dtype, device=first.device)
        for name, x in feats.items():
            if masks is not None and name in masks:
                idx = masks[name].to(x.device).nonzero().view(-1)   # missing rows are never read (may be NaN)
                x = x[idx]
            else:
                idx = torch.arange(n, device=x.device)
            total = total.index_add(0, idx, layers[name](x.to(total.dtype)))
            count = count.index_add(0, idx, count.new_ones(idx.numel(), 1))
        return total / count.clamp(min=1.0), count.squeeze(-1) > 0

    def encode(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]], edge_index: Tensor,
               node_mask: Optional[Tensor] = None, domain: Optional[Tensor] = None,
               prompt: Optional[Sequence[Tensor]] = None) -> UniGraph2Output:
        """Embed the nodes of one (batched) graph.

        Args:
            feats (dict): Modality -> ``[N, D_m]`` frozen features.
            masks (dict, optional): Modality -> bool ``[N]`` presence.
            edge_index (Tensor): ``[2, E]`` edges.
            node_mask (Tensor, optional): Bool ``[N]``: nodes whose features are replaced
                by the learnable ``[MASK]`` token (pretraining). (default: ``None``)
            domain (Tensor, optional): Long ``[N]`` index into :attr:`domains` (pretraining).
            prompt (list[Tensor], optional): Per layer a ``[H]`` or ``[N, H]`` scale of the
                layer's input that replaces the domain tokens (adaptation).
        """
        if self.backbone == "propagate":
            return self._encode_propagate(feats, masks, edge_index, node_mask, domain)
        h, moe_loss, stats, present = self.encode_inputs(feats, masks, node_mask)
        h = self.propagate(h, edge_index, self.structure_scales(domain, prompt))
        return UniGraph2Output(h, moe_loss, stats, present)

    def _encode_propagate(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]],
                          edge_index: Tensor, node_mask: Optional[Tensor], domain: Optional[Tensor]) -> UniGraph2Output:
        """The ``"propagate"`` backbone: (training: add the batch to the statistics) whiten, average
        the modalities, zero hidden nodes, ``Â^hops``."""
        if self.training:
            self._observe(feats, masks, domain)
        h, present = self.fuse(feats, masks)
        hide = ~present if node_mask is None else (~present | node_mask.to(present.device))
        h = h.masked_fill(hide.unsqueeze(-1), 0.0)
        if self.hops and edge_index.numel():
            from torch_geometric.utils import to_undirected

            from graphfm.nn import NormalizedAdjacency

            adj = NormalizedAdjacency(to_undirected(edge_index.long(), num_nodes=h.size(0)).cpu(), h.size(0)).matrix()
            for _ in range(self.hops):
                h = adj @ h
        zero = h.new_zeros(())
        return UniGraph2Output(h, zero, {"expert_load": h.new_zeros(1), "router_entropy": zero}, present)

    def _observe(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]],
                 domain: Optional[Tensor]) -> None:
        if domain is None and len(self.domains) > 1:
            raise ConfigError("the 'propagate' backbone learns per-domain statistics and needs each node's domain "
                              "while pretraining; set objective.domain_tokens: true")
        for name, x in feats.items():
            rows = masks[name].to(x.device) if masks is not None and name in masks else None
            d = None if domain is None else domain.to(x.device)
            if rows is not None:
                x, d = x[rows], (None if d is None else d[rows])
            self.whiten[name].observe(x, d)

    def encode_inputs(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]],
                      node_mask: Optional[Tensor] = None) -> tuple:
        """The GNN's input: fused modalities, ``[MASK]`` where hidden, plus the MoE.

        Returns:
            ``(h [N, H], moe_loss, moe_stats, present [N])``.
        """
        h, present = self.fuse(feats, masks)
        hide = ~present if node_mask is None else (~present | node_mask.to(present.device))
        h = torch.where(hide.unsqueeze(-1), self.mask_token.expand_as(h), h)
        moe_out, moe_loss, stats = self.moe(h)
        return h + moe_out, moe_loss, stats, present

    def propagate(self, h: Tensor, edge_index: Tensor, scales: Optional[Sequence[Tensor]] = None,
                  all_layers: bool = False) -> Any:
        """The GNN layers on ``h [N, H]``; layer ``l``'s input is multiplied by ``scales[l]``.
        Returns the last output ``[N, H]``, or with ``all_layers`` the list of the input and
        every layer's output (``num_layers + 1`` tensors ``[N, H]``)."""
        outs = [h]
        for i, conv in enumerate(self.convs):
            x = self.dropout(h)
            h = conv(x if scales is None else x * scales[i], edge_index) + (h if self.residual else 0)
            if i < len(self.norms):
                h = F.elu(self.norms[i](h))
            outs.append(h)
        return outs if all_layers else h

    def forward(self, batch: Mapping[str, Any]) -> Tensor:
        """Embeddings ``[N, H]`` of a batch ``{"feats", "masks", "edge_index"}``."""
        return self.encode(batch["feats"], batch.get("masks"), batch["edge_index"]).h

    # ------------------------------------------------------------------ inference
    def embed(self, data: Any, cache_dir: Optional[str] = None, progress: bool = True) -> Tensor:
        """Node embeddings ``[N, H]`` of one graph: run the frozen encoders (cached), then the model.

        Args:
            data (Data): A graph carrying the raw items of some of the model's
                modalities (``data.text``, ``data.image``, ``data.x``, ...).
            cache_dir (str, optional): Encoder cache folder. (default: ``$GRAPHFM_CACHE``)
            progress (bool): Progress bars while encoding. (default: ``True``)
        """
        feats, masks = self.prepare(data, cache_dir=cache_dir, progress=progress)
        return self.embed_features(feats, masks, data.edge_index)

    def prepare(self, data: Any, cache_dir: Optional[str] = None, progress: bool = True) -> tuple:
        """Frozen, normalised modality features of one graph: ``(feats, masks)`` dicts.

        Runs each modality's encoder on the attribute it reads (outputs cached on disk),
        then applies ``feature_norm`` with this graph's statistics.
        """
        from graphfm.encoders import graph_modalities, normalize_features

        feats, masks = graph_modalities(data, self.modalities, cache_dir=cache_dir, progress=progress)
        if not feats:
            fields = {name: spec.get("field", "(default of its encoder)") for name, spec in self.modalities.items()}
            raise DataError(f"graph '{getattr(data, 'name', 'graph')}' carries none of this model's modalities "
                            f"(modality -> attribute: {fields}); give the graph one of those attributes")
        return normalize_features(feats, masks, self.feature_norm), masks

    @torch.no_grad()
    def embed_features(self, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]],
                       edge_index: Tensor, prompt: Optional[Sequence[Tensor]] = None) -> Tensor:
        """Embeddings from already-encoded modality features (eval mode, no gradients);
        ``prompt`` as in :meth:`encode`."""
        was_training = self.training
        self.eval()
        device = self._device()
        feats = {k: v.to(device) for k, v in feats.items()}
        masks = {k: v.to(device) for k, v in masks.items()} if masks is not None else None
        out = self.encode(feats, masks, edge_index.to(device), prompt=prompt).h
        self.train(was_training)
        return out

    def load_data(self, source: Any, data_root: Any = None, arrays: bool = False) -> Any:
        """A graph to embed (see the base class); of an MM-Graph folder, also the ``<set>_text`` /
        ``<set>_image`` halves this model's modalities read."""
        from graphfm.data import load_graph
        from graphfm.data.mmgraph import is_mmgraph_dir

        if isinstance(source, (str, os.PathLike)) and is_mmgraph_dir(source):
            return load_graph(source, root=data_root, split_halves=self._halves_needed(str(source)))
        return load_graph(source, root=data_root)

    def adaptations(self, task: str) -> Dict[str, str]:
        """Frozen prototypes; on node tasks also SAMGPT-style dual prompts on request
        (``"dual_prompts"``, :mod:`graphfm.adapt.unigraph2`)."""
        if task == "node" and self.backbone == "gnn":
            return {"frozen": "prototypes", "dual_prompts": "dual_prompts"}
        return {"frozen": "prototypes"}

    def embed_texts(self, texts: List[str], graph: Any, cache_dir: Optional[str] = None,
                    progress: bool = False) -> Tensor:
        """Embeddings ``[T, H]`` of ``texts`` as isolated nodes of ``graph``: the frozen encoder of the
        text modality ``graph``'s nodes go through (cached), ``feature_norm`` with the statistics of
        ``graph``'s own encoded texts, then the model (mean source token) on nodes without edges.

        Raises:
            NoTextRouteError: the model has no text modality.
            DataError: ``graph`` carries no text this model reads.
        """
        from graphfm.encoders import applies_to, encode_cached, graph_modalities, modality_encoder, modality_field
        from graphfm.models.base import NoTextRouteError

        names = [m for m, spec in self.modalities.items() if _encoder_name(spec) == "text"]
        if not names:
            raise NoTextRouteError(f"this UniGraph2 model has no text modality (it has {sorted(self.modalities)}), "
                                   "and zero-shot classification from class names needs one; use --shots >= 1 "
                                   "without names, or a checkpoint pretrained with a text modality")
        found = [m for m in names if applies_to(self.modalities[m], graph)]
        if not found:
            raise DataError(f"graph '{getattr(graph, 'name', 'graph')}' carries no text for this model's text "
                            f"modality (it reads data.{modality_field(self.modalities[names[0]])}); give the graph "
                            "its node texts")
        name, spec = found[0], self.modalities[found[0]]
        feats, masks = graph_modalities(graph, {name: spec}, cache_dir=cache_dir, progress=progress)
        x = encode_cached(modality_encoder(spec), list(texts), cache_dir=cache_dir, progress=progress)
        x = _normalise_like(x, feats[name], masks[name], self.feature_norm)
        empty = torch.zeros(2, 0, dtype=torch.long)
        return self.embed_features({name: x}, None, empty)

    def _halves_needed(self, folder: str) -> list:
        """MM-Graph feature sets whose ``<set>_text`` / ``<set>_image`` halves a modality reads."""
        from graphfm.data.mmgraph import feature_sets
        from graphfm.encoders import modality_field

        fields = {modality_field(spec) for spec in self.modalities.values() if "encoder" in spec}
        return [s for s in feature_sets(folder) if f"{s}_text" in fields or f"{s}_image" in fields]


def _check_modalities(modalities: Any) -> Dict[str, Dict[str, Any]]:
    if not isinstance(modalities, Mapping) or not modalities:
        raise ConfigError("model.modalities must map modality names to specs with a 'dim', e.g. "
                          "{text: {dim: 384, encoder: {name: text}}}; it is filled by the multimodal_graphs data module")
    out = {}
    for name, spec in modalities.items():
        if "." in str(name) or not str(name):
            raise ConfigError(f"modality name '{name}' must be non-empty and contain no '.'")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("dim"), int) or spec["dim"] < 1:
            raise ConfigError(f"modality '{name}' needs a positive integer 'dim' (the encoder's output width), "
                              f"got {spec!r}")
        out[str(name)] = dict(spec)
    return out


def _encoder_name(spec: Mapping[str, Any]) -> Optional[str]:
    enc = spec.get("encoder")
    return enc if isinstance(enc, str) else (enc.get("name") if isinstance(enc, Mapping) else None)


def _normalise_like(x: Tensor, ref: Tensor, mask: Tensor, mode: str) -> Tensor:
    """``x [T, D]`` normalised as :func:`graphfm.encoders.normalize_features` normalises the present
    rows of ``ref [N, D]`` (``mask``), with ``ref``'s statistics."""
    rows = ref[mask.to(ref.device)]
    if mode == "none" or rows.size(0) == 0:
        return x
    mean = rows.mean(0)
    if mode == "center":
        return (x - mean) / (rows - mean).norm(dim=1).mean().clamp(min=1e-8)
    return (x - mean) / (rows - mean).std(0, unbiased=False).clamp(min=1e-6)

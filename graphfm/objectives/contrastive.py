"""Contrastive multi-domain pretraining objectives for token-modulated GCNs (SAMGPT).

Every step encodes each source domain's graph with its own feature and structure
tokens (:meth:`graphfm.models.SAMGPT.encode_domain`) and sums one contrastive loss
per domain, as in SAMGPT (Yu et al., WWW 2025, https://arxiv.org/abs/2502.05424).
Three variants:

* ``"subgraph"`` (default, the paper's subgraph-similarity loss): a node's embedding
  ``h_v`` is pulled towards the readout ``s_v`` of its own subgraph (the mean of its
  closed ``readout_hops``-hop neighbourhood) and pushed away from the readouts of
  other sampled nodes: ``-log exp(sim(h_v, s_v)/τ) / Σ_u exp(sim(h_v, s_u)/τ)``.
* ``"link"``: GraphPrompt-style link prediction on subgraph readouts (Liu et al.,
  WWW 2023, https://arxiv.org/abs/2302.08043): linked nodes' readouts are positives,
  other sampled nodes' readouts negatives.
* ``"dgi"``: Deep Graph Infomax (Veličković et al., ICLR 2019,
  https://arxiv.org/abs/1809.10341): a bilinear discriminator tells node embeddings of
  the graph from those of a row-shuffled copy, against the graph summary.
* ``"graphcl"``: the public SAMGPT code's loss, GraphCL-style (You et al., NeurIPS 2020,
  https://arxiv.org/abs/2010.13902) on DGI's discriminator: the summaries of two
  edge-dropped views each score the graph's node embeddings against a row-shuffled
  copy's; the two views' logits are summed.

With a dual-branch model (``model.branches="dual"``) the DGI-style variants score each
branch (feature, structure) and sum the branches' logits, as the public code does.

``rotate_features=True`` (our addition) multiplies every domain's aligned features by a
fresh random orthogonal matrix at every step, so that no weight can rely on one domain's
SVD basis: an unseen domain's basis is unrelated to the sources' anyway.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError
from graphfm.models.base import PretrainedModel
from graphfm.objectives.base import OBJECTIVES, Objective
from graphfm.objectives.regularisers import variance_covariance_loss

__all__ = ["GraphContrastive"]

VARIANTS = ("subgraph", "link", "dgi", "graphcl")


@OBJECTIVES.register("graph_contrastive")
@OBJECTIVES.register("samgpt_contrastive")
class GraphContrastive(Objective):
    """Sum over domains of a contrastive loss on token-modulated GCN embeddings.

    Args:
        model (PretrainedModel): A SAMGPT-like model: ``prepare``, ``tokens_of``, ``encode``
            (e.g. :class:`~graphfm.models.SAMGPT`).
        variant (str): ``"subgraph"``, ``"link"`` or ``"dgi"``. (default: ``"subgraph"``)
        temperature (float): Softmax temperature ``τ`` of the InfoNCE variants. (default: ``0.2``)
        num_samples (int): Anchor nodes (or edges) per domain and step; all other anchors'
            readouts are the negatives. (default: ``1024``)
        readout_hops (int): Radius of the subgraph whose mean is a node's readout. (default: ``1``)
        seed (int): Seed of the anchor sampling. (default: ``0``)
        edge_drop (float): Fraction of edges dropped in each ``"graphcl"`` view. (default: ``0.2``)
        ortho_weight (float): Weight of a penalty ``Σ_l ||W_l^T W_l - I||^2 / d_l`` that keeps
            every GCN layer close to an isometry, so that pretraining cannot discard the
            feature directions an unseen domain needs (our addition; ``0`` disables).
            (default: ``0.0``)
        var_weight (float): Weight of VICReg's variance hinge on every domain's node embeddings
            (:func:`~graphfm.objectives.regularisers.variance_covariance_loss`; our addition
            against collapse; ``0`` disables). (default: ``0.0``)
        cov_weight (float): Weight of VICReg's covariance penalty on them. (default: ``0.0``)
        rotate_features (bool): Rotate each domain's aligned features ``X̃`` (and ``Â X̃``)
            by a random orthogonal ``Q`` ``[d, d]`` drawn every step (basis augmentation;
            our addition). (default: ``False``)
    """

    def __init__(self, model: PretrainedModel, variant: str = "subgraph", temperature: float = 0.2,
                 num_samples: int = 1024, readout_hops: int = 1, seed: int = 0, ortho_weight: float = 0.0,
                 edge_drop: float = 0.2, var_weight: float = 0.0, cov_weight: float = 0.0,
                 rotate_features: bool = False) -> None:
        super().__init__(model)
        if variant not in VARIANTS:
            raise ConfigError(f"objective.variant '{variant}' is unknown; valid variants: {', '.join(VARIANTS)}")
        if not 0.0 <= edge_drop < 1.0:
            raise ConfigError(f"objective.edge_drop must be in [0, 1), got {edge_drop}")
        if temperature <= 0 or num_samples < 2 or readout_hops < 0:
            raise ConfigError("objective needs temperature > 0, num_samples >= 2 and readout_hops >= 0, got "
                              f"{temperature}, {num_samples}, {readout_hops}")
        if not hasattr(model, "encode_domain"):
            raise ConfigError(f"objective graph_contrastive needs a model with encode_domain(), "
                              f"not {type(model).__name__}; use model name 'samgpt'")
        if var_weight < 0 or cov_weight < 0:
            raise ConfigError(f"objective.var_weight and cov_weight must be >= 0, got {var_weight}, {cov_weight}")
        self.var_weight, self.cov_weight = float(var_weight), float(cov_weight)
        self._real: Optional[List[Tensor]] = None     # set by _infomax: its real embeddings, one per branch
        self.variant, self.temperature = variant, temperature
        self.num_samples, self.readout_hops, self.ortho_weight = num_samples, readout_hops, ortho_weight
        self.edge_drop, self.rotate_features = edge_drop, bool(rotate_features)
        self.generator = torch.Generator().manual_seed(seed)
        hidden = model.hidden if hasattr(model, "hidden") else None
        self.discriminator = nn.Parameter(torch.empty(hidden, hidden)) \
            if variant in ("dgi", "graphcl") and hidden else None
        if self.discriminator is not None:
            nn.init.xavier_uniform_(self.discriminator)

    def forward(self, batch: List) -> Dict[str, Tensor]:
        """Args:
            batch (list[Data]): One graph per source domain (raw ``x``, ``edge_index``, ``domain``).

        Returns:
            dict: ``contrastive_loss`` (sum over domains) and one ``<domain>_term`` metric each.
        """
        graphs = batch if isinstance(batch, (list, tuple)) else [batch]
        out: Dict[str, Tensor] = {}
        terms, spread = [], []
        for graph in graphs:
            prepared = self._rotated(self.model.prepare(graph)) if self.rotate_features else self.model.prepare(graph)
            h = None if self.variant in ("dgi", "graphcl") else \
                self.model.encode(prepared, *self.model.tokens_of(graph.domain))   # DGI-style variants encode views
            term = getattr(self, f"_{self.variant}")(h, prepared, graph)
            terms.append(term)
            out[f"{graph.domain}_term"] = term.detach()
            real, self._real = ([h] if h is not None else self._real), None
            if self.var_weight > 0 or self.cov_weight > 0:
                spread += [variance_covariance_loss(e) for e in real]
        out["contrastive_loss"] = torch.stack(terms).sum()
        if spread:
            out["var_loss"] = self.var_weight * torch.stack([v for v, _ in spread]).sum()
            out["cov_loss"] = self.cov_weight * torch.stack([c for _, c in spread]).sum()
        if self.ortho_weight > 0:
            out["ortho_loss"] = self.ortho_weight * self.orthogonality()
        return out

    def orthogonality(self) -> Tensor:
        """``Σ_l ||W_l^T W_l - I||_F^2 / d_l`` over the GCN layers (``d_l`` = the smaller side)."""
        total = []
        for lin in self.model.gcn.lins:
            w = lin.weight if lin.weight.size(0) >= lin.weight.size(1) else lin.weight.T    # [big, small]
            gram = w.T @ w
            eye = torch.eye(gram.size(0), device=gram.device)
            total.append((gram - eye).pow(2).sum() / gram.size(0))
        return torch.stack(total).sum()

    def _rotated(self, prepared):
        """``prepared`` with ``X̃ Q`` and ``Â X̃ Q`` for a random orthogonal ``Q`` (Haar, via QR)."""
        from graphfm.models.samgpt import PreparedGraph

        d = prepared.x.size(1)
        q, r = torch.linalg.qr(torch.randn(d, d, generator=self.generator))
        q = (q * torch.sign(torch.diagonal(r))).to(prepared.x)
        return PreparedGraph(prepared.x @ q, prepared.adj, prepared.agg1 @ q)

    # ------------------------------------------------------------------ variants
    def _readout(self, h: Tensor, prepared) -> Tensor:
        """Mean embedding of every node's closed ``readout_hops``-hop neighbourhood ``[N, D]``."""
        mat = prepared.adj.mean_matrix()           # cached by the adjacency, shared by rotated copies
        s = h
        for _ in range(self.readout_hops):
            s = mat @ s
        return s

    def _anchors(self, n: int) -> Tensor:
        k = min(self.num_samples, n)
        return torch.randperm(n, generator=self.generator)[:k]

    def _info_nce(self, a: Tensor, b: Tensor) -> Tensor:
        logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / self.temperature
        return F.cross_entropy(logits, torch.arange(a.size(0), device=a.device))

    def _subgraph(self, h: Tensor, prepared, graph) -> Tensor:
        idx = self._anchors(h.size(0)).to(h.device)
        return self._info_nce(h[idx], self._readout(h, prepared)[idx])

    def _link(self, h: Tensor, prepared, graph) -> Tensor:
        adj = prepared.adj
        has_edge = torch.nonzero(adj.degree > 0).view(-1)
        if has_edge.numel() < 2:
            return self._subgraph(h, prepared, graph)
        u = has_edge[torch.randperm(has_edge.numel(), generator=self.generator)[:self.num_samples]]
        off = (torch.rand(u.numel(), generator=self.generator) * adj.degree[u]).long()
        v = adj.col[adj.rowptr[u] + off]
        s = self._readout(h, prepared)
        return self._info_nce(s[u.to(h.device)], s[v.to(h.device)])

    def _dgi(self, h: Tensor, prepared, graph) -> Tensor:
        return self._infomax(prepared, graph.domain, [prepared])

    def _graphcl(self, h: Tensor, prepared, graph) -> Tensor:
        views = [prepared.with_adjacency(self._drop_edges(prepared.adj)) for _ in range(2)]
        return self._infomax(prepared, graph.domain, views)

    def _infomax(self, prepared, domain: str, views: List) -> Tensor:
        """BCE of the bilinear discriminator: real node embeddings against a row-shuffled
        copy's, scored against the sigmoid mean readout of every view; logits summed over
        views and branches."""
        feature, structure = self.model.tokens_of(domain)
        perm = torch.randperm(prepared.num_nodes, generator=self.generator).to(prepared.x.device)
        real = self.model.encode_branches(prepared, feature, structure)
        self._real = real            # for the VICReg terms of forward(), which takes and clears it
        fake = self.model.encode_branches(prepared.with_rows(perm), feature, structure)
        summaries = [real] if len(views) == 1 and views[0] is prepared else \
            [self.model.encode_branches(v, feature, structure) for v in views]
        logits = 0
        for b in range(len(real)):
            for view in summaries:
                w = self.discriminator @ torch.sigmoid(view[b].mean(0))
                logits = logits + torch.cat([real[b] @ w, fake[b] @ w])
        n = prepared.num_nodes
        labels = torch.cat([torch.ones(n), torch.zeros(n)]).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels)

    def _drop_edges(self, adj):
        """A copy of the graph without a random ``edge_drop`` fraction of its undirected edges."""
        from graphfm.nn import NormalizedAdjacency

        row = torch.repeat_interleave(torch.arange(adj.num_nodes), adj.degree)
        col = adj.col
        upper = row < col
        row, col = row[upper], col[upper]
        keep = torch.rand(row.numel(), generator=self.generator) >= self.edge_drop
        row, col = row[keep], col[keep]
        return NormalizedAdjacency(torch.stack([torch.cat([row, col]), torch.cat([col, row])]), adj.num_nodes)

    @torch.no_grad()
    def diagnostics(self, batch: List) -> Dict[str, float]:
        """Effective rank and mean cosine of the first domain's embeddings (collapse watch)."""
        from graphfm.stats import effective_rank, mean_cosine

        graph = (batch if isinstance(batch, (list, tuple)) else [batch])[0]
        h, _ = self.model.encode_domain(graph)
        return {"effective_rank": effective_rank(h), "mean_cosine": mean_cosine(h)}

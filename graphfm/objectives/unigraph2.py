"""UniGraph2 pretraining: masked multimodal feature reconstruction + shortest-path distances.

He et al., WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_, Sec. 3:

* a fraction ``mask_rate`` of the nodes that have features is replaced by the model's
  ``[MASK]`` token before the MoE and the GNN;
* one decoder per modality reconstructs that modality's frozen features of the masked
  nodes, scored with the scaled cosine error ``(1 - cos(x_hat, x)) ** gamma``. By
  default the decoders share one GNN layer that first re-masks the masked nodes'
  embeddings (as GraphMAE, Hou et al., KDD 2022, `arXiv:2205.10803
  <https://arxiv.org/abs/2205.10803>`_), so the embeddings of *unmasked* nodes are
  trained too (they are what the decoder reads); ``decoder="mlp"`` uses per-modality
  MLPs on the masked nodes' embeddings only;
* a shared decoder predicts the shortest-path distance (SPD) of sampled node pairs from
  their embeddings (mean squared error on ``dist / (cutoff + 1)``);
* the MoE load-balancing loss keeps the experts in use;
* an anti-collapse term on the embeddings of the batch (VICReg's variance and covariance
  terms, Bardes et al., ICLR 2022, `arXiv:2105.04906 <https://arxiv.org/abs/2105.04906>`_):
  a hinge keeping every dimension's standard deviation at least 1 and a penalty on the
  off-diagonal covariances, so that reconstruction cannot be met by a few directions.
  Not in the paper; added because the pretrained embeddings otherwise lose rank
  (``diag/effective_rank`` in ``metrics.csv`` shows it);
* optionally (``contrast_weight > 0``) Deep Graph Infomax (Veličković et al., ICLR 2019,
  `arXiv:1809.10341 <https://arxiv.org/abs/1809.10341>`_) per subgraph: a bilinear
  discriminator tells each node's embedding from the embedding of the same position
  with the batch's feature rows shuffled, given the node's subgraph summary. Not in the
  paper; an option because reconstruction alone does not make class-separable
  embeddings (see the README, UniGraph2).

The paper's release computes SPD for all pairs of a graph (quadratic memory); here the
pairs are sampled *inside the batch's subgraphs*: ``spd_sources`` sources per step, a
BFS with cut-off over the batch edges only (:func:`graphfm.data.sampling.bfs_distances`
in its sparse form), and ``spd_pairs_per_source`` targets per source drawn from the
source's own subgraph, so memory is bounded by the batch, never by the graph.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.models.unigraph2 import UniGraph2, UniGraph2Output
from graphfm.nn.conv import build_conv
from graphfm.errors import ConfigError
from graphfm.objectives.base import OBJECTIVES, Objective
from graphfm.objectives.regularisers import variance_covariance_loss


def scaled_cosine_error(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Mean of ``(1 - cos(pred, target)) ** gamma`` over rows (GraphMAE's SCE); 0 for no rows."""
    if pred.size(0) == 0:
        return pred.sum() * 0.0
    cos = F.cosine_similarity(pred, target, dim=-1)
    return (1.0 - cos).clamp(min=0.0).pow(gamma).mean()


def sample_spd_pairs(edge_index: Tensor, num_nodes: int, batch: Optional[Tensor], num_sources: int,
                     pairs_per_source: int, cutoff: int,
                     generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Node pairs inside the same subgraph and their shortest-path distances, capped at ``cutoff + 1``.

    Args:
        edge_index (Tensor): ``[2, E]`` undirected edges of the (batched) graph.
        num_nodes (int): Nodes ``N`` of the batch.
        batch (Tensor, optional): ``[N]`` sorted subgraph id of every node (PyG's
            ``batch``); ``None`` treats the batch as one graph.
        num_sources (int): Sources ``S`` (fewer if ``N < S``).
        pairs_per_source (int): Targets per source, uniform over its subgraph.
        cutoff (int): BFS depth; farther (or unreachable) pairs get ``cutoff + 1``.
        generator (torch.Generator, optional): CPU random generator.

    Returns:
        ``(src [P], dst [P], dist [P])`` long tensors on the CPU, ``P = S * pairs_per_source``.
        Memory is ``O(E + S * reach(cutoff))`` of the batch.
    """
    from graphfm.data.sampling import bfs_distances

    ei = edge_index.detach().cpu()
    group = torch.zeros(num_nodes, dtype=torch.long) if batch is None else batch.detach().cpu().long()
    if group.numel() > 1 and bool((group[1:] < group[:-1]).any()):
        raise ValueError("batch vector must be sorted (nodes of each subgraph contiguous)")
    sources = torch.randperm(num_nodes, generator=generator)[:num_sources]
    src_pos, node, dist = bfs_distances(ei, num_nodes, sources, cutoff, dense=False)
    ptr = torch.zeros(int(group.max()) + 2 if num_nodes else 1, dtype=torch.long)
    ptr[1:] = torch.bincount(group, minlength=ptr.numel() - 1).cumsum(0)
    g = group[sources].repeat_interleave(pairs_per_source)                     # [P]
    start, size = ptr[g], ptr[g + 1] - ptr[g]
    dst = start + (torch.rand(g.numel(), generator=generator) * size).long()
    src_idx = torch.arange(sources.numel()).repeat_interleave(pairs_per_source)
    known = src_pos * num_nodes + node                                          # sorted keys of reached pairs
    query = src_idx * num_nodes + dst
    pos = torch.searchsorted(known, query).clamp(max=max(known.numel() - 1, 0))
    hit = known[pos] == query if known.numel() else torch.zeros_like(query, dtype=torch.bool)
    target = torch.where(hit, dist[pos] if dist.numel() else query * 0, torch.full_like(query, cutoff + 1))
    return sources[src_idx], dst, target


@OBJECTIVES.register("unigraph2")
class UniGraph2Objective(Objective):
    """Masked multimodal reconstruction + SPD prediction + MoE balancing.

    Batches are dicts (see :class:`~graphfm.engine.datamodules.multimodal_graph.MultimodalGraphsDataModule`)::

        {"feats": {modality: [N, D_m]}, "masks": {modality: bool [N]},
         "edge_index": [2, E], "batch": [N] (sorted subgraph id, optional)}

    Args:
        model (UniGraph2): The model being pretrained.
        mask_rate (float): Share of nodes (with features) that are masked. (default: ``0.5``)
        gamma (float): Exponent of the scaled cosine error. (default: ``2.0``)
        spd_weight (float): Weight of the SPD loss; ``0`` disables it. (default: ``0.5``)
        spd_sources (int): SPD source nodes per batch. (default: ``32``)
        spd_pairs_per_source (int): SPD targets per source. (default: ``16``)
        spd_cutoff (int): BFS depth of the SPD targets. (default: ``4``)
        moe_weight (float): Weight of the MoE balancing loss. (default: ``0.01``)
        decoder (str): ``"gnn"`` (re-mask, one shared GNN layer, then a linear head per
            modality) or ``"mlp"`` (a two-layer MLP per modality, as the official code).
            (default: ``"gnn"``)
        var_weight (float): Weight of the variance hinge on the embeddings; ``0`` disables
            it. (default: ``0.0``)
        cov_weight (float): Weight of the covariance penalty on the embeddings. (default: ``0.0``)
        domain_tokens (bool): Scale each GNN layer's input by the node's source-domain token
            (learned here, used by the dual prompts of :mod:`graphfm.adapt.unigraph2`); off,
            every graph uses the mean token. (default: ``True``)
        contrast_weight (float): Weight of the per-subgraph DGI loss; ``0`` disables it (and
            the extra encoder pass on shuffled features it costs). (default: ``0.0``)
    """

    DECODERS = ("gnn", "mlp")

    def __init__(self, model: UniGraph2, mask_rate: float = 0.5, gamma: float = 2.0, spd_weight: float = 0.5,
                 spd_sources: int = 32, spd_pairs_per_source: int = 16, spd_cutoff: int = 4,
                 moe_weight: float = 0.01, decoder: str = "gnn", var_weight: float = 0.0,
                 cov_weight: float = 0.0, domain_tokens: bool = True, contrast_weight: float = 0.0) -> None:
        super().__init__(model)
        if not 0.0 < mask_rate < 1.0:
            raise ConfigError(f"objective.mask_rate must be in (0, 1), got {mask_rate}")
        if decoder not in self.DECODERS:
            raise ConfigError(f"objective.decoder '{decoder}' is unknown; valid: {', '.join(self.DECODERS)}")
        if min(var_weight, cov_weight, contrast_weight) < 0:
            raise ConfigError("objective.var_weight, cov_weight and contrast_weight must be >= 0, got "
                              f"{var_weight}, {cov_weight}, {contrast_weight}")
        self.mask_rate, self.gamma, self.spd_weight, self.moe_weight = mask_rate, gamma, spd_weight, moe_weight
        self.var_weight, self.cov_weight, self.use_domain_tokens = var_weight, cov_weight, bool(domain_tokens)
        self.spd_sources, self.spd_pairs, self.spd_cutoff = spd_sources, spd_pairs_per_source, spd_cutoff
        hidden = model.hidden_dim
        kw = model.init_kwargs
        self.decoder_gnn = build_conv(kw.get("gnn", "gat"), hidden, kw.get("heads", 4)) if decoder == "gnn" else None
        self.decoders = nn.ModuleDict({
            name: nn.Sequential(nn.PReLU(), nn.Linear(hidden, dim)) if decoder == "gnn" else
            nn.Sequential(nn.Linear(hidden, hidden), nn.PReLU(), nn.Linear(hidden, dim))
            for name, dim in model.modality_dims.items()})
        self.spd_decoder = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.PReLU(), nn.Linear(hidden, 1))
        self.contrast_weight = float(contrast_weight)
        self.discriminator = nn.Bilinear(hidden, hidden, 1) if contrast_weight > 0 else None

    # ------------------------------------------------------------------ stages
    def sample_mask(self, batch: Mapping[str, Any]) -> Tensor:
        """Bool ``[N]``: a random ``mask_rate`` share of the nodes that have a modality."""
        masks = batch.get("masks") or {}
        feats = batch["feats"]
        n = next(iter(feats.values())).size(0)
        device = next(iter(feats.values())).device
        present = torch.zeros(n, dtype=torch.bool, device=device)
        for name in feats:
            present |= masks[name].to(device) if name in masks else torch.ones_like(present)
        candidates = present.nonzero().view(-1)
        k = max(1, int(round(self.mask_rate * candidates.numel()))) if candidates.numel() else 0
        chosen = candidates[torch.randperm(candidates.numel(), device=device)[:k]]
        return torch.zeros(n, dtype=torch.bool, device=device).index_fill(0, chosen, True)

    def forward_encoder(self, batch: Mapping[str, Any], node_mask: Tensor) -> UniGraph2Output:
        """Masked nodes -> ``[MASK]`` -> MoE -> GNN: embeddings ``h: [N, H]``."""
        domain = batch.get("domain") if self.use_domain_tokens else None
        return self.model.encode(batch["feats"], batch.get("masks"), batch["edge_index"], node_mask=node_mask,
                                 domain=domain)

    def targets(self, batch: Mapping[str, Any], node_mask: Tensor) -> Dict[str, Tensor]:
        """Per modality, the masked nodes that have it (long indices): what is reconstructed."""
        masks = batch.get("masks") or {}
        rows = {}
        for name in batch["feats"]:
            keep = node_mask & masks[name].to(node_mask.device) if name in masks else node_mask
            if keep.any():
                rows[name] = keep.nonzero().view(-1)
        return rows

    def forward_decoder(self, h: Tensor, rows: Mapping[str, Tensor], node_mask: Tensor,
                        edge_index: Tensor) -> Dict[str, Tensor]:
        """Reconstructions ``{m: [R_m, D_m]}`` of the rows ``rows[m]`` from embeddings ``h: [N, H]``.

        With the GNN decoder, the masked nodes' embeddings are zeroed (re-masked) and one
        message-passing layer over ``edge_index`` rebuilds them from their neighbours.
        """
        if self.decoder_gnn is not None:
            h = self.decoder_gnn(h.masked_fill(node_mask.unsqueeze(-1), 0.0), edge_index)
        return {name: self.decoders[name](h[idx]) for name, idx in rows.items()}

    def forward_loss(self, batch: Mapping[str, Any], recon: Dict[str, Tensor], rows: Mapping[str, Tensor],
                     h: Tensor) -> Dict[str, Tensor]:
        """Reconstruction (SCE per modality, averaged) and SPD losses."""
        out: Dict[str, Tensor] = {}
        total, count = h.new_zeros(()), 0
        for name, pred in recon.items():
            err = scaled_cosine_error(pred, batch["feats"][name][rows[name]].to(pred.dtype), self.gamma)
            out[f"recon_{name}"] = err.detach()
            total, count = total + err, count + 1
        out["recon_loss"] = total / max(count, 1)
        if self.spd_weight > 0:
            spd, mae = self.spd_loss(batch, h)
            out["spd_loss"], out["spd_mae"] = self.spd_weight * spd, mae
        if self.var_weight > 0 or self.cov_weight > 0:
            var, cov = variance_covariance_loss(h)
            out["var_loss"], out["cov_loss"] = self.var_weight * var, self.cov_weight * cov
        return out

    def spd_loss(self, batch: Mapping[str, Any], h: Tensor) -> Tuple[Tensor, Tensor]:
        """MSE of predicted vs true (capped) SPD on pairs sampled in the batch; also the MAE in hops."""
        src, dst, dist = sample_spd_pairs(batch["edge_index"], h.size(0), batch.get("batch"), self.spd_sources,
                                          self.spd_pairs, self.spd_cutoff)
        src, dst, dist = src.to(h.device), dst.to(h.device), dist.to(h.device)
        a, b = h[src], h[dst]
        pred = self.spd_decoder(torch.cat([(a - b).abs(), a * b], dim=-1)).squeeze(-1)
        scale = float(self.spd_cutoff + 1)
        loss = F.mse_loss(pred, dist.to(pred.dtype) / scale)
        return loss, ((pred.detach() * scale) - dist).abs().float().mean()

    def contrast_loss(self, batch: Mapping[str, Any], h: Tensor, node_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """DGI per subgraph: BCE of a bilinear discriminator on ``(h_i, s_g(i))`` (real) and
        ``(h~_i, s_g(i))`` (``h~``: the encoder on the batch's rows shuffled, same mask and
        edges), ``s_g = sigmoid(mean of h over subgraph g)``. Returns the loss and the
        discriminator's accuracy. ``h: [N, H]``, ``node_mask: bool [N]``.
        """
        n = h.size(0)
        perm = torch.randperm(n, device=h.device)
        feats = {m: f[perm] for m, f in batch["feats"].items()}
        masks = {m: k.to(h.device)[perm] for m, k in (batch.get("masks") or {}).items()}
        domain = batch.get("domain") if self.use_domain_tokens else None
        fake = self.model.encode(feats, masks or None, batch["edge_index"], node_mask=node_mask, domain=domain).h
        group = batch.get("batch")
        group = torch.zeros(n, dtype=torch.long, device=h.device) if group is None else group.to(h.device).long()
        count = torch.bincount(group).clamp_min(1).unsqueeze(-1).to(h.dtype)
        summary = torch.sigmoid(h.new_zeros(count.size(0), h.size(1)).index_add_(0, group, h) / count)[group]
        logits = torch.cat([self.discriminator(h, summary), self.discriminator(fake, summary)]).squeeze(-1)
        labels = torch.cat([torch.ones(n, device=h.device), torch.zeros(n, device=h.device)]).to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        return loss, ((logits.detach() > 0) == (labels > 0.5)).float().mean()

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        """``{"recon_loss", "spd_loss", "moe_loss", metrics...}`` for one batch."""
        node_mask = self.sample_mask(batch)
        enc = self.forward_encoder(batch, node_mask)
        rows = self.targets(batch, node_mask)
        recon = self.forward_decoder(enc.h, rows, node_mask, batch["edge_index"])
        out = self.forward_loss(batch, recon, rows, enc.h)
        if self.discriminator is not None:
            dgi, acc = self.contrast_loss(batch, enc.h, node_mask)
            out["dgi_loss"], out["dgi_acc"] = self.contrast_weight * dgi, acc
        out["moe_loss"] = self.moe_weight * enc.moe_loss
        load = enc.moe_stats["expert_load"]
        out.update(moe_balance=enc.moe_loss.detach(), expert_load_max=load.max(), expert_load_min=load.min(),
                   router_entropy=enc.moe_stats["router_entropy"], mask_share=node_mask.float().mean())
        return out

    @torch.no_grad()
    def diagnostics(self, batch: Mapping[str, Any]) -> Dict[str, float]:
        """Effective rank and mean cosine of the batch's embeddings, unmasked and in eval mode
        (what is scored downstream); logged as ``diag/*`` by
        :class:`~graphfm.engine.callbacks.EmbeddingDiagnostics`."""
        from graphfm.stats import effective_rank, mean_cosine

        was_training = self.model.training
        self.model.eval()
        try:
            domain = batch.get("domain") if self.use_domain_tokens else None
            h = self.model.encode(batch["feats"], batch.get("masks"), batch["edge_index"], domain=domain).h
        finally:
            self.model.train(was_training)
        return {"effective_rank": effective_rank(h), "mean_cosine": mean_cosine(h)}

"""Dual prompts on the UniGraph2 backbone: SAMGPT-style few-shot adaptation of a multimodal graph.

UniGraph2 (He et al., WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_)
learns, while pretraining, one structure token per source graph and GNN layer (the input
of layer ``l`` of a node from source ``i`` is scaled by ``t_i^l``; see
:class:`~graphfm.models.unigraph2.UniGraph2`). On an unseen target the backbone and the
tokens are frozen and every few-shot task learns SAMGPT's dual prompts (Yu et al.,
WWW 2025, `arXiv:2502.05424 <https://arxiv.org/abs/2502.05424>`_):

* **holistic** ``p_hol^l``: a free vector per layer, initialised to the mean source token;
* **specific** ``p_spe^l = Σ_i softmax(λ^l)_i t_i^l``: a learned convex mix of the source tokens.

The task's embedding is ``H = H(p_hol) + β · H(p_spe)``. Both prompts start at the mean
token, so with ``steps=0`` the prompted embeddings equal the frozen ones (up to a scale
the cosine prototypes ignore). Prompts are tuned on the support with a prototype loss
(cosine / temperature, each support node against the class means) and an L2 pull
``reg · ||p - p_0||²`` toward their start. ``T`` tasks are tuned at once on the disjoint
union of their supports' receptive fields and scored on ``T`` copies of the graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.adapt.fewshot import FewShotTasks, class_prototypes, prototype_accuracy
from graphfm.errors import ConfigError

__all__ = ["DualPromptConfig", "DualPrompts", "DualPromptTuner"]


@dataclass
class DualPromptConfig:
    """Options of the dual-prompt adaptation.

    Args:
        steps (int): Adam steps per task; ``0`` keeps the start prompts. (default: ``10``)
        lr (float): Learning rate. (default: ``0.01``)
        temperature (float): Temperature of the prototype loss. (default: ``0.1``)
        beta (float): Weight of the specific relative to the holistic prompts. (default: ``1.0``)
        reg (float): Weight of ``||p - p_0||^2`` (summed over entries). (default: ``0.1``)
        chunk (int): Tasks tuned together. (default: ``25``)
    """

    steps: int = 10
    lr: float = 0.01
    temperature: float = 0.1
    beta: float = 1.0
    reg: float = 0.1
    chunk: int = 25

    def __post_init__(self) -> None:
        if self.steps < 0 or self.chunk < 1 or self.lr <= 0 or self.temperature <= 0 or self.reg < 0:
            raise ConfigError(f"invalid dual-prompt options {self}: steps >= 0, chunk >= 1, lr > 0, "
                              "temperature > 0 and reg >= 0 are needed")


class DualPrompts(nn.Module):
    """Holistic and specific prompts of ``T`` tasks over ``L`` layers of width ``H``.

    Args:
        num_tasks (int): ``T``.
        tokens (Tensor): Frozen source tokens ``[K, L, H]`` (``K >= 1``).
    """

    def __init__(self, num_tasks: int, tokens: Tensor) -> None:
        super().__init__()
        if tokens.dim() != 3 or tokens.size(0) < 1:
            raise ConfigError("dual prompts need the source-domain tokens of a UniGraph2 model pretrained with "
                              "domains (objective.domain_tokens: true); this checkpoint has none")
        self.register_buffer("tokens", tokens.detach().clone())
        start = tokens.detach().mean(0).expand(num_tasks, -1, -1).clone()             # [T, L, H]
        self.register_buffer("start", start.clone())
        self.holistic = nn.Parameter(start)
        self.mix = nn.Parameter(torch.zeros(num_tasks, tokens.size(1), tokens.size(0)))  # logits [T, L, K]

    def specific(self) -> Tensor:
        """``Σ_i softmax(λ^l)_i t_i^l`` ``[T, L, H]``."""
        return torch.einsum("tlk,klh->tlh", self.mix.softmax(-1), self.tokens)

    def penalty(self) -> Tensor:
        """``||p_hol - p_0||^2 + ||p_spe - p_0||^2`` summed over entries, per task ``[T]``."""
        return ((self.holistic - self.start) ** 2).sum((1, 2)) + ((self.specific() - self.start) ** 2).sum((1, 2))


class DualPromptTuner:
    """Tune and score dual prompts of many tasks on one target graph.

    Args:
        model (UniGraph2): The frozen backbone (with domain tokens).
        feats (dict): The target's normalised modality features (``model.prepare``).
        masks (dict): Their presence masks.
        edge_index (Tensor): The target's edges ``[2, E]``.
        config (DualPromptConfig, optional): Options.
    """

    def __init__(self, model: Any, feats: Mapping[str, Tensor], masks: Optional[Mapping[str, Tensor]],
                 edge_index: Tensor, config: Optional[DualPromptConfig] = None) -> None:
        if not model.domains:
            raise ConfigError(f"dual prompts need a UniGraph2 model pretrained on named source domains; "
                              f"{type(model).__name__} has no domain tokens (re-pretrain with the current "
                              "configs/unigraph2/pretrain.yaml)")
        self.model, self.cfg = model.eval(), config or DualPromptConfig()
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            self.h0 = model.encode_inputs(feats, masks)[0]                            # [N, H], frozen
        self.edge_index = edge_index.to(self.h0.device)
        self.num_nodes = self.h0.size(0)

    def _embed(self, prompts: DualPrompts, nodes: List[Tensor], edges: List[Tensor]) -> List[Tensor]:
        """Per task ``t``, the prompted embeddings of ``nodes[t]`` on the subgraph ``edges[t]``."""
        sizes = [n.numel() for n in nodes]
        offsets = torch.tensor([0] + sizes[:-1], device=self.h0.device).cumsum(0)
        x = self.h0[torch.cat(nodes)]
        ei = torch.cat([e + o for e, o in zip(edges, offsets.tolist())], dim=1)
        owner = torch.repeat_interleave(torch.arange(len(nodes), device=x.device), torch.tensor(sizes, device=x.device))
        hol, spe = prompts.holistic, prompts.specific()
        h = self.model.propagate(x, ei, [hol[owner, i] for i in range(hol.size(1))])
        h = h + self.cfg.beta * self.model.propagate(x, ei, [spe[owner, i] for i in range(spe.size(1))])
        return list(torch.split(h, sizes))

    def tune(self, tasks: FewShotTasks, seed: int = 0) -> DualPrompts:
        """Prompts of the tasks, tuned on their supports' receptive fields."""
        from torch_geometric.utils import k_hop_subgraph

        torch.manual_seed(seed)
        prompts = DualPrompts(tasks.num_tasks, self.model.domain_tokens.detach()).to(self.h0.device)
        if self.cfg.steps == 0:
            return prompts
        nodes, edges, where = [], [], []
        for t in range(tasks.num_tasks):
            subset, ei, mapping, _ = k_hop_subgraph(tasks.support[t].to(self.h0.device), self.model.num_layers,
                                                    self.edge_index, relabel_nodes=True, num_nodes=self.num_nodes)
            nodes.append(subset), edges.append(ei), where.append(mapping)
        opt = torch.optim.Adam(prompts.parameters(), lr=self.cfg.lr)
        y = tasks.support_y.to(self.h0.device)
        for _ in range(self.cfg.steps):
            emb = torch.stack([h[w] for h, w in zip(self._embed(prompts, nodes, edges), where)])   # [T, C*s, H]
            local = FewShotTasks(torch.arange(emb.size(1)).expand(tasks.num_tasks, -1), tasks.support_y,
                                 tasks.query[:, :0], tasks.query_y[:, :0], tasks.classes, tasks.shots)
            proto = class_prototypes(emb, local)                                                 # [T, C, H]
            logits = F.normalize(emb, dim=-1) @ F.normalize(proto, dim=-1).transpose(1, 2) / self.cfg.temperature
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y).mean(1)
            total = (loss + self.cfg.reg * prompts.penalty()).sum()
            opt.zero_grad()
            total.backward()
            opt.step()
        return prompts

    @torch.no_grad()
    def score(self, tasks: FewShotTasks, prompts: DualPrompts) -> Tensor:
        """Nearest-prototype accuracy (percent) ``[T]`` with each task's prompted embeddings."""
        full = [torch.arange(self.num_nodes, device=self.h0.device)] * tasks.num_tasks
        emb = torch.stack(self._embed(prompts, full, [self.edge_index] * tasks.num_tasks))     # [T, N, H]
        return prototype_accuracy(emb, tasks)

    def run(self, tasks: FewShotTasks, seed: int = 0) -> Tensor:
        """Tune and score the tasks in chunks of ``config.chunk``: accuracies ``[T]``."""
        out = []
        for start in range(0, tasks.num_tasks, self.cfg.chunk):
            chunk = tasks.subset(slice(start, start + self.cfg.chunk))
            with torch.enable_grad():
                prompts = self.tune(chunk, seed=seed * 100_003 + start)
            out.append(self.score(chunk, prompts))
        return torch.cat(out)

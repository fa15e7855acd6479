"""Synthetic graph domains: degree-corrected stochastic block models.

``synthetic-<k>`` is a small (600-1500 nodes) SBM domain, the same for the same
``k`` on every machine. Domains differ in every way a real domain can: number of
classes, feature distribution (dense Gaussian class means in a random low-dimensional
subspace vs sparse binary bag-of-words with class topics), feature dim, homophily
(0.65-0.9) and degree profile (uniform vs power-law), see :func:`domain_params`.
Features alone are noisy; neighbours share the class with probability ``homophily``,
so aggregating over the graph denoises them. That shared structure is what
pretraining on some domains can transfer to an unseen one.

``synthetic-large-<n>`` (or :func:`make_sbm` directly) builds big graphs cheaply: all
sampling is vectorised (200k nodes and 1M edges in about a second).
"""
from __future__ import annotations

import random
from typing import Any, Dict

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from graphfm.errors import DataError


def make_sbm(num_nodes: int, num_classes: int = 4, feat_dim: int = 64, homophily: float = 0.8,
             avg_degree: float = 8.0, degree: str = "uniform", features: str = "gaussian",
             signal: float = 1.0, seed: int = 0) -> Data:
    """Sample a degree-corrected stochastic block model with class-dependent features.

    Each of the ``num_nodes * avg_degree / 2`` sampled edges picks a source node in
    proportion to its degree propensity, then a target of the same class with
    probability ``homophily`` (else of a uniformly chosen other class), again in
    proportion to propensity. Self-loops are dropped and duplicates merged.

    Args:
        num_nodes (int): Number of nodes.
        num_classes (int): Number of blocks / classes. (default: ``4``)
        feat_dim (int): Feature dimension. (default: ``64``)
        homophily (float): Probability that an edge stays inside a class. (default: ``0.8``)
        avg_degree (float): Expected average degree. (default: ``8.0``)
        degree (str): ``"uniform"`` or ``"powerlaw"`` (Pareto propensities, exponent
            2.5, capped). (default: ``"uniform"``)
        features (str): ``"gaussian"`` (class means in a random subspace plus unit
            noise) or ``"binary"`` (multi-hot words drawn from class topics mixed with
            background words). (default: ``"gaussian"``)
        signal (float): Strength of the class signal in the features. (default: ``1.0``)
        seed (int): Random seed. (default: ``0``)
    """
    if num_nodes < num_classes or num_classes < 2 or feat_dim < 1 or not 0 <= homophily <= 1:
        raise DataError(f"invalid SBM parameters: num_nodes={num_nodes}, num_classes={num_classes}, "
                        f"feat_dim={feat_dim}, homophily={homophily}; need num_nodes >= num_classes "
                        ">= 2, feat_dim >= 1 and 0 <= homophily <= 1")
    gen = torch.Generator().manual_seed(seed)
    props = torch.rand(num_classes, generator=gen) + 1.0
    y = torch.multinomial(props / props.sum(), num_nodes, replacement=True, generator=gen)
    y[:num_classes] = torch.arange(num_classes)  # every class present
    theta = _propensity(num_nodes, degree, gen)
    edge_index = _sample_edges(y, theta, num_classes, homophily, avg_degree, gen)
    if features == "gaussian":
        x = _gaussian_features(y, num_classes, feat_dim, signal, gen)
    elif features == "binary":
        x = _binary_features(y, num_classes, feat_dim, signal, gen)
    else:
        raise DataError(f"unknown SBM feature kind '{features}'; use 'gaussian' or 'binary'")
    return Data(x=x, edge_index=edge_index, y=y)


def _propensity(n: int, kind: str, gen: torch.Generator) -> torch.Tensor:
    if kind == "uniform":
        return torch.ones(n)
    if kind == "powerlaw":
        u = torch.rand(n, generator=gen).clamp_min(1e-6)
        return u.pow(-1.0 / 1.5).clamp(max=float(n) ** 0.5)  # Pareto tail, exponent 2.5
    raise DataError(f"unknown SBM degree profile '{kind}'; use 'uniform' or 'powerlaw'")


def _sample_edges(y: torch.Tensor, theta: torch.Tensor, c: int, h: float, avg_degree: float,
                  gen: torch.Generator) -> torch.Tensor:
    n = y.numel()
    m = max(1, int(round(n * avg_degree / 2)))
    src = torch.searchsorted(theta.cumsum(0), torch.rand(m, generator=gen) * theta.sum())
    src = src.clamp(max=n - 1)
    same = torch.rand(m, generator=gen) < h
    shift = torch.randint(1, c, (m,), generator=gen)
    cls = torch.where(same, y[src], (y[src] + shift) % c)
    order = torch.argsort(y, stable=True)
    cum = theta[order].double().cumsum(0)
    counts = torch.bincount(y, minlength=c)
    end = counts.cumsum(0)
    start = end - counts
    lo = torch.cat([cum.new_zeros(1), cum])[start]
    hi = cum[end - 1]
    u = lo[cls] + torch.rand(m, generator=gen, dtype=torch.float64) * (hi[cls] - lo[cls])
    pos = torch.searchsorted(cum, u).clamp(start[cls], end[cls] - 1)
    dst = order[pos]
    keep = src != dst
    edge_index = torch.stack([src[keep], dst[keep]])
    return coalesce(to_undirected(edge_index, num_nodes=n), num_nodes=n)


def _gaussian_features(y: torch.Tensor, c: int, f: int, signal: float,
                       gen: torch.Generator) -> torch.Tensor:
    r = min(f, max(2, c))
    basis, _ = torch.linalg.qr(torch.randn(f, r, generator=gen))
    means = torch.randn(c, r, generator=gen) @ basis.T * signal
    return means[y] + torch.randn(y.numel(), f, generator=gen)


def _binary_features(y: torch.Tensor, c: int, f: int, signal: float,
                     gen: torch.Generator) -> torch.Tensor:
    n = y.numel()
    topic_size = max(2, f // (2 * c))
    topics = torch.stack([torch.randperm(f, generator=gen)[:topic_size] for _ in range(c)])
    words = 1 + torch.poisson(torch.full((n,), 12.0), generator=gen).long()
    node = torch.repeat_interleave(torch.arange(n), words)
    from_topic = torch.rand(node.numel(), generator=gen) < min(0.9, 0.3 * signal)
    topic_word = topics[y[node], torch.randint(topic_size, (node.numel(),), generator=gen)]
    any_word = torch.randint(f, (node.numel(),), generator=gen)
    x = torch.zeros(n, f)
    x[node, torch.where(from_topic, topic_word, any_word)] = 1.0
    return x


def domain_params(k: int) -> Dict[str, Any]:
    """The :func:`make_sbm` arguments of domain ``synthetic-<k>`` (deterministic in ``k``)."""
    if k < 0:
        raise DataError(f"synthetic domain index must be >= 0, got {k}")
    rng = random.Random(7919 * (k + 1))
    gaussian = k % 2 == 0
    return dict(
        num_nodes=rng.randrange(600, 1501, 50),
        num_classes=3 + k % 4,
        feat_dim=rng.choice([32, 48, 64, 96, 128] if gaussian else [200, 300, 400, 500]),
        homophily=round(rng.uniform(0.65, 0.9), 3),
        avg_degree=round(rng.uniform(4.0, 12.0), 2),
        degree="powerlaw" if (k // 2) % 2 else "uniform",
        features="gaussian" if gaussian else "binary",
        signal=round(rng.uniform(0.8, 1.2), 3),
        seed=10_000 + k,
    )


def synthetic_domain(k: int) -> Data:
    """Domain ``synthetic-<k>``: :func:`make_sbm` with :func:`domain_params` ``(k)``."""
    data = make_sbm(**domain_params(k))
    data.domain = data.name = f"synthetic-{k}"
    return data


def large_sbm(num_nodes: int) -> Data:
    """``synthetic-large-<num_nodes>``: a 5-class power-law SBM with 64 Gaussian features."""
    data = make_sbm(num_nodes, num_classes=5, feat_dim=64, homophily=0.8, avg_degree=10.0,
                    degree="powerlaw", features="gaussian", seed=num_nodes)
    data.domain = data.name = f"synthetic-large-{num_nodes}"
    return data

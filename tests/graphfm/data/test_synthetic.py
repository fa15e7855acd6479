"""Synthetic SBM domains: deterministic, really different, with structural signal."""
import pytest
import torch

from graphfm.data import domain_params, load_dataset, make_sbm
from graphfm.errors import DataError


def _prototype_accuracy(z: torch.Tensor, y: torch.Tensor, shots: int = 5, tasks: int = 20) -> float:
    gen = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(z - z.mean(0), dim=1)
    accs = []
    for _ in range(tasks):
        protos = []
        for c in range(int(y.max()) + 1):
            idx = (y == c).nonzero().view(-1)
            protos.append(z[idx[torch.randperm(idx.numel(), generator=gen)[:shots]]].mean(0))
        accs.append(((z @ torch.stack(protos).T).argmax(1) == y).float().mean().item())
    return sum(accs) / len(accs)


def _mean_aggregate(data, x):
    n = data.num_nodes
    deg = torch.bincount(data.edge_index[0], minlength=n).clamp_min(1).unsqueeze(1)
    agg = torch.zeros_like(x).index_add_(0, data.edge_index[0], x[data.edge_index[1]])
    return (x + agg / deg) / 2


def test_deterministic():
    a, b = load_dataset("synthetic-3"), load_dataset("synthetic-3")
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.y, b.y)
    assert a.domain == "synthetic-3"


def test_domains_differ():
    params = [domain_params(k) for k in range(4)]
    assert len({p["num_classes"] for p in params}) == 4
    assert {p["features"] for p in params} == {"gaussian", "binary"}
    assert {p["degree"] for p in params} == {"uniform", "powerlaw"}
    graphs = [load_dataset(f"synthetic-{k}") for k in range(4)]
    for k, (g, p) in enumerate(zip(graphs, params)):
        assert g.num_nodes == p["num_nodes"] and g.x.size(1) == p["feat_dim"]
        assert int(g.y.max()) + 1 == p["num_classes"]
        homophily = (g.y[g.edge_index[0]] == g.y[g.edge_index[1]]).float().mean().item()
        assert abs(homophily - p["homophily"]) < 0.08, k
    binary = graphs[1].x
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    uniform, powerlaw = (torch.bincount(graphs[k].edge_index[0]).max().item() for k in (0, 2))
    assert powerlaw > 3 * uniform


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_graph_structure_denoises_features(k):
    g = load_dataset(f"synthetic-{k}")
    raw = _prototype_accuracy(g.x, g.y)
    smoothed = _prototype_accuracy(_mean_aggregate(g, _mean_aggregate(g, g.x)), g.y)
    assert smoothed > raw + 0.05


def test_large_sbm_is_cheap_and_valid():
    g = load_dataset("synthetic-large-200000")
    assert g.num_nodes == 200_000 and g.edge_index.size(1) > 1_500_000
    assert not (g.edge_index[0] == g.edge_index[1]).any()


def test_make_sbm_rejects_bad_parameters():
    with pytest.raises(DataError, match="num_classes"):
        make_sbm(10, num_classes=1)
    with pytest.raises(DataError, match="feature kind"):
        make_sbm(50, features="ternary")

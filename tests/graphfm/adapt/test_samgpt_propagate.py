"""The frozen-backbone propagation of SAMGPT's adaptation computes TokenGCN's numbers.

With autograd (tuning, the self-supervised stage) the numbers are the same bit for bit.
Without autograd (evaluation) the aggregation runs one batch entry at a time; torch's
sparse product then gives the same bits at the bench's width (128, measured with MKL)
but may pick another kernel for narrow ones, so those are compared to float precision.
"""
import pytest
import torch

from graphfm.adapt.samgpt import _spmm_columns, propagate
from graphfm.data import synthetic_domain
from graphfm.nn import NormalizedAdjacency, TokenGCN, build_plan, mean_pool_matrix, spmm_batched


@pytest.fixture(scope="module")
def graph():
    g = synthetic_domain(3)
    adj = NormalizedAdjacency(g.edge_index, g.num_nodes)
    return g, adj


@pytest.mark.parametrize("activation,placement,residual", [("prelu", "message", False), ("relu", "message", False),
                                                           ("prelu", "output", True)])
def test_propagate_equals_forward_plan_with_and_without_autograd(graph, activation, placement, residual):
    g, adj = graph
    torch.manual_seed(0)
    gcn = TokenGCN(8, hidden=16, num_layers=3, activation=activation, placement=placement, residual=residual)
    for p in gcn.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for s in gcn.slopes:
            s.uniform_(0.1, 0.5)   # distinct slopes: the backward must use them
    plan = build_plan(adj, torch.tensor([3, 40, 41, 500, 999]), 3)
    agg1 = torch.randn(plan.nodes[0].numel(), 4, 8)
    tokens = [torch.rand(1, 4, d) + 0.5 for d in gcn.token_dims]
    with torch.no_grad():
        assert torch.allclose(propagate(gcn, agg1, plan.adjs, tokens), gcn.forward_plan(agg1, plan.adjs, tokens),
                              rtol=1e-6, atol=1e-6)
    grads = []
    for fn in (lambda *a: propagate(gcn, *a), gcn.forward_plan):
        x = agg1.clone().requires_grad_(True)
        toks = [t.clone().requires_grad_(True) for t in tokens]
        out = fn(x, plan.adjs, toks)
        (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        grads.append([x.grad] + [t.grad for t in toks])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_column_products_and_in_place_pooling_equal_the_batched_ones(graph):
    g, adj = graph
    seeds = torch.tensor([1, 2, 3, 50, 51, 700])
    plan = build_plan(adj, seeds, 2)
    h = torch.randn(plan.nodes[0].numel(), 5, 16)
    assert torch.allclose(_spmm_columns(plan.adjs[0], h), spmm_batched(plan.adjs[0], h), rtol=1e-6, atol=1e-6)
    item = torch.tensor([0, 0, 1, 1, 1, 2])
    out = torch.randn(plan.nodes[-1].numel(), 5, 16)
    gathered = spmm_batched(mean_pool_matrix(item, torch.arange(6), 3, 6), out[plan.output_index])
    in_place = _spmm_columns(mean_pool_matrix(item, plan.output_index, 3, plan.nodes[-1].numel()), out)
    assert torch.allclose(gathered, in_place, atol=1e-6)

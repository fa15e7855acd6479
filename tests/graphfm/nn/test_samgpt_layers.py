"""Token-modulated GCN, propagation plans, task prompts and ego-network readouts (SAMGPT)."""
import pytest
import torch

from graphfm.errors import ConfigError
from graphfm.nn import (NormalizedAdjacency, TaskPrompts, TokenGCN, build_plan, ego_members, mean_pool_matrix,
                        spmm_batched)


def _graph(n: int = 40, e: int = 120, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, n, (2, e), generator=gen)
    ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    return torch.unique(ei, dim=1), n


def test_normalized_adjacency_matches_dense_formula():
    ei, n = _graph()
    dense = torch.zeros(n, n)
    dense[ei[0], ei[1]] = 1.0
    dense.fill_diagonal_(1.0)
    dinv = dense.sum(1).rsqrt()
    expected = dinv[:, None] * dense * dinv[None, :]
    assert torch.allclose(NormalizedAdjacency(ei, n).matrix().to_dense(), expected, atol=1e-6)


@pytest.mark.parametrize("placement", ["message", "output"])
def test_token_gcn_shapes_and_placement(placement):
    ei, n = _graph()
    torch.manual_seed(0)
    gcn = TokenGCN(8, hidden=16, num_layers=3, placement=placement)
    assert gcn.token_dims == ([8, 16, 16] if placement == "message" else [16, 16, 16])
    x = torch.randn(n, 8)
    adj = NormalizedAdjacency(ei, n).matrix()
    tokens = [torch.rand(d) + 0.5 for d in gcn.token_dims]
    out = gcn(x, adj, tokens)
    assert out.shape == (n, 16)
    # a batch of token settings: [N, B, D] in, one token per batch entry
    batched = gcn(x.unsqueeze(1).expand(-1, 2, -1).contiguous(), adj,
                  [torch.stack([t, torch.ones_like(t)]).unsqueeze(0) for t in tokens])
    assert batched.shape == (n, 2, 16)
    assert torch.allclose(batched[:, 0], out, atol=1e-5)
    assert torch.allclose(batched[:, 1], gcn(x, adj), atol=1e-5)


def test_message_placement_is_eq6():
    """Token ⊙ every neighbour message, then the shared weights (Eq. 6 of SAMGPT)."""
    ei, n = _graph()
    torch.manual_seed(0)
    gcn = TokenGCN(8, hidden=8, num_layers=1, placement="message", activation="relu")
    x, t = torch.randn(n, 8), torch.rand(8)
    adj = NormalizedAdjacency(ei, n).matrix().to_dense()
    expected = torch.relu(adj @ (x * t) @ gcn.lins[0].weight.T + gcn.lins[0].bias)
    assert torch.allclose(gcn(x, NormalizedAdjacency(ei, n).matrix(), [t]), expected, atol=1e-5)


def test_bad_gcn_options():
    with pytest.raises(ConfigError, match="placement"):
        TokenGCN(4, placement="edge")
    with pytest.raises(ConfigError, match="init"):
        TokenGCN(4, init="zeros")


def test_exact_plan_equals_full_forward_and_groups_are_independent():
    ei, n = _graph()
    adj = NormalizedAdjacency(ei, n)
    torch.manual_seed(0)
    gcn = TokenGCN(6, hidden=12, num_layers=3)
    x = torch.randn(n, 6)
    full = gcn(x, adj.matrix())
    seeds = torch.tensor([3, 7, 7, 30])
    plan = build_plan(adj, seeds, 3)
    agg1 = (adj.matrix() @ x)[plan.nodes[0]].unsqueeze(1)
    out = gcn.forward_plan(agg1, plan.adjs)[plan.output_index].squeeze(1)
    assert torch.allclose(out, full[seeds], atol=1e-5)
    # grouped: the same node in two groups gets two rows; a fan-out above the max degree is exact
    grouped = build_plan(adj, seeds, 3, groups=torch.tensor([0, 0, 1, 1]), fanout=10_000)
    assert grouped.nodes[-1].numel() == 4
    agg1 = (adj.matrix() @ x)[grouped.nodes[0]].unsqueeze(1)
    out = gcn.forward_plan(agg1, grouped.adjs)[grouped.output_index].squeeze(1)
    assert torch.allclose(out, full[seeds], atol=1e-5)


def test_sampled_plan_bounds_rows_and_is_unbiased():
    ei, n = _graph(60, 600)
    adj = NormalizedAdjacency(ei, n)
    x = torch.randn(n, 1, 4)
    seeds = torch.arange(10)
    exact = spmm_batched(adj.matrix(), x)[seeds]
    gen = torch.Generator().manual_seed(0)
    runs = []
    for _ in range(300):
        plan = build_plan(adj, seeds, 2, fanout=3, generator=gen)
        assert plan.adjs[0].shape[0] == 10 and plan.adjs[0].shape[1] <= 40
        runs.append(spmm_batched(plan.adjs[0], x[plan.nodes[0]])[plan.output_index])
    assert torch.allclose(torch.stack(runs).mean(0), exact, atol=0.1)


def test_task_prompts_shapes_and_initial_values():
    feats = torch.rand(3, 5)
    structs = [torch.rand(3, 5), torch.rand(3, 7)]
    prompts = TaskPrompts(4, feats, structs)
    assert prompts.feature_prompt().shape == (4, 5)
    assert [p.shape for p in prompts.holistic()] == [(4, 5), (4, 7)]
    assert [p.shape for p in prompts.specific()] == [(4, 5), (4, 7)]
    # before tuning every branch sees the average source domain
    assert torch.allclose(prompts.feature_prompt(), feats.mean(0).expand(4, -1))
    for hol, spe, src in zip(prompts.holistic(), prompts.specific(), structs):
        assert torch.allclose(hol, src.mean(0).expand_as(hol)) and torch.allclose(spe, hol)
    trainable = {name for name, p in prompts.named_parameters()}
    assert trainable == {"feature_holistic", "feature_mix", "structure_holistic.0", "structure_holistic.1",
                         "structure_mix"}


def test_ego_members_and_mean_pool():
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # a path 0-1-2-3
    adj = NormalizedAdjacency(ei, 4)
    item, node = ego_members(adj, torch.tensor([0, 2]), hops=1)
    assert item.tolist() == [0, 0, 1, 1, 1] and node.tolist() == [0, 1, 1, 2, 3]
    item2, node2 = ego_members(adj, torch.tensor([0]), hops=2)
    assert node2.tolist() == [0, 1, 2]
    pooled = mean_pool_matrix(item, torch.arange(5), 2, 5) @ torch.arange(4.0)[node].unsqueeze(1)
    assert torch.allclose(pooled.squeeze(1), torch.tensor([0.5, 2.0]))


def test_residual_plan_equals_full_graph():
    """A propagation plan of a residual GCN gives the full-graph rows exactly."""
    import torch

    from graphfm.data import synthetic_domain
    from graphfm.nn import NormalizedAdjacency, TokenGCN, build_plan, spmm_batched

    g = synthetic_domain(1)
    torch.manual_seed(0)
    gcn = TokenGCN(g.num_features, 8, 3, placement="output", init="xavier", residual=True)
    adj = NormalizedAdjacency(g.edge_index, g.num_nodes)
    x = g.x.float().unsqueeze(1)
    full = gcn.forward_plan(spmm_batched(adj.matrix(), x), [adj.matrix()] * 2).squeeze(1)
    seeds = torch.tensor([3, 40, 41, 700])
    plan = build_plan(adj, seeds, 3)
    agg1 = spmm_batched(adj.matrix(), x)[plan.nodes[0]]
    out = gcn.forward_plan(agg1, plan.adjs)[plan.output_index].squeeze(1)
    assert torch.allclose(out, full[seeds], atol=1e-5)

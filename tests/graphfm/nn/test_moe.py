"""Mixture of Experts: top-k routing, balance loss, training away from a collapsed router."""
import torch

from graphfm.nn.moe import MoE


def test_top_k_is_respected_and_output_mixes_chosen_experts():
    torch.manual_seed(0)
    moe = MoE(8, 6, num_experts=5, top_k=2, noisy_gating=False).eval()
    x = torch.randn(40, 8)
    routing = moe.route(x)
    assert ((routing.gates > 0).sum(-1) == 2).all()
    assert torch.allclose(routing.gates.sum(-1), torch.ones(40))
    chosen = torch.zeros(40, 5, dtype=torch.bool).scatter(1, routing.topk, True)
    assert torch.equal(chosen, routing.gates > 0)
    # the output is the gate-weighted sum of the chosen experts only
    out, loss, stats = moe(x)
    experts = torch.stack([torch.nn.functional.gelu(x @ moe.w1[e] + moe.b1[e]) @ moe.w2[e] + moe.b2[e]
                           for e in range(5)], dim=1)                      # [N, E, out]
    assert torch.allclose(out, (routing.gates.unsqueeze(-1) * experts).sum(1), atol=1e-5)
    assert torch.isclose(stats["expert_load"].sum(), torch.tensor(1.0))
    assert loss > 0


def test_noisy_gating_only_while_training():
    torch.manual_seed(0)
    moe = MoE(8, num_experts=4, top_k=1, noisy_gating=True)
    x = torch.randn(200, 8)
    moe.eval()
    assert torch.equal(moe.route(x).topk, moe.route(x).topk)
    moe.train()
    assert not torch.equal(moe.route(x).topk, moe.route(x).topk)


def test_balance_loss_decreases_on_a_skewed_toy():
    torch.manual_seed(0)
    moe = MoE(4, num_experts=4, top_k=1, noisy_gating=False)
    x = torch.randn(256, 4) + torch.tensor([3.0, 0.0, 0.0, 0.0])      # every token looks alike
    with torch.no_grad():                                                 # a router collapsed on expert 0
        moe.router.weight.zero_()
        moe.router.weight[0, 0] = 2.0
    _, first, stats = moe(x)
    assert stats["expert_load"][0] > 0.9 and first > 2.0                 # balanced routing scores 1
    opt = torch.optim.Adam(moe.router.parameters(), lr=0.05)
    for _ in range(100):
        _, loss, stats = moe(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, last, stats = moe(x)
    assert last < first - 0.5
    assert stats["expert_load"].max() < 0.9

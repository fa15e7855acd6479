import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from multimodal.ot import cosine_cost, ipot, ot_distance


def exact_ot(cost: np.ndarray) -> float:
    """Exact OT cost between uniform marginals by linear programming."""
    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]),
                  b_eq=np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)]), bounds=(0, None), method="highs")
    assert res.success
    return float(res.fun)


@pytest.mark.parametrize("n,m", [(4, 4), (5, 7), (6, 3)])
def test_ipot_plan_is_valid_and_near_the_exact_cost(n, m):
    torch.manual_seed(n * 10 + m)
    cost = torch.rand(1, n, m, dtype=torch.float64)
    plan = ipot(cost, beta=0.1, iters=300)
    assert (plan >= 0).all()
    assert torch.allclose(plan.sum(2), torch.full((1, n), 1 / n, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(plan.sum(1), torch.full((1, m), 1 / m, dtype=torch.float64), atol=1e-6)
    assert float(ot_distance(cost, plan)) == pytest.approx(exact_ot(cost[0].numpy()), abs=2e-3)


def test_ipot_on_a_permutation_recovers_the_matching():
    # cost 0 on a permutation, 1 elsewhere: the exact plan is the permutation / n with cost 0
    perm = torch.tensor([2, 0, 3, 1])
    cost = torch.ones(1, 4, 4)
    cost[0, torch.arange(4), perm] = 0.0
    plan = ipot(cost, beta=0.5, iters=100)
    assert torch.equal(plan[0].argmax(1), perm)
    assert float(ot_distance(cost, plan)) < 1e-3


def test_ipot_ignores_padding():
    torch.manual_seed(0)
    cost = torch.rand(2, 5, 3)
    x_valid = torch.tensor([[True] * 5, [True, True, True, False, False]])
    plan = ipot(cost, x_valid=x_valid, iters=100)
    assert (plan[1, 3:] == 0).all()
    assert torch.allclose(plan[1].sum(0), torch.full((3,), 1 / 3), atol=1e-5)
    assert torch.allclose(plan[1, :3].sum(1), torch.full((3,), 1 / 3), atol=1e-3)


def test_cosine_cost_range_and_gradient_flows_through_cost():
    x = torch.randn(2, 4, 8, requires_grad=True)
    y = torch.randn(2, 3, 8)
    cost = cosine_cost(x, y)
    assert cost.shape == (2, 4, 3) and (cost >= -1e-6).all() and (cost <= 2 + 1e-6).all()
    ot_distance(cost, ipot(cost)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0

"""Multi-domain contrastive pretraining objectives for SAMGPT."""
import pytest
import torch

from graphfm.data import synthetic_domain
from graphfm.errors import ConfigError
from graphfm.models.samgpt import SAMGPT
from graphfm.objectives import OBJECTIVES
from graphfm.objectives.contrastive import GraphContrastive


def _setup(seed: int = 0):
    graphs = [synthetic_domain(0), synthetic_domain(2)]
    torch.manual_seed(seed)
    model = SAMGPT(in_dims={g.domain: g.num_features for g in graphs}, hidden=16, align_dim=8)
    for g in graphs:
        model.aligner.fit(g.domain, g.x)
    return model, graphs


@pytest.mark.parametrize("variant", ["subgraph", "link", "dgi"])
def test_variants_sum_domains_and_train_tokens(variant):
    model, graphs = _setup()
    objective = GraphContrastive(model, variant=variant, num_samples=128, ortho_weight=0.1)
    out = objective(graphs)
    assert set(out) == {"contrastive_loss", "ortho_loss", "synthetic-0_term", "synthetic-2_term"}
    assert torch.allclose(out["contrastive_loss"], out["synthetic-0_term"] + out["synthetic-2_term"])
    (out["contrastive_loss"] + out["ortho_loss"]).backward()
    assert model.structure_tokens[1].grad is not None and model.structure_tokens[1].grad.abs().sum() > 0
    assert model.feature_tokens.grad[0].abs().sum() > 0 and model.feature_tokens.grad[1].abs().sum() > 0


def test_training_lowers_the_loss_and_is_seeded():
    def train(steps=8):
        model, graphs = _setup()
        objective = GraphContrastive(model, num_samples=64, seed=0)
        opt = torch.optim.Adam(objective.parameters(), lr=0.01)
        losses = []
        for _ in range(steps):
            loss = objective(graphs)["contrastive_loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    first, second = train(), train()
    assert first == second
    assert sum(first[-3:]) < sum(first[:3])


def test_registered_names_and_bad_options():
    assert OBJECTIVES.get("graph_contrastive") is GraphContrastive
    assert OBJECTIVES.get("samgpt_contrastive") is GraphContrastive
    model, _ = _setup()
    with pytest.raises(ConfigError, match="variant"):
        GraphContrastive(model, variant="infonce")
    with pytest.raises(ConfigError, match="temperature"):
        GraphContrastive(model, temperature=0.0)

"""Dual prompts on the UniGraph2 backbone (graphfm.adapt.unigraph2) and `graphfm adapt --dual-prompts`."""
import pytest
import torch

from graphfm.adapt import prototype_accuracy, sample_tasks
from graphfm.adapt.unigraph2 import DualPromptConfig, DualPrompts, DualPromptTuner
from graphfm.errors import ConfigError
from graphfm.models.unigraph2 import UniGraph2

MODS = {"feat": {"dim": 12, "encoder": {"name": "precomputed"}}}


def _target(n=90, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n // classes)
    x = torch.randn(n, 12, generator=gen) + 1.5 * torch.nn.functional.one_hot(y, 12).float()
    src = torch.randint(n, (400,), generator=gen)
    dst = torch.where(torch.rand(400, generator=gen) < 0.8, y[src] * (n // classes) +
                      torch.randint(n // classes, (400,), generator=gen), torch.randint(n, (400,), generator=gen))
    ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return {"feat": x}, {"feat": torch.ones(n, dtype=torch.bool)}, ei, y


def _model(domains=("s0", "s1")):
    torch.manual_seed(0)
    model = UniGraph2(MODS, hidden_dim=16, num_experts=2, top_k=1, heads=2, dropout=0.0, domains=list(domains))
    with torch.no_grad():
        model.domain_tokens.copy_(0.5 + torch.rand_like(model.domain_tokens))
    return model.eval()


def test_zero_steps_equal_the_frozen_embeddings():
    feats, masks, ei, y = _target()
    model = _model()
    tasks = sample_tasks(y, 2, 6, seed=0)
    frozen = prototype_accuracy(model.embed_features(feats, masks, ei), tasks)
    tuner = DualPromptTuner(model, feats, masks, ei, DualPromptConfig(steps=0, chunk=4))
    assert torch.allclose(tuner.run(tasks), frozen)


def test_tuning_moves_prompts_lowers_the_support_loss_and_is_deterministic():
    feats, masks, ei, y = _target()
    model = _model()
    tasks = sample_tasks(y, 3, 4, seed=1)
    cfg = DualPromptConfig(steps=15, lr=0.05, reg=0.0)
    tuner = DualPromptTuner(model, feats, masks, ei, cfg)
    prompts = tuner.tune(tasks, seed=0)
    start = DualPrompts(4, model.domain_tokens.detach())
    assert not torch.allclose(prompts.holistic, start.holistic)
    assert not torch.allclose(prompts.specific(), start.specific())
    assert torch.allclose(prompts.mix.softmax(-1).sum(-1), torch.ones(4, 2))
    # the backbone stays frozen
    assert all(not p.requires_grad for p in model.parameters())
    a, b = tuner.run(tasks, seed=3), tuner.run(tasks, seed=3)
    assert torch.equal(a, b) and a.shape == (4,)


def test_a_model_without_domain_tokens_is_refused():
    feats, masks, ei, _ = _target()
    with pytest.raises(ConfigError, match="domain"):
        DualPromptTuner(_model(domains=()), feats, masks, ei)
    with pytest.raises(ConfigError, match="steps"):
        DualPromptConfig(steps=-1)


def test_adapt_flag_runs_dual_prompts(tmp_path):
    from torch_geometric.data import Data

    from graphfm.adapt import run_adaptation

    feats, _, ei, y = _target()
    torch.save(Data(x=feats["feat"], edge_index=ei, y=y).to_dict(), tmp_path / "target.pt")
    model = _model()
    model.modalities["feat"]["field"] = "x"
    model.save_pretrained(tmp_path / "ckpt")
    out = run_adaptation(tmp_path / "ckpt", str(tmp_path / "target.pt"), shots=1, tasks=3, seeds=1, dual_prompts=True)
    assert out["n"] == 3 and len(out["accuracies"]) == 3 and 0 <= out["mean"] <= 100
    with pytest.raises(ConfigError, match="--task node"):
        run_adaptation(tmp_path / "ckpt", str(tmp_path / "target.pt"), task="graph", tasks=2, seeds=1,
                       dual_prompts=True)

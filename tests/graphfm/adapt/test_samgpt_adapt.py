"""SAMGPT prompt tuning: frozen backbone, batched tasks, determinism, the adapt entry point."""
import copy

import pytest
import torch

from graphfm.adapt import (PromptConfig, PromptTuner, frozen_embeddings_accuracy, raw_feature_accuracy,
                           run_adaptation, sample_tasks)
from graphfm.data import synthetic_domain
from graphfm.errors import ConfigError, DataError
from graphfm.models.samgpt import SAMGPT


@pytest.fixture(scope="module")
def model():
    graphs = [synthetic_domain(0), synthetic_domain(1)]
    torch.manual_seed(0)
    m = SAMGPT(in_dims={g.domain: g.num_features for g in graphs}, hidden=16, align_dim=8)
    for g in graphs:
        m.aligner.fit(g.domain, g.x)
    with torch.no_grad():  # distinct source tokens, as after pretraining
        m.feature_tokens.uniform_(0.5, 1.5)
        for tok in m.structure_tokens:
            tok.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def target():
    return synthetic_domain(3)


@pytest.mark.parametrize("level", ["node", "graph"])
def test_tuning_changes_prompts_only(model, target, level):
    before = copy.deepcopy(model.state_dict())
    tuner = PromptTuner(model, target, level, config=PromptConfig(steps=5, lr=0.05, fanout=5, ssl_steps=0))
    tasks = sample_tasks(target.y, 1, 6, seed=0, max_query=100)
    prompts = tuner.new_prompts(tasks.num_tasks)
    initial = copy.deepcopy(prompts.state_dict())
    losses = tuner.tune(prompts, tasks, torch.Generator().manual_seed(0))
    assert len(losses) == 5 and losses[-1] < losses[0]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(initial["structure_holistic.1"], prompts.structure_holistic[1].detach())
    assert not torch.equal(initial["feature_mix"], prompts.feature_mix.detach())
    acc = tuner.evaluate(prompts, tasks)
    assert acc.shape == (6,) and ((acc >= 0) & (acc <= 100)).all()


def test_grouped_and_shared_embeddings_agree(model, target):
    """Tuning (grouped rows per task) and evaluation (tasks as a batch) compute the same H."""
    for level in ("node", "graph"):
        tuner = PromptTuner(model, target, level, config=PromptConfig(fanout=None, ssl_steps=0))
        prompts = tuner.new_prompts(3)
        with torch.no_grad():
            for p in prompts.parameters():
                p.mul_(torch.rand_like(p) + 0.5)
        centres = torch.tensor([5, 17, 300, 999])
        task_ids = torch.tensor([0, 1, 2, 1])
        item, plan = tuner.grouped_plan(task_ids, centres)
        grouped = tuner.grouped_embeddings(prompts, item, plan, centres.numel())
        from graphfm.nn import build_plan

        item, seeds = tuner._members(centres, None)
        plan = build_plan(tuner.prepared.adj, seeds, 3)
        shared = tuner.shared_embeddings(prompts, plan, item, centres.numel(), slice(0, 3))     # [3, S, D]
        assert torch.allclose(grouped, shared[task_ids, torch.arange(4)], atol=1e-4)


def test_untuned_prompts_equal_frozen_prototypes(model, target):
    tasks = sample_tasks(target.y, 1, 8, seed=2, max_query=200)
    tuned = PromptTuner(model, target, "node", config=PromptConfig(steps=0, ssl_steps=0)).run(tasks)
    assert torch.allclose(tuned, frozen_embeddings_accuracy(model, target, tasks), atol=1e-3)


def test_seeded_runs_are_deterministic(model, target):
    cfg = PromptConfig(steps=3, fanout=4, chunk=4, ssl_steps=5)
    tasks = sample_tasks(target.y, 1, 6, seed=1, max_query=100)
    a = PromptTuner(model, target, "graph", config=cfg).run(tasks, seed=7)
    b = PromptTuner(model, target, "graph", config=cfg).run(tasks, seed=7)
    assert torch.equal(a, b)


def test_run_adaptation_contract(model, tmp_path, data_root):
    model.save_pretrained(tmp_path / "ckpt")
    out = run_adaptation(tmp_path / "ckpt", "synthetic-3", task="graph", shots=1, tasks=4, seeds=2, steps=2)
    assert set(out) == {"target", "task", "shots", "tasks", "seeds", "mean", "std", "n", "seconds", "accuracies"}
    assert out["n"] == 8 and len(out["accuracies"]) == 8 and out["task"] == "graph"
    frozen = run_adaptation(tmp_path / "ckpt", "MUTAG", task="graph", tasks=3, seeds=1, method="frozen",
                            data_root=str(data_root))
    assert frozen["n"] == 3 and 0 <= frozen["mean"] <= 100


def test_bad_inputs(model, tmp_path, target):
    model.save_pretrained(tmp_path / "ckpt")
    with pytest.raises(DataError, match="shots"):
        run_adaptation(tmp_path / "ckpt", "synthetic-3", shots=10_000, tasks=2, seeds=1)
    one_class = target.clone()
    one_class.y = torch.zeros_like(one_class.y)
    with pytest.raises(DataError, match="at least 2 classes"):
        from graphfm.adapt import adapt_model
        adapt_model(model, one_class, one_class.y, tasks=2, seeds=1)
    with pytest.raises(ConfigError, match="unknown adaptation option"):
        run_adaptation(tmp_path / "ckpt", "synthetic-3", tasks=2, seeds=1, stepz=3)
    with pytest.raises(ConfigError, match="task"):
        run_adaptation(tmp_path / "ckpt", "synthetic-3", task="edge", tasks=2, seeds=1)


def test_raw_feature_baseline(target):
    tasks = sample_tasks(target.y, 1, 5, seed=0)
    for level in ("node", "graph"):
        acc = raw_feature_accuracy(target, tasks, level)
        assert acc.shape == (5,) and (acc > 0).all()

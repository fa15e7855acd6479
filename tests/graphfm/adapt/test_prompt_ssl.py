"""Self-supervised prompts on the target, regularised few-shot tuning, dual-branch fusion."""
import copy

import torch

from graphfm.adapt import PromptConfig, PromptTuner, sample_tasks
from graphfm.data import synthetic_domain
from graphfm.models.samgpt import SAMGPT


def _model(branches="dual"):
    graphs = [synthetic_domain(0), synthetic_domain(1)]
    torch.manual_seed(0)
    m = SAMGPT(in_dims={g.domain: g.num_features for g in graphs}, hidden=16, align_dim=8, branches=branches,
               token_placement="output", residual=True, init="xavier", token_init="random")
    for g in graphs:
        m.aligner.fit(g.domain, g.x)
    return m


def test_self_supervised_stage_tunes_prompts_only_and_is_deterministic():
    target = synthetic_domain(3)
    runs = []
    for _ in range(2):
        model = _model()
        before = copy.deepcopy(model.state_dict())
        tuner = PromptTuner(model, target, "node", config=PromptConfig(steps=0, ssl_steps=15, ssl_patience=50))
        base = tuner.pretune()
        assert tuner.pretune() is base                            # computed once per tuner
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        runs.append((tuner.ssl_curve, {k: v.clone() for k, v in base.state_dict().items()}))
    (curve, state), (curve2, state2) = runs
    assert curve == curve2 and all(torch.equal(state[k], state2[k]) for k in state)
    assert len(curve) == 15 and min(curve) < curve[0]
    init = PromptTuner(_model(), target, "node").new_prompts(1).state_dict()
    assert not torch.equal(init["feature_holistic"], state["feature_holistic"])


def test_few_shot_stage_starts_from_the_ssl_prompts_and_regularisation_holds_them():
    target = synthetic_domain(3)
    model = _model()
    tuner = PromptTuner(model, target, "node", config=PromptConfig(ssl_steps=5))
    base = tuner.pretune()
    tasks = sample_tasks(target.y, 1, 4, seed=0, max_query=50)
    start = tuner.new_prompts(4, init=base)
    for p, q in zip(start.parameters(), base.parameters()):
        assert torch.equal(p, q.expand_as(p))
    moved = {}
    for reg in (0.0, 100.0):
        tuner.cfg.reg, tuner.cfg.lr, tuner.cfg.steps, tuner.cfg.patience = reg, 0.05, 10, 100
        prompts = tuner.new_prompts(4, init=base)
        tuner.tune(prompts, tasks, torch.Generator().manual_seed(0))
        moved[reg] = sum(float((p - q).detach().abs().sum()) for p, q in zip(prompts.parameters(), start.parameters()))
    assert 0 < moved[100.0] < moved[0.0]


def test_full_graph_embeddings_match_the_evaluation_path():
    target = synthetic_domain(3)
    for branches in ("single", "dual"):
        tuner = PromptTuner(_model(branches), target, "node", config=PromptConfig(fanout=None))
        prompts = tuner.new_prompts(1)
        with torch.no_grad():
            for p in prompts.parameters():
                p.mul_(torch.rand_like(p) + 0.5)
            full = tuner.full_embeddings(prompts)
        centres = torch.tensor([2, 50, 600])
        item, plan = tuner.grouped_plan(torch.zeros(3, dtype=torch.long), centres)
        with torch.no_grad():
            grouped = tuner.grouped_embeddings(prompts, item, plan, 3)
        assert torch.allclose(grouped, full[centres], atol=1e-5), branches


def test_large_targets_train_the_ssl_stage_on_sampled_batches():
    target = synthetic_domain(3)
    model = _model()
    before = copy.deepcopy(model.state_dict())
    tuner = PromptTuner(model, target, "node",
                        config=PromptConfig(steps=0, ssl_steps=8, ssl_batch=200, ssl_fanout=3, ssl_patience=50))
    base = tuner.pretune()
    assert len(tuner.ssl_curve) == 8 and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not torch.equal(base.feature_holistic, tuner.new_prompts(1).feature_holistic)

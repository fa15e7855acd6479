"""UNITER: one task sampled per batch by its ratios, true-negative ITM pairs, region files."""
import numpy as np
import pytest
import torch

from graphfm.errors import ConfigError, DataError
from graphfm.objectives import OBJECTIVES, total_loss


def uniter(make_model, digits, **kwargs):
    model = make_model({"text": digits.specs["text"], "regions": digits.specs["regions"]})
    return OBJECTIVES.get("uniter")(model, num_region_classes=4, ot_iters=10, **kwargs)


def test_task_sampling_follows_the_ratios(make_model, digits):
    ratios = {"mlm": 3.0, "mrfr": 1.0, "mrc": 0.0, "mrc_kl": 2.0, "itm": 4.0}
    objective = uniter(make_model, digits, task_ratios=ratios)
    torch.manual_seed(0)
    draws = [objective.sample_task() for _ in range(5000)]
    share = {t: draws.count(t) / len(draws) for t in ratios}
    for task, ratio in ratios.items():
        assert abs(share[task] - ratio / 10) < 0.03, share
    assert share["mrc"] == 0.0
    with pytest.raises(ConfigError, match="task_ratios"):
        uniter(make_model, digits, task_ratios={"wra": 1.0})
    with pytest.raises(ConfigError, match="task_ratios"):
        uniter(make_model, digits, task_ratios={t: 0.0 for t in ratios})


def test_one_task_per_batch_and_every_task_trains(make_model, digits, digit_batch):
    objective = uniter(make_model, digits, task_ratios={"mlm": 1, "mrfr": 1, "mrc": 1, "mrc_kl": 1, "itm": 1})
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        losses = {k for k in objective(digit_batch) if k.endswith("_loss")}
        assert len(losses - {"wra_loss"}) == 1, losses  # one task (ITM carries WRA)
        seen |= losses
    assert seen == {"mlm_loss", "mrfr_loss", "mrc_loss", "mrc_kl_loss", "itm_loss", "wra_loss"}
    opt = torch.optim.AdamW(objective.parameters(), lr=3e-3)
    tasks = ("mlm", "mrfr", "mrc_kl", "itm")

    def all_tasks():
        torch.manual_seed(1)
        return total_loss({k: v for t in tasks for k, v in objective.forward_task(digit_batch, t).items()
                           if k != "wra_loss"})

    before = all_tasks().item()
    torch.manual_seed(0)
    for _ in range(80):
        loss = total_loss(objective(digit_batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all_tasks().item() < 0.8 * before
    assert objective.match_logits(digit_batch["text"], digit_batch["regions"]).shape == (16, 2)
    with pytest.raises(DataError, match="needs batch key 'regions'"):
        objective({"text": digit_batch["text"]})
    with pytest.raises(DataError, match="soft labels"):
        objective.forward_task({k: digit_batch[k] for k in ("text", "regions")}, "mrc_kl")


def test_itm_negatives_never_match_and_include_same_digit_other_caption():
    from multimodal.objectives.uniter import UNITER

    torch.manual_seed(0)
    content = torch.tensor([0, 0, 1, 1, 2, 2, 3, 5])  # e.g. digit * 3 + stroke: 3 and 5 are the same digit
    hits = torch.zeros(8, 8)
    for _ in range(200):
        partner, ok = UNITER.negatives(content)
        assert ok.all() and (content[partner] != content).all()
        hits[torch.arange(8), partner] += 1
    assert hits[6, 7] > 0 and hits[7, 6] > 0  # random negatives, not "another class" only
    partner, ok = UNITER.negatives(torch.zeros(4, dtype=torch.long))
    assert not ok.any()
    rows = torch.tensor([[1, 2], [1, 2], [1, 3]])  # without content ids: equal captions are not negatives
    partner, _ = UNITER.negatives(rows)
    assert partner[0] == 2 and partner[1] == 2


def test_region_file_is_the_uniter_input(tmp_path, make_model):
    from multimodal.data import load_multimodal

    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 1, (12, 5, 4)), -1)
    path = tmp_path / "regions.npz"
    np.savez(path, features=rng.normal(size=(12, 5, 10)).astype(np.float32), boxes=boxes,
             captions=np.array([f"a photo of item {i % 4}" for i in range(12)]))
    data = load_multimodal(str(path), max_length=8, num_region_classes=3)
    assert data.tensors["regions"].shape == (12, 5, 14) and data.tensors["region_soft"].shape == (12, 5, 3)
    assert data.tensors["content"].tolist() == [0, 1, 2, 3] * 3
    model = make_model({"text": data.specs["text"], "regions": data.specs["regions"]})
    objective = OBJECTIVES.get("uniter")(model, num_region_classes=3, ot_iters=5)
    assert torch.isfinite(total_loss(objective.forward_task(data.tensors, "itm")))
    np.savez(path, features=np.zeros((12, 5, 10)), boxes=boxes * 100, captions=np.array(["x"] * 12))
    with pytest.raises(DataError, match="normalised to \\[0, 1\\]"):
        load_multimodal(str(path))
    np.savez(path, features=np.zeros((12, 5, 10)))
    with pytest.raises(DataError, match="lacks \\['boxes', 'captions'\\]"):
        load_multimodal(str(path))

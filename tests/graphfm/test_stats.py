import math

import pytest
import torch

from graphfm.stats import paired_difference, summarise


def test_summarise_uses_the_sample_std():
    out = summarise([1.0, 2.0, 3.0, 4.0], seconds=1.23456)
    assert out["mean"] == 2.5 and out["n"] == 4 and out["seconds"] == 1.235
    assert out["std"] == pytest.approx(1.2910, abs=1e-4)          # ddof 1, not 1.1180 (ddof 0)
    assert out["accuracies"] == [1.0, 2.0, 3.0, 4.0]
    assert summarise([5.0])["std"] == 0.0


def test_paired_difference_interval_matches_a_t_test():
    from scipy import stats

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(50, generator=gen) * 10
    b = a - 1.0 + torch.randn(50, generator=gen)
    out = paired_difference(a, b)
    test = stats.ttest_rel(a.numpy(), b.numpy())
    ci = test.confidence_interval(0.95)
    assert out["n"] == 50
    assert out["diff"] == pytest.approx(float((a - b).mean()))
    assert out["low"] == pytest.approx(ci.low) and out["high"] == pytest.approx(ci.high)
    assert 0.0 <= out["wins"] <= 1.0


def test_paired_difference_rejects_unpaired_series():
    with pytest.raises(ValueError, match="same tasks"):
        paired_difference([1.0, 2.0], [1.0])
    assert math.isinf(paired_difference([1.0], [0.0])["high"])


def test_effective_rank_and_mean_cosine_detect_collapse():
    from graphfm.stats import effective_rank, mean_cosine

    gen = torch.Generator().manual_seed(0)
    iso = torch.randn(2000, 8, generator=gen)
    assert effective_rank(iso) > 7.5 and abs(mean_cosine(iso)) < 0.05
    collapsed = torch.randn(2000, 1, generator=gen) @ torch.ones(1, 8) + 5.0
    assert effective_rank(collapsed) < 1.5 and mean_cosine(collapsed) > 0.9


def test_format_interval_writes_signed_difference_and_bounds():
    from graphfm.stats import format_interval

    d = {"diff": 1.234, "low": -0.456, "high": 2.0}
    assert format_interval(d) == "+1.23 [-0.46, +2.00]"
    assert format_interval(d, 4, sep=" | ") == "+1.2340 | [-0.4560, +2.0000]"

import pytest
import torch

from graphfm.errors import ConfigError, DataError
from multimodal.masking import (allocate_exact, dirichlet_masks, gather_tokens, masked_mean, random_visible,
                                scatter_tokens, visible_indices)


@pytest.mark.parametrize("alpha", [0.05, 0.5, 1.0, 10.0])
@pytest.mark.parametrize("num_visible", [1, 7, 16, 30])
def test_dirichlet_masks_keep_exactly_the_requested_tokens(alpha, num_visible):
    torch.manual_seed(0)
    masks = dirichlet_masks([16, 10, 6], num_visible, alpha, batch_size=64)
    assert [m.shape for m in masks] == [(64, 16), (64, 10), (64, 6)]
    assert (torch.cat(masks, 1).sum(1) == num_visible).all()


def test_small_alpha_concentrates_and_respects_capacity():
    torch.manual_seed(0)
    masks = dirichlet_masks([4, 4, 4], 6, alpha=0.01, batch_size=200)
    counts = torch.stack([m.sum(1) for m in masks], 1)
    assert (counts <= 4).all() and (counts.sum(1) == 6).all()
    # nearly one-hot proportions: one modality full (4 of 4), the rest spread over the others
    assert (counts.max(1).values == 4).float().mean() > 0.9
    spread = dirichlet_masks([4, 4, 4], 6, alpha=100.0, batch_size=200)
    assert (torch.stack([m.sum(1) for m in spread], 1) == 2).float().mean() > 0.8


def test_padding_tokens_are_never_visible():
    torch.manual_seed(0)
    valid = torch.zeros(8, 10, dtype=torch.bool)
    valid[:, :5] = True
    masks = dirichlet_masks([10, 4], 7, 1.0, 8, valid=[valid, None])
    assert not (masks[0] & ~valid).any()
    assert (masks[0].sum(1) + masks[1].sum(1) == 7).all()


def test_allocation_beyond_capacity_is_a_clear_error():
    with pytest.raises(DataError, match="cannot keep 9 visible tokens"):
        allocate_exact(torch.full((2, 2), 0.5), 9, torch.tensor([4, 4]))
    with pytest.raises(ConfigError, match="alpha"):
        dirichlet_masks([4], 2, alpha=0.0, batch_size=1)


def test_allocate_exact_rounds_by_largest_remainder():
    counts = allocate_exact(torch.tensor([[0.5, 0.3, 0.2]]), 7, torch.tensor([10, 10, 10]))
    assert counts.tolist() == [[4, 2, 1]]  # 3.5, 2.1, 1.4 -> floors 3,2,1 + the largest remainder


def test_gather_scatter_round_trip():
    torch.manual_seed(0)
    x = torch.randn(3, 9, 5)
    visible = random_visible(torch.full((3,), 4), 9)
    ids = visible_indices(visible)
    assert ids.shape == (3, 4) and (ids.diff(dim=1) > 0).all()
    kept = gather_tokens(x, ids)
    back = scatter_tokens(kept, ids, 9, torch.zeros(5))
    assert torch.equal(back[visible], x[visible]) and (back[~visible] == 0).all()
    with pytest.raises(DataError, match="same number"):
        visible_indices(torch.tensor([[True, False], [True, True]]))


def test_masked_mean_counts_only_masked():
    values = torch.tensor([[1.0, 100.0], [3.0, 100.0]])
    assert masked_mean(values, torch.tensor([[True, False], [True, False]])) == 2.0


@pytest.mark.parametrize("alpha", [0.2, 1.0, 5.0])
def test_sample_dirichlet_matches_dirichlet_moments(alpha):
    from multimodal.masking import sample_dirichlet

    torch.manual_seed(0)
    w = sample_dirichlet(20000, 3, alpha)
    assert torch.allclose(w.sum(1), torch.ones(20000), atol=1e-5)
    expected_var = (1 / 3) * (2 / 3) / (3 * alpha + 1)
    assert w.mean(0).sub(1 / 3).abs().max() < 0.01
    assert w.var(0).mean().item() == pytest.approx(expected_var, rel=0.05)

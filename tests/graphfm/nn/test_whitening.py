"""SourceWhitening: running per-domain statistics, W = C^-alpha, identity without statistics."""
import pytest
import torch

from graphfm.errors import ConfigError
from graphfm.nn.whitening import SourceWhitening


def _data(n=400, d=6, seed=0, scale=(5.0, 1.0)):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    x[:, 0] *= scale[0]                       # one dominant direction
    x[:, 1:] *= scale[1]
    return x


def test_identity_without_statistics_or_at_alpha_zero():
    layer = SourceWhitening(6, num_domains=2)
    x = _data()
    assert torch.equal(layer(x), x)
    layer.observe(x, torch.zeros(len(x), dtype=torch.long))
    assert torch.allclose(layer.matrix(0.0), torch.eye(6))


def test_matrix_is_the_floored_inverse_power_of_the_mean_domain_moment():
    layer = SourceWhitening(6, num_domains=2, alpha=0.25)
    a, b = _data(seed=0), _data(seed=1, scale=(1.0, 2.0))
    layer.observe(torch.cat([a, b]), torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long())
    cov = (a.double().t() @ a.double() / len(a) + b.double().t() @ b.double() / len(b)) / 2
    assert torch.allclose(layer.covariance(), cov)
    e, u = torch.linalg.eigh(cov)
    e = e.clamp_min(0) + 1e-3 * e.max()
    ref = (u * e.pow(-0.25)) @ u.t()
    ref = (ref / torch.linalg.matrix_norm(ref, 2)).float()
    assert torch.allclose(layer.matrix(), ref, atol=1e-6)
    assert torch.allclose(layer.matrix(), layer.matrix().t(), atol=1e-6)
    # one domain only: its own moment
    assert torch.allclose(layer.covariance([1]), b.double().t() @ b.double() / len(b))


def test_whitening_flattens_the_dominant_direction():
    layer = SourceWhitening(6, num_domains=1, alpha=0.5)
    x = _data()
    layer.observe(x)
    y = layer(x)
    before = torch.linalg.eigvalsh(x.t() @ x)
    after = torch.linalg.eigvalsh(y.t() @ y)
    assert after.max() / after.min() < 0.2 * before.max() / before.min()


def test_statistics_survive_a_state_dict_round_trip_and_refresh_the_cache():
    layer = SourceWhitening(6, num_domains=1)
    layer.observe(_data())
    w = layer.matrix().clone()
    fresh = SourceWhitening(6, num_domains=1)
    assert torch.allclose(fresh.matrix(), torch.eye(6))          # cached identity ...
    fresh.load_state_dict(layer.state_dict())
    assert torch.allclose(fresh.matrix(), w)                     # ... replaced on load


def test_alpha_out_of_range_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"alpha must be in \[0, 0.5\]"):
        SourceWhitening(4, alpha=0.7)
    with pytest.raises(ConfigError, match="alpha"):
        SourceWhitening(4).matrix(alpha=-0.1)

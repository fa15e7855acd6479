"""FeatureAligner: shapes, determinism, state round trip, small inputs, errors."""
import pytest
import torch

from graphfm.data import FeatureAligner, load_dataset
from graphfm.data import align as align_mod
from graphfm.errors import DataError


def _low_rank(n, f, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=gen) @ torch.randn(8, f, generator=gen) * 3 + \
        0.1 * torch.randn(n, f, generator=gen) + 5.0


def test_shapes_centring_and_scale():
    x = _low_rank(400, 300)
    z = FeatureAligner(dim=50).fit_transform("a", x)
    assert z.shape == (400, 50)
    assert torch.allclose(z.mean(0), torch.zeros(50), atol=1e-4)
    assert z.var(0, unbiased=False).mean().item() == pytest.approx(1.0, abs=1e-3)
    assert z.var(0)[0] > z.var(0)[-1]  # relative variances kept (no whitening)
    zw = FeatureAligner(dim=50, whiten=True).fit_transform("a", x)
    assert torch.allclose(zw.var(0, unbiased=False), torch.ones(50), atol=1e-3)


def test_deterministic_and_sign_fixed():
    x = _low_rank(600, 400)  # randomised SVD path
    z1 = FeatureAligner(dim=20).fit_transform("a", x)
    z2 = FeatureAligner(dim=20).fit_transform("a", x)
    assert torch.equal(z1, z2)
    comps = FeatureAligner(dim=20).fit("a", x).projections["a"].components
    assert (comps.gather(0, comps.abs().argmax(0, keepdim=True)) > 0).all()


def test_randomised_matches_exact_subspace():
    x = _low_rank(600, 400)
    mean = x.mean(0)
    exact = align_mod._svd_vh(x - mean)[:8].T
    approx = align_mod._randomised(x, mean, 8, seed=0, niter=6)
    assert torch.linalg.svdvals(exact.T @ approx).min() > 0.999


def test_state_roundtrip_transforms_identically():
    x = _low_rank(300, 120)
    fitted = FeatureAligner(dim=16).fit("src.v1", x)
    rebuilt = FeatureAligner(dim=16, domain_dims=fitted.domain_dims)
    assert not rebuilt.is_fitted("src.v1")
    rebuilt.load_state_dict(fitted.state_dict())  # strict
    assert rebuilt.is_fitted("src.v1")
    assert torch.equal(rebuilt.transform(x, "src.v1"), fitted.transform(x, "src.v1"))
    assert set(fitted.tensors()) == {f"src_v1.{k}" for k in ("mean", "components", "scale", "fitted")}
    sub = x[:17]  # a new graph of a fitted domain uses the stored projection
    assert torch.allclose(fitted.transform(sub, "src.v1"), fitted.transform(x, "src.v1")[:17], atol=1e-5)


def test_few_features_and_few_nodes_are_zero_padded():
    z = FeatureAligner(dim=50).fit_transform("small", _low_rank(100, 7))
    assert z.shape == (100, 50) and torch.count_nonzero(z[:, 7:]) == 0
    z = FeatureAligner(dim=50).fit_transform("tiny", _low_rank(10, 80))
    assert z.shape == (10, 50) and torch.count_nonzero(z[:, 10:]) == 0
    assert torch.isfinite(FeatureAligner(dim=4).fit_transform("one", torch.ones(1, 3))).all()


def test_unseen_target_is_aligned_on_the_fly_without_storing():
    aligner = FeatureAligner(dim=12).fit("src", _low_rank(200, 60))
    target = _low_rank(150, 33, seed=1)
    z = aligner.transform(target, "target")
    assert z.shape == (150, 12) and "target" not in aligner.domain_dims
    assert torch.equal(z, FeatureAligner(dim=12).fit_transform("t", target))


def test_clear_errors():
    aligner = FeatureAligner(dim=8).fit("a", _low_rank(50, 20))
    with pytest.raises(DataError, match="fitted on 20 features"):
        aligner.transform(torch.randn(5, 21), "a")
    with pytest.raises(DataError, match="allocated for 20 features"):
        aligner.fit("a", torch.randn(5, 21))
    with pytest.raises(DataError, match="at least one node"):
        aligner.transform(torch.zeros(0, 4))
    with pytest.raises(DataError, match="NaN"):
        aligner.transform(torch.full((3, 3), float("nan")))


def test_real_domains(data_root):
    aligner = FeatureAligner(dim=50)
    for name in ("Cora", "LastFMAsia"):
        z = aligner.fit_transform(name, load_dataset(name, data_root).x)
        assert z.shape[1] == 50 and torch.isfinite(z).all()
    assert aligner.domain_dims == {"Cora": 1433, "LastFMAsia": 11}


def test_gram_path_for_many_rows_matches_the_svd(monkeypatch):
    """Large graphs take the Gram eigendecomposition; it gives the SVD's projection."""
    import graphfm.data.align as align

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 12, generator=gen) @ torch.randn(12, 12, generator=gen) + 3.0
    aligner = align.FeatureAligner(6)
    mean, comps, scale = aligner.compute(x)
    expected = aligner.transform(x)
    monkeypatch.setattr(align, "GRAM_MIN_ROWS", 1000)
    mean_g, comps_g, scale_g = aligner.compute(x)
    torch.testing.assert_close(comps_g, comps, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(scale_g, scale, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(aligner.transform(x), expected, atol=1e-4, rtol=1e-4)


def _ring_graph(n=200, seed=0):
    """Features with one smooth direction (a slow wave along a ring) hidden among noise."""
    gen = torch.Generator().manual_seed(seed)
    ring = torch.arange(n)
    edge_index = torch.cat([torch.stack([ring, (ring + 1) % n]), torch.stack([(ring + 1) % n, ring])], dim=1)
    wave = torch.sin(2 * torch.pi * ring.float() / n)
    x = torch.randn(n, 12, generator=gen)
    x[:, 0] *= 3.0                              # the largest variance: noise
    x[:, 5] += 2.0 * wave                       # the smoothest direction
    return x, edge_index, wave


def test_smoothness_order_is_unit_variance_sorted_and_basis_free():
    from graphfm.nn.propagation import NormalizedAdjacency

    x, ei, wave = _ring_graph()
    z = FeatureAligner(6, order="smoothness").fit_transform("ring", x, ei)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(6), atol=1e-3)
    energy = (z * (z - NormalizedAdjacency(ei, x.size(0)).rows_product(0, x.size(0), z))).mean(0)
    assert bool((energy[1:] >= energy[:-1] - 1e-5).all())                  # smoothest first
    assert abs(torch.corrcoef(torch.stack([z[:, 0], wave]))[0, 1]) > 0.5  # the hidden wave is column 0
    assert torch.corrcoef(torch.stack([FeatureAligner(6).fit_transform("ring", x)[:, 0], wave]))[0, 1].abs() < 0.5
    q, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    rotated = FeatureAligner(6, order="smoothness").fit_transform("ring", (x.double() @ q).float(), ei)
    assert torch.allclose(rotated, z, atol=1e-3)                           # the raw basis does not matter


def test_smoothness_order_needs_edges_and_a_known_order():
    x, ei, _ = _ring_graph()
    with pytest.raises(DataError, match="edge_index"):
        FeatureAligner(4, order="smoothness").fit("ring", x)
    with pytest.raises(DataError, match="valid: variance, smoothness"):
        FeatureAligner(4, order="spectral")
    unseen = FeatureAligner(4, order="smoothness").transform(x, edge_index=ei)
    assert unseen.shape == (200, 4) and torch.isfinite(unseen).all()


def test_pc_smoothness_reorders_the_principal_components():
    x, ei, wave = _ring_graph()
    by_variance = FeatureAligner(6).fit_transform("ring", x)
    z = FeatureAligner(6, order="pc_smoothness").fit_transform("ring", x, ei)
    assert torch.allclose(z.std(0).sort().values, by_variance.std(0).sort().values, atol=1e-4)
    corr = torch.corrcoef(torch.cat([z, by_variance], dim=1).T)[:6, 6:].abs()
    assert torch.allclose(corr.max(1).values, torch.ones(6), atol=1e-4)         # the same columns, reordered
    assert abs(torch.corrcoef(torch.stack([z[:, 0], wave]))[0, 1]) > 0.5
    q, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    rotated = FeatureAligner(6, order="pc_smoothness").fit_transform("ring", (x.double() @ q).float(), ei)
    assert torch.allclose(rotated, z, atol=1e-3)


@pytest.mark.parametrize("order", ["smoothness", "pc_smoothness"])
def test_smoothness_orders_on_rank_deficient_features(order):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=gen) @ torch.randn(5, 40, generator=gen)     # rank 5
    _, ei, _ = _ring_graph()
    z = FeatureAligner(20, order=order).fit_transform("low", x, ei)
    std = z.std(0, unbiased=False)
    assert bool((std[:5] > 0.5).all()) and bool((std[5:] < 1e-3).all())         # real columns first
    assert torch.isfinite(z).all()

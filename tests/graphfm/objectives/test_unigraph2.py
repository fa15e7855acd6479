"""UniGraph2 objective: SCE, SPD targets vs scipy, masked reconstruction learns, bounded memory."""
import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from graphfm.models.unigraph2 import UniGraph2
from graphfm.objectives import OBJECTIVES, total_loss
from graphfm.objectives.unigraph2 import UniGraph2Objective, sample_spd_pairs, scaled_cosine_error


def _random_batch(sizes=(12, 20, 9), p=0.15, seed=0, dims=(10, 6)):
    """Disjoint random graphs (a sorted ``batch`` vector) with two modalities."""
    gen = torch.Generator().manual_seed(seed)
    edges, batch, offset = [], [], 0
    for g, n in enumerate(sizes):
        adj = torch.rand(n, n, generator=gen) < p
        adj = torch.triu(adj, diagonal=1)
        ei = adj.nonzero().t()
        edges.append(torch.cat([ei, ei.flip(0)], dim=1) + offset)
        batch.append(torch.full((n,), g))
        offset += n
    n = offset
    feats = {"a": torch.randn(n, dims[0], generator=gen), "b": torch.randn(n, dims[1], generator=gen)}
    masks = {"a": torch.ones(n, dtype=torch.bool), "b": torch.rand(n, generator=gen) < 0.6}
    return {"feats": feats, "masks": masks, "edge_index": torch.cat(edges, dim=1), "batch": torch.cat(batch)}


def _model(dims=(10, 6)):
    torch.manual_seed(0)
    mods = {"a": {"dim": dims[0], "encoder": {"name": "precomputed"}},
            "b": {"dim": dims[1], "encoder": {"name": "precomputed"}}}
    return UniGraph2(mods, hidden_dim=32, num_experts=4, top_k=2, heads=4, dropout=0.0)


def test_scaled_cosine_error():
    x = torch.randn(5, 7)
    assert scaled_cosine_error(x, 3 * x).item() == pytest.approx(0.0, abs=1e-6)
    assert scaled_cosine_error(x, -x, gamma=1.0).item() == pytest.approx(2.0, abs=1e-5)
    assert scaled_cosine_error(x, -x, gamma=3.0).item() == pytest.approx(8.0, abs=1e-4)
    assert scaled_cosine_error(x[:0], x[:0]).item() == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spd_targets_match_scipy(seed):
    batch = _random_batch(seed=seed)
    n, cutoff = batch["batch"].numel(), 3
    ei = batch["edge_index"]
    adj = coo_matrix((np.ones(ei.size(1)), (ei[0].numpy(), ei[1].numpy())), shape=(n, n))
    ref = shortest_path(adj, unweighted=True, directed=False)
    src, dst, dist = sample_spd_pairs(ei, n, batch["batch"], num_sources=20, pairs_per_source=15, cutoff=cutoff,
                                      generator=torch.Generator().manual_seed(seed))
    assert src.shape == dst.shape == dist.shape == (300,)
    assert torch.equal(batch["batch"][src], batch["batch"][dst])          # pairs stay inside a subgraph
    expected = np.minimum(ref[src.numpy(), dst.numpy()], cutoff + 1)      # inf (unreachable) -> cutoff + 1
    assert np.array_equal(dist.numpy(), expected.astype(np.int64))
    assert (dist <= cutoff).any() and len(set(dist.tolist())) > 2


def test_objective_outputs_and_registry():
    assert OBJECTIVES.get("unigraph2") is UniGraph2Objective
    torch.manual_seed(0)
    obj = UniGraph2Objective(_model(), mask_rate=0.4, spd_sources=8, spd_pairs_per_source=4)
    out = obj(_random_batch())
    assert {"recon_loss", "spd_loss", "moe_loss"} <= set(out)
    assert {"expert_load_max", "router_entropy", "recon_a", "recon_b", "spd_mae"} <= set(out)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["mask_share"].item() == pytest.approx(0.4, abs=0.03)
    total_loss(out).backward()
    assert obj.model.mask_token.grad is not None and obj.decoders["b"][-1].weight.grad is not None


@pytest.mark.parametrize("decoder", ["gnn", "mlp"])
def test_masked_reconstruction_lowers_its_loss(decoder):
    torch.manual_seed(0)
    obj = UniGraph2Objective(_model(), mask_rate=0.5, spd_weight=0.0, decoder=decoder)
    batch = _random_batch(sizes=(40, 40, 40), p=0.1)
    # features shared within each subgraph (plus noise): a masked node is predictable from its neighbours
    gen = torch.Generator().manual_seed(1)
    for name, x in batch["feats"].items():
        centres = torch.randn(3, x.size(1), generator=gen)
        batch["feats"][name] = centres[batch["batch"]] + 0.1 * torch.randn(x.shape, generator=gen)
    opt = torch.optim.Adam(obj.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = obj(batch)
        opt.zero_grad()
        total_loss(out).backward()
        opt.step()
        losses.append(out["recon_loss"].item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_bad_options():
    from graphfm.errors import ConfigError

    with pytest.raises(ConfigError, match="mask_rate"):
        UniGraph2Objective(_model(), mask_rate=1.0)
    with pytest.raises(ConfigError, match="decoder"):
        UniGraph2Objective(_model(), decoder="transformer")


def test_nodes_without_any_modality_train_without_nan():
    batch = _random_batch()
    batch["masks"]["a"][:5] = False
    batch["masks"]["b"][:5] = False
    batch["feats"]["a"][:5] = float("nan")
    obj = UniGraph2Objective(_model(), spd_sources=8, spd_pairs_per_source=4)
    loss = total_loss(obj(batch))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in obj.parameters() if p.grad is not None)

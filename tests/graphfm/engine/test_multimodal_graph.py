"""The multimodal_graphs data module, UniGraph2's configs through the engine, and bounded SPD memory."""
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

import graphfm.engine.datamodules.multimodal_graph  # noqa: F401  (registers multimodal_graphs)
from graphfm.config import check_kwargs, load_experiment
from graphfm.engine import pretrain
from graphfm.engine.datamodules.base import DATAMODULES
from graphfm.engine.datamodules.multimodal_graph import MultimodalGraphsDataModule
from graphfm.errors import ConfigError
from graphfm.models import MODELS, PretrainedModel
from graphfm.objectives import OBJECTIVES, total_loss
from graphfm.objectives.unigraph2 import UniGraph2Objective

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "unigraph2"


def _write_graph(path, n, dim, seed, shared=False):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(n, (2, 4 * n), generator=gen)
    data = Data(x=torch.randn(n, dim, generator=gen), edge_index=ei, y=torch.randint(3, (n,), generator=gen))
    if shared:   # a second modality that only the first half of the nodes has
        data.extra = torch.randn(n, 5, generator=gen)
        data.extra_mask = torch.arange(n) < n // 2
    torch.save(data.to_dict(), path)
    return str(path)


@pytest.fixture
def two_graphs(tmp_path):
    return [_write_graph(tmp_path / "ga.pt", 300, 12, 0, shared=True), _write_graph(tmp_path / "gb.pt", 200, 7, 1)]


def _module(graphs, tmp_path, **kw):
    mods = {"fa": {"encoder": {"name": "precomputed"}, "domains": ["ga"]},
            "fb": {"encoder": {"name": "precomputed"}, "domains": ["gb"]},
            "extra": {"encoder": {"name": "precomputed"}, "field": "extra"}}
    kw.setdefault("subgraph_size", 16)
    dm = MultimodalGraphsDataModule(graphs=[{"name": graphs[0], "weight": 3.0}, graphs[1]], modalities=mods,
                                    subgraphs_per_batch=8, cache_dir=str(tmp_path / "cache"), progress=False, **kw)
    dm.setup()
    return dm


@pytest.mark.parametrize("sampler", ["ppr", "khop"])
def test_batches_hold_subgraphs_with_modality_masks(two_graphs, tmp_path, sampler):
    assert DATAMODULES.get("multimodal_graphs") is MultimodalGraphsDataModule
    dm = _module(two_graphs, tmp_path, sampler=sampler, hops=1, max_degree=4)
    assert dm.spec["modalities"]["fa"]["dim"] == 12 and dm.spec["modalities"]["fb"]["dim"] == 7
    assert dm.spec["modalities"]["extra"]["dim"] == 5 and dm.spec["domains"] == ["ga", "gb"]
    batch = dm.sample_batch(0)
    n = batch["batch"].numel()
    assert set(batch["feats"]) == set(batch["masks"]) and batch["domain"].shape == (n,)
    assert (batch["batch"][1:] >= batch["batch"][:-1]).all() and int(batch["batch"].max()) == 7
    ei = batch["edge_index"]
    assert torch.equal(batch["batch"][ei[0]], batch["batch"][ei[1]])          # no edge between subgraphs
    for name, mask in batch["masks"].items():
        assert torch.all(batch["feats"][name][~mask] == 0)
    if "fa" in batch["masks"]:
        assert torch.equal(batch["masks"]["fa"], batch["domain"] == 0)
    if sampler == "ppr":
        assert n <= 8 * 16
    assert all(torch.equal(a, b) for a, b in zip(dm.sample_batch(3)["batch"], dm.sample_batch(3)["batch"]))


def test_domain_weights_steer_sampling(two_graphs, tmp_path):
    dm = _module(two_graphs, tmp_path)
    per_graph = torch.zeros(2)
    for s in range(40):
        batch = dm.sample_batch(s)
        for g in (0, 1):
            per_graph[g] += torch.unique(batch["batch"][batch["domain"] == g]).numel()
    assert 2.0 < per_graph[0] / per_graph[1] < 4.5                        # weights 3 : 1


def test_bad_configuration(two_graphs, tmp_path):
    with pytest.raises(ConfigError, match="sampler"):
        MultimodalGraphsDataModule(graphs=two_graphs, modalities={"x": {"encoder": "precomputed"}}, sampler="bfs")
    dm = MultimodalGraphsDataModule(graphs=two_graphs, modalities={"x": {"encoder": "precomputed"}},
                                    cache_dir=str(tmp_path), progress=False)
    with pytest.raises(ConfigError, match="width"):
        dm.setup()                                                         # 12- and 7-wide x in one modality
    with pytest.raises(ConfigError, match="unknown key"):
        MultimodalGraphsDataModule(graphs=[{"name": "a", "wieght": 2}], modalities={"x": {}})


def test_spd_objective_memory_is_bounded_by_the_batch(tmp_path):
    """A 200k-node graph: one training step touches only the sampled subgraphs."""
    n = 200_000
    path = _write_graph(tmp_path / "big.pt", n, 8, 2)
    dm = MultimodalGraphsDataModule(graphs=[path], modalities={"x": {"encoder": "precomputed"}},
                                    subgraph_size=32, subgraphs_per_batch=8, progress=False)
    dm.setup()
    batch = dm.sample_batch(0)
    assert batch["batch"].numel() <= 8 * 32 and batch["edge_index"].max() < 8 * 32
    model = MODELS.get("unigraph2").from_datamodule(dm, hidden_dim=16, num_experts=2, heads=2)
    obj = UniGraph2Objective(model, spd_sources=16, spd_pairs_per_source=8, spd_cutoff=4)
    opt = torch.optim.Adam(obj.parameters(), lr=1e-3)
    out = obj(batch)
    total_loss(out).backward()
    opt.step()
    assert torch.isfinite(out["spd_loss"]) and torch.isfinite(out["recon_loss"])


def test_configs_validate_and_tiny_pretrains(tmp_path):
    for name in ("pretrain.yaml", "tiny.yaml"):
        cfg = load_experiment(CONFIGS / name)
        check_kwargs(DATAMODULES.get(cfg.data["name"]), {k: v for k, v in cfg.data.items() if k != "name"}, "data")
        check_kwargs(MODELS.get(cfg.model["name"]), {k: v for k, v in cfg.model.items() if k != "name"}, "model")
        check_kwargs(OBJECTIVES.get(cfg.objective["name"]),
                     {k: v for k, v in cfg.objective.items() if k != "name"}, "objective", skip=("model",))
    run = pretrain(CONFIGS / "tiny.yaml", tmp_path / "run", overrides=["trainer.max_steps=3"])
    model = PretrainedModel.from_pretrained(run)
    from graphfm.data import load_dataset

    emb = model.embed(load_dataset("synthetic-0"), progress=False)
    assert emb.shape == (1350, 32) and torch.isfinite(emb).all()


@pytest.mark.parametrize("sampler", ["ppr", "khop"])
def test_ranks_get_disjoint_shares_that_make_up_the_global_batch(two_graphs, tmp_path, sampler):
    dm = _module(two_graphs, tmp_path, sampler=sampler, hops=1, max_degree=4)

    def subgraphs(batch):       # each subgraph as (graph, sorted node ids, sorted edges): comparable across batches
        out = []
        for g in range(int(batch["batch"].max()) + 1):
            nodes = (batch["batch"] == g).nonzero().view(-1)
            domain = int(batch["domain"][nodes[0]])
            feats = torch.cat([batch["feats"][m][nodes] for m in sorted(batch["feats"])], 1)
            inside = torch.isin(batch["edge_index"][0], nodes)
            edges = (batch["edge_index"][:, inside] - nodes[0]).t().tolist()
            out.append((domain, tuple(feats.sum(1).round(decimals=4).tolist()), tuple(sorted(map(tuple, edges)))))
        return out

    for step in (0, 5, 17):
        one = subgraphs(dm.sample_batch(step))
        shares = [subgraphs(dm.sample_batch(step, rank, 3)) for rank in range(3)]
        assert all(len(s) in (2, 3) for s in shares)                       # 8 subgraphs over 3 ranks
        assert sorted(one) == sorted(shares[0] + shares[1] + shares[2])
    with pytest.raises(ConfigError, match="at least one per rank"):
        dm.sample_batch(0, 0, 9)

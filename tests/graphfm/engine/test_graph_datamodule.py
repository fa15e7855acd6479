import pytest
import torch

from graphfm.engine.datamodules import DATAMODULES
from graphfm.engine.datamodules.graph import GraphDomainsDataModule
from graphfm.errors import ConfigError


def test_full_mode_yields_every_domain_each_step():
    dm = DATAMODULES.get("graph_domains")(["synthetic-0", "synthetic-1"])
    dm.setup()
    assert dm.spec["domains"] == ["synthetic-0", "synthetic-1"]
    assert dm.spec["in_dims"] == {g.domain: g.num_features for g in dm.graphs}
    batch = next(iter(dm.train_dataloader()))
    assert [g.domain_id for g in batch] == [0, 1]
    assert batch[0].num_nodes == dm.graphs[0].num_nodes


def test_ego_mode_splits_centres_by_weight_and_is_seeded():
    def first_batches(seed):
        dm = GraphDomainsDataModule(["synthetic-0", "synthetic-1"], mode="ego", batch_size=64, hops=1,
                                    weights={"synthetic-0": 1.0, "synthetic-1": 0.0}, seed=seed)
        dm.setup()
        return next(iter(dm.train_dataloader()))

    batch = first_batches(0)
    assert len(batch) == 1 and batch[0].domain == "synthetic-0" and batch[0].center_index.numel() == 64
    again = first_batches(0)
    assert torch.equal(batch[0].x, again[0].x)


def test_a_graph_set_is_one_domain_of_disconnected_graphs(data_root):
    from graphfm.data import load_dataset

    graphs = load_dataset("MUTAG")
    dm = GraphDomainsDataModule(["synthetic-0", "MUTAG"], data_root=str(data_root))
    dm.setup()
    union = dm.graphs[1]
    assert dm.spec["domains"] == ["synthetic-0", "MUTAG"] and union.domain_id == 1
    assert union.num_nodes == sum(g.num_nodes for g in graphs)
    assert torch.equal(union.x, torch.cat([g.x for g in graphs]))
    # graph i's edges are its own edges shifted by the nodes of graphs 0..i-1: no edge joins two graphs
    ptr = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)
    expected = torch.cat([g.edge_index + ptr[i] for i, g in enumerate(graphs)], dim=1)
    assert torch.equal(union.edge_index, expected)
    owner = torch.searchsorted(ptr, union.edge_index, right=True) - 1
    assert torch.equal(owner[0], owner[1])


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="valid modes"):
        GraphDomainsDataModule(["synthetic-0"], mode="walk")
    with pytest.raises(ConfigError, match="empty"):
        GraphDomainsDataModule([])
    dm = GraphDomainsDataModule(["synthetic-0", "synthetic-0"])
    with pytest.raises(ConfigError, match="same domain twice"):
        dm.setup()


def _ego(world_rank=None, monkeypatch=None, **kwargs):
    import graphfm.engine.datamodules.graph as graph_module

    if world_rank is not None:
        monkeypatch.setattr(graph_module, "rank_and_world", lambda: world_rank)
    options = dict(mode="ego", batch_size=50, hops=2, seed=3)
    options.update(kwargs)
    dm = GraphDomainsDataModule(["synthetic-0", "synthetic-1", "synthetic-2"], **options)
    dm.setup()
    stream = iter(dm.train_dataloader())
    return [next(stream) for _ in range(3)]


def _centres(batch):
    return {(egos.domain, int(c)) for egos in batch for c in egos.node_ids[egos.center_index]}


def test_ego_batches_equal_the_list_of_ego_graphs():
    from torch_geometric.data import Batch

    from graphfm.data.sampling import ego_graphs

    dm = GraphDomainsDataModule(["synthetic-0"], mode="ego", batch_size=20, hops=2, seed=1)
    dm.setup()
    egos = next(iter(dm.train_dataloader()))[0]
    centres = egos.node_ids[egos.center_index]
    old = Batch.from_data_list(ego_graphs(dm.graphs[0], centres, 2))
    for key in ("x", "edge_index", "batch", "ptr", "center_index", "node_ids"):
        assert torch.equal(egos[key], old[key]), key


def test_ranks_get_disjoint_shares_of_the_global_batch(monkeypatch):
    single = _ego()
    shares = [_ego((rank, 3), monkeypatch) for rank in range(3)]
    for step in range(3):
        sizes = [sum(e.center_index.numel() for e in share[step]) for share in shares]
        assert sorted(sizes) == [16, 17, 17]                          # 50 centres over 3 ranks
        seen = [_centres(share[step]) for share in shares]
        assert set().union(*seen) == _centres(single[step])
        pairs = [[(e.domain, int(c)) for e in share[step] for c in e.node_ids[e.center_index]] for share in shares]
        flat = [p for share in pairs for p in share]
        single_pairs = [(e.domain, int(c)) for e in single[step] for c in e.node_ids[e.center_index]]
        assert sorted(flat) == sorted(single_pairs)                   # disjoint positions, same multiset


def test_full_mode_splits_domains_across_ranks(monkeypatch):
    import graphfm.engine.datamodules.graph as graph_module

    dm = GraphDomainsDataModule(["synthetic-0", "synthetic-1", "synthetic-2"])
    dm.setup()
    got = []
    for rank in range(2):
        monkeypatch.setattr(graph_module, "rank_and_world", lambda rank=rank: (rank, 2))
        got.append([g.domain_id for g in next(iter(dm.train_dataloader()))])
    assert got == [[0, 2], [1]]
    assert dm.train_dataloader().dataset.rank_reduce == "sum"
    monkeypatch.setattr(graph_module, "rank_and_world", lambda: (0, 4))
    with pytest.raises(ConfigError, match="data.mode=ego"):
        next(iter(dm.train_dataloader()))


def test_max_degree_bounds_the_ego_graphs():
    capped = _ego(max_degree=2, batch_size=30)
    full = _ego(batch_size=30)
    for step in range(3):
        for egos in capped[step]:
            assert int(torch.bincount(egos.batch).max()) <= 1 + 2 + 4
        assert sum(e.num_nodes for e in capped[step]) < sum(e.num_nodes for e in full[step])
    with pytest.raises(ConfigError, match="max_degree"):
        GraphDomainsDataModule(["synthetic-0"], mode="ego", max_degree=0)

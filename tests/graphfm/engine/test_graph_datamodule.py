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
    assert len(batch) == 1 and batch[0].domain == "synthetic-0" and batch[0].num_graphs == 64
    again = first_batches(0)
    assert torch.equal(batch[0].x, again[0].x)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="valid modes"):
        GraphDomainsDataModule(["synthetic-0"], mode="walk")
    with pytest.raises(ConfigError, match="empty"):
        GraphDomainsDataModule([])
    dm = GraphDomainsDataModule(["synthetic-0", "synthetic-0"])
    with pytest.raises(ConfigError, match="same domain twice"):
        dm.setup()

import pytest
import torch

from graphfm.errors import ConfigError, DataError
from multimodal.data import load_multimodal, split_indices


def test_digits_modalities(digits):
    t = digits.tensors
    n = 1797
    assert t["rgb"].shape == (n, 1, 8, 8) and 0 <= t["rgb"].min() and t["rgb"].max() <= 1
    assert t["depth"].shape == (n, 1, 8, 8) and t["semseg"].shape == (n, 8, 8)
    assert set(t["semseg"].unique().tolist()) == {0, 1, 2}
    assert t["text"].shape == (n, 12) and t["regions"].shape == (n, 6, 20)
    assert torch.allclose(t["region_soft"].sum(-1), torch.ones(n, 6))
    assert digits.num_classes == 10 and len(digits.texts) == n
    word = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert all(word[y] in s for y, s in zip(t["label"].tolist(), digits.texts))
    assert len(set(digits.texts)) > 30  # captions vary


def test_phantoms_are_deterministic_and_lesions_differ_by_contrast():
    a = load_multimodal("phantoms", num_samples=12, volume_size=8, seed=3)
    b = load_multimodal("phantoms", num_samples=12, volume_size=8, seed=3)
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert sorted(a.tensors["label"].unique().tolist()) == [0, 1, 2]
    assert set(a.specs) == {"t1", "t2", "flair"} and a.tensors["t1"].shape == (12, 1, 8, 8, 8)
    assert not torch.allclose(a.tensors["t1"], a.tensors["t2"])
    with pytest.raises(DataError, match="unknown phantom contrast"):
        load_multimodal("phantoms", modalities=["dwi"])


def test_split_is_stratified_and_disjoint(digits):
    train, test = split_indices(digits, 0.3, 0)
    assert len(set(train) & set(test)) == 0 and len(train) + len(test) == 1797
    y = digits.tensors["label"]
    assert torch.bincount(y[test]).min() >= 50


def test_datamodule_batches_and_spec():
    from graphfm.engine.datamodules import DATAMODULES   # finds 'multimodal' through its entry point

    dm = DATAMODULES.get("multimodal")(dataset="phantoms", num_samples=30, volume_size=8, batch_size=4,
                                        split="all")
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["t1"].shape == (4, 1, 8, 8, 8) and batch["label"].shape == (4,)
    assert dm.spec["modalities"]["t2"]["patch_size"] == 4
    assert dm.spec["data_options"] == {"volume_size": 8, "num_samples": 30, "seed": 0}
    with pytest.raises(ConfigError, match="not in dataset"):
        DATAMODULES.get("multimodal")(dataset="phantoms", num_samples=6, modalities=["rgb"]).setup()
    with pytest.raises(DataError, match="unknown multimodal dataset"):
        DATAMODULES.get("multimodal")(dataset="cifar").setup()

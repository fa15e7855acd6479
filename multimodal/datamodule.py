"""Data module ``multimodal``: dict batches of images, volumes, captions and regions.

Example (``data:`` section of an experiment file)::

    data: {name: multimodal, dataset: digits, batch_size: 64, image_size: 16, patch_size: 4}

Batches are ``{"rgb": [B,1,S,S], "depth": ..., "semseg": [B,S,S], "text": [B,T], "regions":
[B,R,F+4], "region_soft": [B,R,K], "label": [B]}`` for ``digits`` and ``{"t1": [B,1,S,S,S],
..., "label": [B]}`` for ``phantoms``. ``spec["modalities"]`` holds the adapter spec of each
input modality, which :class:`multimodal.model.MultimodalViT` takes when the model
section gives none.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import DataLoader

from graphfm.engine.datamodules.base import DATAMODULES, DataModule
from graphfm.errors import ConfigError
from multimodal.data import TensorDictDataset, accepted_options, load_multimodal, split_indices

SPLITS = ("train", "test", "all")


@DATAMODULES.register("multimodal")
class MultimodalDataModule(DataModule):
    """Multimodal datasets of :mod:`multimodal.data` as a shuffled DataLoader of dict batches.

    Args:
        data_root (str, optional): Unused (the data come from packages or are synthesised).
        dataset (str): ``digits``, ``phantoms`` or a folder of NIfTI subjects. (default: ``"digits"``)
        batch_size (int): Items per batch. (default: ``64``)
        patch_size (int): Patch side written into the image/volume adapter specs. (default: ``4``)
        image_size (int): ``digits`` image side. (default: ``16``)
        volume_size (int): ``phantoms``/NIfTI volume side. (default: ``16``)
        max_length (int): Caption length in word pieces. (default: ``16``)
        num_samples (int): ``phantoms`` subjects. (default: ``600``)
        modalities (list[str], optional): Input modalities to keep. (default: all)
        split (str): ``train``, ``test`` or ``all`` (stratified, deterministic). (default: ``"train"``)
        test_fraction (float): Share held out as ``test``. (default: ``0.3``)
        seed (int): Seed of the data and of the split. (default: ``0``)
        num_workers (int): DataLoader workers. (default: ``0``)
    """

    def __init__(self, data_root: Optional[str] = None, dataset: str = "digits", batch_size: int = 64,
                 patch_size: int = 4, image_size: int = 16, volume_size: int = 16, max_length: int = 16,
                 num_samples: int = 600, modalities: Optional[List[str]] = None, split: str = "train",
                 test_fraction: float = 0.3, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__(data_root)
        if split not in SPLITS:
            raise ConfigError(f"data.split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.dataset, self.batch_size, self.patch_size = dataset, batch_size, patch_size
        self.options = {"image_size": image_size, "volume_size": volume_size, "max_length": max_length,
                        "num_samples": num_samples, "seed": seed}
        self.modalities, self.split, self.test_fraction = modalities, split, test_fraction
        self.seed, self.num_workers = seed, num_workers
        self.data = None

    def loader_options(self) -> Dict[str, Any]:
        """The options the dataset's loader accepts (also stored in the model for ``embed``)."""
        return accepted_options(self.dataset, self.options)

    def setup(self) -> None:
        data = load_multimodal(self.dataset, **self.loader_options())
        specs = data.specs
        if self.modalities is not None:
            unknown = sorted(set(self.modalities) - set(specs))
            if unknown:
                raise ConfigError(f"data.modalities: {unknown} not in dataset '{self.dataset}' "
                                  f"(it has {', '.join(specs)})")
            specs = {m: specs[m] for m in self.modalities}
            data.tensors = {k: v for k, v in data.tensors.items() if k in specs or k not in data.specs}
        if self.split != "all":
            train, test = split_indices(data, self.test_fraction, self.seed)
            data = data.subset(train if self.split == "train" else test)
        self.data = data
        self.spec = {
            "modalities": {m: _with_patch(s, self.patch_size) for m, s in specs.items()},
            "data_options": self.loader_options(),
            "num_classes": data.num_classes,
            "num_items": len(data),
        }

    def train_dataloader(self) -> DataLoader:
        if self.data is None:
            self.setup()
        drop_last = len(self.data) >= self.batch_size
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(TensorDictDataset(self.data.tensors), batch_size=self.batch_size, shuffle=True,
                          drop_last=drop_last, num_workers=self.num_workers, generator=generator,
                          persistent_workers=self.num_workers > 0)


def _with_patch(spec: Dict[str, Any], patch_size: int) -> Dict[str, Any]:
    spec = dict(spec)
    if spec.get("name", spec.get("kind")) in ("patch2d", "patch3d"):
        spec.setdefault("patch_size", patch_size)
    return spec

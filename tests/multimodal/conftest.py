"""Fixtures of the multimodal tests: small real batches and tiny models."""
from __future__ import annotations

from typing import Dict

import pytest
import torch

IMAGE = {"name": "patch2d", "channels": 1, "image_size": 8, "patch_size": 4}


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models run faster on one thread (no sync overhead on a busy machine); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits():
    """The digits dataset (8x8 -> 8x8, cached per session)."""
    from multimodal.data import load_multimodal

    return load_multimodal("digits", image_size=8, max_length=12, num_region_classes=4)


@pytest.fixture()
def digit_batch(digits) -> Dict[str, torch.Tensor]:
    return {k: v[:16] for k, v in digits.tensors.items()}


@pytest.fixture()
def make_model():
    """Factory of tiny seeded :class:`MultimodalViT` encoders."""
    from multimodal.model import MultimodalViT

    def build(modalities: Dict, dim: int = 32, depth: int = 1, seed: int = 0) -> MultimodalViT:
        torch.manual_seed(seed)
        return MultimodalViT(modalities, dim=dim, depth=depth, heads=4)

    return build

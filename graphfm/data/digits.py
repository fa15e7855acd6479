"""``digits-graph``: an image graph built from scikit-learn's handwritten digits.

Each of the 1,797 nodes is one 8x8 grey-scale digit from the UCI ML hand-written
digits set that scikit-learn ships (no download), with two modalities:

* ``data.image``: the image upsampled (bilinear) to ``image_size`` x ``image_size``,
  float32 ``[N, 1, S, S]`` in ``[0, 1]``;
* ``data.text``: a short caption, ``"a handwritten digit <name>"`` (the digit's
  name is what the image shows, as in image-caption pairs);

plus ``data.x`` = the 64 raw pixels scaled to ``[0, 1]`` (a precomputed-feature view),
``y`` = the digit (10 classes) and ``edge_index`` = the symmetrised ``k``-nearest
neighbours of every image in pixel space (Euclidean). This is the image domain of
the UniGraph2 benchmark (He et al., WWW 2025, `arXiv:2502.00806
<https://arxiv.org/abs/2502.00806>`_).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from graphfm.data.registry import DatasetSpec, register_dataset

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def knn_edges(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undirected, coalesced ``edge_index`` joining every row of ``x`` to its ``k`` nearest rows."""
    dist = torch.cdist(x, x)
    dist.fill_diagonal_(float("inf"))
    nbr = dist.topk(k, dim=1, largest=False).indices                       # [N, k]
    src = torch.arange(x.size(0)).repeat_interleave(k)
    edge_index = torch.stack([src, nbr.reshape(-1)])
    return coalesce(to_undirected(edge_index, num_nodes=x.size(0)), num_nodes=x.size(0))


def digits_graph(k: int = 10, image_size: int = 32) -> Data:
    """Build the digits image graph (see the module docstring).

    Args:
        k (int): Neighbours per image in the kNN graph. (default: ``10``)
        image_size (int): Side of the upsampled images. (default: ``32``)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = torch.tensor(digits.data, dtype=torch.float32) / 16.0            # [N, 64] in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.long)
    images = F.interpolate(pixels.view(-1, 1, 8, 8), size=(image_size, image_size), mode="bilinear",
                           align_corners=False).clamp(0.0, 1.0)
    captions = [f"a handwritten digit {DIGIT_NAMES[int(c)]}" for c in y]
    return Data(x=pixels, edge_index=knn_edges(pixels, k), y=y, image=images, text=captions)


def _load(root: Path, spec: DatasetSpec) -> Any:
    return digits_graph()


register_dataset(DatasetSpec(
    name="digits-graph", kind="node", domain="digits-graph", area="images", folder="", files=(),
    source="scikit-learn's bundled copy of the UCI ML hand-written digits (sklearn.datasets.load_digits)",
    loader=_load, num_classes=10,
    note="data.image = 8x8 digits upsampled to 32x32; data.text = captions; x = 64 pixels; 10-NN graph",
))

"""Pass-through encoder for features that are already vectors (bag-of-words, CLIP dumps, ...)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import Tensor

from graphfm.encoders.base import ENCODERS, Items, ModalityEncoder
from graphfm.errors import DataError


@ENCODERS.register("precomputed")
class PrecomputedEncoder(ModalityEncoder):
    """Use given feature rows as they are (checked for shape and finiteness).

    Args:
        dim (int, optional): Expected feature width; ``None`` accepts any width and
            takes it from the first call. (default: ``None``)
    """

    cacheable = False

    def __init__(self, dim: Optional[int] = None) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise RuntimeError("PrecomputedEncoder(dim=None) knows its width only after encoding once")
        return self._dim

    @property
    def encoder_id(self) -> str:
        return f"precomputed:{self._dim}"

    def config(self) -> Dict[str, Any]:
        return {"name": self.kind, "dim": self._dim}

    def _encode(self, items: Items, progress: bool) -> Tensor:
        if isinstance(items, Tensor):
            x = items
        elif isinstance(items, np.ndarray):
            x = torch.from_numpy(items)
        else:
            x = torch.stack([torch.as_tensor(np.asarray(row)) for row in items])
        x = x.float().reshape(len(items), -1)
        if self._dim is None:
            self._dim = int(x.size(1))
        if x.size(1) != self._dim:
            raise DataError(f"precomputed features have width {x.size(1)}, the encoder expects {self._dim}; "
                            "use a separate modality for features of another width")
        if not torch.isfinite(x).all():
            raise DataError("precomputed features contain NaN or inf; clean them (e.g. torch.nan_to_num) first")
        return x

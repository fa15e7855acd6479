"""``graphfm embed``: a checkpoint's embeddings of a dataset, as float32 ``.npy``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch

from graphfm.errors import GraphFMError
from graphfm.io import write_npy


def load_model(checkpoint: Union[str, Path]):
    """Rebuild any registered model from a checkpoint directory or a Hub repo id."""
    from graphfm.models.base import PretrainedModel

    return PretrainedModel.from_pretrained(checkpoint)


def embed_to_file(checkpoint: Union[str, Path], dataset: str, out: Union[str, Path], level: str = "node",
                  data_root: Optional[str] = None) -> Tuple[int, int]:
    """Embed ``dataset`` with the model in ``checkpoint`` and write ``out`` (.npy, float32).

    Row i is node i (``level="node"``) or graph i (``level="graph"``) of the dataset as
    :func:`graphfm.data.load_dataset` loads it. Returns the array's shape.
    """
    if level not in ("node", "graph"):
        raise GraphFMError(f"level must be 'node' or 'graph', got '{level}'")
    model = load_model(checkpoint)
    with torch.no_grad():
        emb = model.embed_dataset(dataset, level=level, data_root=data_root)
    array = emb.detach().float().cpu().numpy().astype(np.float32)
    if not np.isfinite(array).all():
        raise GraphFMError(f"embeddings of '{dataset}' contain NaN/Inf; the checkpoint or the data is broken")
    write_npy(out, array)
    return tuple(array.shape)

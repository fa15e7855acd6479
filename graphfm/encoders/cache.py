"""On-disk cache of frozen encoder outputs, keyed by encoder id and a hash of the data.

A cached file is ``<cache_dir>/<kind>-<key>.safetensors`` with
``key = sha256(encoder.encoder_id + data hash)``, so the same texts encoded by the
same model with the same options are computed once; changing the data, the model or
an option (``max_length``, image size, ...) gives another key.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor

from graphfm.encoders.base import Items, ModalityEncoder
from graphfm.io import atomic_path

PathLike = Union[str, Path]


def default_cache_dir() -> Path:
    """``$GRAPHFM_CACHE``, else ``~/.cache/graphfm/features``."""
    env = os.environ.get("GRAPHFM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "graphfm" / "features"


def data_hash(items: Items) -> str:
    """A sha256 over the items' content (strings, tensors, arrays, PIL images)."""
    h = hashlib.sha256()
    if isinstance(items, (Tensor, np.ndarray)):
        _update(h, items)
    else:
        h.update(f"list:{len(items)}".encode())
        for item in items:
            _update(h, item)
    return h.hexdigest()


def _update(h: Any, item: Any) -> None:
    if isinstance(item, str):
        raw = item.encode("utf-8")
        h.update(b"s%d:" % len(raw) + raw)
        return
    if item is None:
        h.update(b"none")
        return
    if isinstance(item, Tensor):
        item = item.detach().cpu().contiguous().numpy()
    arr = np.ascontiguousarray(np.asarray(item))
    h.update(f"a{arr.dtype.str}{arr.shape}:".encode())
    h.update(arr.tobytes())


def cache_path(encoder: ModalityEncoder, items: Items, cache_dir: Optional[PathLike] = None) -> Path:
    """Where the outputs of ``encoder`` on ``items`` are (or would be) cached."""
    key = hashlib.sha256(f"{encoder.encoder_id}|{data_hash(items)}".encode()).hexdigest()[:24]
    return Path(cache_dir or default_cache_dir()) / f"{encoder.kind}-{key}.safetensors"


def encode_cached(encoder: ModalityEncoder, items: Items, cache_dir: Optional[PathLike] = None,
                  progress: bool = True, refresh: bool = False) -> Tensor:
    """``encoder.encode(items)``, read from the disk cache when it was computed before.

    Args:
        encoder (ModalityEncoder): The frozen encoder.
        items: Its raw inputs (none missing).
        cache_dir (str or Path, optional): Cache folder. (default: :func:`default_cache_dir`)
        progress (bool): Progress bar while encoding. (default: ``True``)
        refresh (bool): Recompute and overwrite a cached entry. (default: ``False``)
    """
    if not encoder.cacheable:
        return encoder.encode(items, progress=progress)
    from safetensors.torch import load_file, save_file

    path = cache_path(encoder, items, cache_dir)
    if path.is_file() and not refresh:
        try:
            feats = load_file(str(path))["features"]
            if feats.size(0) == len(items):
                return feats
        except (OSError, KeyError, RuntimeError):
            pass  # unreadable entry: recompute it below
    feats = encoder.encode(items, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({"features": feats.contiguous()}, str(tmp),
                  metadata={"encoder": encoder.encoder_id, "items": str(len(items))})
    return feats

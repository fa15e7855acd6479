"""A tiny cache of processed tensors, for loaders that PyG does not cache.

``cached(path, build)`` returns the dict of tensors stored at ``path`` (a ``.pt``
file loaded with ``torch.load(weights_only=True)``) or calls ``build()``, writes its
result atomically and returns it. A cache written by another format version, or an
unreadable one, is rebuilt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

import torch

from graphfm.io import atomic_path

CACHE_VERSION = 1


def cached(path: Path, build: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """Load ``path`` if it holds a valid cache, else build, save and return it.

    Args:
        path (Path): The ``.pt`` cache file (its folder is created if needed).
        build (callable): Returns a dict of tensors / lists / strings / ints.
    """
    if path.is_file():
        try:
            obj = torch.load(path, weights_only=True)
            if isinstance(obj, dict) and obj.get("_version") == CACHE_VERSION:
                return obj
        except Exception:  # unreadable cache: rebuild it below
            pass
    obj = dict(build(), _version=CACHE_VERSION)
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except OSError:  # read-only root: work without a cache
        pass
    return obj

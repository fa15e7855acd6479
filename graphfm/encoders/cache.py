"""On-disk cache of frozen encoder outputs, keyed by encoder id and a hash of the data.

A cached file is ``<cache_dir>/<kind>-<key>.safetensors`` with
``key = sha256(encoder.encoder_id + data hash)``, so the same texts encoded by the
same model with the same options are computed once; changing the data, the model or
an option (``max_length``, image size, ...) gives another key.

The cache cannot break a run: an entry that cannot be read back as this encoder's features
(truncated, garbage, another encoder's file, wrong shape, dtype or metadata, non-finite values)
is recomputed and replaced, with one warning line naming the file; an entry that cannot be
written (disk full, read-only folder) is skipped with one warning. Entries are written through
a temporary file unique to the writer and renamed, so two processes encoding the same key both
finish (the last rename wins, with equal features) and a reader never sees a partial file.
:func:`check_entry` inspects an entry from its header alone (``graphfm doctor`` uses it).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from graphfm.encoders.base import Items, ModalityEncoder
from graphfm.io import atomic_path

PathLike = Union[str, Path]

_log = logging.getLogger(__name__)
_MAX_HEADER = 1 << 24           # bytes; a longer header length is garbage


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

    A damaged entry is recomputed and replaced with one warning; a failed write (e.g. a full
    disk) warns and returns the features all the same.

    Args:
        encoder (ModalityEncoder): The frozen encoder.
        items: Its raw inputs (none missing).
        cache_dir (str or Path, optional): Cache folder. (default: :func:`default_cache_dir`)
        progress (bool): Progress bar while encoding. (default: ``True``)
        refresh (bool): Recompute and overwrite a cached entry. (default: ``False``)
    """
    if not encoder.cacheable:
        return encoder.encode(items, progress=progress)
    path = cache_path(encoder, items, cache_dir)
    if path.exists() and not refresh:
        feats, problem = _read_entry(path, encoder, len(items))
        if feats is not None:
            return feats
        _log.warning("warning: damaged feature cache entry '%s' (%s): recomputing it", path, problem)
    feats = encoder.encode(items, progress=progress)
    _write_entry(path, feats, encoder, len(items))
    return feats


def _expected_dim(encoder: ModalityEncoder) -> Optional[int]:
    try:
        return int(encoder.dim)
    except Exception:   # an encoder that learns its width on first use
        return None


def _read_entry(path: Path, encoder: ModalityEncoder, n: int) -> Tuple[Optional[Tensor], str]:
    """``(features, "")`` if ``path`` holds this encoder's features of ``n`` items, else ``(None, why not)``."""
    from safetensors import safe_open

    problem = check_entry(path, n=n, encoder_id=encoder.encoder_id, dim=_expected_dim(encoder))
    if problem:
        return None, problem
    try:
        with safe_open(str(path), framework="pt") as fh:
            feats = fh.get_tensor("features")
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, ...: any unreadable file
        return None, f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    if not bool(torch.isfinite(feats).all()):
        return None, "non-finite values"
    return feats, ""


def _write_entry(path: Path, feats: Tensor, encoder: ModalityEncoder, n: int) -> None:
    from safetensors.torch import save_file

    from graphfm.rundir import DiskFullError

    try:
        with atomic_path(path) as tmp:
            save_file({"features": feats.contiguous()}, str(tmp),
                      metadata={"encoder": encoder.encoder_id, "items": str(n)})
    except (OSError, DiskFullError) as exc:
        reason = "no space left on device" if isinstance(exc, DiskFullError) else \
            f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        _log.warning("warning: cannot write the feature cache entry '%s' (%s): the features are recomputed on "
                     "next use; free space or point $GRAPHFM_CACHE at a writable folder", path, reason)


def read_header(path: PathLike) -> Tuple[Dict[str, Any], int]:
    """The JSON header of a safetensors file and the offset where its data starts (no tensor is read).

    Raises:
        ValueError: when the file is too short, or its header length or JSON is invalid.
    """
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError(f"{len(raw)} bytes, too short for a safetensors file")
        (length,) = struct.unpack("<Q", raw)
        if length > _MAX_HEADER:
            raise ValueError(f"invalid header length {length}")
        text = fh.read(length)
    if len(text) < length:
        raise ValueError(f"truncated header ({len(text)} of {length} bytes)")
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header, 8 + length


def header_and_size(path: PathLike) -> Tuple[Dict[str, Any], int, int]:
    """``(header, data start, file size)`` of a safetensors file, for the entry checks.

    Raises:
        ValueError: naming what is wrong (unreadable, too short, a bad header).
    """
    try:
        (header, start), size = read_header(path), Path(path).stat().st_size
    except OSError as exc:
        raise ValueError(f"unreadable: {exc.strerror or exc}") from None
    return header, start, size


def check_entry(path: PathLike, n: Optional[int] = None, encoder_id: Optional[str] = None,
                dim: Optional[int] = None) -> str:
    """What is wrong with the cache entry ``path``, from its header and size alone ("" when nothing).

    Checks that it is a safetensors file holding one float32 ``features`` tensor ``[N, D]`` whose
    bytes are all there, with the metadata the cache writes; and, when given, ``N == n``,
    ``D == dim`` and the encoder id.
    """
    try:
        header, start, size = header_and_size(path)
    except ValueError as exc:
        return str(exc)
    meta = header.pop("__metadata__", None)
    entry = header.get("features")
    if not isinstance(entry, dict) or set(header) != {"features"}:
        return f"holds {sorted(header)[:4]} instead of one 'features' tensor"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype != "F32":
        return f"dtype {dtype}, expected F32"
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v >= 0 for v in shape)):
        return f"shape {shape}, expected [N, D]"
    if not (isinstance(offsets, list) and len(offsets) == 2 and offsets[0] == 0
            and offsets[1] == shape[0] * shape[1] * 4):
        return f"data offsets {offsets} do not match shape {shape}"
    expected = start + offsets[1]
    if size != expected:
        return f"{'truncated' if size < expected else 'trailing bytes'}: {size} bytes, expected {expected}"
    if not isinstance(meta, dict) or "encoder" not in meta or meta.get("items") != str(shape[0]):
        return "missing or inconsistent metadata (not written by graphfm's cache)"
    if encoder_id is not None and meta["encoder"] != encoder_id:
        return f"written by encoder '{meta['encoder'][:80]}', not '{encoder_id[:80]}'"
    if n is not None and shape[0] != n:
        return f"{shape[0]} rows for {n} items"
    if dim is not None and shape[1] != dim:
        return f"width {shape[1]}, the encoder gives {dim}"
    return ""


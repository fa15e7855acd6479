"""Atomic file writes: output is written to a temporary path, then renamed."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
import yaml

PathLike = Union[str, Path]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary name is unique per call (``.<name>.<random>.tmp``), so concurrent writers of one
    path never share a file and a reader never sees a partial one: the last complete write wins.
    The file is flushed to disk (fsync) before the rename. On any failure the temporary file is
    removed and ``path`` is left as it was; running out of disk space (or quota) raises a one-line
    :class:`~graphfm.rundir.DiskFullError` naming the folder.
    """
    from graphfm.rundir import disk_full_guard

    path = Path(path)
    tmp_path = None
    try:
        with disk_full_guard(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            yield tmp_path
            _fsync(tmp_path)
            os.replace(tmp_path, path)
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _fsync(path: Path) -> None:
    """Flush ``path``'s data to the device (a full disk may only show here, e.g. on NFS)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return                   # the writer removed or never created it: os.replace reports that
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_yaml(path: PathLike, obj: Any) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_npy(path: PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)

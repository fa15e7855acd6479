"""Check the raw files under a data root against the package's sha256 manifest.

``graphfm/data/manifest.json`` lists every raw file of the offline dataset copy
(``../shared/datasets``) with its size and sha256, cross-checked against each
folder's ``SOURCE.md``. ``graphfm data verify`` calls :func:`verify_root` and exits
non-zero when it returns any problem.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from graphfm.data.registry import PathLike, resolve_root
from graphfm.errors import DataError

MANIFEST = Path(__file__).with_name("manifest.json")

# (path, size, mtime_ns) -> sha256 of the files already hashed in this process
_DIGESTS: Dict[Tuple[str, int, int], str] = {}


@functools.lru_cache(maxsize=1)
def _manifest() -> Dict[str, Dict[str, object]]:
    return json.loads(MANIFEST.read_text())["files"]


def load_manifest() -> Dict[str, Dict[str, object]]:
    """``{relative path: {"sha256": str, "bytes": int}}`` of every known raw file."""
    return dict(_manifest())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_root(root: Optional[PathLike] = None, folders: Optional[Sequence[str]] = None) -> List[str]:
    """Compare every manifest file under ``root`` with its recorded size and sha256.

    Args:
        root (str or path, optional): Data root (default: ``$GRAPHFM_DATA`` or ``./data``).
        folders (list[str], optional): Only check files under these relative folders
            (e.g. ``["planetoid/Cora"]``). (default: ``None``: all)

    Returns:
        list[str]: one line per problem, ``"missing: <path>"`` or
        ``"mismatch: <path> (sha256 <got>, expected <want>)"``; empty when all is well.
    """
    base = resolve_root(root)
    problems = []
    for rel, entry in load_manifest().items():
        if folders is not None and not any(rel.startswith(f.rstrip("/") + "/") for f in folders):
            continue
        path = base / rel
        if not path.is_file():
            problems.append(f"missing: {rel} (expected in '{path.parent}')")
            continue
        got = sha256_file(path)
        if got != entry["sha256"]:
            want = str(entry["sha256"])
            problems.append(f"mismatch: {rel} (sha256 {got[:16]}..., expected {want[:16]}...; "
                            f"{path.stat().st_size} bytes, expected {entry['bytes']}): replace it "
                            "with the original file")
    return problems


def check_raw_files(root: Path, rel_paths: Sequence[str], dataset: str, source: str = "") -> None:
    """Raise a :class:`DataError` when a raw file differs from its manifest entry.

    Called by :func:`graphfm.data.load_dataset` before a loader reads the files, so a
    corrupt, truncated or tampered raw file (some formats are pickles) is refused
    instead of parsed. Files the manifest does not list (e.g. PubMed's) are not
    checked; each file is hashed once per process (keyed by size and mtime). There is
    no switch to skip it: another version of a dataset loads as a user file (a path).

    Args:
        root (Path): The data root.
        rel_paths (list[str]): Raw files relative to ``root``.
        dataset (str): Dataset name, for the message.
        source (str): Where the original files come from, for the message. (default: ``""``)
    """
    manifest = _manifest()
    for rel in rel_paths:
        entry = manifest.get(rel)
        if entry is None:
            continue
        path = root / rel
        try:
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            if stat.st_size != entry["bytes"]:
                got = None
            else:
                got = _DIGESTS.get(key) or sha256_file(path)
        except OSError as exc:
            raise DataError(f"dataset '{dataset}': cannot read raw file '{path}' ({exc}); check its "
                            "permissions or copy it again") from None
        if got == entry["sha256"]:
            _DIGESTS[key] = got
            continue
        found = f"{stat.st_size} bytes, expected {entry['bytes']}" if got is None else \
            f"sha256 {got[:16]}..., expected {str(entry['sha256'])[:16]}..."
        raise DataError(f"dataset '{dataset}': raw file '{path}' does not match the manifest ({found}); it is "
                        f"corrupt, truncated or a different version. Replace it with the original"
                        f"{' from ' + source if source else ''} (e.g. copy it again from ../shared/datasets; "
                        f"`graphfm data verify` lists every bad file); to use another version, save it as a "
                        ".npz/.pt graph and pass its path")


verify = verify_root

__all__ = ["MANIFEST", "check_raw_files", "load_manifest", "sha256_file", "verify", "verify_root"]

"""Check the raw files under a data root against the package's sha256 manifest.

``graphfm/data/manifest.json`` lists every raw file of the offline dataset copy
(``../shared/datasets``) with its size and sha256, cross-checked against each
folder's ``SOURCE.md``. ``graphfm data verify`` calls :func:`verify_root` and exits
non-zero when it returns any problem.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from graphfm.data.registry import PathLike, resolve_root

MANIFEST = Path(__file__).with_name("manifest.json")


def load_manifest() -> Dict[str, Dict[str, object]]:
    """``{relative path: {"sha256": str, "bytes": int}}`` of every known raw file."""
    return json.loads(MANIFEST.read_text())["files"]


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


verify = verify_root

__all__ = ["MANIFEST", "load_manifest", "sha256_file", "verify", "verify_root"]

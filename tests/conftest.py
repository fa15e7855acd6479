"""Shared fixtures.

``data_root``: a writable copy of the offline datasets (``../shared/datasets`` beside
the repository, or ``$GRAPHFM_DATA_SOURCE``), made once per test session and exported
as ``$GRAPHFM_DATA``. Files are copied (not linked) because the shared folder is
read-only and PyG writes ``processed/`` next to ``raw/``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy files only (no permission bits), so the copy is writable."""
    for dirpath, _, files in os.walk(src):
        out = dst / Path(dirpath).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(Path(dirpath) / name, out / name)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(os.environ.get("GRAPHFM_DATA_SOURCE") or DEFAULT_SOURCE).resolve()
    if not source.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the offline datasets, not found at {source}")
        pytest.skip(f"offline datasets not found at {source}; set $GRAPHFM_DATA_SOURCE")
    root = tmp_path_factory.mktemp("graphfm_data")
    _copy_tree(source, root)
    os.environ["GRAPHFM_DATA"] = str(root)
    return root

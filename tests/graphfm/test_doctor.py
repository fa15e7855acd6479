"""``graphfm doctor``: versions, devices, data root, datasets, cache; exit 1 only when
something required is broken, with the fix."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest
import torch

from graphfm import doctor
from graphfm.cli import main


def _entry(path: Path, rows: int = 3) -> Path:
    """A cache entry as graphfm's feature cache writes it."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"features": torch.ones(rows, 4)}, str(path), metadata={"encoder": "text:x", "items": str(rows)})
    return path


def _run(root) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = doctor.run_doctor(str(root), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_full_data_root_is_healthy(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHFM_CACHE", str(tmp_path / "cache"))
    _entry(tmp_path / "cache" / "text-abc.safetensors")
    code, out, err = _run(data_root)
    assert code == 0 and err == "", err
    for package in ("torch", "torch-geometric", "lightning", "transformers", "open_clip_torch"):
        assert f"\n  {package} " in out, out
    assert "cuda" in out and "bf16" in out and "torch threads" in out
    assert "Cora" in out and "present, verified" in out
    assert "PubMed" in out  # absent in the offline copy: reported, not a failure
    assert "1 entries, 0.0 MiB" in out and "warning" not in out and "ok: nothing required is missing" in out


def test_missing_root_fails_with_the_fix(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path / "nowhere")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not exist" in lines[0]
    assert "cp -r ../shared/datasets" in lines[0] and "GRAPHFM_DATA" in lines[0]


def test_corrupt_raw_file_fails(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(data_root / "tu" / "MUTAG" / "raw", root / "tu" / "MUTAG" / "raw",
                    copy_function=shutil.copyfile)
    labels = root / "tu/MUTAG/raw/MUTAG_graph_labels.txt"
    labels.write_text(labels.read_text().replace("-1", "1", 1))
    code, out, err = _run(root)
    assert code == 1
    assert "MUTAG" in out and "FAIL the checksum" in out and "Cora" in out
    assert "MUTAG_graph_labels.txt" in err and "copy 'tu/MUTAG/raw' again" in err


def test_missing_required_package_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "root").mkdir()
    monkeypatch.setattr(doctor, "REQUIRED", doctor.REQUIRED + (("no-such-graphfm-dep", "no_such_graphfm_dep"),))
    code, out, err = _run(tmp_path / "root")
    assert code == 1 and "no-such-graphfm-dep  MISSING" in out
    assert "pip install 'no-such-graphfm-dep'" in out


def test_cli_doctor(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["doctor", "--data-root", str(tmp_path / "empty")]) == 0   # no dataset present: not a failure
    captured = capsys.readouterr()
    assert "missing 8 of 8 raw files" in captured.out and captured.err == ""
    proc = subprocess.run([sys.executable, "-m", "graphfm.cli", "doctor", "--data-root", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.count("error:") == 1, proc.stderr


def test_damaged_cache_entries_are_named_as_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRAPHFM_CACHE", str(cache))
    _entry(cache / "text-good.safetensors")
    _entry(cache / "text-cut.safetensors", rows=50).write_bytes((cache / "text-cut.safetensors").read_bytes()[:-7])
    (cache / "image-junk.safetensors").write_bytes(b"\xff" * 64)
    (cache / ".text-new.safetensors.k2j4.tmp").write_bytes(b"partial")
    (tmp_path / "empty").mkdir()
    code, out, err = _run(tmp_path / "empty")
    assert code == 0 and err == "", err                        # a warning, not a failure
    assert "3 entries" in out and "2 damaged" in out and "1 leftover temporary files" in out
    assert re.search(r"\n  text-cut.safetensors +DAMAGED: truncated: \d+ bytes, expected \d+\n", out), out
    assert re.search(r"\n  image-junk.safetensors +DAMAGED: invalid header length", out), out
    assert "text-good" not in out
    assert f"damaged encoder cache entry '{cache / 'text-cut.safetensors'}'" in out
    assert out.count("fix: delete it, or it is recomputed on next use") == 2
    assert "3 warning(s):" in out and "ok: nothing required is missing" in out

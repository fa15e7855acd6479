"""The feature cache cannot break a run: damaged entries are recomputed with one warning,
concurrent writers both finish with equal features, and a failed write only warns."""
from __future__ import annotations

import errno
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from safetensors.torch import save_file

from graphfm.encoders import cache as cache_mod
from graphfm.encoders.base import ModalityEncoder
from graphfm.encoders.cache import cache_path, check_entry, encode_cached

ITEMS = [float(i) for i in range(6)]


class Ramp(ModalityEncoder):
    """A cheap deterministic encoder: item x -> [x * 0, x * 1, ..., x * (dim - 1)] (+ an optional pause)."""

    kind = "ramp-test"

    def __init__(self, dim: int = 4, pause: float = 0.0) -> None:
        self._dim, self.pause, self.calls = dim, pause, 0

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def encoder_id(self) -> str:
        return f"ramp-test:{self._dim}"

    def config(self) -> Dict[str, Any]:
        return {"name": self.kind, "dim": self._dim}

    def _encode(self, items: Any, progress: bool) -> torch.Tensor:
        self.calls += 1
        time.sleep(self.pause)
        return torch.tensor([float(x) for x in items])[:, None] * torch.arange(self._dim, dtype=torch.float32)


def _expected(items: List[float] = ITEMS, dim: int = 4) -> torch.Tensor:
    return torch.tensor(items)[:, None] * torch.arange(dim, dtype=torch.float32)


def _warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "graphfm.encoders.cache"]


def _fresh_entry(tmp_path: Path) -> Path:
    encode_cached(Ramp(), ITEMS, cache_dir=tmp_path, progress=False)
    path = cache_path(Ramp(), ITEMS, tmp_path)
    assert check_entry(path, n=len(ITEMS), encoder_id=Ramp().encoder_id, dim=4) == ""
    return path


def test_a_valid_entry_is_read_back_without_encoding(tmp_path, caplog):
    _fresh_entry(tmp_path)
    enc = Ramp()
    with caplog.at_level(logging.WARNING):
        assert torch.equal(encode_cached(enc, ITEMS, cache_dir=tmp_path, progress=False), _expected())
    assert enc.calls == 0 and _warnings(caplog) == []


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff" * 8 + b"not a safetensors file at all" * 3)       # "invalid header length"


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _save(path: Path, tensors: Dict[str, torch.Tensor], encoder: str = "ramp-test:4", items: str = "6") -> None:
    save_file(tensors, str(path), metadata={"encoder": encoder, "items": items})


DAMAGE = {
    "truncated": (_truncate, "truncated"),
    "garbage": (_garbage, "invalid header length"),
    "empty": (_empty, "too short"),
    "wrong row count": (lambda p: _save(p, {"features": torch.zeros(5, 4)}, items="5"), "5 rows for 6 items"),
    "wrong width": (lambda p: _save(p, {"features": torch.zeros(6, 3)}), "width 3"),
    "wrong dtype": (lambda p: _save(p, {"features": torch.zeros(6, 4, dtype=torch.float64)}), "dtype F64"),
    "missing key": (lambda p: _save(p, {"feats": torch.zeros(6, 4)}), "instead of one 'features'"),
    "other encoder": (lambda p: _save(p, {"features": torch.zeros(6, 4)}, encoder="text:x"), "written by encoder"),
    "no metadata": (lambda p: save_file({"features": torch.zeros(6, 4)}, str(p)), "metadata"),
    "not finite": (lambda p: _save(p, {"features": torch.full((6, 4), float("nan"))}), "non-finite"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_recomputed_with_one_warning(damage, tmp_path, caplog):
    path = _fresh_entry(tmp_path)
    spoil, reason = DAMAGE[damage]
    spoil(path)
    enc = Ramp()
    with caplog.at_level(logging.WARNING):
        feats = encode_cached(enc, ITEMS, cache_dir=tmp_path, progress=False)
    assert torch.equal(feats, _expected()) and enc.calls == 1
    lines = _warnings(caplog)
    assert len(lines) == 1 and str(path) in lines[0] and "recomputing" in lines[0] and reason in lines[0], lines
    assert check_entry(path, n=len(ITEMS), encoder_id=enc.encoder_id, dim=4) == ""     # replaced by a valid one
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failed_write_warns_and_still_returns_the_features(tmp_path, caplog, monkeypatch):
    import safetensors.torch

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with caplog.at_level(logging.WARNING):
        feats = encode_cached(Ramp(), ITEMS, cache_dir=tmp_path, progress=False)
    assert torch.equal(feats, _expected())
    lines = _warnings(caplog)
    assert len(lines) == 1 and "no space left on device" in lines[0] and "GRAPHFM_CACHE" in lines[0], lines
    assert list(tmp_path.iterdir()) == []                     # no partial entry


def test_refresh_rewrites_a_valid_entry(tmp_path):
    path = _fresh_entry(tmp_path)
    enc = Ramp()
    encode_cached(enc, ITEMS, cache_dir=tmp_path, progress=False, refresh=True)
    assert enc.calls == 1 and check_entry(path) == ""


WRITER = r"""
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[4])
from test_cache import Ramp
from graphfm.encoders.cache import encode_cached
cache, go, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
feats = encode_cached(Ramp(dim=64, pause=0.5), [float(i) for i in range(4000)], cache_dir=cache, progress=False)
torch.save(feats, out)
"""


@pytest.mark.slow
def test_two_processes_encoding_one_key_both_finish_with_equal_features(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(cache), str(go), str(tmp_path / f"out{i}.pt"),
                               str(Path(__file__).parent)], stderr=subprocess.PIPE, text=True) for i in range(2)]
    time.sleep(1.0)
    go.touch()
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert not any("warning" in err for _, err in results), results
    a, b = (torch.load(tmp_path / f"out{i}.pt", weights_only=True) for i in range(2))
    items = [float(i) for i in range(4000)]
    assert torch.equal(a, b) and torch.equal(a, _expected(items, 64))
    entries = list(cache.iterdir())
    assert len(entries) == 1 and check_entry(entries[0], n=4000, encoder_id="ramp-test:64", dim=64) == ""


READER = r"""
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[3])
from test_cache import Ramp
from graphfm.encoders.cache import encode_cached

class Refuse(Ramp):
    def _encode(self, items, progress):
        raise SystemExit("the reader had to encode: it saw a missing or damaged entry")

cache, stop = Path(sys.argv[1]), Path(sys.argv[2])
items, reads = [float(i) for i in range(4000)], 0
while not stop.exists():
    feats = encode_cached(Refuse(dim=64), items, cache_dir=cache, progress=False)
    assert torch.equal(feats[:, 1], torch.tensor(items)), "wrong features"
    reads += 1
    (cache.parent / "ready").touch()
print(reads)
"""


@pytest.mark.slow
def test_a_reader_never_sees_a_partial_entry_while_it_is_rewritten(tmp_path, caplog):
    cache, stop = tmp_path / "cache", tmp_path / "stop"
    items = [float(i) for i in range(4000)]
    encode_cached(Ramp(dim=64), items, cache_dir=cache, progress=False)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(cache), str(stop), str(Path(__file__).parent)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "ready").exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with caplog.at_level(logging.WARNING):
            for _ in range(30):          # rewrite the entry again and again while the reader reads it
                encode_cached(Ramp(dim=64), items, cache_dir=cache, progress=False, refresh=True)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0 and int(out) > 1, err[-2000:]
    assert _warnings(caplog) == [] and len(list(cache.iterdir())) == 1


def test_check_entry_reads_only_the_header(tmp_path, monkeypatch):
    path = _fresh_entry(tmp_path)
    monkeypatch.setattr(cache_mod, "_read_entry", None)      # not used by check_entry
    assert check_entry(path) == ""
    _truncate(path)
    assert check_entry(path).startswith("truncated")
    assert check_entry(tmp_path / "absent.safetensors").startswith("unreadable")

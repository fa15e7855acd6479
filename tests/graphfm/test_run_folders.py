"""A run never destroys another run (end to end, real ``graphfm`` processes): one run per folder,
a lock while it runs, and a clear error, no partial file and a resumable state on a full disk."""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from graphfm.rundir import LOCK_FILE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "samgpt" / "demo.yaml")
QUICK = ("--set", "trainer.progress=false", "--set", "trainer.log_every=1")


def _cmd(*args: object) -> List[str]:
    return [sys.executable, "-m", "graphfm.cli", *map(str, args)]


def _env(tmp_path: Path) -> Dict[str, str]:
    return {**os.environ, "GRAPHFM_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}


def pretrain(tmp_path: Path, out: Path, steps: int, *flags: str, every: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd("pretrain", "--config", DEMO, "--out", out, "--set", f"trainer.max_steps={steps}",
                               "--set", f"trainer.ckpt_every={every}", *QUICK, *flags),
                          capture_output=True, text=True, env=_env(tmp_path), cwd=REPO, timeout=600)


def _errors(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _steps(run: Path) -> List[int]:
    with open(run / "logs" / "metrics.csv") as fh:
        return [int(r["step"]) for r in csv.DictReader(fh) if r.get("train/loss")]


def _snapshot(folder: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def _temporaries(folder: Path) -> List[str]:
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(f"{LOCK_FILE}.")]


def test_two_runs_started_together_into_one_folder_exactly_one_runs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = _cmd("pretrain", "--config", DEMO, "--out", run, "--set", "trainer.max_steps=20", *QUICK)
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
                              cwd=REPO) for _ in range(2)]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    winners = [p for p, _, _ in results if p.returncode == 0]
    assert len(winners) == 1, [(p.returncode, err[-1500:]) for p, _, err in results]
    (loser, _, err), = [r for r in results if r[0] is not winners[0]]
    assert loser.returncode == 2 and len(_errors(err)) == 1, err[-1500:]
    assert str(run) in _errors(err)[0] and f"process {winners[0].pid}" in _errors(err)[0], err
    steps = _steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == 19         # one run's rows, none interleaved
    assert not (run / LOCK_FILE).exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-step run with a resumable state (kept pristine: tests copy it)."""
    root = tmp_path_factory.mktemp("finished")
    proc = pretrain(root, root / "run", 3, every=1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def test_a_rerun_into_a_finished_folder_exits_2_and_changes_nothing(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    proc = pretrain(tmp_path, run, 3)
    assert proc.returncode == 2 and len(_errors(proc.stderr)) == 1, proc.stderr[-2000:]
    line = _errors(proc.stderr)[0]
    assert f"'{run}' holds another run" in line and "--overwrite" in line and "--resume" in line
    assert "Traceback" not in proc.stderr and "Previous log files" not in proc.stderr
    assert _snapshot(run) == before


def test_overwrite_replaces_the_run_and_keeps_other_files(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    (run / "notes.txt").write_text("mine")
    proc = pretrain(tmp_path, run, 2, "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(line.startswith(f"overwriting the run in '{run}'") for line in proc.stderr.splitlines()) == 1
    assert _steps(run) == [0, 1] and not (run / "state").exists()      # the new run's rows; no old state
    assert (run / "notes.txt").read_text() == "mine" and "max_steps: 2" in (run / "experiment.yaml").read_text()
    assert _temporaries(run) == [] and not (run / LOCK_FILE).exists()


def test_resume_continues_the_run_keeping_its_rows(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    proc = pretrain(tmp_path, run, 5, "--resume", every=1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _steps(run) == [0, 1, 2, 3, 4]
    proc = pretrain(tmp_path, run, 5, "--resume", "--overwrite")
    assert proc.returncode == 2 and "not both" in _errors(proc.stderr)[0], proc.stderr[-2000:]


def _write_lock(folder: Path, pid: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "earlier",
                                                "command": "graphfm pretrain"}))


def test_a_lock_of_a_dead_process_is_taken_over_with_one_warning(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path / "run", dead.pid)
    proc = pretrain(tmp_path, tmp_path / "run", 2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if "taking over" in line]
    assert len(warnings) == 1 and str(dead.pid) in warnings[0], proc.stderr[-2000:]
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_live_lock_refuses_runs_resumes_overwrites_and_benches(finished: Path, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        _write_lock(run, holder.pid)
        before = _snapshot(run)
        for flags in ((), ("--resume",), ("--overwrite",)):
            proc = pretrain(tmp_path, run, 4, *flags, every=1)
            assert proc.returncode == 2 and len(_errors(proc.stderr)) == 1, proc.stderr[-2000:]
            assert f"process {holder.pid}" in proc.stderr and str(run) in proc.stderr
        assert _snapshot(run) == before
        _write_lock(tmp_path / "results", holder.pid)
        proc = subprocess.run(_cmd("bench", "samgpt", "--quick", "--out", tmp_path / "results"), capture_output=True,
                              text=True, env=_env(tmp_path), cwd=REPO, timeout=600)
        assert proc.returncode == 2 and f"process {holder.pid}" in _errors(proc.stderr)[0], proc.stderr[-2000:]
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------------------- full disk
@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 4 MiB file system (tmpfs) where this machine lets us mount one (root); else skipped
    (tests/graphfm/test_rundir.py simulates a full disk everywhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with a ballast file."""
    ballast = disk / "ballast"
    free = shutil.disk_usage(disk).free
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return ballast


def test_a_full_disk_during_pretrain_keeps_the_state_and_resumes(tmp_path: Path, small_disk: Path) -> None:
    run = small_disk / "run"
    proc = pretrain(tmp_path, run, 4, every=2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = (run / "state" / "last.ckpt").read_bytes()
    ballast = _fill(small_disk, leave=len(state) // 3)     # small writes still fit, the next state does not
    proc = pretrain(tmp_path, run, 8, "--resume", every=2)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert _errors(proc.stderr) == [f"error: no space left on device while writing '{run / 'state'}': free space or "
                                    "choose another --out"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert _temporaries(run) == [] and not (run / LOCK_FILE).exists()
    assert (run / "state" / "last.ckpt").read_bytes() == state        # the state before the failure
    ballast.unlink()
    proc = pretrain(tmp_path, run, 8, "--resume", every=2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _steps(run) == list(range(8))


def test_a_full_disk_during_embed_leaves_no_file(finished: Path, tmp_path: Path, small_disk: Path) -> None:
    _fill(small_disk, leave=8192)
    out = small_disk / "emb" / "synthetic-3.npy"
    out.parent.mkdir()
    proc = subprocess.run(_cmd("embed", "--checkpoint", finished, "--dataset", "synthetic-3", "--out", out),
                          capture_output=True, text=True, env=_env(tmp_path), cwd=REPO, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert _errors(proc.stderr) == [f"error: no space left on device while writing '{out.parent}': free space or "
                                    "choose another --out"], proc.stderr[-2000:]
    assert list(out.parent.iterdir()) == []


def test_a_simulated_full_disk_during_pretrain_keeps_the_state(finished: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    """The same without a real small disk: the state write runs out of space half way."""
    import errno

    import lightning.fabric.plugins.io.torch_io as torch_io

    from graphfm.cli import main

    run = _copy(finished, tmp_path)
    state = (run / "state" / "last.ckpt").read_bytes()

    def full(checkpoint, path):
        Path(path).write_bytes(b"half a state")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch_io, "_atomic_save", full)
    monkeypatch.setenv("GRAPHFM_DATA", str(tmp_path / "data"))
    code = main(["pretrain", "--config", DEMO, "--out", str(run), "--resume", "--set", "trainer.max_steps=5",
                 "--set", "trainer.ckpt_every=1", *QUICK])
    err = capsys.readouterr().err
    assert code == 1 and _errors(err) == [f"error: no space left on device while writing '{run / 'state'}': free "
                                          "space or choose another --out"], err[-2000:]
    assert (run / "state" / "last.ckpt").read_bytes() == state and _temporaries(run) == []
    monkeypatch.undo()
    monkeypatch.setenv("GRAPHFM_DATA", str(tmp_path / "data"))
    assert main(["pretrain", "--config", DEMO, "--out", str(run), "--resume", "--set", "trainer.max_steps=5",
                 "--set", "trainer.ckpt_every=1", *QUICK]) == 0
    assert _steps(run) == [0, 1, 2, 3, 4]


def test_a_simulated_full_disk_during_embed_leaves_no_file(finished: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    import builtins
    import errno
    import io

    import graphfm.embed
    from graphfm.cli import main

    out = tmp_path / "emb" / "synthetic-3.npy"
    out.parent.mkdir()

    class Full(io.RawIOBase):       # takes 1 KiB, then the device is full
        def __init__(self, path):
            self.fh, self.room = builtins.open(path, "wb"), 1024

        def writable(self):
            return True

        def write(self, data):
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= len(data)
            return self.fh.write(data)

        def close(self):
            self.fh.close()
            super().close()

    def fake_open(path, mode="r", *args, **kwargs):
        if "w" in mode and Path(path).parent == out.parent:
            return Full(path)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(graphfm.embed, "open", fake_open, raising=False)
    code = main(["embed", "--checkpoint", str(finished), "--dataset", "synthetic-3", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and _errors(err) == [f"error: no space left on device while writing '{out.parent}': free space "
                                          "or choose another --out"], err[-2000:]
    assert list(out.parent.iterdir()) == []

"""Run folders: the lock, the ownership rule, and one-line errors on a full disk."""
from __future__ import annotations

import errno
import gc
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch

from graphfm import rundir
from graphfm.errors import CheckpointError
from graphfm.io import atomic_path, write_npy, write_text
from graphfm.rundir import (LOCK_FILE, DiskFullError, RunFolderError, RunLock, bench_lock, claim_run_folder,
                            disk_full_error, remove_run_files, run_files)

CHILD = r"""
import os, sys, time
from pathlib import Path
from graphfm.rundir import RunFolderError, claim_run_folder
folder, go, done = map(Path, sys.argv[1:4])
while not go.exists():
    time.sleep(0.002)
try:
    with claim_run_folder(folder):
        (folder.parent / f"won-{os.getpid()}").write_text("")
        while not done.exists():
            time.sleep(0.01)
except RunFolderError as exc:
    print("refused:", exc, file=sys.stderr)
    sys.exit(3)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, **info) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "earlier",
                                "command": "graphfm pretrain", **info}))
    return lock


def _snapshot(folder: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def _fake_run(folder: Path, snapshot: bool = True) -> None:
    """The files a finished pretraining run leaves (content is irrelevant to the rule, names are not)."""
    (folder / "logs").mkdir(parents=True)
    (folder / "state").mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.yaml").write_text("model: samgpt\nkwargs:\n  hidden: 8\n")
    (folder / "README.md").write_text("---\nlibrary_name: graphfm\ntags: [graphfm]\n---\n# card\n")
    (folder / "experiment.yaml").write_text("name: x\nmodel: {name: samgpt}\ntrainer: {max_steps: 3}\n")
    (folder / "loss.png").write_bytes(b"\x89PNG")
    (folder / "logs" / "metrics.csv").write_text("step,train/loss\n0,1.0\n")
    (folder / "logs" / "hparams.yaml").write_text("{}\n")
    (folder / "state" / "last.ckpt").write_bytes(b"state")
    (folder / ".model.safetensors.abc123.tmp").write_bytes(b"half")
    if snapshot:
        (folder / "step_5").mkdir()
        (folder / "step_5" / "model.safetensors").write_bytes(b"w5")
        (folder / "step_5" / "config.yaml").write_text("model: samgpt\nkwargs: {}\n")


# ----------------------------------------------------------------------------- the lock
def test_lock_is_created_and_removed_also_on_errors(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with RunLock(folder) as lock:
        info = json.loads((folder / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["started"] and "command" in info and info["token"] == lock.token
    assert not (folder / LOCK_FILE).exists()
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with RunLock(folder):
                raise exc
        assert not (folder / LOCK_FILE).exists()
    assert not folder.exists()                 # created by the lock and left empty: removed again
    with RunLock(folder):
        (folder / "result.json").write_text("{}")
    assert [p.name for p in folder.iterdir()] == ["result.json"]


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(RunFolderError, match="already in use by this process"):
            with RunLock(tmp_path):
                pass
        assert (tmp_path / LOCK_FILE).exists()     # the refused one did not remove the holder's lock
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_run_refuses_others_naming_folder_pid_and_host(tmp_path: Path) -> None:
    folder, go, done = tmp_path / "run", tmp_path / "go", tmp_path / "done"
    go.touch()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(go), str(done)])
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("won-*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert (tmp_path / f"won-{proc.pid}").exists()
        for kwargs in ({}, {"overwrite": True}):
            with pytest.raises(RunFolderError) as info:
                with claim_run_folder(folder, **kwargs):
                    pass
            message = str(info.value)
            assert str(folder) in message and str(proc.pid) in message and socket.gethostname() in message
            assert "\n" not in message
        with pytest.raises(RunFolderError, match=str(proc.pid)):
            with bench_lock(folder):
                pass
    finally:
        done.touch()
        assert proc.wait(timeout=120) == 0
    assert not (folder / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lock = _write_lock(tmp_path / "run")
    dead = json.loads(lock.read_text())["pid"]
    with caplog.at_level(logging.WARNING, logger="graphfm.rundir"):
        with claim_run_folder(tmp_path / "run"):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    records = [r.getMessage() for r in caplog.records]
    assert len(records) == 1 and "taking over" in records[0] and str(dead) in records[0], records
    assert not lock.exists() and list((tmp_path / "run").iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_is_recognised_as_stale(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A lock naming a live process that started after the lock's own (the pid was reused) is stale."""
    _write_lock(tmp_path, pid=os.getppid(), proc_start="1")
    with caplog.at_level(logging.WARNING, logger="graphfm.rundir"):
        with RunLock(tmp_path):
            pass
    assert sum("taking over" in r.getMessage() for r in caplog.records) == 1
    _write_lock(tmp_path, pid=os.getppid(), proc_start=rundir._proc_stat(os.getppid())[1])
    with pytest.raises(RunFolderError, match="in use by another graphfm run"):
        with RunLock(tmp_path):
            pass


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    lock = _write_lock(tmp_path, host="elsewhere-node-7")
    before = lock.read_bytes()
    with pytest.raises(RunFolderError) as info:
        with RunLock(tmp_path):
            pass
    assert "elsewhere-node-7" in str(info.value) and f"delete '{lock}'" in str(info.value)
    assert lock.read_bytes() == before


def test_an_unreadable_lock_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rundir, "_READ_RETRY_S", 0.05)
    (tmp_path / LOCK_FILE).write_text("not json")
    with pytest.raises(RunFolderError, match="not a readable graphfm lock.*delete that file"):
        with RunLock(tmp_path):
            pass
    assert (tmp_path / LOCK_FILE).read_text() == "not json"


def _race(tmp_path: Path, folder: Path, n: int) -> List[subprocess.CompletedProcess]:
    """Start ``n`` processes that claim ``folder`` at the same instant; the winner holds it until
    every other has given up. Returns ``(returncode, stderr)`` per process."""
    go, done = tmp_path / "go", tmp_path / "done"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(go), str(done)],
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    time.sleep(1.0)          # let them all reach the start line (a late one loses all the same)
    go.touch()
    deadline = time.monotonic() + 120
    while sum(p.poll() is None for p in procs) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    done.touch()
    out = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    go.unlink(), done.unlink()
    return procs, out


@pytest.mark.slow
def test_racing_processes_exactly_one_wins(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    for _ in range(3):
        procs, out = _race(tmp_path, folder, 3)
        winners = [p for p, (code, _) in zip(procs, out) if code == 0]
        assert len(winners) == 1, out
        for code, err in out:
            if code:
                assert code == 3 and str(folder) in err and f"process {winners[0].pid}" in err, err
        assert not (folder / LOCK_FILE).exists()
        for won in tmp_path.glob("won-*"):
            won.unlink()


@pytest.mark.slow
def test_racing_takeover_of_a_stale_lock_exactly_one_wins(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    for _ in range(3):
        _write_lock(folder)
        procs, out = _race(tmp_path, folder, 3)
        assert sum(code == 0 for code, _ in out) == 1, out
        assert sum(err.count("taking over") for _, err in out) == 1, out
        assert sorted(p.name for p in folder.iterdir()) == []      # no lock, no renamed stale copy left


# ----------------------------------------------------------------------------- ownership
def test_absent_empty_or_foreign_folders_are_free(tmp_path: Path) -> None:
    with pytest.raises(ValueError):             # a run that fails before writing leaves no folder behind
        with claim_run_folder(tmp_path / "a" / "b"):
            assert (tmp_path / "a" / "b" / LOCK_FILE).exists()
            raise ValueError("bad config")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    with claim_run_folder(tmp_path / "empty"):
        pass
    assert (tmp_path / "empty").is_dir()      # it was there before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    (tmp_path / "mine" / "config.yaml").write_text("model: {name: samgpt}\ntrainer: {max_steps: 3}\n")
    (tmp_path / "mine" / "README.md").write_text("# my project\n")
    assert run_files(tmp_path / "mine") == []
    with claim_run_folder(tmp_path / "mine"):
        pass
    with pytest.raises(RunFolderError, match="is a file"):
        with claim_run_folder(tmp_path / "mine" / "notes.txt"):
            pass


def test_a_finished_run_is_refused_and_left_byte_for_byte(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    before = _snapshot(run)
    with pytest.raises(RunFolderError) as info:
        with claim_run_folder(run):
            pass
    message = str(info.value)
    assert f"'{run}' holds another run" in message and "model.safetensors" in message
    assert "--overwrite" in message and "--resume" in message and "\n" not in message
    assert _snapshot(run) == before


def test_an_unfinished_run_is_refused_and_offers_resume(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "last.ckpt").write_bytes(b"s")
    (tmp_path / "experiment.yaml").write_text("model: {}\ntrainer: {}\n")
    with pytest.raises(RunFolderError, match="the state of an unfinished run .* continue it with --resume"):
        with claim_run_folder(tmp_path):
            pass
    (tmp_path / "state" / "last.ckpt").unlink()
    with pytest.raises(RunFolderError) as info:             # no state: only --overwrite is offered
        with claim_run_folder(tmp_path):
            pass
    assert "--resume" not in str(info.value) and "experiment.yaml" in str(info.value)


def test_overwrite_removes_only_graphfm_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    (run / "notes.txt").write_text("mine")
    (run / "logs" / "my_plot.py").write_text("mine")
    (run / "step_5" / "eval.json").write_text("{}")
    (run / "step_9").mkdir()                                   # a folder of the user's named like a snapshot
    (run / "step_9" / "data.txt").write_text("mine")
    (run / "embeddings.npy").write_bytes(b"mine")
    with caplog.at_level(logging.WARNING, logger="graphfm.rundir"):
        with claim_run_folder(run, overwrite=True):
            assert run_files(run) == []
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == [
        "embeddings.npy", "logs", "logs/my_plot.py", "notes.txt", "step_5", "step_5/eval.json",
        "step_9", "step_9/data.txt"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f"overwriting the run in '{run}'")


def test_overwrite_keeps_the_config_being_run_and_a_users_readme(tmp_path: Path) -> None:
    _fake_run(tmp_path, snapshot=False)
    (tmp_path / "README.md").write_text("# my notes\n")
    remove_run_files(tmp_path, keep=[tmp_path / "experiment.yaml"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "experiment.yaml"]
    assert not (tmp_path / "logs").exists() and not (tmp_path / "state").exists()


def test_resume_needs_a_state_and_excludes_overwrite(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    before = _snapshot(tmp_path)
    with claim_run_folder(tmp_path, resume=True):
        assert _snapshot(tmp_path) == {**before, LOCK_FILE: (tmp_path / LOCK_FILE).read_bytes()}
    with pytest.raises(RunFolderError, match="not both"):
        with claim_run_folder(tmp_path, resume=True, overwrite=True):
            pass
    (tmp_path / "state" / "last.ckpt").unlink()
    with pytest.raises(CheckpointError, match="cannot resume: .*last.ckpt' does not exist"):
        with claim_run_folder(tmp_path, resume=True):
            pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_finished_bench_folder_may_be_written_again(tmp_path: Path) -> None:
    (tmp_path / "samgpt.json").write_text("{}")
    with bench_lock(tmp_path):
        write_text(tmp_path / "samgpt.json", "{\"rows\": []}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samgpt.json"]


# ----------------------------------------------------------------------------- disk full
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_on_a_full_disk_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "emb.npy"
    write_npy(target, np.ones(3, dtype=np.float32))
    before = target.read_bytes()
    with pytest.raises(DiskFullError) as info:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            _enospc()
    assert str(info.value) == f"no space left on device while writing '{target.parent}': free space or choose " \
                              "another --out"
    assert info.value.exit_code == 1
    assert target.read_bytes() == before and sorted(p.name for p in target.parent.iterdir()) == ["emb.npy"]


@pytest.mark.parametrize("exc", [
    RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),   # safetensors
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    RuntimeError("wrapper"),                                   # an OSError(ENOSPC) in its cause chain
])
def test_out_of_space_failures_are_recognised(exc: BaseException, tmp_path: Path) -> None:
    if str(exc) == "wrapper":
        exc.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    error = disk_full_error(exc, tmp_path)
    assert isinstance(error, DiskFullError) and str(tmp_path) in str(error)


def test_errno_less_write_failures_count_only_on_a_full_file_system(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    torch_style = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    numpy_style = OSError("1000000 requested and 524256 written")
    assert disk_full_error(torch_style, tmp_path) is None and disk_full_error(numpy_style, tmp_path) is None
    assert disk_full_error(ValueError("bad"), tmp_path) is None
    monkeypatch.setattr(rundir, "_free_bytes", lambda folder: 4096)
    assert isinstance(disk_full_error(torch_style, tmp_path), DiskFullError)
    assert isinstance(disk_full_error(numpy_style, tmp_path), DiskFullError)
    assert disk_full_error(ValueError("bad"), tmp_path) is None       # not a write failure


def test_other_errors_pass_through_atomic_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad"):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A real 1 MiB file system (tmpfs), where the machine allows mounting one (root); else skipped."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root); the simulated tests cover the logic")
    try:
        yield mnt
    finally:
        gc.collect()           # a failed writer's file object, kept alive by the traceback, holds the mount
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_really_full_disk(tiny_fs: Path) -> None:
    from safetensors.torch import save_file

    target = tiny_fs / "out" / "emb.npy"
    write_npy(target, np.ones(4, dtype=np.float32))
    before = target.read_bytes()
    too_big = np.ones(1 << 19, dtype=np.float32)                  # 2 MiB

    def numpy_save(path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, too_big)

    writers = [numpy_save, lambda p: save_file({"a": torch.from_numpy(too_big)}, str(p)),
               lambda p: torch.save({"a": torch.from_numpy(too_big)}, p), lambda p: p.write_bytes(too_big.tobytes())]
    for write in writers:
        with pytest.raises(DiskFullError, match=f"while writing '{target.parent}'"):
            with atomic_path(target) as tmp:
                write(tmp)
        assert target.read_bytes() == before and sorted(p.name for p in target.parent.iterdir()) == ["emb.npy"]

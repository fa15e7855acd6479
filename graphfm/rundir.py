"""Run folders: one run per folder, a lock while it runs, and a clear error when the disk is full.

**A run folder belongs to one run.** :func:`claim_run_folder` is what ``graphfm pretrain --out DIR``
does first: it takes the folder's lock (:class:`RunLock`), then refuses a folder that holds another
run unless the caller continues it (``resume``) or replaces it (``overwrite``). A folder *holds a
run* when it has any of the files graphfm writes for one (:func:`run_files`):

* a checkpoint: ``model.safetensors``, or a ``config.yaml`` that is a checkpoint config
  (``{model: <name>, kwargs: {...}}``, not an experiment config a user keeps there);
* a run's record: ``experiment.yaml``, ``logs/metrics.csv``;
* the state of an unfinished run: ``state/last.ckpt``;
* a snapshot: ``step_<n>/`` holding a checkpoint.

An absent or empty folder, or one holding only other files, is free. ``overwrite`` removes only
graphfm's run files (the above, plus the model card ``README.md`` when it is one, ``loss.png``,
``logs/hparams.yaml``, leftover temporary files of interrupted writes, and ``logs/``, ``state/``,
``step_<n>/`` once empty): a file graphfm did not write is never deleted.

**The lock** is ``DIR/.graphfm.lock``, created atomically (``O_CREAT | O_EXCL``) and holding JSON
``{pid, host, started, command, token, proc_start}``; it is removed when the run ends, also on an
exception or Ctrl-C. Folders the lock created are removed again when the run leaves them empty (a refused or failed
run leaves no trace). A lock whose process is gone (same host, and the pid no longer runs, is a
zombie, or now belongs to a process started later) is *stale* and is taken over with one warning.
A lock from another host is never taken over (its process cannot be checked from here): the error
says to delete the file if that run is gone. Taking over is race-free between processes: the
check-and-take runs under an advisory ``flock`` of the folder where the file system offers one, and
the stale file is first renamed to a unique name and checked to be the one judged stale, so two
processes can never both take over.

**Disk full**: :func:`disk_full_error` recognises an out-of-space failure (``ENOSPC``/``EDQUOT``,
safetensors' "No space left on device", torch's and NumPy's errno-less write failures on a file
system with no space left) and turns it into a one-line :class:`DiskFullError` naming the folder.
:func:`graphfm.io.atomic_path` uses it, so every atomic write fails this way and leaves the previous
file intact.

Example::

    with claim_run_folder("runs/x", resume=False, overwrite=False):
        ...   # train, write the checkpoint
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Union

from graphfm.errors import CheckpointError, GraphFMError

PathLike = Union[str, Path]

__all__ = ["RunFolderError", "DiskFullError", "RunLock", "claim_run_folder", "bench_lock", "run_files",
           "remove_run_files", "disk_full_error", "disk_full_guard", "LOCK_FILE"]

LOCK_FILE = ".graphfm.lock"
STATE_FILE = "last.ckpt"        # graphfm.engine.resume.STATE_FILE (kept here: this module imports no torch)
OUT_FIX = "free space or choose another --out"
_log = logging.getLogger(__name__)
_HELD: Set[str] = set()         # tokens of the locks this process holds
_SNAPSHOT = re.compile(r"step_\d+")
_READ_RETRY_S = 2.0             # how long a lock file being written may stay unreadable


class RunFolderError(GraphFMError):
    """A run folder holds another run, or another run is using it (exit code 2)."""


class DiskFullError(GraphFMError):
    """No space left on the device while writing (exit code 1: the input was fine)."""

    exit_code = 1


# ----------------------------------------------------------------------------- disk full
_FULL_MARKERS = ("no space left on device", "os error 28", "code: 28,", "storagefull", "disk quota exceeded",
                 "os error 122", "quotaexceeded")
_NEARLY_FULL = 1 << 20   # free bytes under which an errno-less write failure is taken for a full disk


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: Set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 16:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _free_bytes(folder: Optional[PathLike]) -> Optional[int]:
    path = Path(folder) if folder is not None else None
    while path is not None and not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except (OSError, TypeError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException, folder: Optional[PathLike] = None) -> bool:
    """Whether ``exc`` (or an exception it came from) means the device or quota is full.

    torch's writer and ``np.save`` report a short write without an errno; such a failure counts
    when ``folder``'s file system has (almost) no space left."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(m in str(e).lower() for m in _FULL_MARKERS):
            return True
    if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, GraphFMError) and folder is not None:
        free = _free_bytes(folder)
        return free is not None and free < _NEARLY_FULL
    return False


def disk_full_error(exc: BaseException, folder: PathLike, fix: str = OUT_FIX) -> Optional[DiskFullError]:
    """A one-line :class:`DiskFullError` naming ``folder`` if ``exc`` is an out-of-space failure, else ``None``."""
    if isinstance(exc, DiskFullError):
        return exc
    if isinstance(exc, GraphFMError) or not isinstance(exc, Exception) or not is_disk_full(exc, folder):
        return None
    return DiskFullError(f"no space left on device while writing '{folder}': {fix}")


@contextmanager
def disk_full_guard(folder: PathLike, fix: str = OUT_FIX) -> Iterator[None]:
    """Re-raise an out-of-space failure escaping the block as a :class:`DiskFullError`."""
    try:
        yield
    except Exception as exc:
        error = disk_full_error(exc, folder, fix)
        if error is None or error is exc:
            raise
        raise error from exc


# ----------------------------------------------------------------------------- the lock
def _proc_stat(pid: int) -> Optional[tuple]:
    """``(state, start time in clock ticks)`` of a process from ``/proc`` (Linux), else ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _alive(info: Dict[str, Any]) -> bool:
    """Whether the process a lock on this host names still runs (the same process, not a reused pid)."""
    pid = info["pid"]
    if pid == os.getpid():
        return info.get("token") in _HELD
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # PermissionError: it runs, under another user
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, start = stat
    return state not in ("Z", "X") and info.get("proc_start") in (None, start)


def _parse(raw: bytes) -> Optional[Dict[str, Any]]:
    try:
        info = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    ok = isinstance(info, dict) and isinstance(info.get("pid"), int) and info["pid"] > 0 \
        and isinstance(info.get("host"), str)
    return info if ok else None


@contextmanager
def _folder_guard(folder: Path) -> Iterator[None]:
    """Serialise lock checks on ``folder`` with an advisory ``flock`` where the file system has one."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:          # e.g. NFS: the rename check below still keeps takeovers exclusive
            pass
        yield
    finally:
        os.close(fd)             # releases the flock


class RunLock:
    """Exclusive use of a folder by one live process, as a context manager.

    Args:
        folder (str or Path): The folder (created if absent).
        fix (str): How to get out of a conflict, ending the error message.
            (default: ``"wait for it to finish or choose another --out"``)

    Raises:
        RunFolderError: when a live process (or one on another host) holds the folder.
    """

    def __init__(self, folder: PathLike, fix: str = "wait for it to finish or choose another --out") -> None:
        self.folder, self.fix = Path(folder), fix
        self.path = self.folder / LOCK_FILE
        self.token: Optional[str] = None
        self.created: List[Path] = []

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def info(self) -> Dict[str, Any]:
        stat = _proc_stat(os.getpid())
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "command": " ".join(sys.argv)[:300], "token": self.token, "proc_start": stat and stat[1]}

    def acquire(self) -> None:
        """Create the lock, taking over a stale one; raise :class:`RunFolderError` if it is held."""
        if self.folder.exists() and not self.folder.is_dir():
            raise RunFolderError(f"'{self.folder}' is a file, not a folder; choose another --out")
        self.created = [d for d in (self.folder, *self.folder.parents) if not d.exists()]
        with disk_full_guard(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        self.token = uuid.uuid4().hex
        _HELD.add(self.token)    # before the file exists: another thread of this process must see it held
        try:
            content = json.dumps(self.info()).encode()
            for _ in range(10):
                with _folder_guard(self.folder):
                    if self._create(content):
                        return
                    raw, info = self._read()
                    if raw is None:          # released meanwhile: try again
                        continue
                    self._refuse_unless_stale(info)
                    if self._take_over(raw):
                        _log.warning("warning: taking over the lock of a run that is gone: '%s' named process %s "
                                     "on %s (started %s), which no longer runs", self.path, info["pid"],
                                     info["host"], info.get("started", "?"))
            raise RunFolderError(f"could not lock '{self.folder}': other processes keep taking it; "
                                 f"{self.fix}")
        except BaseException:
            _HELD.discard(self.token)
            self._remove_created()
            raise

    def release(self) -> None:
        """Remove the lock if it is still this object's (idempotent)."""
        if self.token is None:
            return
        try:
            info = _parse(self.path.read_bytes())
            if info is not None and info.get("token") == self.token:
                self.path.unlink()
        except FileNotFoundError:
            pass
        finally:
            _HELD.discard(self.token)
            self.token = None
            self._remove_created()

    def _remove_created(self) -> None:
        """Remove the folders :meth:`acquire` created if they are still empty (a refused or failed
        run leaves no trace)."""
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break
        self.created = []

    def _create(self, content: bytes) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise (disk_full_error(exc, self.folder) or exc) from exc
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException as exc:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            error = disk_full_error(exc, self.folder)
            if error is not None:
                raise error from exc
            raise
        os.close(fd)
        return True

    def _read(self) -> tuple:
        """``(raw bytes, parsed info)`` of the lock file; ``(None, None)`` once it is gone. A lock
        being written (empty for an instant) is read again for up to two seconds."""
        deadline = time.monotonic() + _READ_RETRY_S
        while True:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None, None
            info = _parse(raw)
            if info is not None or time.monotonic() > deadline:
                return raw, info
            time.sleep(0.02)

    def _refuse_unless_stale(self, info: Optional[Dict[str, Any]]) -> None:
        if info is None:
            raise RunFolderError(f"'{self.path}' exists but is not a readable graphfm lock; if no graphfm run "
                                 f"is using '{self.folder}', delete that file")
        who = (f"process {info['pid']} on host '{info['host']}' since {info.get('started', '?')} "
               f"({str(info.get('command', ''))[:120]})")
        if info["host"] != socket.gethostname():
            raise RunFolderError(f"'{self.folder}' is locked by a graphfm run on another host: {who}; "
                                 f"{self.fix}; if that run is gone, delete '{self.path}'")
        if _alive(info):
            if info["pid"] == os.getpid():
                raise RunFolderError(f"'{self.folder}' is already in use by this process ({who}); "
                                     "use another folder for a second run")
            raise RunFolderError(f"'{self.folder}' is in use by another graphfm run: {who}; {self.fix}")

    def _take_over(self, raw: bytes) -> bool:
        """Remove the stale lock ``raw`` if it is still the file in place (rename to a unique name,
        then compare); put back anything else. True once it is gone."""
        aside = self.folder / f"{LOCK_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.stale"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            if aside.read_bytes() == raw:
                return True
            try:                 # another process's fresh lock: put it back unless a newer one is there
                os.link(aside, self.path)
            except FileExistsError:
                pass
            except OSError:
                os.rename(aside, self.path)
            return False
        finally:
            aside.unlink(missing_ok=True)


@contextmanager
def bench_lock(out_dir: PathLike) -> Iterator[RunLock]:
    """Hold ``out_dir``'s lock for a benchmark: two benches never write one folder at once. Unlike a
    pretraining run, a finished benchmark's files may be replaced."""
    with RunLock(out_dir) as lock, disk_full_guard(out_dir):
        yield lock


# ----------------------------------------------------------------------------- run files
def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _is_checkpoint_config(path: Path) -> bool:
    data = _read_yaml(path) if path.is_file() else None
    return isinstance(data, dict) and isinstance(data.get("model"), str) and isinstance(data.get("kwargs"), dict)


def _is_model_card(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")[:600] if path.is_file() else ""
    except OSError:
        return False
    return head.startswith("---") and "library_name: graphfm" in head


def _snapshots(out: Path) -> List[Path]:
    dirs = [p for p in out.iterdir() if p.is_dir() and _SNAPSHOT.fullmatch(p.name)] if out.is_dir() else []
    return sorted(p for p in dirs if (p / "model.safetensors").is_file() or _is_checkpoint_config(p / "config.yaml"))


def run_files(out_dir: PathLike) -> List[str]:
    """The files (relative names) that make ``out_dir`` hold a run; empty when it holds none."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = [name for name in ("model.safetensors", "experiment.yaml", f"state/{STATE_FILE}", "logs/metrics.csv")
             if (out / name).is_file()]
    if _is_checkpoint_config(out / "config.yaml"):
        found.insert(1, "config.yaml")
    return found + [f"{p.name}/" for p in _snapshots(out)]


def _checkpoint_files(folder: Path) -> List[Path]:
    files = [folder / "model.safetensors"] if (folder / "model.safetensors").is_file() else []
    files += [p for p, ok in ((folder / "config.yaml", _is_checkpoint_config), (folder / "README.md", _is_model_card))
              if ok(p)]
    return files + _leftovers(folder, ("model.safetensors", "config.yaml", "README.md"))


def _leftovers(folder: Path, names: Sequence[str]) -> List[Path]:
    """Temporary files of interrupted atomic writes (``.<name>.<random>.tmp``) of ``names``."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.name.endswith(".tmp")
            and any(p.name.startswith(f".{n}.") for n in names)]


def _graphfm_files(out: Path) -> List[Path]:
    files = _checkpoint_files(out)
    files += [p for p in (out / "experiment.yaml", out / "loss.png", out / "logs" / "metrics.csv",
                          out / "logs" / "hparams.yaml", out / "state" / STATE_FILE,
                          out / "state" / f".{STATE_FILE}.tmp") if p.is_file()]
    files += _leftovers(out, ("experiment.yaml", "loss.png")) + _leftovers(out / "logs", ("metrics.csv",))
    for snap in _snapshots(out):
        files += _checkpoint_files(snap)
    return files


def remove_run_files(out_dir: PathLike, keep: Sequence[PathLike] = ()) -> int:
    """Delete graphfm's run files in ``out_dir`` (see the module docstring), never ``keep`` nor any
    other file; remove ``logs/``, ``state/`` and snapshot folders left empty. Returns the count removed."""
    out = Path(out_dir)
    kept = {Path(p).resolve() for p in keep}
    removed = 0
    snapshots = _snapshots(out)
    for path in _graphfm_files(out):
        if path.resolve() not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    for folder in [out / "logs", out / "state", *snapshots]:
        try:
            folder.rmdir()       # only when empty
        except OSError:
            pass
    return removed


@contextmanager
def claim_run_folder(out_dir: PathLike, resume: bool = False, overwrite: bool = False,
                     keep: Sequence[PathLike] = ()) -> Iterator[RunLock]:
    """Lock ``out_dir`` for one run and apply the ownership rule (see the module docstring).

    Args:
        out_dir (str or Path): The run folder (created if absent).
        resume (bool): Continue the run in the folder; its ``state/last.ckpt`` must exist.
            (default: ``False``)
        overwrite (bool): Replace the run in the folder: its graphfm files are removed first,
            said in one warning line. (default: ``False``)
        keep (sequence of paths): Files ``overwrite`` must not remove (e.g. the config being run).
            (default: ``()``)

    Raises:
        RunFolderError: the folder is locked by a live run, holds another run (and neither
            ``resume`` nor ``overwrite`` is given), or both ``resume`` and ``overwrite`` are given.
        CheckpointError: ``resume`` without a saved state.
        DiskFullError: out of space while the block runs.
    """
    out = Path(out_dir)
    if resume and overwrite:
        raise RunFolderError("--resume continues the run in the folder and --overwrite replaces it: give one "
                             "of them, not both")
    with RunLock(out) as lock, disk_full_guard(out):
        found = run_files(out)
        if resume:
            state = out / "state" / STATE_FILE
            if not state.is_file():
                raise CheckpointError(f"cannot resume: '{state}' does not exist; run without --resume, or with "
                                      "trainer.ckpt_every > 0 so that state/ is written")
        elif found and overwrite:
            removed = remove_run_files(out, keep)
            _log.warning("overwriting the run in '%s' (%d graphfm files removed, other files kept)", out, removed)
        elif found:
            kind = "the state of an unfinished run" if f"state/{STATE_FILE}" in found and \
                "model.safetensors" not in found else "another run"
            cont = "continue it with --resume, " if f"state/{STATE_FILE}" in found else ""
            raise RunFolderError(f"'{out}' holds {kind} ({', '.join(found[:5])}); {cont}replace it with "
                                 "--overwrite, or choose another --out")
        yield lock

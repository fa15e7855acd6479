"""Opt-in download of raw dataset files: ``graphfm data download NAME... [--mirror URL]``.

Nothing in graphfm downloads implicitly; this module runs only when a user asks for
it. Files are fetched either

* from their **origins**, the sources each folder's ``SOURCE.md`` of the offline copy
  records: PyG's URLs for Planetoid (``kimiyoung/planetoid``), Amazon
  (``shchur/gnn-benchmark``) and TU (``chrsmrrs.com`` zips, from which the needed
  members are extracted), the original MUSAE and text-attributed files at the
  commits ``SOURCE.md`` names, and Debian's package index from snapshot.debian.org at the
  release ``SOURCE.md`` names (:data:`ORIGIN_FILES`; ``Packages`` is published only
  compressed, so ``Packages.xz`` is decompressed while it streams, and the uncompressed
  bytes are what is checked); or
* from a **mirror**: any ``http(s)://`` or ``file://`` URL laid out as the data root
  (``<mirror>/planetoid/Cora/raw/ind.cora.x``, ...), e.g. an organisation's copy of
  ``../shared/datasets``.

Every file is checked against the sha256 and size in the manifest shipped with the
package (:mod:`graphfm.data.verify`) while it streams into a temporary file beside
its destination, and renamed into place only when it matches: a wrong or truncated
download is refused with a :class:`~graphfm.errors.DataError` and leaves no file.

Example::

    from graphfm.data.download import download
    download(["Cora", "MUTAG"], root="data")                       # from the origins
    download(["Cora"], root="data", mirror="https://mirror.example.org/graphfm-data")
"""
from __future__ import annotations

import hashlib
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from graphfm.data.registry import PathLike, get_spec, resolve_root
from graphfm.data.verify import load_manifest, sha256_file
from graphfm.errors import DataError
from graphfm.io import atomic_path

__all__ = ["download", "origin_url", "manifest_files"]

_MUSAE = "https://raw.githubusercontent.com/benedekrozemberczki/datasets/8ac937178d60da00e56c9ba7b1d672dca31877b2"
_TAG = "https://raw.githubusercontent.com/Chyu0401/CoT-Contrast/0e65c095508be435f131db5f97ceb0676c8cfe5c/datasets"
#: Origin of each raw folder's files: (group, name) -> URL template of one file, or of a zip
#: (``zip:`` prefix) whose member ``<name>/<file>`` is the file. ``{file}`` is the file name.
ORIGINS: Dict[Tuple[str, str], str] = {
    ("planetoid", "*"): "https://github.com/kimiyoung/planetoid/raw/master/data/{file}",
    ("amazon", "*"): "https://github.com/shchur/gnn-benchmark/raw/master/data/npz/{file}",
    ("tu", "*"): "zip:https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip",
    ("musae", "FacebookPagePage"): _MUSAE + "/facebook_large/{file}",
    ("musae", "LastFMAsia"): _MUSAE + "/lasftm_asia/{file}",
    ("tag", "*"): _TAG + "/{file}",
}
_DEBIAN = "https://snapshot.debian.org/archive/debian/20260713T000000Z/dists/bookworm"
#: Origins of single files, before :data:`ORIGINS`: relative path -> URL; an ``xz:`` prefix means
#: the file is the xz-decompressed content of the URL. Debian 12.15's index (2026-07-11) stays the
#: suite's until its next point release; the snapshot pins it (a later index is refused by sha256).
ORIGIN_FILES: Dict[str, str] = {
    "debian/bookworm/raw/Packages": "xz:" + _DEBIAN + "/main/binary-amd64/Packages.xz",
    "debian/bookworm/raw/InRelease": _DEBIAN + "/InRelease",
}
SCHEMES = ("http", "https", "file")
CHUNK = 1 << 16


def manifest_files(name: str) -> Dict[str, Dict[str, object]]:
    """Manifest entries (relative path -> sha256, bytes) of dataset ``name``'s raw files.

    Raises:
        DataError: unknown name, or a dataset with no checksums in the manifest.
    """
    spec = get_spec(name)
    if not spec.files:
        raise DataError(f"dataset '{spec.name}' has no raw files (it is built in); there is nothing to download")
    prefix = spec.folder.rstrip("/") + "/"
    entries = {rel: e for rel, e in load_manifest().items() if rel.startswith(prefix)}
    missing = [f for f in spec.files if prefix + f not in entries]
    if missing:
        raise DataError(f"dataset '{spec.name}': no sha256 recorded in graphfm's manifest for {', '.join(missing)}, "
                        "so a download could not be verified; bring the files yourself (see `graphfm data list`)")
    return entries


def origin_url(rel: str) -> Tuple[str, Optional[str]]:
    """``(url, zip member or None)`` of the origin of raw file ``rel`` (relative to the data root);
    a URL that starts with ``xz:`` names an xz-compressed copy of the file."""
    if rel in ORIGIN_FILES:
        return ORIGIN_FILES[rel], None
    parts = rel.split("/")
    group, name, file = parts[0], parts[1], parts[-1]
    template = ORIGINS.get((group, name)) or ORIGINS.get((group, "*"))
    if template is None:
        raise DataError(f"no origin is known for '{rel}'; pass --mirror URL with the data root's layout")
    if template.startswith("zip:"):
        return template[4:].format(name=name, file=file), f"{name}/{file}"
    return template.format(name=name, file=file), None


def download(names: Sequence[str], root: Optional[PathLike] = None, mirror: Optional[str] = None,
             progress: bool = True, timeout: float = 60.0) -> List[Path]:
    """Fetch, verify and place the raw files of ``names`` under the data root.

    Files already present with the right sha256 are kept as they are.

    Args:
        names (list[str]): Dataset names (see :func:`graphfm.data.list_datasets`).
        root (str or path, optional): Data root. (default: ``$GRAPHFM_DATA`` or ``./data``)
        mirror (str, optional): Base URL laid out as the data root; default: each file's
            origin.
        progress (bool): Show a progress bar per file. (default: ``True``)
        timeout (float): Seconds to wait for a server. (default: ``60``)

    Returns:
        list[Path]: The files written (not those already present).

    Raises:
        DataError: unknown name, unreachable URL, or a file whose sha256 or size differs
            from the manifest (nothing is left behind for that file).
    """
    if not names:
        raise DataError("name the datasets to download, e.g. `graphfm data download Cora MUTAG`")
    if mirror is not None:
        _check_scheme(mirror)
    base = resolve_root(root)
    plan = {rel: entry for name in names for rel, entry in manifest_files(name).items()}
    todo = {rel: e for rel, e in plan.items()
            if not ((base / rel).is_file() and sha256_file(base / rel) == e["sha256"])}
    written: List[Path] = []
    zips: Dict[str, Dict[str, str]] = {}
    for rel, entry in todo.items():
        if mirror is not None:
            url = mirror.rstrip("/") + "/" + urllib.parse.quote(rel)
            written.append(_fetch(url, base / rel, entry, rel, progress, timeout))
            continue
        url, member = origin_url(rel)
        if member is None:
            written.append(_fetch(url, base / rel, entry, rel, progress, timeout))
        else:
            zips.setdefault(url, {})[rel] = member
    for url, members in zips.items():
        written.extend(_fetch_from_zip(url, members, base, plan, progress, timeout))
    return written


# ----------------------------------------------------------------------------- internals
def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in SCHEMES:
        raise DataError(f"cannot download from '{url}': use an http://, https:// or file:// URL")


def _open(url: str, timeout: float):
    _check_scheme(url)
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - scheme checked above
    except urllib.error.HTTPError as exc:
        raise DataError(f"could not download '{url}': HTTP {exc.code} {exc.reason}; check the name, or "
                        "the mirror's layout (<mirror>/<group>/<Name>/raw/<file>)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"could not download '{url}' ({reason}); check the network, or pass --mirror URL") from None


def _bar(total: Optional[int], desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False,
                disable=not enabled)


def _stream_verified(source, dest: Path, entry: Dict[str, object], what: str, bar) -> Path:
    """Copy ``source`` into ``dest`` atomically, refusing it unless sha256 and size match."""
    digest, size = hashlib.sha256(), 0
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            for block in iter(lambda: source.read(CHUNK), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
                bar.update(len(block))
        got, want = digest.hexdigest(), str(entry["sha256"])
        if got != want or size != int(entry["bytes"]):
            raise DataError(f"refused {what}: sha256 {got[:16]}... ({size} bytes) differs from graphfm's manifest "
                            f"({want[:16]}..., {entry['bytes']} bytes); the source is corrupt or a different "
                            "version. Nothing was written; try another mirror, or copy the file from an offline copy "
                            "(e.g. ../shared/datasets)")
    return dest


def _fetch(url: str, dest: Path, entry: Dict[str, object], rel: str, progress: bool, timeout: float) -> Path:
    """Download ``url`` (``xz:URL``: decompress it on the fly) into ``dest``, verified."""
    xz = url.startswith("xz:")
    url = url[3:] if xz else url
    with _open(url, timeout) as response, _bar(int(entry["bytes"]), rel, progress) as bar:
        if not xz:
            return _stream_verified(response, dest, entry, f"'{url}'", bar)
        import lzma

        try:
            with lzma.open(response) as source:
                return _stream_verified(source, dest, entry, f"'{url}' (decompressed)", bar)
        except (lzma.LZMAError, EOFError) as exc:
            raise DataError(f"'{url}' is not a valid xz file ({exc}); nothing was written. Copy '{rel}' from "
                            "../shared/datasets instead, or pass --mirror URL with the data root's layout") from None


def _fetch_from_zip(url: str, members: Dict[str, str], base: Path, plan: Dict[str, Dict[str, object]],
                    progress: bool, timeout: float) -> List[Path]:
    written = []
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=".download-") as tmp:
        archive = Path(tmp) / "archive.zip"
        with _open(url, timeout) as response, open(archive, "wb") as out:
            total = response.headers.get("Content-Length")
            with _bar(int(total) if total else None, url.rsplit("/", 1)[-1], progress) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
        try:
            with zipfile.ZipFile(archive) as zf:
                names = set(zf.namelist())
                for rel, member in members.items():
                    if member not in names:
                        raise DataError(f"'{url}' has no member '{member}'; the archive changed upstream: pass "
                                        "--mirror URL with the data root's layout")
                    with zf.open(member) as source, _bar(int(plan[rel]["bytes"]), rel, progress) as bar:
                        written.append(_stream_verified(source, base / rel, plan[rel], f"'{member}' of '{url}'", bar))
        except zipfile.BadZipFile:
            raise DataError(f"'{url}' is not a valid zip archive; try again or pass --mirror URL") from None
    return written

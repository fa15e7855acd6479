"""``graphfm data download``: from a mirror served on 127.0.0.1, checked against the manifest."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from graphfm.cli import main
from graphfm.data import list_datasets
from graphfm.data.download import download, manifest_files, origin_url
from graphfm.data.verify import verify_root
from graphfm.errors import DataError

SOURCE = Path(os.environ.get("GRAPHFM_DATA_SOURCE")
              or Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets").resolve()


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (an ephemeral port) in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: D401 - keep test output clean
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def mirror_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the offline datasets' Cora and MUTAG folders (the data root's layout)."""
    if not SOURCE.is_dir():
        pytest.skip(f"offline datasets not found at {SOURCE}; set $GRAPHFM_DATA_SOURCE")
    out = tmp_path_factory.mktemp("mirror")
    for folder in ("planetoid/Cora", "tu/MUTAG"):
        shutil.copytree(SOURCE / folder / "raw", out / folder / "raw")
    return out


def test_download_from_a_localhost_mirror_into_an_empty_root(mirror_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "root"
    with serve(mirror_dir) as url:
        assert main(["data", "download", "Cora", "MUTAG", "--mirror", url, "--data-root", str(root)]) == 0
        assert "14 file(s) downloaded and verified" in capsys.readouterr().out
        assert download(["Cora"], root=root, mirror=url, progress=False) == []   # present and valid: kept
    assert verify_root(root, folders=["planetoid/Cora", "tu/MUTAG"]) == []
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]          # no temporary leftovers
    present = {r["name"]: r["present"] for r in list_datasets(root)}
    assert present["Cora"] and present["MUTAG"] and not present["CiteSeer"]


def test_a_wrong_checksum_is_refused_and_leaves_no_file(mirror_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(mirror_dir / "planetoid", bad / "planetoid")
    target = bad / "planetoid/Cora/raw/ind.cora.y"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")                    # same size, other bytes
    root = tmp_path / "root"
    with serve(bad) as url:
        with pytest.raises(DataError, match=r"refused .*ind\.cora\.y.*differs from graphfm's manifest"):
            download(["Cora"], root=root, mirror=url, progress=False)
    assert not (root / "planetoid/Cora/raw/ind.cora.y").exists()
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with serve(tmp_path) as url:                                               # an empty mirror: 404
        assert main(["data", "download", "Cora", "--mirror", url, "--data-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and "HTTP 404" in err and err.count("\n") == 1
    assert main(["data", "download", "Atlantis", "--data-root", str(tmp_path)]) == 2
    assert "unknown dataset 'Atlantis'" in capsys.readouterr().err
    assert main(["data", "download", "Cora", "--mirror", "ftp://example.org"]) == 2
    assert main(["data", "download"]) == 2
    assert main(["data", "download", "PubMed", "--data-root", str(tmp_path)]) == 2  # no checksums: refused
    assert "no sha256 recorded" in capsys.readouterr().err


def test_origins_are_the_recorded_sources() -> None:
    assert origin_url("planetoid/Cora/raw/ind.cora.x") == (
        "https://github.com/kimiyoung/planetoid/raw/master/data/ind.cora.x", None)
    assert origin_url("tu/MUTAG/raw/MUTAG_A.txt") == (
        "https://www.chrsmrrs.com/graphkerneldatasets/MUTAG.zip", "MUTAG/MUTAG_A.txt")
    assert origin_url("musae/LastFMAsia/raw/lastfm_asia_edges.csv")[0].endswith("/lasftm_asia/lastfm_asia_edges.csv")
    assert origin_url("amazon/Photo/raw/amazon_electronics_photo.npz")[0].startswith("https://github.com/shchur/")
    assert set(manifest_files("Cora")) == {f"planetoid/Cora/raw/ind.cora.{s}" for s in
                                           ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")}


def test_debians_index_comes_decompressed_from_its_xz_origin(tmp_path: Path, monkeypatch) -> None:
    import hashlib
    import lzma

    from graphfm.data import download as dl

    url, member = origin_url("debian/bookworm/raw/Packages")
    assert url.startswith("xz:https://snapshot.debian.org/") and url.endswith("/main/binary-amd64/Packages.xz")
    assert member is None and origin_url("debian/bookworm/raw/InRelease")[0].endswith("/dists/bookworm/InRelease")
    assert set(manifest_files("Debian")) == {"debian/bookworm/raw/Packages", "debian/bookworm/raw/InRelease"}

    payload = {"Packages": b"Package: a\nSection: utils\nDescription: a tool\n\n" * 50, "InRelease": b"signed\n"}
    site = tmp_path / "site"
    site.mkdir()
    (site / "Packages.xz").write_bytes(lzma.compress(payload["Packages"]))
    (site / "InRelease").write_bytes(payload["InRelease"])
    manifest = {f"debian/bookworm/raw/{k}": {"sha256": hashlib.sha256(v).hexdigest(), "bytes": len(v)}
                for k, v in payload.items()}
    monkeypatch.setattr(dl, "load_manifest", lambda: manifest)
    monkeypatch.setattr(dl, "ORIGIN_FILES", {"debian/bookworm/raw/Packages": "xz:" + (site / "Packages.xz").as_uri(),
                                             "debian/bookworm/raw/InRelease": (site / "InRelease").as_uri()})
    root = tmp_path / "root"
    assert len(download(["Debian"], root=root, progress=False)) == 2
    assert (root / "debian/bookworm/raw/Packages").read_bytes() == payload["Packages"]   # uncompressed bytes

    (site / "Packages.xz").write_bytes(lzma.compress(payload["Packages"] + b"Package: b\n"))
    (root / "debian/bookworm/raw/Packages").unlink()
    with pytest.raises(DataError, match=r"refused .*Packages.xz' \(decompressed\).*differs from graphfm's manifest"):
        download(["Debian"], root=root, progress=False)
    (site / "Packages.xz").write_bytes(b"not xz at all")
    with pytest.raises(DataError, match=r"is not a valid xz file .*Copy 'debian/bookworm/raw/Packages' from"):
        download(["Debian"], root=root, progress=False)
    assert not (root / "debian/bookworm/raw/Packages").exists()
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]

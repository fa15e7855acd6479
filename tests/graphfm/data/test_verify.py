"""sha256 manifest: the shared copy passes, tampered and missing files are reported."""
import shutil

from graphfm.data.verify import load_manifest, verify_root


def test_manifest_covers_every_raw_file(data_root):
    raw = {str(p.relative_to(data_root)) for p in data_root.rglob("*")
           if p.is_file() and p.parent.name == "raw"}
    assert raw == set(load_manifest())


def test_clean_copy_passes(data_root):
    assert verify_root(data_root) == []


def test_tampered_and_missing_files(data_root, tmp_path):
    shutil.copytree(data_root / "planetoid" / "Cora", tmp_path / "planetoid" / "Cora")
    target = tmp_path / "planetoid/Cora/raw/ind.cora.y"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    (tmp_path / "planetoid/Cora/raw/ind.cora.tx").unlink()
    problems = verify_root(tmp_path, folders=["planetoid/Cora"])
    assert len(problems) == 2
    assert any(p.startswith("mismatch: planetoid/Cora/raw/ind.cora.y") for p in problems)
    assert any(p.startswith("missing: planetoid/Cora/raw/ind.cora.tx") for p in problems)
    assert len(verify_root(tmp_path)) == len(load_manifest()) - 6  # 6 Cora files still fine

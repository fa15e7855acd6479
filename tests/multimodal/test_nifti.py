import gzip
import struct

import numpy as np
import pytest

from graphfm.errors import DataError
from multimodal.nifti import read_nifti, write_nifti


def handmade_nifti(data: np.ndarray, endian: str = "<", slope: float = 0.0, inter: float = 0.0) -> bytes:
    """A NIfTI-1 file built field by field from the specification (independent of write_nifti)."""
    header = bytearray(352)
    struct.pack_into(endian + "i", header, 0, 348)
    struct.pack_into(endian + "8h", header, 40, 3, *data.shape, 1, 1, 1, 1)
    struct.pack_into(endian + "hh", header, 70, 4, 16)  # int16
    struct.pack_into(endian + "8f", header, 76, 1.0, 2.0, 3.0, 4.0, 1, 1, 1, 1)
    struct.pack_into(endian + "fff", header, 108, 352.0, slope, inter)
    header[344:348] = b"n+1\x00"
    body = data.astype(endian + "i2").tobytes(order="F")
    return bytes(header) + body


@pytest.mark.parametrize("endian", ["<", ">"])
def test_reads_a_handmade_file_in_both_byte_orders(tmp_path, endian):
    data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    path = tmp_path / "vol.nii"
    path.write_bytes(handmade_nifti(data, endian))
    out, hdr = read_nifti(path)
    assert out.dtype == np.int16 and np.array_equal(out, data)
    assert out[1, 2, 3] == data[1, 2, 3]  # Fortran order: x varies fastest on disk
    assert hdr["dim"] == (2, 3, 4) and hdr["pixdim"][1:4] == (2.0, 3.0, 4.0)
    assert np.allclose(np.diag(hdr["affine"]), [2, 3, 4, 1])


def test_scaling_and_gzip(tmp_path):
    data = np.arange(8, dtype=np.int16).reshape(2, 2, 2)
    path = tmp_path / "vol.nii.gz"
    path.write_bytes(gzip.compress(handmade_nifti(data, slope=0.5, inter=10.0)))
    out, _ = read_nifti(path)
    assert np.allclose(out, data * 0.5 + 10.0)


@pytest.mark.parametrize("name", ["a.nii", "b.nii.gz"])
def test_writer_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 6, 7)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    affine[:3, 3] = [-10, 4, 2]
    write_nifti(tmp_path / name, data, affine)
    out, hdr = read_nifti(tmp_path / name)
    assert np.array_equal(out, data) and np.allclose(hdr["affine"], affine)
    assert hdr["sform_code"] == 1 and hdr["pixdim"][1:4] == pytest.approx((1.5, 1.5, 2.0))


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_nifti(tmp_path / "missing.nii")
    (tmp_path / "junk.nii").write_bytes(b"x" * 400)
    with pytest.raises(DataError, match="not a NIfTI-1 file"):
        read_nifti(tmp_path / "junk.nii")
    data = np.zeros((4, 4, 4), np.int16)
    (tmp_path / "short.nii").write_bytes(handmade_nifti(data)[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_nifti(tmp_path / "short.nii")


def test_nifti_subject_folder_dataset(tmp_path):
    from multimodal.data import load_multimodal

    rng = np.random.default_rng(0)
    for subject in ("s1", "s2", "s3"):
        for contrast in ("t1", "flair"):
            (tmp_path / subject).mkdir(exist_ok=True)
            write_nifti(tmp_path / subject / f"{contrast}.nii.gz", rng.random((10, 12, 9)).astype(np.float32))
    data = load_multimodal(str(tmp_path), volume_size=8)
    assert set(data.specs) == {"flair", "t1"} and data.tensors["t1"].shape == (3, 1, 8, 8, 8)
    assert data.info["subjects"] == ["s1", "s2", "s3"]
    (tmp_path / "s3" / "t1.nii.gz").unlink()
    with pytest.raises(DataError, match="missing"):
        load_multimodal(str(tmp_path), modalities=["t1", "flair"])

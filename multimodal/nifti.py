"""A minimal NIfTI-1 reader/writer in numpy (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs).

Only what BM-MAE needs to read a user's MRI volumes: the 348-byte header (dimensions,
data type, voxel sizes, scaling, qform/sform affine) and the voxel array, which NIfTI
stores in Fortran order (x fastest). Follows the NIfTI-1 specification
(https://nifti.nimh.nih.gov/pub/dist/src/niftilib/nifti1.h); ``nibabel`` is not needed.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from graphfm.errors import DataError
from graphfm.io import atomic_path

HEADER_SIZE = 348

#: NIfTI ``datatype`` code -> numpy dtype (without byte order).
DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
CODES = {np.dtype(v).str[1:]: k for k, v in DTYPES.items()}

PathLike = Union[str, Path]


def _open(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def parse_header(raw: bytes, where: str = "file") -> Dict[str, Any]:
    """Decode a NIfTI-1 header (either byte order) into a dict.

    Returns:
        dict: ``endian`` ('<' or '>'), ``dim`` (tuple of sizes), ``datatype``, ``bitpix``,
        ``pixdim`` (8 floats), ``vox_offset``, ``scl_slope``, ``scl_inter``, ``magic``,
        ``qform_code``, ``sform_code``, ``affine`` (4x4 array), ``descrip``.

    Raises:
        DataError: if the bytes are not a NIfTI-1 header.
    """
    if len(raw) < HEADER_SIZE:
        raise DataError(f"{where} is too short ({len(raw)} bytes) to hold a NIfTI-1 header (348 bytes)")
    endian = next((e for e in "<>" if struct.unpack(e + "i", raw[:4])[0] == HEADER_SIZE), None)
    magic = raw[344:348].rstrip(b"\x00")
    if endian is None or magic not in (b"n+1", b"ni1"):
        raise DataError(f"{where} is not a NIfTI-1 file (sizeof_hdr/magic mismatch); convert it to .nii or .nii.gz")

    def get(fmt: str, offset: int) -> Tuple[Any, ...]:
        return struct.unpack_from(endian + fmt, raw, offset)

    dim = get("8h", 40)
    if not 1 <= dim[0] <= 7:
        raise DataError(f"{where}: invalid NIfTI dim[0]={dim[0]} (must be 1..7)")
    hdr = {"endian": endian, "dim": tuple(int(d) for d in dim[1:1 + dim[0]]), "datatype": get("h", 70)[0],
           "bitpix": get("h", 72)[0], "pixdim": get("8f", 76), "vox_offset": get("f", 108)[0],
           "scl_slope": get("f", 112)[0], "scl_inter": get("f", 116)[0], "qform_code": get("h", 252)[0],
           "sform_code": get("h", 254)[0], "magic": magic.decode(),
           "descrip": raw[148:228].split(b"\x00")[0].decode("latin-1")}
    hdr["affine"] = _affine(hdr, get)
    return hdr


def _affine(hdr: Dict[str, Any], get: Any) -> np.ndarray:
    """Voxel -> world affine: sform if set, else qform (quaternion), else voxel sizes."""
    pix = hdr["pixdim"]
    if hdr["sform_code"] > 0:
        return np.vstack([np.array(get("4f", off)) for off in (280, 296, 312)] + [np.array([0, 0, 0, 1.0])])
    affine = np.diag([pix[1] or 1.0, pix[2] or 1.0, pix[3] or 1.0, 1.0])
    if hdr["qform_code"] > 0:
        b, c, d = get("3f", 256)
        a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
        rot = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]])
        qfac = -1.0 if pix[0] < 0 else 1.0
        affine[:3, :3] = rot @ np.diag([pix[1], pix[2], pix[3] * qfac])
        affine[:3, 3] = get("3f", 268)
    return affine


def read_nifti(path: PathLike) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Read a NIfTI-1 image.

    Args:
        path: ``.nii``, ``.nii.gz`` or ``.hdr`` (with its ``.img``) file.

    Returns:
        tuple: ``(data, header)``: the voxel array in (x, y, z, ...) index order, scaled by
        ``scl_slope``/``scl_inter`` when those are set (then float), and the header dict
        of :func:`parse_header`.

    Raises:
        DataError: for a missing file, a non-NIfTI file, an unsupported data type or a
            truncated data block.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"NIfTI file '{path}' does not exist")
    raw = _open(path)
    hdr = parse_header(raw, where=f"'{path}'")
    if hdr["datatype"] not in DTYPES:
        raise DataError(f"'{path}': NIfTI datatype {hdr['datatype']} is not supported "
                        f"(supported: {sorted(DTYPES)}); convert the image to float32")
    dtype = np.dtype(hdr["endian"] + DTYPES[hdr["datatype"]])
    if hdr["magic"] == "ni1":
        img = path.with_suffix(".img")
        body, offset = _open(img) if img.is_file() else b"", int(hdr["vox_offset"])
        if not body:
            raise DataError(f"'{path}' is a .hdr without its '{img.name}' data file")
    else:
        body, offset = raw, int(hdr["vox_offset"])
    count = int(np.prod(hdr["dim"]))
    if len(body) < offset + count * dtype.itemsize:
        raise DataError(f"'{path}' is truncated: {count} voxels of {dtype} need "
                        f"{offset + count * dtype.itemsize} bytes, the file has {len(body)}")
    data = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(hdr["dim"], order="F")
    slope, inter = hdr["scl_slope"], hdr["scl_inter"]
    if slope not in (0.0, 1.0) or inter != 0.0:
        data = data.astype(np.float64) * (slope or 1.0) + inter
    return data.astype(data.dtype.newbyteorder("=")), hdr


def write_nifti(path: PathLike, data: np.ndarray, affine: Optional[np.ndarray] = None,
                descrip: str = "graphfm") -> None:
    """Write ``data`` (x, y, z, ...) as a single-file NIfTI-1 (gzip-compressed if ``.gz``).

    Args:
        path: Output ``.nii`` or ``.nii.gz``.
        data: Up to 7D array of a supported dtype.
        affine: 4x4 voxel -> world matrix stored as the sform. (default: identity)
        descrip: Header description (at most 79 characters).
    """
    data = np.asarray(data)
    code = CODES.get(data.dtype.str[1:])
    if code is None or not 1 <= data.ndim <= 7:
        raise DataError(f"cannot write a {data.ndim}D {data.dtype} array as NIfTI-1; use float32 and <= 7 dims")
    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    header = bytearray(HEADER_SIZE + 4)
    struct.pack_into("<i", header, 0, HEADER_SIZE)
    struct.pack_into("<8h", header, 40, data.ndim, *data.shape, *([1] * (7 - data.ndim)))
    struct.pack_into("<hh", header, 70, code, data.dtype.itemsize * 8)
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(0))
    struct.pack_into("<8f", header, 76, 1.0, *voxel, *([1.0] * 4))
    struct.pack_into("<fff", header, 108, float(HEADER_SIZE + 4), 1.0, 0.0)
    struct.pack_into("<B", header, 123, 2)  # xyzt_units: millimetres
    header[148:148 + len(descrip[:79])] = descrip[:79].encode("latin-1")
    struct.pack_into("<hh", header, 252, 0, 1)
    for row, off in zip(affine[:3], (280, 296, 312)):
        struct.pack_into("<4f", header, off, *row)
    header[344:348] = b"n+1\x00"
    payload = bytes(header) + np.asarray(data, dtype=data.dtype.newbyteorder("<")).tobytes(order="F")
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)

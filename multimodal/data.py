"""Small multimodal datasets: real digits with derived modalities, 3D MRI-like phantoms, NIfTI folders.

* ``digits``: scikit-learn's 1,797 handwritten digits (8x8, real scans), upsampled to
  ``image_size``; derived modalities for MultiMAE (a depth-like map, a 3-class stroke
  segmentation), a caption per image (MiniLM word pieces) for M3I/UNITER, and the
  *offline default* regions for UNITER: fixed quadrant crops with boxes and soft labels
  of a k-means "detector" (no detector ships offline).
* a ``.npz`` file of precomputed region features (UNITER's real input, e.g. from a
  Faster R-CNN): ``features [N, R, D]``, ``boxes [N, R, 4]`` and ``captions [N]``
  (:func:`load_region_file`).
* ``phantoms``: synthetic multi-contrast 3D head phantoms for BM-MAE: a brain ellipsoid
  with ventricles and an optional lesion that each contrast (T1, T2, FLAIR) shows
  differently; the label is the lesion size class (none / small / large).
* a folder path: subjects ``<dir>/<subject>/<modality>.nii[.gz]`` read with
  :mod:`multimodal.nifti` (BM-MAE on a user's scans).

Every loader is deterministic given ``seed`` and returns a :class:`MultimodalData`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from graphfm.errors import DataError
from graphfm.registry import Registry

DATASETS = Registry("multimodal dataset", group="multimodal.datasets")

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CAPTION_TEMPLATES = ["a handwritten digit {w}", "the number {w} written by hand", "a {s} scan of the digit {w}",
                     "an image showing a {s} {w}", "digit {w} in {s} ink", "a {s} handwritten {w}"]
STROKE_WORDS = ["thin", "regular", "bold"]


@dataclass
class MultimodalData:
    """Tensors of one dataset, one row per item.

    Attributes:
        tensors (dict): Name -> ``[N, ...]`` tensor (input modalities, ``label``, targets).
        specs (dict): Adapter spec per *input* modality (without ``patch_size``).
        texts (list[str], optional): Raw captions.
        num_classes (int): Classes of ``label`` (0 if unlabelled).
    """

    tensors: Dict[str, Tensor]
    specs: Dict[str, Dict[str, Any]]
    texts: Optional[List[str]] = None
    num_classes: int = 0
    info: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def subset(self, index: Sequence[int]) -> "MultimodalData":
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        texts = [self.texts[i] for i in idx.tolist()] if self.texts is not None else None
        return MultimodalData({k: v[idx] for k, v in self.tensors.items()}, self.specs, texts,
                              self.num_classes, dict(self.info))


class TensorDictDataset(Dataset):
    """Items ``{name: tensor[i]}``; the default collate stacks them into dict batches."""

    def __init__(self, tensors: Dict[str, Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> Dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def split_indices(data: MultimodalData, test_fraction: float = 0.3, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test indices (stratified on ``label`` when present)."""
    from sklearn.model_selection import train_test_split

    n = len(data)
    labels = data.tensors["label"].numpy() if "label" in data.tensors else None
    train, test = train_test_split(np.arange(n), test_size=test_fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(test)


def load_multimodal(name: str, **options: Any) -> MultimodalData:
    """Load a registered dataset by name, a ``.npz`` of region features, or a NIfTI subject folder."""
    if name in DATASETS:
        return DATASETS.get(name)(**options)
    if name.endswith(".npz"):
        return load_region_file(name, **options)
    if Path(name).is_dir():
        return load_nifti_dataset(name, **options)
    raise DataError(f"unknown multimodal dataset '{name}'; use one of {', '.join(DATASETS.names())} "
                    "or a folder of <subject>/<modality>.nii[.gz] files")


def accepted_options(name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The subset of ``options`` that the loader of dataset ``name`` (or of a NIfTI folder) accepts."""
    import inspect

    loader = DATASETS.get(name) if name in DATASETS else (load_region_file if name.endswith(".npz")
                                                          else load_nifti_dataset)
    params = inspect.signature(loader).parameters
    return {k: v for k, v in options.items() if k in params}


# ----------------------------------------------------------------------------- digits
def _resize(images: np.ndarray, size: int) -> Tensor:
    x = torch.from_numpy(images).float()[:, None]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def _depth_like(rgb: Tensor) -> Tensor:
    """A smooth "depth" map: exp(-distance to the nearest ink pixel), so strokes are nearest."""
    from scipy.ndimage import distance_transform_edt

    size = rgb.shape[-1]
    ink = rgb[:, 0].numpy() > 0.3
    dist = np.stack([distance_transform_edt(~m) if m.any() else np.full(m.shape, size, float) for m in ink])
    return torch.from_numpy(np.exp(-dist / (size / 8))).float()[:, None]


def _captions(labels: np.ndarray, ink: np.ndarray, rng: np.random.Generator) -> Tuple[List[str], np.ndarray]:
    """Captions and each item's stroke class (the caption's content is ``(label, stroke)``)."""
    thirds = np.quantile(ink, [1 / 3, 2 / 3])
    stroke = np.searchsorted(thirds, ink)
    out = []
    for y, s in zip(labels, stroke):
        template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        out.append(template.format(w=NUMBER_WORDS[y], s=STROKE_WORDS[s]))
    return out, stroke


def quadrant_regions(rgb: Tensor) -> Tuple[Tensor, Tensor]:
    """The offline default "regions": six fixed crops per image (4 quadrants, the centre, the
    whole image), each average-pooled to (S/2)^2. Not a detector; pass a ``.npz`` of real
    region features (:func:`load_region_file`) for UNITER's actual input.

    Returns:
        tuple: features ``[N, 6, (S/2)^2]`` and boxes ``[N, 6, 4]`` (x1, y1, x2, y2 in [0, 1]).
    """
    size = rgb.shape[-1]
    h = size // 2
    boxes = [(0, 0, h, h), (h, 0, size, h), (0, h, h, size), (h, h, size, size),
             (h // 2, h // 2, h // 2 + h, h // 2 + h), (0, 0, size, size)]
    feats = [F.adaptive_avg_pool2d(rgb[:, :, y1:y2, x1:x2], h).flatten(1) for x1, y1, x2, y2 in boxes]
    box = torch.tensor(boxes, dtype=torch.float32) / size
    return torch.stack(feats, 1), box[None].expand(rgb.shape[0], -1, -1).clone()


def _soft_labels(feats: Tensor, k: int, seed: int) -> Tensor:
    """A fixed "detector": k-means over region features, soft labels = softmax(-d^2 / tau)."""
    from sklearn.cluster import KMeans

    flat = feats.reshape(-1, feats.shape[-1]).numpy()
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(flat)
    d2 = torch.from_numpy(km.transform(flat) ** 2).float()
    tau = d2.min(1).values.mean().clamp_min(1e-6)
    return torch.softmax(-d2 / tau, dim=1).reshape(*feats.shape[:2], k)


@DATASETS.register("digits")
def digits(image_size: int = 16, max_length: int = 16, num_region_classes: int = 8, seed: int = 0) -> MultimodalData:
    """Handwritten digits with derived modalities.

    Args:
        image_size (int): Upsampled side. (default: ``16``)
        max_length (int): Caption length in word pieces. (default: ``16``)
        num_region_classes (int): Classes of the region "detector". (default: ``8``)
        seed (int): Seed of captions and the region clustering. (default: ``0``)

    Returns:
        MultimodalData: ``rgb [N,1,S,S]``, ``depth [N,1,S,S]``, ``semseg [N,S,S]`` (0 background,
        1 stroke edge, 2 stroke core), ``text [N,T]`` ids, ``regions [N,6,(S/2)^2+4]``
        (:func:`quadrant_regions`), ``region_soft [N,6,K]``, ``label [N]`` and ``content [N]``
        (what the caption says: digit x stroke class; equal content = the caption fits both).
    """
    tensors, specs, texts = _digits(image_size, max_length, num_region_classes, seed)
    return MultimodalData(dict(tensors), {k: dict(v) for k, v in specs.items()}, list(texts), num_classes=10,
                          info={"regions": "quadrant crops (offline default, not a detector)"})


@lru_cache(maxsize=4)
def _digits(image_size: int, max_length: int, num_region_classes: int,
            seed: int) -> Tuple[Dict[str, Tensor], Dict[str, Any], List[str]]:
    """Build (and cache) the digits tensors; callers get fresh containers."""
    from sklearn.datasets import load_digits

    from multimodal.adapters import tokenize, tokenizer_spec

    raw = load_digits()
    labels = raw.target.astype(np.int64)
    rgb = _resize(raw.images / 16.0, image_size)
    semseg = torch.bucketize(rgb[:, 0], torch.tensor([0.2, 0.6]))
    texts, stroke = _captions(labels, rgb.flatten(1).mean(1).numpy(), np.random.default_rng(seed))
    feats, boxes = quadrant_regions(rgb)
    tensors = {
        "rgb": rgb, "depth": _depth_like(rgb), "semseg": semseg.long(),
        "text": tokenize(texts, max_length), "regions": torch.cat([feats, boxes], -1),
        "region_soft": _soft_labels(feats, num_region_classes, seed), "label": torch.from_numpy(labels),
        "content": torch.from_numpy(labels * len(STROKE_WORDS) + stroke),
    }
    img = {"name": "patch2d", "channels": 1, "image_size": image_size}
    specs = {"rgb": dict(img), "depth": dict(img),
             "semseg": {"name": "patch2d", "num_classes": 3, "image_size": image_size},
             "text": {"name": "text", "max_length": max_length, **tokenizer_spec()},
             "regions": {"name": "regions", "feature_dim": feats.shape[-1], "num_regions": feats.shape[1]}}
    return tensors, specs, texts


# ----------------------------------------------------------------------------- phantoms
#: (tissue, CSF, lesion) intensity per contrast: T1 shows lesions dark, T2 bright with
#: bright CSF, FLAIR bright lesions with CSF suppressed.
CONTRASTS = {"t1": (0.65, 0.2, 0.35), "t2": (0.4, 0.9, 0.8), "flair": (0.45, 0.08, 0.95)}


def _phantom(rng: np.random.Generator, size: int, lesion: int, modalities: Sequence[str],
             noise: float) -> List[np.ndarray]:
    grid = (np.indices((size,) * 3).astype(np.float32) + 0.5) / size - 0.5  # [3, S, S, S] in (-0.5, 0.5)
    radii = rng.uniform(0.32, 0.45, 3)
    center = rng.uniform(-0.04, 0.04, 3)
    brain = (((grid - center[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0) <= 1
    csf = (((grid - center[:, None, None, None]) / (radii[:, None, None, None] * 0.3)) ** 2).sum(0) <= 1
    les = np.zeros_like(brain)
    if lesion > 0:
        r = (0.12 if lesion == 1 else 0.22) * rng.uniform(0.85, 1.15)
        direction = rng.normal(size=3)
        pos = center + direction / np.linalg.norm(direction) * radii.min() * 0.55
        les = ((grid - pos[:, None, None, None]) ** 2).sum(0) <= r ** 2
    bias = 1 + 0.15 * np.tensordot(rng.normal(size=3), grid, axes=1)
    vols = []
    for m in modalities:
        tissue, fluid, lesion_v = CONTRASTS[m]
        v = np.where(brain, tissue, 0.0)
        v = np.where(csf, fluid, v)
        v = np.where(les & brain, lesion_v, v) * bias
        vols.append((v + noise * rng.normal(size=v.shape)).astype(np.float32))
    return vols


@DATASETS.register("phantoms")
def phantoms(num_samples: int = 600, volume_size: int = 16, modalities: Optional[List[str]] = None,
             noise: float = 0.05, seed: int = 0) -> MultimodalData:
    """Synthetic multi-contrast 3D brain phantoms (MRI-like) with lesions.

    Args:
        num_samples (int): Subjects. (default: ``600``)
        volume_size (int): Side of the cubic volumes. (default: ``16``)
        modalities (list[str], optional): Contrasts among ``t1``, ``t2``, ``flair``. (default: all)
        noise (float): Gaussian noise std. (default: ``0.05``)
        seed (int): Seed. (default: ``0``)

    Returns:
        MultimodalData: one ``[N, 1, S, S, S]`` tensor per contrast and ``label [N]``
        (0 no lesion, 1 small, 2 large).
    """
    modalities = list(modalities or CONTRASTS)
    unknown = [m for m in modalities if m not in CONTRASTS]
    if unknown:
        raise DataError(f"unknown phantom contrast(s) {unknown}; choose among {', '.join(CONTRASTS)}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % 3)
    vols = [_phantom(rng, volume_size, int(y), modalities, noise) for y in labels]
    tensors = {m: torch.from_numpy(np.stack([v[i] for v in vols]))[:, None] for i, m in enumerate(modalities)}
    tensors["label"] = torch.from_numpy(labels.astype(np.int64))
    specs = {m: {"name": "patch3d", "channels": 1, "volume_size": volume_size} for m in modalities}
    return MultimodalData(tensors, specs, num_classes=3)


# ----------------------------------------------------------------------------- NIfTI folders
def load_nifti_dataset(path: str, modalities: Optional[List[str]] = None, volume_size: int = 16) -> MultimodalData:
    """Subjects ``<path>/<subject>/<modality>.nii[.gz]``, each volume scaled to ``[0, ~1]`` and resized.

    Args:
        path (str): Folder of subject folders (sorted by name = row order).
        modalities (list[str], optional): Modalities to read (default: those every subject has).
        volume_size (int): Side the volumes are resampled to (trilinear). (default: ``16``)
    """
    from multimodal.nifti import read_nifti

    subjects = sorted(p for p in Path(path).iterdir() if p.is_dir())
    if not subjects:
        raise DataError(f"'{path}' has no subject folders; expected <path>/<subject>/<modality>.nii[.gz]")
    found = [{f.name.split(".nii")[0]: f for f in s.iterdir() if ".nii" in f.name} for s in subjects]
    common = sorted(set.intersection(*[set(f) for f in found]))
    modalities = list(modalities or common)
    missing = [(s.name, m) for s, f in zip(subjects, found) for m in modalities if m not in f]
    if not modalities or missing:
        raise DataError(f"NIfTI folder '{path}': missing {missing[:3] or 'modalities'}; every subject needs "
                        f"the same <modality>.nii[.gz] files (common: {common})")
    tensors = {}
    for m in modalities:
        vols = []
        for f in found:
            array = np.asarray(read_nifti(f[m])[0], dtype=np.float32).squeeze()
            if array.ndim != 3:
                raise DataError(f"'{f[m]}' holds a {array.ndim}D image {array.shape}; BM-MAE needs 3D volumes")
            scale = max(float(np.percentile(array, 99)), 1e-6)
            vol = torch.from_numpy(array / scale)[None, None]
            vols.append(F.interpolate(vol, size=(volume_size,) * 3, mode="trilinear", align_corners=False))
        tensors[m] = torch.cat(vols)
    specs = {m: {"name": "patch3d", "channels": 1, "volume_size": volume_size} for m in modalities}
    return MultimodalData(tensors, specs, info={"subjects": [s.name for s in subjects]})


# ----------------------------------------------------------------------------- region features
def load_region_file(path: str, max_length: int = 16, num_region_classes: int = 8, seed: int = 0) -> MultimodalData:
    """Precomputed region features for UNITER (the paper's input: detector features and boxes).

    The ``.npz`` holds ``features [N, R, D]`` float, ``boxes [N, R, 4]`` (x1, y1, x2, y2 in
    ``[0, 1]``) and ``captions [N]`` strings; optionally ``soft_labels [N, R, K]`` (the
    detector's class distributions, for MRC/MRC-kl; else a k-means stand-in with
    ``num_region_classes``), ``label [N]`` and ``content [N]`` (items of equal content are
    never ITM negatives of each other; default: the caption text).

    Args:
        path (str): The ``.npz`` file.
        max_length (int): Caption length in word pieces. (default: ``16``)
        num_region_classes (int): Classes of the stand-in soft labels. (default: ``8``)
        seed (int): Seed of the stand-in clustering. (default: ``0``)
    """
    from multimodal.adapters import tokenize, tokenizer_spec

    if not Path(path).is_file():
        raise DataError(f"region file '{path}' does not exist; give a .npz with features [N,R,D], boxes [N,R,4] "
                        "and captions [N]")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [k for k in ("features", "boxes", "captions") if k not in arrays]
    if missing:
        raise DataError(f"region file '{path}' lacks {missing}; it needs features [N,R,D], boxes [N,R,4], "
                        f"captions [N] (has {sorted(arrays)})")
    feats, boxes, captions = arrays["features"], arrays["boxes"], [str(c) for c in arrays["captions"]]
    n = len(captions)
    if feats.ndim != 3 or boxes.shape != feats.shape[:2] + (4,) or len(feats) != n:
        raise DataError(f"region file '{path}': features {feats.shape}, boxes {boxes.shape}, {n} captions; "
                        "expected features [N,R,D], boxes [N,R,4] and N captions")
    if not (np.isfinite(feats).all() and (boxes >= 0).all() and (boxes <= 1).all()):
        raise DataError(f"region file '{path}': features must be finite and boxes normalised to [0, 1] "
                        "(divide pixel boxes by the image width/height)")
    feats_t = torch.from_numpy(feats.astype(np.float32))
    soft = arrays.get("soft_labels")
    tensors = {"text": tokenize(captions, max_length),
               "regions": torch.cat([feats_t, torch.from_numpy(boxes.astype(np.float32))], -1),
               "region_soft": torch.from_numpy(soft.astype(np.float32)) if soft is not None
               else _soft_labels(feats_t, num_region_classes, seed)}
    content = arrays.get("content")
    if content is None:
        content = np.unique(np.asarray(captions), return_inverse=True)[1]
    tensors["content"] = torch.from_numpy(np.asarray(content).astype(np.int64))
    if "label" in arrays:
        tensors["label"] = torch.from_numpy(arrays["label"].astype(np.int64))
    specs = {"text": {"name": "text", "max_length": max_length, **tokenizer_spec()},
             "regions": {"name": "regions", "feature_dim": feats.shape[2], "num_regions": feats.shape[1]}}
    return MultimodalData(tensors, specs, captions, num_classes=int(tensors["label"].max()) + 1 if "label" in tensors
                          else 0, info={"regions": f"precomputed ({path})"})

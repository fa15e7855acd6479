"""Loader for graphs in the MM-Graph benchmark's file layout.

The Multimodal Graph Benchmark (Zhu et al., 2024, https://github.com/mm-graph-benchmark)
stores each graph in one folder::

    books-nc/                         # node classification
        nc_edges-nodeid.pt            # edge list, [E, 2] (list, array or tensor)
        labels-w-missing.pt           # [N] labels, -1 = unlabelled
        split.pt                      # {"train_idx", "val_idx", "test_idx"}
        clip_feat.pt                  # [N, D] node features, one file per feature set
        t5vit_feat.pt, ...            #   (CLIP, ImageBind, T5+ViT, T5+DINOv2, ...)
    sports-copurchase/                # link prediction
        lp-edge-split-hard.pt         # {"train"|"valid"|"test": {"source_node", "target_node",
        clip_feat.pt, ...             #   "target_node_neg"}}; the graph is the train edges

The multimodal feature sets concatenate a text embedding and an image embedding of
equal width (text first). :func:`load_mmgraph` returns a PyG ``Data`` with one
attribute per feature set (``data.clip_feat``) and, when asked, its two halves
(``data.clip_text`` / ``data.clip_image``), ready to be used as modalities by
UniGraph2's ``precomputed`` encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from graphfm.errors import DataError

NC_EDGES = "nc_edges-nodeid.pt"
NC_LABELS = "labels-w-missing.pt"
NC_SPLIT = "split.pt"
FEAT_SUFFIX = "_feat.pt"


def is_mmgraph_dir(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a folder in the MM-Graph layout (node classification or link prediction)."""
    path = Path(path)
    return path.is_dir() and ((path / NC_EDGES).is_file() or any(path.glob("lp-edge-split*.pt")))


def feature_sets(path: Union[str, Path]) -> List[str]:
    """Names of the feature files in an MM-Graph folder (``clip`` for ``clip_feat.pt``), sorted."""
    return sorted(p.name[: -len(FEAT_SUFFIX)] for p in Path(path).glob(f"*{FEAT_SUFFIX}"))


def load_mmgraph(path: Union[str, Path], features: Optional[Sequence[str]] = None,
                 split_halves: Sequence[str] = (), edge_split: str = "hard") -> Data:
    """Load one MM-Graph folder as a validated PyG ``Data``.

    Args:
        path (str or Path): The dataset folder (e.g. ``.../books-nc``).
        features (list[str], optional): Feature sets to load (``["clip", "t5vit"]``);
            ``None`` loads every ``*_feat.pt`` file. ``data.x`` is the first one.
            (default: ``None``)
        split_halves (list[str]): Feature sets to also split into ``<name>_text``
            (first half of the columns) and ``<name>_image`` (second half). (default: ``()``)
        edge_split (str): Which ``lp-edge-split-<type>.pt`` a link-prediction folder
            uses (``"hard"`` or ``"random"``; a plain ``lp-edge-split.pt`` is used when
            that is the only one). (default: ``"hard"``)

    Returns:
        Data: ``x``, ``edge_index`` (undirected, coalesced), ``<name>_feat`` per feature
        set, ``domain`` / ``name`` (the folder name); node classification adds ``y``
        (``-1`` = unlabelled) and ``train_mask`` / ``val_mask`` / ``test_mask``; link
        prediction adds ``edge_split`` (the file's dict of tensors).

    Raises:
        DataError: missing or malformed files, with the file named.
    """
    path = Path(path)
    if not is_mmgraph_dir(path):
        raise DataError(f"'{path}' is not an MM-Graph folder: it needs {NC_EDGES} (node classification) or "
                        "lp-edge-split-<type>.pt (link prediction), plus <name>_feat.pt feature files")
    feats = _load_features(path, features)
    n = next(iter(feats.values())).size(0)
    data = Data(x=next(iter(feats.values())), num_nodes=n)
    for name, value in feats.items():
        data[f"{name}_feat"] = value
    for name in split_halves:
        _add_halves(data, name, feats)
    if (path / NC_EDGES).is_file():
        edges = _as_long(_load(path / NC_EDGES), path / NC_EDGES).view(-1, 2).t()
        _add_labels(data, path, n)
    else:
        data.edge_split = _load(_lp_file(path, edge_split))
        train = data.edge_split.get("train", {}) if isinstance(data.edge_split, dict) else {}
        if "source_node" not in train or "target_node" not in train:
            raise DataError(f"'{_lp_file(path, edge_split)}' must hold train.source_node and train.target_node")
        edges = torch.stack([_as_long(train["source_node"], "source_node"),
                             _as_long(train["target_node"], "target_node")])
    if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= n):
        raise DataError(f"'{path}': edges reference node {int(edges.max())} but the features have {n} rows")
    data.edge_index = coalesce(to_undirected(edges, num_nodes=n), num_nodes=n)
    data.domain = data.name = path.name
    from graphfm.data.validate import validate_graph

    return validate_graph(data, name=path.name)


def numpy_safe_globals() -> List[Any]:
    """The numpy callables a ``torch.save``-d ndarray needs: they only rebuild arrays."""
    core = getattr(np, "_core", None) or np.core
    numeric = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
               np.float16, np.float32, np.float64)  # no object dtype: its items would be arbitrary objects
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
            *{type(np.dtype(t)) for t in numeric}]


def _load(file: Path) -> Any:
    """``torch.load(weights_only=True)``: tensors, numpy arrays, lists, dicts and numbers only;
    a file that would need any other object (and so could run code) is refused."""
    if not file.is_file():
        raise DataError(f"MM-Graph file '{file}' is missing; copy it from the dataset's release")
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt pickle, wrong format, a disallowed object, ...
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"cannot read '{file}' with torch.load(weights_only=True) ({type(exc).__name__}: {first}); "
                        "it is corrupt or holds objects other than tensors, arrays, lists and dicts, which graphfm "
                        "never unpickles: re-save it with torch.save of plain tensors") from None


def _as_long(value: Any, where: Any) -> Tensor:
    try:
        return torch.as_tensor(np.asarray(value)).long()
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{where}' does not hold integer indices ({exc})") from None


def _load_features(path: Path, names: Optional[Sequence[str]]) -> Dict[str, Tensor]:
    available = feature_sets(path)
    names = list(names) if names is not None else available
    if not names:
        raise DataError(f"'{path}' has no <name>_feat.pt feature file; MM-Graph folders ship e.g. clip_feat.pt")
    feats: Dict[str, Tensor] = {}
    for name in names:
        if name not in available:
            raise DataError(f"feature set '{name}' is not in '{path}'; available: {', '.join(available) or 'none'}")
        value = torch.as_tensor(np.asarray(_load(path / f"{name}{FEAT_SUFFIX}"))).float()
        if value.dim() != 2 or not torch.isfinite(value).all():
            raise DataError(f"'{path / (name + FEAT_SUFFIX)}' must be a finite [N, D] matrix, "
                            f"got shape {tuple(value.shape)}")
        feats[name] = value
    sizes = {k: v.size(0) for k, v in feats.items()}
    if len(set(sizes.values())) != 1:
        raise DataError(f"feature sets in '{path}' disagree on the number of nodes: {sizes}")
    return feats


def _add_halves(data: Data, name: str, feats: Dict[str, Tensor]) -> None:
    if name not in feats:
        raise DataError(f"split_halves names '{name}', which was not loaded; loaded: {', '.join(feats)}")
    width = feats[name].size(1)
    if width % 2:
        raise DataError(f"feature set '{name}' has an odd width {width}; it is not a text|image concatenation")
    data[f"{name}_text"], data[f"{name}_image"] = feats[name][:, : width // 2], feats[name][:, width // 2:]


def _add_labels(data: Data, path: Path, n: int) -> None:
    y = _as_long(_load(path / NC_LABELS), path / NC_LABELS).view(-1)
    if y.numel() != n:
        raise DataError(f"'{path / NC_LABELS}' has {y.numel()} labels for {n} nodes")
    data.y = y
    split = _load(path / NC_SPLIT)
    for key in ("train", "val", "test"):
        if not isinstance(split, dict) or f"{key}_idx" not in split:
            raise DataError(f"'{path / NC_SPLIT}' must be a dict with train_idx, val_idx and test_idx")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[_as_long(split[f"{key}_idx"], path / NC_SPLIT)] = True
        data[f"{key}_mask"] = mask


def _lp_file(path: Path, edge_split: str) -> Path:
    named = path / f"lp-edge-split-{edge_split}.pt"
    if named.is_file():
        return named
    plain = path / "lp-edge-split.pt"
    if plain.is_file():
        return plain
    found = sorted(p.name for p in path.glob("lp-edge-split*.pt"))
    raise DataError(f"'{path}' has no lp-edge-split-{edge_split}.pt; found: {', '.join(found)}")

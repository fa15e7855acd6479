"""FacebookPagePage and LastFMAsia from their original MUSAE / FEATHER files.

Rozemberczki et al., "Multi-scale Attributed Node Embedding"
(https://arxiv.org/abs/1909.13021). The shared offline copy holds the original CSV
and JSON files, not PyG's preprocessed ``.npz``, so these loaders read them directly
and cache the parsed tensors in ``<folder>/../processed/data.pt``.

* FacebookPagePage: ``x`` is the 22,470 x 4,714 multi-hot matrix of the JSON's
  binary feature ids, returned dense float32 (about 424 MB; the cache stores only
  the ~0.3M non-zero positions and is densified on load). Classes are the page types
  sorted by name: 0 company, 1 government, 2 politician, 3 tvshow, the ``page_type``
  strings of ``facebook_target.csv``, which ``data.label_names`` lists. The 179
  self-loops of the edge file are kept, once each (341,825 directed edges).
* FacebookPagePage-TAG: the same graph and labels with the page names as node text
  (``data.text``, e.g. "U.S. Consulate General Mumbai"; 20 characters on average), a
  text-attributed graph of another domain than the citation graphs, and ``x`` the names'
  hashed bag of words (:func:`graphfm.data.loaders.tag.hashed_bag_of_words`).
* LastFMAsia: the features file is not available offline, so ``x`` holds the 11
  structural features of :func:`graphfm.data.structural.structural_features`.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphfm.data.cache import cached
from graphfm.data.registry import DatasetSpec, register_dataset
from graphfm.data.structural import structural_features
from graphfm.errors import DataError

FACEBOOK_CLASSES = ("company", "government", "politician", "tvshow")
_SRC = ("https://github.com/benedekrozemberczki/datasets (commit 8ac9371, {path}, MIT); "
        "also SNAP {snap}")


def _read_csv(path: Path, columns: List[str]) -> Dict[str, List[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        if not set(columns) <= set(reader.fieldnames or ()) or not rows:
            raise KeyError(f"header {reader.fieldnames}, {len(rows)} rows")
        return {c: [r[c] for r in rows] for c in columns}
    except (KeyError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot parse '{path}': expected CSV columns {columns} ({exc}); "
                        "the file looks corrupt, run `graphfm data verify`") from exc


def _ints(values: List[str], path: Path) -> torch.Tensor:
    try:
        return torch.tensor([int(v) for v in values], dtype=torch.long)
    except (TypeError, ValueError) as exc:
        raise DataError(f"non-integer id in '{path}' ({exc}); the file looks corrupt, "
                        "run `graphfm data verify`") from exc


def _edges(path: Path, a: str, b: str) -> torch.Tensor:
    cols = _read_csv(path, [a, b])
    return torch.stack([_ints(cols[a], path), _ints(cols[b], path)])


def _facebook_pages(raw: Path, columns: Tuple[str, ...] = ()) -> Tuple[Tensor, Tensor, Dict[str, List[str]]]:
    """``(ids, y, columns)`` of ``facebook_target.csv``: ``y`` indexed by page id (-1 where absent)."""
    path = raw / "facebook_target.csv"
    target = _read_csv(path, ["id", "page_type", *columns])
    ids = _ints(target["id"], path)
    lookup = {c: i for i, c in enumerate(FACEBOOK_CLASSES)}
    try:
        labels = torch.tensor([lookup[t] for t in target["page_type"]], dtype=torch.long)
    except KeyError as exc:
        raise DataError(f"unknown page type {exc} in '{path}'; valid: {list(FACEBOOK_CLASSES)}. The file "
                        "looks corrupt, run `graphfm data verify`") from exc
    y = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
    y[ids] = labels
    return ids, y, target


def _build_facebook(raw: Path) -> dict:
    _, y, _ = _facebook_pages(raw)
    try:
        with open(raw / "facebook_features.json", encoding="utf-8") as fh:
            feats = json.load(fh)
        rows = torch.tensor([int(k) for k, v in feats.items() for _ in v], dtype=torch.long)
        cols = torch.tensor([int(f) for v in feats.values() for f in v], dtype=torch.long)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"cannot parse the FacebookPagePage files in '{raw}' ({exc!r}); "
                        "they look corrupt, run `graphfm data verify`") from exc
    return dict(edge_index=_edges(raw / "facebook_edges.csv", "id_1", "id_2"), y=y,
                feat_rows=rows, feat_cols=cols, num_features=int(cols.max()) + 1)


def load_facebook(root: Path, spec: DatasetSpec) -> Data:
    raw = root / spec.folder
    obj = cached(raw.parent / "processed" / "data.pt", lambda: _build_facebook(raw))
    x = torch.zeros(obj["y"].numel(), obj["num_features"], dtype=torch.float32)
    x[obj["feat_rows"], obj["feat_cols"]] = 1.0
    return Data(x=x, edge_index=obj["edge_index"], y=obj["y"], label_names=list(FACEBOOK_CLASSES))


def _build_facebook_text(raw: Path) -> dict:
    from graphfm.data.loaders.tag import hashed_bag_of_words

    ids, y, target = _facebook_pages(raw, ("page_name",))
    if not torch.equal(ids, torch.arange(ids.numel())):
        raise DataError(f"'{raw / 'facebook_target.csv'}' does not list the pages in id order 0..N-1; "
                        "the file looks corrupt, run `graphfm data verify`")
    text = list(target["page_name"])
    return dict(edge_index=_edges(raw / "facebook_edges.csv", "id_1", "id_2"), y=y, text=text,
                x=hashed_bag_of_words(text))


def load_facebook_text(root: Path, spec: DatasetSpec) -> Data:
    raw = root / spec.folder
    obj = cached(raw.parent / "processed" / "text.pt", lambda: _build_facebook_text(raw))
    return Data(x=obj["x"], edge_index=obj["edge_index"], y=obj["y"], text=obj["text"],
                label_names=list(FACEBOOK_CLASSES))


def _build_lastfm(raw: Path) -> dict:
    target = _read_csv(raw / "lastfm_asia_target.csv", ["id", "target"])
    ids = _ints(target["id"], raw / "lastfm_asia_target.csv")
    y = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
    y[ids] = _ints(target["target"], raw / "lastfm_asia_target.csv")
    edge_index = _edges(raw / "lastfm_asia_edges.csv", "node_1", "node_2")
    if edge_index.numel() and int(edge_index.max()) >= y.numel():
        raise DataError(f"'{raw / 'lastfm_asia_edges.csv'}' names node {int(edge_index.max())} but the "
                        f"target file lists {y.numel()} nodes; the files do not match")
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return dict(edge_index=edge_index, y=y, x=structural_features(both, y.numel()))


def load_lastfm(root: Path, spec: DatasetSpec) -> Data:
    raw = root / spec.folder
    obj = cached(raw.parent / "processed" / "data.pt", lambda: _build_lastfm(raw))
    return Data(x=obj["x"], edge_index=obj["edge_index"], y=obj["y"])


_FACEBOOK_SRC = _SRC.format(path="facebook_large/facebook_*",
                            snap="https://snap.stanford.edu/data/facebook-large-page-page-network.html")
register_dataset(DatasetSpec(
    name="FacebookPagePage", kind="node", domain="FacebookPagePage", area="social",
    folder="musae/FacebookPagePage/raw",
    files=("facebook_edges.csv", "facebook_features.json", "facebook_target.csv"),
    source=_FACEBOOK_SRC,
    loader=load_facebook, num_classes=4,
    note="x = 4,714 binary MUSAE feature ids (dense float32); self-loops kept once",
))
register_dataset(DatasetSpec(
    name="FacebookPagePage-TAG", kind="node", domain="FacebookPagePage-TAG", area="social",
    folder="musae/FacebookPagePage/raw", files=("facebook_edges.csv", "facebook_target.csv"),
    source=_FACEBOOK_SRC,
    loader=load_facebook_text, num_classes=4,
    note="data.text = page names; x = hashed bag of words of the names (512); self-loops kept once",
))
register_dataset(DatasetSpec(
    name="LastFMAsia", kind="node", domain="LastFMAsia", area="social",
    folder="musae/LastFMAsia/raw", files=("lastfm_asia_edges.csv", "lastfm_asia_target.csv"),
    source=_SRC.format(path="lasftm_asia/lastfm_asia_*",
                       snap="https://snap.stanford.edu/data/feather-lastfm-social.html"),
    loader=load_lastfm, num_classes=18,
    note="no features file offline: x = 11 structural features (graphfm.data.structural)",
))

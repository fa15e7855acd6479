"""A user's text-attributed graph: a ``.pt`` dict or a folder of two CSV files.

Two layouts give the same kind of graph as the registered text graphs (Cora-TAG, Debian):

* a **dict** (the GLBench / TAPE layout of ``../shared/datasets/tag``), as a ``.pt`` file
  that :mod:`graphfm.data.user` reads with ``torch.load(weights_only=True)`` (never
  unpickled) and hands to :func:`text_graph_from_dict`::

      {"raw_texts": list[str] (N), "edge_index": LongTensor [2, E],
       "y": LongTensor [N] (optional; -1 = unlabelled),
       "label_names": list[str] (optional; index = class id),
       "x": FloatTensor [N, F] (optional; default: the texts' hashed bag of words)}

* a **folder** (:func:`is_text_folder`, :func:`read_text_folder`) with

  - ``nodes.csv``: a ``text`` column, optionally ``label`` and ``id``. One row per node.
    An empty label is unlabelled (-1). Labels are class names: class ids follow the
    sorted distinct names, which become ``label_names`` (``"cat", "dog"`` -> 0, 1). If
    every label is an integer, the integers are the class ids and there are no names.
  - ``edges.csv``: ``src`` and ``dst`` columns (a header alone is a graph without edges).
    They name nodes by ``id`` when ``nodes.csv`` has that column (compared as integers
    when every id is one, else as text), else by row number of ``nodes.csv`` (0-based).

Either way the result has ``data.text`` (``list[str]``; ``""`` where a node has none),
``data.text_mask`` (bool ``[N]``, false where the text is empty or blank; one warning says
how many), ``y`` (long ``[N]``, -1 = unlabelled; all -1 without labels), ``label_names``
when known, ``x`` (:func:`graphfm.data.loaders.tag.hashed_bag_of_words` of the texts,
512 columns), ``edge_index`` as given (the caller finalises it: undirected, coalesced) and
``domain`` = ``name`` = the file or folder name without extension.

Example::

    # nodes.csv: text,label        edges.csv: src,dst
    #            "A paper on GNNs",ML          0,1
    #            "A paper on SQL",DB
    data = read_text_folder("my_graph")      # label_names == ["DB", "ML"], y == [1, 0]
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphfm.errors import DataError

PathLike = Union[str, Path]
NODES_FILE, EDGES_FILE = "nodes.csv", "edges.csv"
_DICT_HELP = ("a text graph .pt holds a dict {raw_texts: list[str], edge_index: LongTensor[2, E], y: LongTensor[N] "
              "(optional, -1 = unlabelled), label_names: list[str] (optional)}")


# ----------------------------------------------------------------------------- the dict layout
def text_graph_from_dict(obj: Dict[str, Any], source: str) -> Data:
    """A text graph from a loaded ``.pt`` dict (see the module docstring).

    Args:
        obj (dict): ``raw_texts``, ``edge_index``, optional ``y``, ``label_names`` and ``x``.
        source (str): The file it came from, for messages; its stem names the graph.

    Raises:
        DataError: a missing or malformed entry, ``y`` of another length than ``raw_texts``,
            a label without a name in ``label_names``.
    """
    if not isinstance(obj, dict) or "raw_texts" not in obj:
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"'{source}' has no 'raw_texts' (found {keys}); {_DICT_HELP}")
    texts = _texts(obj["raw_texts"], source)
    if "edge_index" not in obj:
        raise DataError(f"'{source}' has no 'edge_index' (found {sorted(map(str, obj))}); {_DICT_HELP}")
    edge_index = _edge_index(obj["edge_index"], len(texts), source)
    names = _label_names(obj.get("label_names"), source)
    y = _labels(obj.get("y"), len(texts), names, source)
    return _graph(texts, edge_index, y, names, Path(source).stem, source, x=_features(obj.get("x"), source))


def _features(value: Any, source: str) -> Optional[Tensor]:
    if value is None:
        return None
    try:
        x = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"'{source}': x is not a numeric array ({exc}); give float features [N, F] or leave x out "
                        "(the texts' hashed bag of words is used)") from None
    return x.float() if x.dtype != torch.float32 and not x.is_complex() else x


def _texts(value: Any, source: str) -> List[str]:
    if not isinstance(value, (list, tuple)):
        raise DataError(f"'{source}': raw_texts must be a list of strings, got {type(value).__name__}; {_DICT_HELP}")
    bad = [i for i, t in enumerate(value) if t is not None and not isinstance(t, str)]
    if bad:
        raise DataError(f"'{source}': raw_texts[{bad[0]}] is a {type(value[bad[0]]).__name__}, not a string "
                        f"({len(bad)} such entries); store one string per node ('' where a node has no text)")
    return ["" if t is None else t for t in value]


def _edge_index(value: Any, n: int, source: str) -> Tensor:
    try:
        ei = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"'{source}': edge_index is not an integer array ({exc}); {_DICT_HELP}") from None
    if ei.dim() != 2 or ei.size(0) != 2:
        raise DataError(f"'{source}': edge_index must have shape [2, E], got {tuple(ei.shape)}; transpose an "
                        "[E, 2] edge list with .t()")
    if ei.dtype.is_floating_point or ei.dtype == torch.bool or ei.is_complex():
        raise DataError(f"'{source}': edge_index must hold integer node indices, got {ei.dtype}; convert it "
                        "with .long()")
    ei = ei.long()
    bad = ((ei < 0) | (ei >= n)).any(0)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise DataError(f"'{source}': {int(bad.sum())} edges name nodes outside 0..{n - 1} (first: edge {i}, "
                        f"{ei[:, i].tolist()}); raw_texts has {n} entries, one per node")
    return ei


def _label_names(value: Any, source: str) -> Optional[List[str]]:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        got = type(value).__name__ if not isinstance(value, (list, tuple)) else \
            f"a {type(value).__name__} holding {sorted({type(v).__name__ for v in value})}"
        raise DataError(f"'{source}': label_names must be a list of strings (index = class id), got {got}; give "
                        "e.g. ['cat', 'dog'] or leave it out")
    if len(set(value)) != len(value):
        raise DataError(f"'{source}': label_names repeats a name ({sorted(value)}); give each class one name")
    return list(value)


def _labels(value: Any, n: int, names: Optional[List[str]], source: str) -> Tensor:
    if value is None:
        return torch.full((n,), -1, dtype=torch.long)
    y = torch.as_tensor(value)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise DataError(f"'{source}': y must hold integer class ids, got {y.dtype}; convert it with .long()")
    y = y.long().view(-1)
    if y.numel() != n:
        raise DataError(f"'{source}': raw_texts has {n} entries but y has {y.numel()}; give one label per node "
                        "(-1 where unknown)")
    if names is not None and y.numel() and int(y.max()) >= len(names):
        raise DataError(f"'{source}': label {int(y.max())} has no name: label_names lists {len(names)} classes; "
                        "add the missing names (index = class id) or leave label_names out")
    return y


# ----------------------------------------------------------------------------- the folder layout
def is_text_folder(path: PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``nodes.csv`` (a text graph folder)."""
    p = Path(path).expanduser()
    return p.is_dir() and (p / NODES_FILE).is_file()


def read_text_folder(path: PathLike) -> Data:
    """A text graph from a folder with ``nodes.csv`` and ``edges.csv`` (see the module docstring).

    Raises:
        DataError: a missing or unreadable file, missing columns, duplicate ids, edges naming
            unknown or non-numeric ids.
    """
    folder = Path(path).expanduser()
    if not is_text_folder(folder):
        raise DataError(f"'{folder}' is not a text graph folder: it needs a {NODES_FILE} (columns text, optional "
                        f"label and id) and an {EDGES_FILE} (columns src, dst)")
    nodes = _read_csv(folder / NODES_FILE, required=("text",), optional=("label", "id"))
    if not (folder / EDGES_FILE).is_file():
        raise DataError(f"'{folder}' has no {EDGES_FILE}; add one with the header src,dst and one row per edge "
                        "(the header alone for a graph without edges)")
    edges = _read_csv(folder / EDGES_FILE, required=("src", "dst"))
    texts = nodes["text"]
    lookup = _node_ids(nodes.get("id"), folder / NODES_FILE)
    src = _endpoints(edges["src"], lookup, len(texts), folder / EDGES_FILE, "src")
    dst = _endpoints(edges["dst"], lookup, len(texts), folder / EDGES_FILE, "dst")
    y, names = _csv_labels(nodes.get("label"), len(texts))
    edge_index = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    return _graph(texts, edge_index, y, names, folder.name, str(folder))


def _read_csv(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> Dict[str, List[str]]:
    """The ``required`` and present ``optional`` columns of a CSV file with a header row (blank lines skipped)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            rows = [r for r in reader if r]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read '{path}' ({type(exc).__name__}: {exc}); save it as a UTF-8 CSV file "
                        "with a header row") from None
    missing = [c for c in required if c not in header]
    if missing:
        expected = ", ".join([*required, *(f"{c} (optional)" for c in optional)])
        raise DataError(f"'{path}' has no column {', '.join(missing)}: found columns {header or 'none'}, expected "
                        f"{expected}; rename the header row")
    return {c: [r[header.index(c)] if header.index(c) < len(r) else "" for r in rows]
            for c in (*required, *optional) if c in header}


def _node_ids(ids: Optional[List[str]], path: Path) -> Optional[Dict[Any, int]]:
    """``{id: row}`` of the ``id`` column (integer ids when every id is one), or ``None``."""
    if ids is None:
        return None
    keys: List[Any] = [i.strip() for i in ids]
    ints = [_int(k) for k in keys]
    if keys and all(v is not None for v in ints):
        keys = ints
    lookup: Dict[Any, int] = {}
    for row, key in enumerate(keys):
        if key == "":
            raise DataError(f"'{path}': row {row + 1} has an empty id; give every node an id or drop the id column")
        if key in lookup:
            raise DataError(f"'{path}': id {key!r} appears twice (rows {lookup[key] + 1} and {row + 1}); ids must "
                            "be unique")
        lookup[key] = row
    return lookup


def _endpoints(values: List[str], lookup: Optional[Dict[Any, int]], n: int, path: Path, column: str) -> List[int]:
    by_number = lookup is None or all(isinstance(k, int) for k in lookup)
    out, unknown = [], []
    for row, raw in enumerate(values):
        key: Any = raw.strip()
        if by_number:
            key = _int(key)
            if key is None:
                what = "node ids are integers in nodes.csv's id column" if lookup is not None else \
                    "without an id column in nodes.csv, edges name nodes by row number (0-based)"
                raise DataError(f"'{path}': {column} {raw!r} in row {row + 1} is not an integer; {what}")
        node = (key if 0 <= key < n else None) if lookup is None else lookup.get(key)
        if node is None:
            unknown.append((row, raw))
        else:
            out.append(node)
    if unknown:
        row, raw = unknown[0]
        known = "ids of nodes.csv's id column" if lookup is not None else f"row numbers 0..{n - 1} of nodes.csv"
        raise DataError(f"'{path}': {len(unknown)} {column} values name unknown nodes (first: {raw!r} in row "
                        f"{row + 1}); they must be {known}")
    return out


def _int(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None


def _csv_labels(labels: Optional[List[str]], n: int) -> Tuple[Tensor, Optional[List[str]]]:
    if labels is None:
        return torch.full((n,), -1, dtype=torch.long), None
    values = [v.strip() for v in labels]
    given = [v for v in values if v]
    if all(_int(v) is not None for v in given):
        return torch.tensor([_int(v) if v else -1 for v in values], dtype=torch.long), None
    names = sorted(set(given))
    lookup = {name: i for i, name in enumerate(names)}
    return torch.tensor([lookup[v] if v else -1 for v in values], dtype=torch.long), names


# ----------------------------------------------------------------------------- both
def _graph(texts: List[str], edge_index: Tensor, y: Tensor, names: Optional[List[str]], stem: str, source: str,
           x: Optional[Tensor] = None) -> Data:
    from graphfm.data.loaders.tag import TEXT_HASH_DIM, hashed_bag_of_words

    mask = torch.tensor([bool(t.strip()) for t in texts], dtype=torch.bool)
    missing = int((~mask).sum())
    if missing:
        warnings.warn(f"'{source}': {missing} of {len(texts)} nodes have no text; their text_mask is False "
                      "(text encoders skip them, x is a zero row)", stacklevel=3)
    if x is None:
        x = hashed_bag_of_words(texts) if texts else torch.zeros(0, TEXT_HASH_DIM)
    data = Data(x=x, edge_index=edge_index, y=y, text=texts, text_mask=mask)
    if names is not None:
        data.label_names = names
    data.domain = data.name = stem
    return data

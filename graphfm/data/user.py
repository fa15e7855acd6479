"""A user's own graph, given as a file path wherever a dataset name is accepted.

Two formats:

* ``.npz`` (``numpy.savez``): ``edge_index`` int ``[2, E]``, ``x`` ``[N, F]`` and
  optionally ``y`` int ``[N]`` (``-1`` = unlabelled) and ``num_nodes``;
* ``.pt`` (``torch.save``): a PyG ``Data`` **or** a plain ``dict`` with the same keys,
  read with ``torch.load(weights_only=True)`` (PyG's ``Data`` storage classes are
  allow-listed for that call only). Extra ``Data`` attributes (e.g. ``text``) are kept.
  A ``list`` of them is a graph set (graph classification): each needs ``y`` of one
  entry, and the result is a ``list[Data]``.
  A dict with ``raw_texts`` is a text graph instead (:mod:`graphfm.data.textgraph`).

A graph without ``x`` gets the structural features of
:func:`graphfm.data.structural.structural_features`. The domain name is the file
name without its extension. Edges are made undirected and coalesced, then the graph
is validated like every other dataset.

Example::

    np.savez("g.npz", edge_index=ei.numpy(), x=x.numpy(), y=y.numpy())
    data = graphfm.data.load_graph("g.npz")
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Union

import numpy as np
import torch

from graphfm.data.graph import GraphArrays
from graphfm.errors import DataError

if TYPE_CHECKING:
    from torch_geometric.data import Data

_HELP = ("expected a .npz with edge_index [2, E], x [N, F] and optional y [N], or a .pt "
         "holding a torch_geometric Data or a dict with those keys")

#: Most nodes a file without ``x`` may imply (its structural features are computed);
#: beyond it the node ids are almost surely not re-indexed to ``0..N-1``.
MAX_INFERRED_NODES = 50_000_000


def load_user_file(path: str, arrays: bool = False) -> Union["Data", List["Data"], GraphArrays]:
    """Read a user's ``.npz`` / ``.pt`` graph or graph set (see the module docstring), finalised
    and validated; callers use :func:`graphfm.data.load_graph`.

    A ``.pt`` holding a dict with ``raw_texts`` is a text graph
    (:func:`graphfm.data.textgraph.text_graph_from_dict`). With ``arrays``, a ``.npz`` is
    returned as :class:`~graphfm.data.graph.GraphArrays` (the same tensors) without importing
    PyTorch Geometric (``graphfm embed`` of large graphs).
    """
    from graphfm.data.graph import finalise
    from graphfm.data.validate import validate_dataset, validate_graph

    p = _existing(path)
    if p.suffix.lower() == ".npz":
        graph = finalise(_to_graph(_read_npz(p), p))
        return validate_graph(graph, str(path)) if arrays else validate_dataset(_as_data(graph, p), str(path))
    obj = _read_pt(p)
    if isinstance(obj, dict) and "raw_texts" in obj:
        from graphfm.data.textgraph import text_graph_from_dict

        return validate_dataset(finalise(text_graph_from_dict(obj, str(path))), str(path))
    if not isinstance(obj, list):
        return validate_dataset(finalise(_as_data(_to_graph(obj, p), p)), str(path))
    graphs = [_to_graph(_fields(o, p), p) for o in obj]
    for i, g in enumerate(graphs):  # each graph on its own first: clear errors before collating the set
        validate_graph(g, f"{p.name}[{i}]", level="graph")
    return validate_dataset([finalise(_as_data(g, p)) for g in graphs], str(path))


def load_npz_graph(path: str) -> GraphArrays:
    """A user's ``.npz`` as :class:`~graphfm.data.graph.GraphArrays`: ``load_graph(path, arrays=True)``."""
    return load_user_file(path, arrays=True)


def _existing(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"graph file '{p}' does not exist (or is not a file); check the path. {_HELP}")
    return p


def _read_npz(path: Path) -> Dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read '{path}' as .npz ({type(exc).__name__}: {exc}); the file is "
                        f"corrupt or not a numpy archive; {_HELP}") from exc


def _read_pt(path: Path) -> Union[Dict[str, Any], List[Any]]:
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    from graphfm.data.mmgraph import numpy_safe_globals

    try:
        with torch.serialization.safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage,
                                               *numpy_safe_globals()]):
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for bad files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"cannot read '{path}' with torch.load(weights_only=True) ({type(exc).__name__}: "
                        f"{first}); it is corrupt, or holds objects other than tensors, arrays, lists, "
                        f"dicts and PyG Data, which graphfm never unpickles; {_HELP}") from None
    if isinstance(obj, (list, tuple)) and obj:
        return list(obj)
    return _fields(obj, path)


def _fields(obj: Any, path: Path) -> Dict[str, Any]:
    from torch_geometric.data import Data

    if isinstance(obj, Data):
        return obj.to_dict()
    if isinstance(obj, dict):
        return dict(obj)
    raise DataError(f"'{path}' holds a {type(obj).__name__}; {_HELP} (or a list of them)")


def _tensor(value: Any, key: str, path: Path) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_sparse or value.layout != torch.strided:
            raise DataError(f"'{path}': '{key}' is a sparse tensor; store it dense (value.to_dense()); {_HELP}")
        return value
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype} is not numeric")
        return torch.as_tensor(array)
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise DataError(f"'{path}': '{key}' is not a numeric array ({exc}); store it as an int/float "
                        f"array; {_HELP}") from None


def _to_graph(fields: Dict[str, Any], path: Path) -> GraphArrays:
    if "edge_index" not in fields:
        raise DataError(f"'{path}' has no 'edge_index' (keys: {sorted(fields)}); {_HELP}")
    edge_index = _tensor(fields.pop("edge_index"), "edge_index", path)
    if edge_index.dtype in (torch.int8, torch.int16, torch.int32, torch.uint8):
        edge_index = edge_index.long()
    x = fields.pop("x", None)
    y = fields.pop("y", None)
    num_nodes = fields.pop("num_nodes", None)
    data = GraphArrays(edge_index=edge_index)
    if x is not None:
        x = _tensor(x, "x", path)
        if x.dim() == 0:
            raise DataError(f"'{path}': x must be a 2-D tensor [N, F], got a scalar; reshape it to one row of "
                            f"features per node; {_HELP}")
        data.x = x.float() if x.dtype != torch.float32 and x.dim() == 2 else x
    else:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise DataError(f"'{path}': edge_index must have shape [2, E], got {tuple(edge_index.shape)}; "
                            "transpose an [E, 2] edge list; " + _HELP)
        if edge_index.dtype != torch.long or (edge_index.numel() and int(edge_index.min()) < 0):
            raise DataError(f"'{path}': edge_index must hold non-negative integers (int64); {_HELP}")
        n = int(edge_index.max()) + 1 if edge_index.numel() else 0
        if num_nodes is not None:
            declared = _tensor(num_nodes, "num_nodes", path)
            if declared.numel() != 1 or declared.dtype.is_floating_point or int(declared) < n:
                raise DataError(f"'{path}': num_nodes must be one integer >= {n} (the largest node id + 1), "
                                f"got {num_nodes!r}; fix it or leave it out")
            n = int(declared)
        if n > MAX_INFERRED_NODES:
            raise DataError(f"'{path}': edge_index implies {n} nodes (more than {MAX_INFERRED_NODES}); node ids "
                            "must be re-indexed to 0..N-1, or give x [N, F]")
        from graphfm.data.structural import structural_features

        both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        data.x = structural_features(both, n)
    if y is not None:
        data.y = _tensor(y, "y", path)
        if data.y.dtype in (torch.int8, torch.int16, torch.int32, torch.uint8):
            data.y = data.y.long()
    for key, value in fields.items():
        if isinstance(key, str) and not key.startswith("_"):
            data[key] = value
    data.domain = data.name = path.stem
    return data


def _as_data(graph: GraphArrays, path: Path) -> "Data":
    """``graph`` as a PyG ``Data``; an extra entry PyG refuses is a clear error."""
    try:
        return graph.to_data()
    except DataError as exc:
        raise DataError(f"'{path}': {exc}; {_HELP}") from None

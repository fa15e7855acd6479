"""Checks every graph passes before it reaches a model.

Each problem is a :class:`~graphfm.errors.DataError` that names the graph, says how
many entries are wrong and gives the first offending index. Labels may be ``-1``,
which means *unlabelled* (e.g. a node without a target row); any other negative
label, or one ``>= num_classes``, is an error.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Union

import torch

from graphfm.data.graph import GraphArrays
from graphfm.errors import DataError

if TYPE_CHECKING:
    from torch_geometric.data import Data

UNLABELLED = -1


def all_finite(t: torch.Tensor) -> bool:
    """Whether every entry of a floating tensor is finite: one sum (a NaN or Inf anywhere
    makes it non-finite), the element-wise check only when the sum is not finite (entries
    near the float limit can overflow it); ``torch.isfinite`` on a large tensor is ~10x slower."""
    if not t.is_floating_point() or t.numel() == 0:
        return True
    if bool(torch.isfinite(t.sum())):
        return True
    return bool(torch.isfinite(t).all())


def _first(mask: torch.Tensor) -> int:
    return int(mask.nonzero()[0, 0])


def _check_edges(data: Data, name: str) -> None:
    ei = data.edge_index
    if ei is None:
        raise DataError(f"graph '{name}' has no edge_index; give one of shape [2, E] (may be empty)")
    if not isinstance(ei, torch.Tensor) or ei.dim() != 2 or ei.size(0) != 2:
        shape = tuple(ei.shape) if isinstance(ei, torch.Tensor) else type(ei).__name__
        raise DataError(f"graph '{name}': edge_index must have shape [2, E], got {shape}; "
                        "give a [2, E] tensor (transpose an [E, 2] edge list with .t())")
    if ei.dtype.is_floating_point or ei.dtype == torch.bool or ei.is_complex():
        raise DataError(f"graph '{name}': edge_index must hold integers, got dtype {ei.dtype}; "
                        "convert it with edge_index.long()")
    if ei.dtype != torch.long:
        raise DataError(f"graph '{name}': edge_index must be int64 (long), got {ei.dtype}; "
                        "convert it with edge_index.long()")
    n = data.num_nodes
    neg = (ei < 0).any(0)
    if neg.any():
        raise DataError(f"graph '{name}': {int(neg.sum())} edges have negative node indices "
                        f"(first: edge {_first(neg)}, {ei[:, _first(neg)].tolist()}); node indices must be "
                        f"in [0, {n}): re-index the nodes or drop those edges")
    big = (ei >= n).any(0)
    if big.any():
        i = _first(big)
        raise DataError(f"graph '{name}': {int(big.sum())} edges point outside the {n} nodes "
                        f"(first: edge {i}, {ei[:, i].tolist()}); node indices must be in [0, {n}): "
                        "re-index the nodes, drop those edges or add the missing rows to x")


def _check_features(data: Data, name: str) -> None:
    x = data.x
    if x is None:
        raise DataError(f"graph '{name}' has no node features x; give x of shape [N, F]")
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise DataError(f"graph '{name}': x must be a 2-D tensor [N, F], got "
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}; "
                        "reshape it to one row per node (x.view(N, -1))")
    if x.dtype != torch.float32:
        raise DataError(f"graph '{name}': x must be float32, got {x.dtype}; convert it with x.float()")
    if all_finite(x):
        return
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.any(1)
        raise DataError(f"graph '{name}': {int(bad.sum())} feature values are NaN or Inf in "
                        f"{int(rows.sum())} nodes (first: node {_first(rows)}); clean or impute them")


def _check_labels(data: Data, name: str, num_classes: Optional[int], level: str) -> None:
    y = getattr(data, "y", None)
    if y is None:
        return
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long:
        raise DataError(f"graph '{name}': labels y must be an int64 tensor, got "
                        f"{y.dtype if isinstance(y, torch.Tensor) else type(y).__name__}; give class ids "
                        "0..C-1 (-1 for unlabelled) as y.long()")
    y = y.reshape(-1)
    expected = data.num_nodes if level == "node" else 1
    if y.numel() != expected:
        raise DataError(f"graph '{name}': y has {y.numel()} entries but {expected} are expected "
                        f"({'one per node' if level == 'node' else 'one per graph'}); give one label per "
                        f"{'node' if level == 'node' else 'graph'}, -1 where unknown")
    bad = y < UNLABELLED
    if num_classes is not None:
        bad |= y >= num_classes
    if bad.any():
        i = _first(bad)
        limit = f"[0, {num_classes})" if num_classes is not None else "non-negative"
        raise DataError(f"graph '{name}': {int(bad.sum())} labels are out of range (first: "
                        f"index {i}, label {int(y[i])}); labels must be {limit}, or -1 for unlabelled")


def _check_names_and_text(data: Data, name: str, num_classes: Optional[int]) -> None:
    """``label_names`` (class names, index = class id) and ``text`` / ``text_mask``, when given."""
    names = getattr(data, "label_names", None)
    if names is not None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise DataError(f"graph '{name}': label_names must be a list of strings (class names, index = "
                            f"class id), got {type(names).__name__}; give e.g. ['cat', 'dog'] or leave it out")
        if num_classes is not None and len(names) != num_classes:
            raise DataError(f"graph '{name}': label_names lists {len(names)} classes but the dataset has "
                            f"{num_classes}; give one name per class")
        y = getattr(data, "y", None)
        if isinstance(y, torch.Tensor) and y.numel() and int(y.max()) >= len(names):
            raise DataError(f"graph '{name}': label {int(y.max())} has no name (label_names lists {len(names)} "
                            "classes); add the missing names or leave label_names out")
    n = data.num_nodes
    text, mask = getattr(data, "text", None), getattr(data, "text_mask", None)
    if isinstance(text, (list, tuple)) and len(text) != n:
        raise DataError(f"graph '{name}': text has {len(text)} entries for {n} nodes; give one text per node "
                        "('' or None where a node has none)")
    if mask is not None and not (isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
                                 and tuple(mask.shape) == (n,)):
        raise DataError(f"graph '{name}': text_mask must be a bool tensor [{n}] (false where a node has no "
                        "text), got " + (f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor)
                                         else type(mask).__name__))


def validate_graph(data: Data, name: str = "graph", num_classes: Optional[int] = None,
                   level: str = "node") -> Data:
    """Check one graph; return it unchanged.

    Args:
        data (Data): The graph.
        name (str): Used in error messages. (default: ``"graph"``)
        num_classes (int, optional): Labels must be ``< num_classes``. (default: ``None``)
        level (str): ``"node"`` (``y`` has one entry per node) or ``"graph"`` (one).
            (default: ``"node"``)

    Raises:
        DataError: non-integer / negative / out-of-range edges, NaN or Inf features,
            out-of-range labels, ``label_names`` that are not one string per class, ``text``
            or ``text_mask`` (bool ``[N]``) of the wrong length.
    """
    if not _is_graph(data):
        raise DataError(f"'{name}' is a {type(data).__name__}, not a torch_geometric Data; build one with "
                        "Data(x=..., edge_index=..., y=...)")
    _check_features(data, name)
    if data.x.size(0) != data.num_nodes:
        raise DataError(f"graph '{name}': x has {data.x.size(0)} rows but num_nodes is {data.num_nodes}; "
                        "give one feature row per node (or drop num_nodes)")
    _check_edges(data, name)
    _check_labels(data, name, num_classes, level)
    _check_names_and_text(data, name, num_classes)
    return data


def _is_graph(data: Any) -> bool:
    """A PyG ``Data`` or a :class:`~graphfm.data.graph.GraphArrays` (checked without importing PyG for the latter)."""
    if isinstance(data, GraphArrays):
        return True
    from torch_geometric.data import Data

    return isinstance(data, Data)


def validate_dataset(data: Union[Data, Sequence[Data]], name: str,
                     num_classes: Optional[int] = None) -> Union[Data, List[Data]]:
    """Validate a graph, or every graph of a set (one label each) and that they share
    the feature dim; return it unchanged."""
    if _is_graph(data):
        return validate_graph(data, name, num_classes, "node")
    from graphfm.data.graphset import GraphSet

    graphs = list(data)
    GraphSet.from_list(graphs, name).validate(name, num_classes)
    return graphs

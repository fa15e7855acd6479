"""A graph's tensors without PyTorch Geometric, and the edge finishing every loaded graph gets.

:class:`GraphArrays` holds what graphfm's models read from a graph (``x``,
``edge_index``, ``y``, ``num_nodes``, ``domain``, ``name``), with PyG ``Data``'s
attribute and item access, so that a path that needs nothing else (``graphfm embed``
of a user's ``.npz``) never imports PyG, whose import costs more than a second.
:meth:`GraphArrays.to_data` gives the PyG ``Data`` (same tensors, no copies).

:func:`finalise` casts to the contract dtypes and makes ``edge_index`` undirected and
coalesced, with :func:`to_undirected` (plain torch, the same result as PyG's).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor


#: Attributes that read as ``None`` when unset, as on PyG's ``Data``.
_STANDARD = ("x", "edge_index", "edge_attr", "y", "pos")


class GraphArrays:
    """One graph as plain tensors; reads and writes like a PyG ``Data``.

    Args:
        edge_index (Tensor): ``[2, E]`` edges.
        **attrs: ``x`` ``[N, F]``, ``y``, ``num_nodes``, ``domain``, ``name`` or any extra entry.
    """

    def __init__(self, edge_index: Optional[Tensor] = None, **attrs: Any) -> None:
        self.__dict__["_store"] = {"edge_index": edge_index}
        for key, value in attrs.items():
            self[key] = value

    def __getattr__(self, key: str) -> Any:
        if key == "_store":                    # not set yet (e.g. while unpickling)
            raise AttributeError(key)
        if key in self._store or key in _STANDARD:
            return self._store.get(key)
        raise AttributeError(f"'GraphArrays' object has no attribute '{key}'")

    def __setattr__(self, key: str, value: Any) -> None:
        self._store[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = value

    def __contains__(self, key: str) -> bool:
        return key in self._store

    @property
    def num_nodes(self) -> Optional[int]:
        """Rows of ``x`` if present, else the declared ``num_nodes``, else the largest node id + 1."""
        x, declared = self._store.get("x"), self._store.get("num_nodes")
        if isinstance(x, Tensor) and x.dim() >= 1:
            return int(x.size(0))
        if declared is not None:
            return int(declared)
        ei = self._store.get("edge_index")
        return int(ei.max()) + 1 if isinstance(ei, Tensor) and ei.numel() else None

    @num_nodes.setter
    def num_nodes(self, value: Optional[int]) -> None:
        self._store["num_nodes"] = value

    def to_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in self._store.items() if v is not None}

    def to_data(self) -> Any:
        """The same graph as a PyG ``Data`` (tensors shared, not copied).

        Raises:
            DataError: an entry PyG refuses to store, named.
        """
        from torch_geometric.data import Data

        from graphfm.errors import DataError

        data = Data()
        for key, value in self.to_dict().items():
            try:
                data[key] = value
            except (AttributeError, TypeError, ValueError, RuntimeError) as exc:
                raise DataError(f"extra entry '{key}' cannot be stored on a graph ({exc}); rename or remove it") \
                    from None
        return data

    def __repr__(self) -> str:
        parts = [f"{k}={list(v.shape) if isinstance(v, Tensor) else v!r}" for k, v in self.to_dict().items()]
        return f"GraphArrays({', '.join(parts)})"


def to_undirected(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Both directions of every edge, sorted by ``(row, col)``, without duplicates
    (what PyG's ``to_undirected`` returns for an ``edge_index`` alone)."""
    row, col = edge_index
    n = int(num_nodes)
    key = torch.unique(torch.cat([row * n + col, col * n + row]))     # sorted
    return torch.stack([key.div(n, rounding_mode="floor"), key.remainder(n)])


def undirected_coalesced(edge_index: Tensor, num_nodes: int) -> bool:
    """Whether ``edge_index`` is already what :func:`to_undirected` returns: sorted by
    ``(row, col)`` without duplicates, every edge present in both directions. One sort of
    ``E`` keys instead of the ``2E`` of :func:`to_undirected`, by NumPy (whose integer sort is
    about 2.5x faster than ``torch.sort`` on 10^7 keys)."""
    import numpy as np

    key = edge_index[0] * num_nodes + edge_index[1]
    if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
        return False
    transposed = (edge_index[1] * num_nodes + edge_index[0]).cpu().numpy()
    transposed.sort()                                   # in place: the keys are a temporary
    return torch.equal(torch.from_numpy(transposed), key.cpu())


def finalise(data: Any) -> Any:
    """Cast ``x`` to float32 and ``y`` to int64, and make a valid ``edge_index`` undirected
    and coalesced (invalid edges are left as given, for validation to report); return ``data``."""
    x, y = getattr(data, "x", None), getattr(data, "y", None)
    if isinstance(x, Tensor) and x.dtype != torch.float32 and not x.is_complex():
        data.x = x.float()
    if isinstance(y, Tensor) and y.dtype in (torch.int8, torch.int16, torch.int32, torch.uint8):
        data.y = y.long()
    ei = data.edge_index
    if (isinstance(ei, Tensor) and ei.dtype == torch.long and ei.dim() == 2 and ei.size(0) == 2
            and ei.numel() > 0 and int(ei.min()) >= 0 and int(ei.max()) < data.num_nodes):
        if not undirected_coalesced(ei, int(data.num_nodes)):
            data.edge_index = to_undirected(ei, num_nodes=data.num_nodes)
    return data

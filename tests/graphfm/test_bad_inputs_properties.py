"""Property-based tests (hypothesis) for the graph validator and the user-file loader.

Whatever graph or file is generated, the result is either a valid graph or a
:class:`~graphfm.errors.GraphFMError`; never another exception.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from graphfm.data import load_dataset  # noqa: E402
from graphfm.data.validate import validate_graph  # noqa: E402
from graphfm.errors import GraphFMError  # noqa: E402

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.int64, np.int32, np.uint8, np.float32, np.float64, np.bool_, np.int16])


def arrays(max_dims: int = 3, max_side: int = 6):
    """Small arrays of any of :data:`DTYPES`, 0-3 dimensions, values that include extremes."""
    return DTYPES.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side),
        elements=hnp.from_dtype(np.dtype(dt), allow_nan=True, allow_infinity=True)
        if np.dtype(dt).kind == "f" else hnp.from_dtype(np.dtype(dt))))


def plausible_graph():
    """Graphs that are often valid: N nodes, edges mostly in range, optional labels."""
    return st.integers(0, 6).flatmap(lambda n: st.fixed_dictionaries({
        "edge_index": hnp.arrays(np.int64, st.tuples(st.just(2), st.integers(0, 8)),
                                 elements=st.integers(-2, n + 1)),
        "x": hnp.arrays(np.float32, st.tuples(st.just(n), st.integers(1, 3)),
                        elements=st.floats(-1e3, 1e3, width=32) | st.just(float("nan"))),
    }, optional={"y": hnp.arrays(np.int64, st.just(n), elements=st.integers(-3, 4))}))


def fields():
    """A dict of user-file fields: plausible graphs or arbitrary arrays per key."""
    anything: Dict[str, Any] = {"edge_index": arrays(), "x": arrays(), "y": arrays(max_dims=2),
                                "num_nodes": arrays(max_dims=1, max_side=2)}
    return plausible_graph() | st.fixed_dictionaries({}, optional=anything)


def _check_loaded(out: Any) -> None:
    graphs = out if isinstance(out, list) else [out]
    for g in graphs:
        validate_graph(g, level="node" if not isinstance(out, list) else "graph")
        assert g.edge_index.dtype == torch.long and g.x.dtype == torch.float32


def _load(path: Path) -> None:
    try:
        out = load_dataset(str(path))
    except GraphFMError:
        return
    _check_loaded(out)


@SETTINGS
@given(fields())
def test_validator_never_crashes(values: Dict[str, np.ndarray]) -> None:
    data = Data(**{k: torch.as_tensor(v) for k, v in values.items() if k != "num_nodes"})
    try:
        validate_graph(data, "generated", num_classes=4)
    except GraphFMError:
        return
    n = data.num_nodes
    assert data.x.dim() == 2 and data.x.size(0) == n and bool(torch.isfinite(data.x).all())
    assert data.edge_index.numel() == 0 or (0 <= int(data.edge_index.min()) and int(data.edge_index.max()) < n)


@SETTINGS
@given(fields())
def test_npz_loader_gives_a_valid_graph_or_a_graphfm_error(values: Dict[str, np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.npz"
        np.savez(path, **values)
        _load(path)


@SETTINGS
@given(st.lists(fields(), min_size=0, max_size=3), st.booleans())
def test_pt_loader_gives_a_valid_graph_or_a_graphfm_error(graphs, as_list: bool) -> None:
    objs = [{k: torch.as_tensor(v) for k, v in g.items()} for g in graphs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.pt"
        torch.save(objs if as_list or not objs else objs[0], path)
        _load(path)


@SETTINGS
@given(st.binary(min_size=0, max_size=300), st.sampled_from(["g.npz", "g.pt"]))
def test_arbitrary_bytes_are_a_graphfm_error(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        with pytest.raises(GraphFMError):
            load_dataset(str(path))

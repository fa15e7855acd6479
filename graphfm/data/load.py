"""The one way to load a graph: :func:`load_graph`, for every kind of source.

Example::

    from graphfm.data import load_graph

    cora = load_graph("Cora")                    # a registered name: Data(x=[2708, 1433], ...)
    mutag = load_graph("MUTAG")                  # a graph set: list of 188 Data, each y=[1]
    syn = load_graph("synthetic-3")              # a built-in SBM domain
    mine = load_graph("path/to/graph.npz")       # a user's file (.npz / .pt, graphfm.data.user)
    texts = load_graph("path/to/my_graph")       # a folder with nodes.csv + edges.csv (a text graph)
    books = load_graph("books-nc", features=["clip"])   # an MM-Graph folder
    same = load_graph(cora)                      # a PyG Data: validated and returned

    arrays = load_graph("big.npz", arrays=True)  # GraphArrays: the same tensors, PyG never imported

This module imports nothing heavy at load time; a ``.npz`` read with ``arrays=True`` stays
free of PyTorch Geometric (``graphfm embed`` of large graphs).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Union

from graphfm.errors import DataError

if TYPE_CHECKING:
    from torch_geometric.data import Data

PathLike = Union[str, "os.PathLike[str]"]

_SYNTHETIC = re.compile(r"^synthetic-(large-)?(\d+)$", re.IGNORECASE)
_USER_SUFFIXES = (".npz", ".pt")


def is_user_file(name: PathLike) -> bool:
    """Whether ``name`` refers to a user's graph file rather than a registered name."""
    return str(name).lower().endswith(_USER_SUFFIXES)


def load_graph(source: Any, root: Optional[PathLike] = None, *, arrays: bool = False,
               **options: Any) -> Union["Data", List["Data"], Any]:
    """Load a graph (or a set of graphs) from any source graphfm accepts.

    Every returned graph has ``x`` float32 ``[N, F]``, ``edge_index`` long ``[2, E]``
    (undirected and coalesced), ``y`` long (``[N]`` for node sets, ``[1]`` per graph for
    graph sets), ``domain`` and ``name`` strings, and passes
    :func:`~graphfm.data.validate.validate_graph`. Graph sets are a plain ``list[Data]``.
    Text graphs also carry ``text``, ``text_mask`` and, when known, ``label_names``.

    Args:
        source: One of

            * a registered name (:func:`~graphfm.data.list_datasets`; case-insensitive,
              ``-`` equals ``_``), ``synthetic-<k>`` or ``synthetic-large-<num_nodes>``;
            * a user's ``.npz`` / ``.pt`` file (:mod:`graphfm.data.user`); a ``.pt`` holding a
              dict with ``raw_texts`` is a text graph (:func:`graphfm.data.textgraph.text_graph_from_dict`);
            * a folder with ``nodes.csv`` and ``edges.csv`` (a text graph,
              :func:`graphfm.data.textgraph.read_text_folder`) or in the MM-Graph layout
              (:func:`graphfm.data.mmgraph.load_mmgraph`);
            * a PyG ``Data`` (or a list of them), validated and returned as given.
        root (str or path, optional): Data root of registered names. (default:
            ``$GRAPHFM_DATA`` or ``./data``)
        arrays (bool): Return a user's ``.npz`` as :class:`~graphfm.data.graph.GraphArrays`
            (the same tensors; PyTorch Geometric is not imported). Other sources are
            unaffected. (default: ``False``)
        **options: Options of MM-Graph folders (``features``, ``split_halves``, ``edge_split``
            of :func:`~graphfm.data.mmgraph.load_mmgraph`); other sources take none
            (``None`` / empty values are ignored).

    Raises:
        DataError: unknown name, missing or corrupt file, or invalid graph.
    """
    if not isinstance(source, (str, os.PathLike)):
        _no_options(repr(type(source).__name__), options)
        return _validated(source, getattr(source, "name", None) or "graph")
    text = str(source)
    folder = Path(text).expanduser()
    if folder.is_dir() and (_is_graph_folder(folder) or not _registered(text)):
        return _load_folder(folder, options)
    _no_options(text, options)
    if is_user_file(text):
        from graphfm.data.user import load_user_file

        return load_user_file(text, arrays=arrays)
    match = _SYNTHETIC.match(text)
    if match:
        from graphfm.data.graph import finalise
        from graphfm.data.synthetic import large_sbm, synthetic_domain

        k = int(match.group(2))
        return _validated(finalise(large_sbm(k) if match.group(1) else synthetic_domain(k)), text)
    from graphfm.data.registry import load_registered

    return load_registered(text, root)


#: The name graphfm's data layer had before :func:`load_graph` took every source.
load_dataset = load_graph


def _is_graph_folder(path: Path) -> bool:
    from graphfm.data.mmgraph import is_mmgraph_dir
    from graphfm.data.textgraph import is_text_folder

    return is_mmgraph_dir(path) or is_text_folder(path)


def _registered(name: str) -> bool:
    from graphfm.data.registry import DATASETS

    return bool(_SYNTHETIC.match(name)) or name in DATASETS


def _load_folder(path: Path, options: dict) -> Any:
    """An MM-Graph folder or a text graph's folder (a folder that is neither is an error)."""
    from graphfm.data.mmgraph import is_mmgraph_dir, load_mmgraph
    from graphfm.data.textgraph import NODES_FILE, is_text_folder, read_text_folder

    if is_mmgraph_dir(path):
        return load_mmgraph(path, **options)
    _no_options(str(path), options)
    if is_text_folder(path):
        from graphfm.data.graph import finalise

        return _validated(finalise(read_text_folder(path)), str(path))
    raise DataError(f"folder '{path}' is not a graph graphfm can read: a text graph needs {NODES_FILE} and "
                    "edges.csv, an MM-Graph folder nc_edges-nodeid.pt or lp-edge-split-<type>.pt; or pass a "
                    ".npz/.pt file or a registered dataset name")


def _validated(data: Any, name: str) -> Any:
    from graphfm.data.validate import validate_dataset

    return validate_dataset(data, str(name))


def _no_options(source: str, options: dict) -> None:
    given = sorted(k for k, v in options.items() if v not in (None, (), [], ""))
    if given:
        raise DataError(f"dataset '{source}' takes no options {given}; they apply to MM-Graph folders only")

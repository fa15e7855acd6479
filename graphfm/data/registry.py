"""The dataset registry: names -> specs -> validated PyG ``Data``.

Every dataset graphfm knows is a :class:`DatasetSpec` in :data:`DATASETS`: its name,
whether it is a node-level graph or a set of graphs, the raw files it needs (relative
to the data root, in a layout that mirrors the shared offline copy, e.g.
``planetoid/Cora/raw/ind.cora.x``) and where those files come from.

Example::

    from graphfm.data import load_graph, list_datasets

    cora = load_graph("Cora")                   # Data(x=[2708, 1433], ...); see graphfm.data.load
    mutag = load_graph("MUTAG")                 # list of 188 Data, each y=[1]
    [d for d in list_datasets() if not d["present"]]

The data root is the ``root`` argument, else ``$GRAPHFM_DATA``, else ``./data``.
Nothing is ever downloaded: a missing raw file is a :class:`~graphfm.errors.DataError`
naming the file, the folder it belongs in and where to get it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch_geometric.data import Data

from graphfm.data.graph import finalise as _finalise
from graphfm.data.graphset import GraphSet
from graphfm.errors import DataError
from graphfm.registry import Registry

DataOrList = Union[Data, List[Data]]
PathLike = Union[str, "os.PathLike[str]"]

DATASETS = Registry("dataset", group="graphfm.datasets")

ENV_VAR = "GRAPHFM_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """What graphfm needs to know to load one dataset.

    Args:
        name (str): Canonical name (``"Cora"``).
        kind (str): ``"node"`` (one graph, node labels) or ``"graph"`` (a list of
            graphs, one label each).
        domain (str): The feature space the graphs live in; graphs sharing a domain
            share feature columns (feature alignment is fitted per domain).
        area (str): Topical area, for humans (``"citation"``, ``"molecules"``, ...).
        folder (str): Folder of the raw files relative to the data root.
        files (tuple[str, ...]): Raw file names inside :obj:`folder`.
        source (str): Where the raw files come from.
        loader (callable): ``loader(root: Path, spec) -> Data | GraphSet`` (a graph
            set is returned collated and split into ``list[Data]`` after checks).
        num_classes (int): Number of classes of ``y``.
        note (str): How features are built, when not read verbatim. (default: ``""``)
    """

    name: str
    kind: str
    domain: str
    area: str
    folder: str
    files: Tuple[str, ...]
    source: str
    loader: Callable[[Path, "DatasetSpec"], Union[Data, GraphSet]] = field(repr=False)
    num_classes: int
    note: str = ""

    def raw_paths(self, root: Path) -> List[Path]:
        return [root / self.folder / f for f in self.files]

    def missing(self, root: Path) -> List[str]:
        """Raw files (relative to ``root``) that are not present."""
        return [f"{self.folder}/{f}" for f in self.files if not (root / self.folder / f).is_file()]

    def check_files(self, root: Path) -> None:
        """Raise :class:`DataError` if any raw file is missing (never download)."""
        if not root.is_dir():
            raise DataError(
                f"dataset '{self.name}': the data root '{root}' does not exist or is not a folder. Copy the "
                f"datasets there (cp -r ../shared/datasets '{root}' && chmod -R u+w '{root}') or point "
                f"--data-root / ${ENV_VAR} at such a copy; `graphfm doctor` checks the setup."
            )
        missing = self.missing(root)
        if missing:
            raise DataError(
                f"dataset '{self.name}': raw file '{missing[0]}' is missing"
                f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''} under data root "
                f"'{root}'. Put the files {', '.join(self.files)} into '{root / self.folder}'; "
                f"they come from {self.source}. graphfm never downloads on its own: run "
                f"`graphfm data download {self.name}` (optionally --mirror URL), copy them from an "
                f"offline mirror (e.g. ../shared/datasets) or set --data-root / ${ENV_VAR}."
            )


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS` under its name."""
    return DATASETS.register(spec.name)(spec)


def resolve_root(root: Optional[PathLike] = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHFM_DATA``, else ``./data``."""
    if root is None or str(root) == "":
        root = os.environ.get(ENV_VAR) or "data"
    return Path(root).expanduser().resolve()


def load_registered(name: str, root: Optional[PathLike] = None) -> DataOrList:
    """Load the registered dataset ``name`` from the data root (callers use
    :func:`graphfm.data.load_graph`, which takes every kind of source).

    Raises:
        DataError: unknown name, missing or corrupt raw file, or invalid graph.
    """
    from graphfm.data.validate import validate_dataset
    from graphfm.data.verify import check_raw_files

    spec = get_spec(name)
    root_path = resolve_root(root)
    spec.check_files(root_path)
    check_raw_files(root_path, [f"{spec.folder}/{f}" for f in spec.files], spec.name, spec.source)
    data = spec.loader(root_path, spec)
    if isinstance(data, GraphSet):
        data.validate(spec.name, spec.num_classes).make_undirected()
        return data.to_list(domain=spec.domain, name=spec.name)
    data.domain, data.name = spec.domain, spec.name
    return validate_dataset(_finalise(data), spec.name, num_classes=spec.num_classes)


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` registered as ``name`` (a :class:`DataError` if none)."""
    if name not in DATASETS:
        valid = ", ".join(s["name"] for s in list_datasets(check=False))
        raise DataError(
            f"unknown dataset '{name}'; valid names: {valid}, synthetic-<k>, "
            "synthetic-large-<num_nodes>, a path to a .npz/.pt file, or a graph folder (nodes.csv + edges.csv, or "
            "MM-Graph)"
        )
    return DATASETS.get(name)


def list_datasets(root: Optional[PathLike] = None, check: bool = True) -> List[Dict[str, Any]]:
    """Every registered dataset and whether its raw files are present under ``root``.

    Returns:
        list[dict]: one dict per dataset with ``name``, ``kind``, ``domain``, ``area``,
        ``folder``, ``source``, ``note``, ``present`` (bool) and ``missing`` (list of
        raw files relative to the root). Synthetic domains are not listed (they need
        no files).
    """
    root_path = resolve_root(root)
    rows = []
    for key in DATASETS.names():
        spec: DatasetSpec = DATASETS.get(key)
        missing = spec.missing(root_path) if check else []
        rows.append(dict(name=spec.name, kind=spec.kind, domain=spec.domain, area=spec.area,
                         folder=spec.folder, source=spec.source, note=spec.note,
                         present=not missing, missing=missing))
    return sorted(rows, key=lambda r: (r["kind"] != "node", r["name"].lower()))


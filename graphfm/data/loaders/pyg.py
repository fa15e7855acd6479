"""Datasets read by PyG's own classes from their raw folders: Planetoid, Amazon, TU.

The data root mirrors the offline copy, so PyG's ``root`` argument is the family
folder: ``Planetoid(root / "planetoid", "Cora")`` reads ``root/planetoid/Cora/raw``
and writes ``root/planetoid/Cora/processed`` (the same for ``amazon/`` and ``tu/``).
Raw files are checked before PyG is called, so PyG never tries to download.

TU node features (``x``):

* MUTAG: one-hot atom type (7); PROTEINS: 1 attribute + one-hot type (4);
  ENZYMES: 18 attributes + one-hot type (21) (``use_node_attr=True``);
* COX2, BZR: one-hot atom type only (35 / 53): their node attributes are 3D
  coordinates, which are not invariant to rotation, so they are left out;
* IMDB-BINARY has no node features: ``x`` is the one-hot node degree, clipped at
  :data:`IMDB_MAX_DEGREE` (``IMDB_MAX_DEGREE + 1`` columns), as in GIN.

Planetoid Cora and CiteSeer carry ``data.label_names`` (index = class id). The files hold
one-hot labels only; the names follow from the class sizes, all distinct: Cora's
``[351, 217, 418, 818, 426, 298, 180]`` are the original sizes of Theory,
Reinforcement_Learning, Genetic_Algorithms, Neural_Networks, Probabilistic_Methods,
Case_Based, Rule_Learning; CiteSeer's ``[264, 590, 668, 701, 596, 508]`` those of AI
(249, plus the 15 test nodes without a row, which PyG labels 0), ML, IR, DB, Agents, HCI.
The names are spelled as for the text versions (:data:`graphfm.data.loaders.tag.LABEL_NAMES`).
PubMed's are not given (its raw files are not available to check the order).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.utils import degree

from graphfm.data.graphset import GraphSet
from graphfm.data.registry import DatasetSpec, register_dataset
from graphfm.errors import DataError

IMDB_MAX_DEGREE = 64

_PLANETOID_SRC = "https://github.com/kimiyoung/planetoid (data/ind.<name>.*, commit af6abf4, MIT)"
_AMAZON_SRC = "https://github.com/shchur/gnn-benchmark (data/npz/{file}, commit 1e72912, MIT)"
_TU_SRC = ("the TU Dortmund graph collection (https://chrsmrrs.github.io/datasets/, "
           "{name}.zip; mirrored in https://github.com/bknyaz/graph_nn data/{name}.zip)")


class _UnsafeFile(Exception):
    """A processed file that ``torch.load(weights_only=True)`` refuses."""


@contextmanager
def _weights_only_loads(spec: DatasetSpec, processed: Path) -> Iterator[None]:
    """Make PyG read its processed files with ``torch.load(weights_only=True)`` only.

    PyG falls back to ``weights_only=False`` (arbitrary code) when a safe load fails, and
    reads ``pre_transform.pt`` / ``pre_filter.pt`` unsafely; a planted file in
    ``processed/`` must not run code, so those are checked here and the fallback is off.
    """
    import fsspec
    from torch_geometric.io import fs

    def strict_load(path: str, map_location=None):
        try:
            with fsspec.open(path, "rb") as fh:
                return torch.load(fh, map_location, weights_only=True)
        except Exception as exc:
            raise _UnsafeFile(f"'{path}' ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None

    for name in ("pre_transform.pt", "pre_filter.pt"):
        if (processed / name).is_file():
            strict_load(str(processed / name))
    original, fs.torch_load = fs.torch_load, strict_load
    try:
        yield
    finally:
        fs.torch_load = original


def _pyg_call(spec: DatasetSpec, build, processed: Optional[Path] = None):
    """Run a PyG dataset constructor, turning file-system failures into DataError."""
    processed = processed or Path(".")
    try:
        with _weights_only_loads(spec, processed):
            return build()
    except _UnsafeFile as exc:
        raise DataError(
            f"dataset '{spec.name}': the processed file {exc} cannot be read with "
            "torch.load(weights_only=True): it is corrupt or was not written by PyG, and graphfm never "
            f"unpickles arbitrary objects. Delete '{processed}' so it is rebuilt from the raw files."
        ) from None
    except PermissionError as exc:
        raise DataError(
            f"dataset '{spec.name}': cannot write PyG's processed/ folder ({exc}). The data root "
            "must be writable: copy the raw folders (e.g. ../shared/datasets) to a writable "
            "directory and point --data-root / $GRAPHFM_DATA at it."
        ) from exc
    except Exception as exc:  # PyG's readers raise many types on corrupt files
        raise DataError(
            f"dataset '{spec.name}': PyG could not read the raw files in "
            f"'{spec.folder}' ({type(exc).__name__}: {exc}); they look corrupt. Run "
            "`graphfm data verify` and replace the files that fail."
        ) from exc


#: Class names of Planetoid's label order (see the module docstring).
PLANETOID_LABEL_NAMES = {
    "Cora": ("Theory", "Reinforcement_Learning", "Genetic_Algorithms", "Neural_Networks",
             "Probabilistic_Methods", "Case_Based", "Rule_Learning"),
    "CiteSeer": ("AI (Artificial Intelligence)", "ML (Machine Learning)", "IR (Information Retrieval)",
                 "DB (Databases)", "Agents", "HCI (Human-Computer Interaction)"),
}


def load_planetoid(root: Path, spec: DatasetSpec) -> Data:
    from torch_geometric.datasets import Planetoid

    ds = _pyg_call(spec, lambda: Planetoid(str(root / "planetoid"), spec.name),
                   root / "planetoid" / spec.name / "processed")
    g = ds[0]
    data = Data(x=g.x, edge_index=g.edge_index, y=g.y)
    if spec.name in PLANETOID_LABEL_NAMES:
        data.label_names = list(PLANETOID_LABEL_NAMES[spec.name])
    return data


def load_amazon(root: Path, spec: DatasetSpec) -> Data:
    from torch_geometric.datasets import Amazon

    ds = _pyg_call(spec, lambda: Amazon(str(root / "amazon"), spec.name),
                   root / "amazon" / spec.name.capitalize() / "processed")
    g = ds[0]
    return Data(x=g.x, edge_index=g.edge_index, y=g.y)


def load_tu(root: Path, spec: DatasetSpec) -> GraphSet:
    from torch_geometric.datasets import TUDataset

    use_attr = spec.name in ("PROTEINS", "ENZYMES")
    ds = _pyg_call(spec, lambda: TUDataset(str(root / "tu"), spec.name, use_node_attr=use_attr),
                   root / "tu" / spec.name / "processed")
    data, slices = ds._data, ds.slices  # collated storage: no per-graph Data objects
    edge_ptr = slices["edge_index"]
    if data.x is not None:
        node_ptr = slices["x"]
    else:
        counts = getattr(data, "_num_nodes", None) or [g.num_nodes for g in ds]
        node_ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
        node_ptr[1:] = torch.tensor(counts).cumsum(0)
    graphs = GraphSet(x=data.x, edge_index=data.edge_index, y=data.y.view(-1),
                      node_ptr=node_ptr, edge_ptr=edge_ptr)
    if graphs.x is None:
        graphs.x = _degree_one_hot(graphs)
    graphs.x = graphs.x.float()
    return graphs


def _degree_one_hot(graphs: GraphSet) -> torch.Tensor:
    src = graphs.edge_index[0] + graphs.node_ptr[graphs.edge_graph()]
    deg = degree(src, int(graphs.node_ptr[-1]), dtype=torch.long).clamp(max=IMDB_MAX_DEGREE)
    return F.one_hot(deg, IMDB_MAX_DEGREE + 1).float()


def _planetoid(name: str, classes: int, present: bool = True) -> DatasetSpec:
    low = name.lower()
    files = tuple(f"ind.{low}.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    return DatasetSpec(
        name=name, kind="node", domain=name, area="citation", folder=f"planetoid/{name}/raw",
        files=files, source=_PLANETOID_SRC.replace("<name>", low), loader=load_planetoid,
        num_classes=classes, note="" if present else "not in the offline copy: bring its raw files",
    )


def _amazon(name: str, file: str, classes: int) -> DatasetSpec:
    return DatasetSpec(
        name=name, kind="node", domain=name, area="e-commerce", folder=f"amazon/{name}/raw",
        files=(file,), source=_AMAZON_SRC.format(file=file), loader=load_amazon, num_classes=classes,
    )


def _tu(name: str, area: str, classes: int, extra: tuple, note: str) -> DatasetSpec:
    files = tuple(f"{name}_{s}.txt" for s in ("A", "graph_indicator", "graph_labels") + extra)
    return DatasetSpec(
        name=name, kind="graph", domain=name, area=area, folder=f"tu/{name}/raw", files=files,
        source=_TU_SRC.format(name=name), loader=load_tu, num_classes=classes, note=note,
    )


for _spec in (
    _planetoid("Cora", 7),
    _planetoid("CiteSeer", 6),
    _planetoid("PubMed", 3, present=False),
    _amazon("Photo", "amazon_electronics_photo.npz", 8),
    _amazon("Computers", "amazon_electronics_computers.npz", 10),
    _tu("MUTAG", "molecules", 2, ("node_labels", "edge_labels"), "x = one-hot atom type"),
    _tu("PROTEINS", "bioinformatics", 2, ("node_labels", "node_attributes"),
        "x = node attribute + one-hot node type"),
    _tu("ENZYMES", "bioinformatics", 6, ("node_labels", "node_attributes"),
        "x = 18 node attributes + one-hot node type"),
    _tu("IMDB-BINARY", "movies", 2, (),
        f"no node features: x = one-hot degree (clipped at {IMDB_MAX_DEGREE})"),
    _tu("COX2", "molecules", 2, ("node_labels", "node_attributes"),
        "x = one-hot atom type (coordinates dropped)"),
    _tu("BZR", "molecules", 2, ("node_labels", "node_attributes"),
        "x = one-hot atom type (coordinates dropped)"),
):
    register_dataset(_spec)

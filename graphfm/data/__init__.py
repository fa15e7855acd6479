"""The data layer: registered datasets, user files, synthetic domains, validation,
feature alignment and plain-torch samplers.

Example::

    from graphfm.data import load_graph, FeatureAligner, sampling

    graphs = {n: load_graph(n) for n in ["Cora", "Photo", "synthetic-0"]}
    aligner = FeatureAligner(dim=50)
    for name, g in graphs.items():
        aligner.fit(name, g.x)
    z = aligner.transform(graphs["Cora"].x, "Cora")      # [2708, 50]
    egos = sampling.k_hop_subgraphs(graphs["Cora"], torch.arange(10), hops=2)

:func:`load_graph` is the one entry point for every graph source (registered name, user
file, text-graph or MM-Graph folder, PyG ``Data``); ``load_dataset`` is its old name.
The names below are imported on first use (PEP 562), so that a path that needs only
part of the layer, e.g. ``graphfm embed`` of a user's ``.npz`` (``load_graph(path,
arrays=True)``), does not pay for importing PyTorch Geometric.
"""
from __future__ import annotations

import importlib
from typing import Any, List

#: Public name -> module that defines it.
_EXPORTS = {
    "DATASETS": "registry", "DatasetSpec": "registry", "get_spec": "registry", "list_datasets": "registry",
    "resolve_root": "registry", "load_graph": "load", "load_dataset": "load",
    "FeatureAligner": "align",
    "domain_params": "synthetic", "make_sbm": "synthetic", "synthetic_domain": "synthetic",
    "validate_dataset": "validate", "validate_graph": "validate",
    "verify_root": "verify",
}
_SUBMODULES = ("sampling",)

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})

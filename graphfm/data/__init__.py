"""The data layer: registered datasets, user files, synthetic domains, validation,
feature alignment and plain-torch samplers.

Example::

    from graphfm.data import load_dataset, FeatureAligner, sampling

    graphs = {n: load_dataset(n) for n in ["Cora", "Photo", "synthetic-0"]}
    aligner = FeatureAligner(dim=50)
    for name, g in graphs.items():
        aligner.fit(name, g.x)
    z = aligner.transform(graphs["Cora"].x, "Cora")      # [2708, 50]
    egos = sampling.k_hop_subgraphs(graphs["Cora"], torch.arange(10), hops=2)
"""
from graphfm.data import sampling
from graphfm.data.align import FeatureAligner
from graphfm.data.registry import (DATASETS, DatasetSpec, get_spec, list_datasets,
                                   load_dataset, resolve_root)
from graphfm.data.synthetic import domain_params, make_sbm, synthetic_domain
from graphfm.data.validate import validate_dataset, validate_graph
from graphfm.data.verify import verify_root

__all__ = [
    "DATASETS", "DatasetSpec", "FeatureAligner", "domain_params", "get_spec", "list_datasets",
    "load_dataset", "make_sbm", "resolve_root", "sampling", "synthetic_domain",
    "validate_dataset", "validate_graph", "verify_root",
]

"""Text-attributed graphs: Cora-TAG and CiteSeer-TAG, with raw node text.

Each raw file is a ``torch.save``-d plain dict ``{raw_texts, edge_index, y}`` (the
GLBench / TAPE layout; Chen et al., https://arxiv.org/abs/2307.03393). The loaded
``Data`` carries the text in ``data.text`` (``list[str]``, one per node). The files
have no feature matrix, so ``x`` is a deterministic bag of words: word counts hashed
into :data:`TEXT_HASH_DIM` columns (scikit-learn's ``HashingVectorizer``, no
vocabulary to fit), log-scaled and L2-normalised. Models with a text encoder should
encode ``data.text`` instead. Node order is the file's, not Planetoid's.

Class names are not stored in the files; ``data.label_names`` (``list[str]``, index =
class id) gives them as GLBench publishes them for these very files: NineAbyss/GLBench,
``models/predictor/GraphGPT/metric_calculate.py`` (commit e079c0b) maps ``y`` of
``datasets/cora.pt`` / ``citeseer.pt`` through exactly these lists (as do the LLaGA and
GraphGPT evaluation scripts of the same benchmark). The class sizes agree: Cora-TAG's
``[180, 818, 298, 418, 351, 217, 426]`` are the original Cora sizes of Rule_Learning,
Neural_Networks, Case_Based, Genetic_Algorithms, Theory, Reinforcement_Learning and
Probabilistic_Methods (all distinct); CiteSeer-TAG's ``[562, 569, 641, 685, 490, 239]``
follow the original sizes of Agents, ML, IR, DB, HCI, AI (596, 590, 668, 701, 508, 249)
except that the first two are too close to tell apart by size alone. (GLBench's LLaGA
``convert_GLBench.py`` lists Cora's names alphabetically, which contradicts the sizes.)
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import torch
from torch_geometric.data import Data

from graphfm.data.cache import cached
from graphfm.data.registry import DatasetSpec, register_dataset
from graphfm.errors import DataError

TEXT_HASH_DIM = 512
#: Class names per dataset, index = class id (see the module docstring for the evidence).
LABEL_NAMES = {
    "Cora-TAG": ("Rule_Learning", "Neural_Networks", "Case_Based", "Genetic_Algorithms", "Theory",
                 "Reinforcement_Learning", "Probabilistic_Methods"),
    "CiteSeer-TAG": ("Agents", "ML (Machine Learning)", "IR (Information Retrieval)", "DB (Databases)",
                     "HCI (Human-Computer Interaction)", "AI (Artificial Intelligence)"),
}
_SRC = ("https://github.com/Chyu0401/CoT-Contrast (commit 0e65c09, datasets/{file}; GLBench "
        "layout, redistribution terms unclear)")


def hashed_bag_of_words(texts: List[str], dim: int = TEXT_HASH_DIM) -> torch.Tensor:
    """Hashed, log-scaled, L2-normalised word counts, float32 ``[len(texts), dim]``."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(n_features=dim, alternate_sign=False, norm=None, lowercase=True)
    counts = vec.transform(texts).astype(np.float32)
    counts.data = np.log1p(counts.data)
    x = torch.from_numpy(counts.toarray())
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _read(path: Path) -> dict:
    try:
        obj = torch.load(path, weights_only=True)
        texts, edge_index, y = obj["raw_texts"], obj["edge_index"], obj["y"]
    except Exception as exc:
        raise DataError(f"cannot read '{path}' as a text-attributed graph ({type(exc).__name__}: "
                        f"{exc}); expected a dict with raw_texts, edge_index, y. The file looks "
                        "corrupt: run `graphfm data verify`") from exc
    if not (isinstance(texts, list) and len(texts) == len(y)):
        raise DataError(f"'{path}': raw_texts has {len(texts)} entries but y has {len(y)}")
    return dict(text=list(texts), edge_index=torch.as_tensor(edge_index).long(),
                y=torch.as_tensor(y).long(), x=hashed_bag_of_words(list(texts)))


def load_tag(root: Path, spec: DatasetSpec) -> Data:
    raw = root / spec.folder
    obj = cached(raw.parent / "processed" / "data.pt", lambda: _read(raw / spec.files[0]))
    return Data(x=obj["x"], edge_index=obj["edge_index"], y=obj["y"], text=obj["text"],
                label_names=list(LABEL_NAMES[spec.name]))


for _name, _base, _file in (("Cora-TAG", "Cora", "cora.pt"), ("CiteSeer-TAG", "CiteSeer", "citeseer.pt")):
    register_dataset(DatasetSpec(
        name=_name, kind="node", domain=_name, area="citation", folder=f"tag/{_base}/raw",
        files=(_file,), source=_SRC.format(file=_file), loader=load_tag, num_classes=len(LABEL_NAMES[_name]),
        note=f"data.text = raw title+abstract; x = hashed bag of words ({TEXT_HASH_DIM})",
    ))

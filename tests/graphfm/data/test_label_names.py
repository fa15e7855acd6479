"""Class names are data: every registered text graph carries ``label_names`` through load_dataset."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from graphfm.data import load_dataset
from graphfm.data.graph import finalise
from graphfm.data.validate import validate_graph
from graphfm.errors import DataError

#: name -> (label_names, class sizes): the sizes pin each name to its class id.
EXPECTED = {
    "Cora-TAG": (["Rule_Learning", "Neural_Networks", "Case_Based", "Genetic_Algorithms", "Theory",
                  "Reinforcement_Learning", "Probabilistic_Methods"], [180, 818, 298, 418, 351, 217, 426]),
    "CiteSeer-TAG": (["Agents", "ML (Machine Learning)", "IR (Information Retrieval)", "DB (Databases)",
                      "HCI (Human-Computer Interaction)", "AI (Artificial Intelligence)"],
                     [562, 569, 641, 685, 490, 239]),
    "FacebookPagePage-TAG": (["company", "government", "politician", "tvshow"], [6495, 6880, 5768, 3327]),
    "Cora": (["Theory", "Reinforcement_Learning", "Genetic_Algorithms", "Neural_Networks", "Probabilistic_Methods",
              "Case_Based", "Rule_Learning"], [351, 217, 418, 818, 426, 298, 180]),
    "CiteSeer": (["AI (Artificial Intelligence)", "ML (Machine Learning)", "IR (Information Retrieval)",
                  "DB (Databases)", "Agents", "HCI (Human-Computer Interaction)"], [264, 590, 668, 701, 596, 508]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registered_graphs_carry_their_class_names(data_root, name: str) -> None:
    names, sizes = EXPECTED[name]
    data = load_dataset(name, data_root)
    assert data.label_names == names and all(isinstance(n, str) for n in data.label_names)
    assert torch.bincount(data.y[data.y >= 0]).tolist() == sizes


def test_the_same_class_has_the_same_name_in_both_versions(data_root) -> None:
    assert sorted(load_dataset("Cora", data_root).label_names) == sorted(load_dataset("Cora-TAG", data_root).label_names)
    assert sorted(load_dataset("CiteSeer", data_root).label_names) == \
        sorted(load_dataset("CiteSeer-TAG", data_root).label_names)


def test_label_names_survive_pyg_operations(data_root) -> None:
    data = load_dataset("Cora-TAG", data_root)
    sub = data.subgraph(torch.arange(7))     # a list of C != N entries is a graph attribute to PyG, not sliced
    assert sub.label_names == data.label_names and len(sub.text) == 7
    assert data.clone().label_names == data.label_names


def _graph(**extra) -> Data:
    data = Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, -1]))
    for key, value in extra.items():
        data[key] = value
    return finalise(data)


def test_validation_checks_names_text_and_mask() -> None:
    ok = validate_graph(_graph(label_names=["a", "b"], text=["x", "", "z"],
                               text_mask=torch.tensor([True, False, True])), "g", num_classes=2)
    assert ok.label_names == ["a", "b"]
    with pytest.raises(DataError, match="label 1 has no name"):
        validate_graph(_graph(label_names=["a"]), "g")
    with pytest.raises(DataError, match="label_names must be a list of strings"):
        validate_graph(_graph(label_names=[0, 1]), "g")
    with pytest.raises(DataError, match="label_names lists 3 classes but the dataset has 2"):
        validate_graph(_graph(label_names=["a", "b", "c"]), "g", num_classes=2)
    with pytest.raises(DataError, match="text has 2 entries for 3 nodes"):
        validate_graph(_graph(text=["x", "y"]), "g")
    with pytest.raises(DataError, match=r"text_mask must be a bool tensor \[3\]"):
        validate_graph(_graph(text_mask=torch.ones(3)), "g")

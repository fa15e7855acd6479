"""graphfm.data.load_graph: one entry point for every graph source."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphfm.data import load_dataset, load_graph
from graphfm.errors import DataError


def test_text_graph_folder_and_pt_dict_load_as_text_graphs(tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "nodes.csv").write_text("text,label\nA paper on GNNs,ML\nA paper on SQL,DB\nTransformers,ML\n")
    (folder / "edges.csv").write_text("src,dst\n0,1\n1,2\n")
    data = load_graph(folder)
    assert data.label_names == ["DB", "ML"] and data.y.tolist() == [1, 0, 1] and data.text[1] == "A paper on SQL"
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]      # finalised: undirected, coalesced
    torch.save({"raw_texts": ["a", "b", "c"], "edge_index": torch.tensor([[0], [2]]), "y": torch.tensor([0, 1, 0]),
                "label_names": ["x", "y"]}, tmp_path / "texts.pt")
    pt = load_graph(tmp_path / "texts.pt")
    assert pt.text == ["a", "b", "c"] and pt.label_names == ["x", "y"] and pt.edge_index.size(1) == 2
    assert pt.name == "texts"


def test_a_folder_that_is_no_graph_says_what_is_needed(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="nodes.csv and edges.csv"):
        load_graph(tmp_path / "empty")


def test_a_pyg_data_is_validated_and_returned(tmp_path):
    good = Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, 0]))
    assert load_graph(good) is good
    with pytest.raises(DataError, match="point outside the 3 nodes"):
        load_graph(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 7], [1, 2]])))
    with pytest.raises(DataError, match="takes no options"):
        load_graph(good, features=["clip"])


def test_arrays_change_only_the_npz_reader(tmp_path):
    np.savez(tmp_path / "g.npz", edge_index=np.array([[0, 1], [1, 2]]), x=np.ones((3, 2), np.float32))
    assert type(load_graph(tmp_path / "g.npz", arrays=True)).__name__ == "GraphArrays"
    assert type(load_graph("synthetic-0", arrays=True)).__name__ == "Data"
    assert load_dataset is load_graph

"""A user's text graph: the .pt dict layout and the nodes.csv / edges.csv folder, and their errors."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Optional

import pytest
import torch

from graphfm.data.graph import finalise
from graphfm.data.textgraph import is_text_folder, read_text_folder, text_graph_from_dict
from graphfm.data.validate import validate_graph
from graphfm.errors import DataError


def _folder(tmp_path: Path, nodes: str, edges: Optional[str] = "src,dst\n", name: str = "papers") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "nodes.csv").write_text(nodes, encoding="utf-8")
    if edges is not None:
        (folder / "edges.csv").write_text(edges, encoding="utf-8")
    return folder


def _dict(**changes) -> Dict:
    obj = dict(raw_texts=["graph neural networks", "relational databases", "query planning"],
               edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, -1]), label_names=["ML", "DB"])
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


# ----------------------------------------------------------------------------- the dict layout
def test_dict_gives_a_text_graph_like_the_registered_ones() -> None:
    data = text_graph_from_dict(_dict(), "some/where/papers.pt")
    assert data.text == ["graph neural networks", "relational databases", "query planning"]
    assert data.text_mask.tolist() == [True, True, True] and data.label_names == ["ML", "DB"]
    assert data.y.tolist() == [0, 1, -1] and data.x.shape == (3, 512) and data.x.dtype == torch.float32
    assert data.domain == data.name == "papers"
    data = validate_graph(finalise(data), "papers", num_classes=2)
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]


def test_dict_without_labels_is_unlabelled_and_keeps_a_given_x() -> None:
    data = text_graph_from_dict(_dict(y=None, label_names=None, x=torch.ones(3, 4, dtype=torch.float64)), "g.pt")
    assert data.y.tolist() == [-1, -1, -1] and "label_names" not in data
    assert data.x.dtype == torch.float32 and data.x.shape == (3, 4)


def test_the_shared_cora_file_reads_as_a_text_graph(data_root) -> None:
    obj = torch.load(data_root / "tag/Cora/raw/cora.pt", weights_only=True)
    data = validate_graph(finalise(text_graph_from_dict(obj, "cora.pt")), "cora")
    assert data.num_nodes == 2708 and data.edge_index.size(1) == 10556 and bool(data.text_mask.all())


@pytest.mark.parametrize("changes, match", [
    (dict(raw_texts=None), r"has no 'raw_texts' \(found \['edge_index', 'label_names', 'y'\]\)"),
    (dict(raw_texts="one text"), "raw_texts must be a list of strings, got str"),
    (dict(raw_texts=["a", 3, "c"]), r"raw_texts\[1\] is a int, not a string"),
    (dict(edge_index=None), "has no 'edge_index'"),
    (dict(edge_index=torch.tensor([[0, 1, 2]])), r"edge_index must have shape \[2, E\], got \(1, 3\)"),
    (dict(edge_index=torch.tensor([[0.0], [1.0]])), "edge_index must hold integer node indices"),
    (dict(edge_index=torch.tensor([[0, 3], [1, 2]])), r"1 edges name nodes outside 0..2 \(first: edge 1"),
    (dict(y=torch.tensor([0, 1])), "raw_texts has 3 entries but y has 2"),
    (dict(y=torch.tensor([0.0, 1.0, 1.0])), "y must hold integer class ids"),
    (dict(y=torch.tensor([0, 2, 1])), "label 2 has no name: label_names lists 2 classes"),
    (dict(label_names="ML,DB"), "label_names must be a list of strings .*got str"),
    (dict(label_names=[0, 1]), r"label_names must be a list of strings .*list holding \['int'\]"),
    (dict(label_names=["ML", "ML"]), "label_names repeats a name"),
    (dict(x=["a", "b", "c"]), "x is not a numeric array"),
])
def test_dict_errors_name_the_problem_and_the_fix(changes, match) -> None:
    with pytest.raises(DataError, match=match):
        text_graph_from_dict(_dict(**changes), "bad.pt")


def test_a_non_dict_is_refused() -> None:
    with pytest.raises(DataError, match="has no 'raw_texts' .*list.*a text graph .pt holds a dict"):
        text_graph_from_dict([1, 2], "bad.pt")          # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the folder layout
def test_folder_with_class_names(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "text,label\nGNNs for graphs,ML\nSQL joins,DB\nTransformers,ML\nno label,\n",
                     "src,dst\n0,1\n2,0\n")
    assert is_text_folder(folder) and not is_text_folder(tmp_path) and not is_text_folder(folder / "nodes.csv")
    data = read_text_folder(folder)
    assert data.label_names == ["DB", "ML"] and data.y.tolist() == [1, 0, 1, -1]
    assert data.text[0] == "GNNs for graphs" and data.domain == data.name == "papers"
    data = validate_graph(finalise(data), "papers")
    assert data.edge_index.tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]


def test_folder_with_integer_labels_and_ids(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "id,text,label\n10,first,3\n7,second,\n12,third,0\n", "src,dst\n10,7\n012,10\n")
    data = read_text_folder(folder)
    assert "label_names" not in data and data.y.tolist() == [3, -1, 0]
    assert data.edge_index.tolist() == [[0, 2], [1, 0]]       # ids compared as integers: 012 is 12


def test_folder_with_text_ids_and_no_labels(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "text,id\nalpha,a\nbeta,b\n", "dst,src\na,b\n")
    data = read_text_folder(folder)
    assert data.y.tolist() == [-1, -1] and data.edge_index.tolist() == [[1], [0]]


def test_missing_texts_warn_once(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 'text,label\n"",a\n   ,b\nthird,a\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_text_folder(folder)
    assert [str(w.message) for w in caught if "no text" in str(w.message)] == [
        f"'{folder}': 2 of 3 nodes have no text; their text_mask is False (text encoders skip them, x is a zero row)"]
    assert data.text_mask.tolist() == [False, False, True] and float(data.x[0].abs().sum()) == 0.0
    with pytest.warns(UserWarning, match="1 of 3 nodes have no text"):
        text_graph_from_dict(_dict(raw_texts=["a", None, "c"]), "g.pt")


@pytest.mark.parametrize("nodes, edges, match", [
    ("title,label\nx,a\n", "src,dst\n", r"no column text: found columns \['title', 'label'\], expected text, "
                                         r"label \(optional\), id \(optional\)"),
    ("text\nx\n", "source,dst\n", r"edges.csv' has no column src: found columns \['source', 'dst'\], expected src, dst"),
    ("text\nx\ny\n", None, "has no edges.csv; add one with the header src,dst"),
    ("text\nx\ny\n", "src,dst\n0,2\n", r"1 dst values name unknown nodes \(first: '2' in row 1\); they must be "
                                        r"row numbers 0..1"),
    ("text\nx\ny\n", "src,dst\n0,b\n", "dst 'b' in row 1 is not an integer; without an id column"),
    ("id,text\n1,x\n2,y\n", "src,dst\n1,two\n", "dst 'two' in row 1 is not an integer; node ids are integers"),
    ("id,text\na,x\nb,y\n", "src,dst\na,c\nb,a\n", r"1 dst values name unknown nodes \(first: 'c' in row 1\); "
                                                    "they must be ids"),
    ("id,text\na,x\na,y\n", "src,dst\n", "id 'a' appears twice"),
    ("id,text\na,x\n,y\n", "src,dst\n", "row 2 has an empty id"),
])
def test_folder_errors_name_the_problem_and_the_fix(tmp_path: Path, nodes, edges, match) -> None:
    with pytest.raises(DataError, match=match):
        read_text_folder(_folder(tmp_path, nodes, edges))


def test_unreadable_files_and_non_folders(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "text\nx\n")
    (folder / "edges.csv").write_bytes(b"src,dst\n0,\xff\n")
    with pytest.raises(DataError, match="cannot read .*edges.csv.*save it as a UTF-8 CSV file"):
        read_text_folder(folder)
    with pytest.raises(DataError, match="is not a text graph folder: it needs a nodes.csv"):
        read_text_folder(tmp_path / "nowhere")

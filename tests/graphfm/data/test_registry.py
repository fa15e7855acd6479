"""Every shared dataset loads with the exact published counts; bad roots fail clearly."""
import shutil

import pytest
import torch

from graphfm.data import list_datasets, load_dataset, resolve_root
from graphfm.data.registry import get_spec
from graphfm.errors import DataError

NODE_SETS = {  # name: (nodes, directed edges, features, classes)
    "Cora": (2708, 10556, 1433, 7),
    "CiteSeer": (3327, 9104, 3703, 6),
    "Photo": (7650, 238162, 745, 8),
    "Computers": (13752, 491722, 767, 10),
    "FacebookPagePage": (22470, 341825, 4714, 4),
    "FacebookPagePage-TAG": (22470, 341825, 512, 4),
    "LastFMAsia": (7624, 55612, 11, 18),
    "Cora-TAG": (2708, 10556, 512, 7),
    "CiteSeer-TAG": (3186, 8450, 512, 6),
}
GRAPH_SETS = {  # name: (graphs, classes, feature dim)
    "MUTAG": (188, 2, 7),
    "PROTEINS": (1113, 2, 4),
    "ENZYMES": (600, 6, 21),
    "IMDB-BINARY": (1000, 2, 65),
    "COX2": (467, 2, 35),
    "BZR": (405, 2, 53),
}


def _is_undirected_coalesced(ei: torch.Tensor, n: int) -> bool:
    key = ei[0] * n + ei[1]
    rev = torch.sort(ei[1] * n + ei[0])[0]
    return bool((key[1:] > key[:-1]).all()) and torch.equal(key, rev)


@pytest.fixture(scope="module")
def node_sets(data_root):
    """Each node set loaded once for the module (Facebook's x alone is 424 MB)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache.clear()  # keep at most one big graph alive
            cache[name] = load_dataset(name, data_root)
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(NODE_SETS))
def test_node_dataset_counts(node_sets, name):
    nodes, edges, feats, classes = NODE_SETS[name]
    data = node_sets(name)
    assert data.x.shape == (nodes, feats) and data.x.dtype == torch.float32
    assert data.edge_index.shape == (2, edges) and data.edge_index.dtype == torch.long
    assert data.y.shape == (nodes,) and data.y.dtype == torch.long
    assert int(data.y.max()) + 1 == classes and int(data.y.min()) == 0
    assert data.domain == name and data.name == name
    assert _is_undirected_coalesced(data.edge_index, nodes)
    if name == "FacebookPagePage":
        assert int((data.edge_index[0] == data.edge_index[1]).sum()) == 179  # self-loops kept once
        assert int(data.x.sum()) == int((data.x > 0).sum()) > 0  # multi-hot


@pytest.mark.parametrize("name", sorted(GRAPH_SETS))
def test_graph_dataset_counts(data_root, name):
    count, classes, dim = GRAPH_SETS[name]
    graphs = load_dataset(name, data_root)
    assert isinstance(graphs, list) and len(graphs) == count
    y = torch.cat([g.y for g in graphs])
    assert y.shape == (count,) and int(y.max()) + 1 == classes
    assert all(g.x.shape[1] == dim and g.domain == name and g.y.shape == (1,) for g in graphs)


def test_musae_tag_caches_are_written(node_sets, data_root):
    for name, folder in (("LastFMAsia", "musae/LastFMAsia"), ("Cora-TAG", "tag/Cora")):
        node_sets(name)
        assert (data_root / folder / "processed" / "data.pt").is_file()


def test_lastfm_structural_features_are_standardised(node_sets):
    x = node_sets("LastFMAsia").x
    assert torch.allclose(x.mean(0), torch.zeros(x.size(1)), atol=1e-4)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.size(1)), atol=1e-3)


def test_imdb_degree_features(data_root):
    g = load_dataset("IMDB-BINARY", data_root)[0]
    deg = torch.bincount(g.edge_index[0], minlength=g.num_nodes).clamp(max=64)
    assert torch.equal(g.x.argmax(1), deg) and torch.equal(g.x.sum(1), torch.ones(g.num_nodes))


def test_tag_text(data_root):
    for name, n in (("Cora-TAG", 2708), ("CiteSeer-TAG", 3186)):
        data = load_dataset(name, data_root)
        assert len(data.text) == n and all(isinstance(t, str) and t for t in data.text)
        assert torch.allclose(data.x.norm(dim=1), torch.ones(n), atol=1e-5)


def test_facebook_text_is_the_same_graph_with_page_names(node_sets):
    text = node_sets("FacebookPagePage-TAG")
    assert text.text[1] == "U.S. Consulate General Mumbai" and all(isinstance(t, str) and t for t in text.text)
    norm = text.x.norm(dim=1)  # 19 names such as "C&A" have no word of two letters: an empty bag
    assert int((norm < 0.5).sum()) == 19 and torch.allclose(norm[norm > 0.5], torch.tensor(1.0), atol=1e-5)
    plain = node_sets("FacebookPagePage")
    assert torch.equal(plain.edge_index, text.edge_index) and torch.equal(plain.y, text.y)


def test_second_load_is_identical(data_root):
    a, b = load_dataset("Cora", data_root), load_dataset("cora", str(data_root))
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)


def test_list_datasets(data_root):
    rows = {r["name"]: r for r in list_datasets(data_root)}
    assert set(NODE_SETS) | set(GRAPH_SETS) <= set(rows)
    assert all(rows[n]["present"] for n in list(NODE_SETS) + list(GRAPH_SETS))
    assert not rows["PubMed"]["present"]
    assert "planetoid/PubMed/raw/ind.pubmed.x" in rows["PubMed"]["missing"]
    assert rows["MUTAG"]["kind"] == "graph" and rows["Cora"]["kind"] == "node"


def test_resolve_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHFM_DATA", str(tmp_path / "env"))
    assert resolve_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resolve_root() == (tmp_path / "env").resolve()
    monkeypatch.delenv("GRAPHFM_DATA")
    monkeypatch.chdir(tmp_path)
    assert resolve_root() == (tmp_path / "data").resolve()


def test_missing_raw_file_names_file_folder_and_source(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("Cora", tmp_path)
    msg = str(err.value)
    assert "planetoid/Cora/raw/ind.cora.x" in msg and str(tmp_path / "planetoid/Cora/raw") in msg
    assert "kimiyoung/planetoid" in msg
    assert not (tmp_path / "planetoid").exists()  # nothing was created or downloaded


def test_pubmed_missing_is_clear(data_root):
    with pytest.raises(DataError, match="ind.pubmed"):
        load_dataset("PubMed", data_root)


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError, match="unknown dataset 'Corra'.*Cora"):
        load_dataset("Corra")


@pytest.mark.parametrize("name,file", [("Photo", "amazon/Photo/raw/amazon_electronics_photo.npz"),
                                       ("MUTAG", "tu/MUTAG/raw/MUTAG_graph_labels.txt"),
                                       ("Cora", "planetoid/Cora/raw/ind.cora.graph"),
                                       ("LastFMAsia", "musae/LastFMAsia/raw/lastfm_asia_edges.csv"),
                                       ("Cora-TAG", "tag/Cora/raw/cora.pt")])
def test_corrupt_raw_file(data_root, tmp_path, name, file):
    folder = get_spec(name).folder
    shutil.copytree(data_root / folder, tmp_path / folder)
    (tmp_path / file).write_bytes(b"\x00garbage, not a dataset\n")
    with pytest.raises(DataError):
        load_dataset(name, tmp_path)

"""The MM-Graph benchmark loader, on small folders written in its layout."""
import numpy as np
import pytest
import torch

from graphfm.data.mmgraph import feature_sets, is_mmgraph_dir, load_mmgraph
from graphfm.errors import DataError


def _write_nc(folder, n=10, dim=6):
    folder.mkdir()
    edges = [[0, 1], [1, 2], [2, 3], [4, 5], [6, 7], [8, 9], [9, 0]]
    torch.save(edges, folder / "nc_edges-nodeid.pt")                       # a list of pairs, as released
    torch.save(np.array([0, 1, 2, -1, 0, 1, -1, 2, 0, 1]), folder / "labels-w-missing.pt")
    torch.save({"train_idx": torch.tensor([0, 1, 2]), "val_idx": torch.tensor([4]),
                "test_idx": torch.tensor([5, 7, 8, 9])}, folder / "split.pt")
    gen = torch.Generator().manual_seed(0)
    torch.save(torch.randn(n, dim, generator=gen), folder / "clip_feat.pt")
    torch.save(torch.randn(n, 4, generator=gen), folder / "t5vit_feat.pt")
    return folder


def test_node_classification_folder(tmp_path):
    folder = _write_nc(tmp_path / "books-nc")
    assert is_mmgraph_dir(folder) and feature_sets(folder) == ["clip", "t5vit"]
    data = load_mmgraph(folder, split_halves=["clip"])
    assert data.num_nodes == 10 and data.domain == data.name == "books-nc"
    assert torch.equal(data.x, data.clip_feat) and data.t5vit_feat.shape == (10, 4)
    assert torch.equal(torch.cat([data.clip_text, data.clip_image], dim=1), data.clip_feat)
    assert data.y.tolist() == [0, 1, 2, -1, 0, 1, -1, 2, 0, 1]
    assert data.train_mask.nonzero().view(-1).tolist() == [0, 1, 2] and int(data.test_mask.sum()) == 4
    # undirected and coalesced: every listed edge in both directions, once
    assert data.edge_index.size(1) == 14
    pairs = set(map(tuple, data.edge_index.t().tolist()))
    assert (0, 1) in pairs and (1, 0) in pairs and (9, 0) in pairs and (0, 9) in pairs
    only = load_mmgraph(folder, features=["t5vit"])
    assert torch.equal(only.x, only.t5vit_feat) and "clip_feat" not in only


def test_link_prediction_folder(tmp_path):
    folder = tmp_path / "sports-copurchase"
    folder.mkdir()
    split = {"train": {"source_node": torch.tensor([0, 1, 2]), "target_node": torch.tensor([1, 2, 3])},
             "valid": {"source_node": torch.tensor([3]), "target_node": torch.tensor([4]),
                       "target_node_neg": torch.tensor([[0, 2]])},
             "test": {"source_node": torch.tensor([4]), "target_node": torch.tensor([0]),
                      "target_node_neg": torch.tensor([[1, 3]])}}
    torch.save(split, folder / "lp-edge-split-hard.pt")
    torch.save(torch.ones(5, 8), folder / "imagebind_feat.pt")
    data = load_mmgraph(folder)
    assert data.edge_index.size(1) == 6 and "y" not in data       # train edges only, both directions
    assert torch.equal(data.edge_split["valid"]["target_node_neg"], torch.tensor([[0, 2]]))
    with pytest.raises(DataError, match="lp-edge-split-random"):
        load_mmgraph(folder, edge_split="random")


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not an MM-Graph folder"):
        load_mmgraph(tmp_path)
    folder = _write_nc(tmp_path / "ele-fashion")
    with pytest.raises(DataError, match="available: clip, t5vit"):
        load_mmgraph(folder, features=["dino"])
    torch.save(torch.ones(7, 6), folder / "clip_feat.pt")
    with pytest.raises(DataError, match="disagree"):
        load_mmgraph(folder)
    (folder / "clip_feat.pt").write_bytes(b"not a tensor")
    with pytest.raises(DataError, match="corrupt"):
        load_mmgraph(folder, features=["clip"])


def test_unigraph2_embeds_an_mmgraph_folder(tmp_path):
    from graphfm.models.unigraph2 import UniGraph2

    folder = _write_nc(tmp_path / "books-nc")
    mods = {"text": {"dim": 3, "encoder": {"name": "precomputed"}, "field": "clip_text"},
            "image": {"dim": 3, "encoder": {"name": "precomputed"}, "field": "clip_image"}}
    model = UniGraph2(mods, hidden_dim=8, num_experts=2, heads=2)
    emb = model.embed(load_mmgraph(folder, split_halves=["clip"]), progress=False)
    assert emb.shape == (10, 8) and torch.isfinite(emb).all()
    # embed_dataset splits the halves the model's modalities read by itself
    assert torch.allclose(model.embed_dataset(str(folder)), emb, atol=1e-6)
    with pytest.raises(DataError, match="none of this model's modalities"):
        UniGraph2({"audio": {"dim": 3, "encoder": {"name": "precomputed"}, "field": "audio"}}).embed_dataset(
            str(folder))


def test_load_dataset_is_the_one_entry_point_for_mmgraph_folders(tmp_path):
    from graphfm.data import load_dataset

    folder = _write_nc(tmp_path / "books-nc")
    data = load_dataset(str(folder), split_halves=["clip"], features=None)
    assert data.num_nodes == 10 and data.clip_text.shape == (10, 3)
    assert load_dataset(folder).name == "books-nc"
    with pytest.raises(DataError, match="apply to MM-Graph folders only"):
        load_dataset("synthetic-0", split_halves=["clip"])

import pytest
import torch

from graphfm.errors import ConfigError, DataError
from multimodal.adapters import PatchEmbed2D, PatchEmbed3D, build_adapter, sincos_nd, tokenize, tokenizer_spec


def test_sincos_embeddings_shapes_and_distinct_positions():
    for grid in [(7,), (4, 4), (2, 3, 4)]:
        emb = sincos_nd(grid, 24)
        assert emb.shape == (int(torch.tensor(grid).prod()), 24)
        assert torch.cdist(emb, emb).add(torch.eye(len(emb)) * 10).min() > 1e-3  # all rows differ
    with pytest.raises(ConfigError, match="too small"):
        sincos_nd((2, 2, 2), 4)


def test_patchify_round_trip_2d_and_3d():
    torch.manual_seed(0)
    a2 = PatchEmbed2D(dim=8, channels=3, image_size=8, patch_size=4)
    x2 = torch.randn(2, 3, 8, 8)
    p2 = a2.patchify(x2)
    assert p2.shape == (2, 4, 48) and torch.equal(a2.unpatchify(p2), x2)
    assert torch.equal(p2[0, 1, :3], x2[0, :, 0, 4])  # patch (0, 1) starts at row 0, column 4; channels last
    a3 = PatchEmbed3D(dim=8, volume_size=8, patch_size=4)
    x3 = torch.randn(2, 1, 8, 8, 8)
    p3 = a3.patchify(x3)
    assert p3.shape == (2, 8, 64) and torch.equal(a3.unpatchify(p3), x3)
    tokens, valid = a3(x3)
    assert tokens.shape == (2, 8, 8) and valid is None


def test_wrong_shapes_and_kinds_are_clear_errors():
    adapter = build_adapter("rgb", {"name": "patch2d", "image_size": 8, "patch_size": 4}, dim=8)
    with pytest.raises(DataError, match=r"modality 'rgb' expects float tensors \[B, 1, 8, 8\]"):
        adapter.check(torch.zeros(2, 3, 8, 8), "rgb")
    seg = build_adapter("seg", {"name": "patch2d", "image_size": 8, "patch_size": 4, "num_classes": 3}, dim=8)
    with pytest.raises(DataError, match="class ids outside"):
        seg.check(torch.full((1, 8, 8), 5), "seg")
    with pytest.raises(ConfigError, match="unknown modality adapter 'patch4d'"):
        build_adapter("x", {"name": "patch4d"}, dim=8)
    with pytest.raises(ConfigError, match="unknown key"):
        build_adapter("x", {"name": "patch2d", "img_size": 8}, dim=8)
    with pytest.raises(ConfigError, match="not divisible"):
        build_adapter("x", {"name": "patch2d", "image_size": 10, "patch_size": 4}, dim=8)
    with pytest.raises(ConfigError, match="modality 'x': a modality adapter must be given as a name or as a mapping "
                                          "with a 'name' key"):
        build_adapter("x", {"image_size": 8}, dim=8)


def test_specs_written_with_kind_still_build():
    # checkpoints written before adapters were named by "name" spell it "kind"
    old = build_adapter("rgb", {"kind": "patch2d", "image_size": 8, "patch_size": 4}, dim=8)
    assert type(old).__name__ == "PatchEmbed2D" and old.kind == "patch2d"


def test_real_minilm_tokenizer_and_text_adapter():
    ids = tokenize(["a handwritten digit three", "seven"], max_length=10)
    spec = tokenizer_spec()
    assert ids.shape == (2, 10) and spec["vocab_size"] == 30522
    assert ids[0, 0] == spec["cls_id"] and spec["sep_id"] in ids[1].tolist()
    adapter = build_adapter("text", {"name": "text", "max_length": 10, **spec}, dim=16)
    tokens, valid = adapter(ids)
    assert tokens.shape == (2, 10, 16)
    assert valid.tolist()[1] == [True, True, True] + [False] * 7  # [CLS] seven [SEP] then padding
    with pytest.raises(DataError, match="integer token ids"):
        adapter.check(ids.float(), "text")


def test_region_adapter_uses_box_geometry():
    adapter = build_adapter("regions", {"name": "regions", "feature_dim": 4, "num_regions": 2}, dim=8)
    x = torch.zeros(1, 2, 8)
    x[0, 0, 4:] = torch.tensor([0.0, 0.0, 0.5, 0.5])
    x[0, 1, 4:] = torch.tensor([0.0, 0.0, 1.0, 1.0])
    tokens, _ = adapter(x)
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])  # same features, different boxes
    with pytest.raises(DataError, match=r"\[B, 2, 8\]"):
        adapter.check(torch.zeros(1, 2, 4), "regions")

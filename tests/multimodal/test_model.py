import pytest
import torch

from graphfm.errors import ConfigError, DataError
from graphfm.models import PretrainedModel

MODS = {"rgb": {"name": "patch2d", "image_size": 8, "patch_size": 4},
        "depth": {"name": "patch2d", "image_size": 8, "patch_size": 4},
        "semseg": {"name": "patch2d", "image_size": 8, "patch_size": 4, "num_classes": 3}}


def test_any_subset_of_modalities_encodes(make_model, digit_batch):
    model = make_model(MODS)
    full, valid = model({k: digit_batch[k] for k in MODS})
    assert full.shape == (16, 1 + 3 * 4, 32) and valid.all()
    for subset in (["rgb"], ["depth"], ["semseg"], ["rgb", "semseg"]):
        h, _ = model({k: digit_batch[k] for k in subset})
        assert h.shape == (16, 1 + 4 * len(subset), 32)
        emb = model.embed(digit_batch if subset == list(MODS) else {k: digit_batch[k] for k in subset})
        assert emb.shape == (16, 32) and torch.isfinite(emb).all()
    # a missing modality changes the embedding (it is not silently zero-filled)
    assert not torch.allclose(model.embed({"rgb": digit_batch["rgb"]}),
                              model.embed({k: digit_batch[k] for k in ("rgb", "depth")}))


def test_wrong_modality_name_or_shape_is_a_clear_error(make_model, digit_batch):
    model = make_model(MODS)
    with pytest.raises(ConfigError, match="unknown modality 'rbg'; this model's modalities are: rgb, depth, semseg"):
        model({"rbg": digit_batch["rgb"]})
    with pytest.raises(DataError, match="modality 'depth' expects float tensors"):
        model({"depth": digit_batch["depth"][:, :, :4]})
    with pytest.raises(DataError, match="different batch sizes"):
        model({"rgb": digit_batch["rgb"], "depth": digit_batch["depth"][:3]})
    with pytest.raises(DataError, match="none of this model's modalities"):
        model.embed({"label": digit_batch["label"]})
    with pytest.raises(ConfigError, match="at least one modality"):
        make_model({})


def test_text_padding_is_ignored(make_model, digits):
    spec = digits.specs["text"]
    model = make_model({"text": spec}).eval()
    ids = digits.tensors["text"][:4]
    assert (ids == spec["pad_id"]).any()
    h, valid = model({"text": ids})
    assert torch.equal(valid[:, 1:], ids != spec["pad_id"])
    before = model.embed({"text": ids})
    with torch.no_grad():
        model.adapters["text"].word.weight[spec["pad_id"]] += 5.0  # only padded positions change
    assert torch.allclose(before, model.embed({"text": ids}), atol=1e-5)


def test_save_and_reload_round_trip(make_model, digit_batch, tmp_path):
    model = make_model(MODS).eval()
    model.save_pretrained(tmp_path)
    again = PretrainedModel.from_pretrained(tmp_path)
    x = {"rgb": digit_batch["rgb"]}
    assert torch.allclose(model.embed(x), again.embed(x))


def test_embed_dataset_gives_one_row_per_item(make_model):
    model = make_model({"rgb": MODS["rgb"]})
    model.data_options = {"image_size": 8}
    emb = model.embed_dataset("digits")
    assert emb.shape == (1797, 32)
    with pytest.raises(DataError, match="unknown multimodal dataset"):
        model.embed_dataset("imagenet")

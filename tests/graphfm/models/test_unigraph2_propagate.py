"""UniGraph2's 'propagate' backbone: untrained = SGC on the frozen features; pretraining learns
the per-domain whitening statistics and nothing else."""
import pytest
import torch

from graphfm.adapt.text_baselines import SGCText
from graphfm.errors import ConfigError
from graphfm.models.base import PretrainedModel
from graphfm.models.unigraph2 import UniGraph2
from tests.graphfm.adapt.test_names import MINILM, text_graph


def _model(domains=("a", "b"), **kw):
    return UniGraph2({"text": {"dim": 384, "encoder": MINILM}}, backbone="propagate", domains=list(domains), **kw)


def _batch(n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 384, generator=gen)
    ei = torch.randint(n, (2, 100), generator=gen)
    return {"feats": {"text": x}, "masks": {"text": torch.ones(n, dtype=torch.bool)}, "edge_index": ei,
            "domain": torch.arange(n) % 2}


@pytest.mark.parametrize("hops", [0, 2, 3])
def test_untrained_equals_sgc_on_the_frozen_features(hops):
    g = text_graph()
    model = _model(hops=hops).eval()
    ref = SGCText(hops=hops, encoder=MINILM).embed(g)
    assert torch.allclose(model.embed(g, progress=False), ref, atol=1e-5)
    names = model.embed_texts(["astronomy"], g)
    assert torch.allclose(names, SGCText(hops=hops, encoder=MINILM).embed_texts(["astronomy"], g), atol=1e-5)


def test_training_forward_gathers_statistics_per_domain_and_eval_does_not():
    model = _model()
    batch = _batch()
    model.eval().encode(batch["feats"], batch["masks"], batch["edge_index"], domain=batch["domain"])
    assert model.whiten["text"].count.sum() == 0
    model.train().encode(batch["feats"], batch["masks"], batch["edge_index"], domain=batch["domain"])
    assert model.whiten["text"].count.tolist() == [20.0, 20.0]
    x = batch["feats"]["text"].double()
    assert torch.allclose(model.whiten["text"].moment_sum[0], x[0::2].t() @ x[0::2])
    w = model.whitening_matrix()
    assert not torch.allclose(w, torch.eye(384))
    assert torch.allclose(model.whitening_matrix(domains=["a"]), model.whiten["text"].matrix(domains=[0]))
    with pytest.raises(ConfigError, match="not pretraining graphs"):
        model.whitening_matrix(domains=["zzz"])


def test_untrained_copy_forgets_the_statistics_and_a_checkpoint_keeps_them(tmp_path):
    model = _model()
    batch = _batch()
    model.train().encode(batch["feats"], batch["masks"], batch["edge_index"], domain=batch["domain"])
    model.eval()
    assert model.untrained_copy(0).whiten["text"].count.sum() == 0
    model.save_pretrained(tmp_path / "run")
    loaded = PretrainedModel.from_pretrained(tmp_path / "run")
    assert torch.allclose(loaded.whitening_matrix(), model.whitening_matrix())
    g = text_graph()
    assert torch.allclose(loaded.embed(g, progress=False), model.embed(g, progress=False), atol=1e-5)


def test_embeddings_are_the_whitened_propagated_features():
    g = text_graph()
    model = _model(hops=2)
    batch = _batch()
    model.train().encode(batch["feats"], batch["masks"], batch["edge_index"], domain=batch["domain"])
    model.eval().whiten_alpha = 0.4
    ref = SGCText(hops=2, encoder=MINILM).embed(g) @ model.whitening_matrix(0.4)
    assert torch.allclose(model.embed(g, progress=False), ref, atol=1e-4)
    assert model.adaptations("node") == {"frozen": "prototypes"}


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="backbone 'mlp' is unknown"):
        UniGraph2({"text": {"dim": 384, "encoder": MINILM}}, backbone="mlp")
    with pytest.raises(ConfigError, match="same width"):
        UniGraph2({"text": {"dim": 384, "encoder": MINILM}, "feat": {"dim": 4, "encoder": {"name": "precomputed"}}},
                  backbone="propagate")
    model = _model()
    batch = _batch()
    with pytest.raises(ConfigError, match="domain_tokens: true"):
        model.train().encode(batch["feats"], batch["masks"], batch["edge_index"], domain=None)

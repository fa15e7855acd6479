"""The four configs run on the shared engine, save a checkpoint, and embed through `graphfm embed`."""
from pathlib import Path

import numpy as np
import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "multimodal"
TINY = ["trainer.max_steps=3", "trainer.log_every=1", "data.batch_size=8", "model.depth=1", "model.dim=32"]


@pytest.mark.parametrize("name,dataset,extra", [
    ("multimae", "digits", []),
    ("m3i", "digits", ["objective.proj_dim=16"]),
    ("uniter", "digits", ["objective.ot_iters=5"]),
    ("bm_mae", "phantoms", ["data.num_samples=24"]),
])
def test_config_pretrains_and_embeds(tmp_path, name, dataset, extra):
    from graphfm.embed import embed_to_file
    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel

    out = pretrain(CONFIGS / f"{name}.yaml", tmp_path / name, overrides=TINY + extra)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == "multimodal_vit" and config["kwargs"]["modalities"]
    log = (out / "logs" / "metrics.csv").read_text()
    assert "_loss" in log
    model = PretrainedModel.from_pretrained(out)
    assert model.data_options == config["kwargs"]["data_options"]
    shape = embed_to_file(out, dataset, tmp_path / "emb.npy")
    emb = np.load(tmp_path / "emb.npy")
    assert shape == emb.shape and emb.shape == (1797 if dataset == "digits" else 24, 32)
    assert emb.dtype == np.float32 and np.isfinite(emb).all()


def test_configs_are_valid_and_small():
    from graphfm.config import load_experiment

    for name in ("multimae", "bm_mae", "m3i", "m3i_label_free", "uniter"):
        cfg = load_experiment(CONFIGS / f"{name}.yaml")
        assert cfg.data["name"] == "multimodal" and cfg.model["name"] == "multimodal_vit"
        assert cfg.objective["name"] == name.replace("_label_free", "") and cfg.trainer.max_steps <= 400
    assert load_experiment(CONFIGS / "m3i_label_free.yaml").objective["weights"]["supervised"] == 0


def test_pretrain_returns_the_trained_objective_on_request(tmp_path):
    """``return_objective=True`` hands back the objective that was trained (decoder included),
    whose encoder is the one saved; the default return value stays the run directory."""
    import torch

    from lightning.pytorch import seed_everything

    from graphfm.config import load_experiment, resolve_config
    from graphfm.engine import build, pretrain
    from graphfm.models import PretrainedModel

    overrides = TINY + ["data.num_samples=24"]
    out, objective = pretrain(resolve_config("multimodal/bm_mae"), tmp_path / "run", overrides=overrides,
                              return_objective=True)
    assert out == tmp_path / "run" and type(objective).__name__ == "BMMAE"
    saved = PretrainedModel.from_pretrained(out).state_dict()
    trained = objective.model.state_dict()
    assert saved.keys() == trained.keys()
    assert all(torch.equal(saved[k].cpu(), trained[k].cpu()) for k in saved)
    cfg = load_experiment(resolve_config("multimodal/bm_mae"), overrides)
    seed_everything(cfg.seed, verbose=False)
    _, rebuilt = build(cfg)   # the same objective before training: the returned one has moved on
    before = rebuilt.state_dict()
    after = objective.state_dict()
    assert before.keys() == after.keys() and any(k.startswith("decoder.") for k in after)
    assert any(not torch.equal(before[k], after[k].cpu()) for k in before if k.startswith("decoder."))
    assert pretrain(resolve_config("multimodal/bm_mae"), tmp_path / "plain", overrides=overrides) == tmp_path / "plain"

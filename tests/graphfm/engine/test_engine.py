import csv

import pytest
import torch

from graphfm.engine import pretrain
from graphfm.errors import CheckpointError, ConfigError
from graphfm.models import PretrainedModel

from . import toy  # noqa: F401  (registers the toy components)


def toy_config(steps: int = 30, **trainer):
    return {"name": "toy", "seed": 3, "data": {"name": "toy_regression", "n": 64},
            "model": {"name": "toy_linear", "hidden": 8}, "objective": {"name": "toy_mse"},
            "trainer": {"max_steps": steps, "lr": 0.01, "log_every": 1, "progress": False, **trainer}}


def test_pretrain_writes_checkpoint_logs_and_plot(tmp_path):
    out = pretrain(toy_config(), tmp_path / "run")
    for name in ("config.yaml", "model.safetensors", "experiment.yaml", "loss.png", "logs/metrics.csv"):
        assert (out / name).is_file(), name
    with open(out / "logs" / "metrics.csv") as fh:
        losses = [float(r["train/mse_loss"]) for r in csv.DictReader(fh) if r.get("train/mse_loss")]
    assert len(losses) >= 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5  # training lowers the loss
    model = PretrainedModel.from_pretrained(out)
    assert type(model).__name__ == "ToyLinear" and model.init_kwargs == {"in_dim": 4, "hidden": 8}


def test_same_seed_same_weights(tmp_path):
    a = PretrainedModel.from_pretrained(pretrain(toy_config(10), tmp_path / "a"))
    b = PretrainedModel.from_pretrained(pretrain(toy_config(10), tmp_path / "b"))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_resume_continues_from_state(tmp_path):
    run = tmp_path / "run"
    pretrain(toy_config(6, ckpt_every=3), run)
    assert (run / "state" / "last.ckpt").is_file()
    pretrain(toy_config(9, ckpt_every=3), run, resume=True)
    with open(run / "logs" / "metrics.csv") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert max(steps) >= 8


def test_resume_without_state_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="ckpt_every"):
        pretrain(toy_config(2), tmp_path / "run", resume=True)


@pytest.mark.parametrize("section,key,message", [
    ("model", "hiden", "valid keys: in_dim, hidden"),
    ("objective", "wieght", "valid keys: weight"),
    ("trainer", "max_step", "valid keys: max_steps"),
    ("data", "nn", "valid keys: n, dim"),
])
def test_unknown_config_key_lists_valid_keys(tmp_path, section, key, message):
    cfg = toy_config(2)
    cfg[section][key] = 1
    with pytest.raises(ConfigError, match=message):
        pretrain(cfg, tmp_path / "run")


def test_wrong_type_and_unknown_names(tmp_path):
    cfg = toy_config(2)
    cfg["model"]["hidden"] = "eight"
    with pytest.raises(ConfigError, match=r"model.hidden: expected int"):
        pretrain(cfg, tmp_path / "run")
    cfg = toy_config(2)
    cfg["objective"]["name"] = "toy_mae"
    with pytest.raises(ConfigError, match="unknown objective 'toy_mae'; valid objectives: .*toy_mse"):
        pretrain(cfg, tmp_path / "run")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        PretrainedModel.from_pretrained(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("model: toy_linear\n")
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        PretrainedModel.from_pretrained(tmp_path / "half")


def test_init_from_starts_from_another_runs_weights(tmp_path):
    first = PretrainedModel.from_pretrained(pretrain(toy_config(10), tmp_path / "a"))
    cfg = dict(toy_config(0, init_from=str(tmp_path / "a")), seed=7)
    started = PretrainedModel.from_pretrained(pretrain(cfg, tmp_path / "b"))
    fresh = PretrainedModel.from_pretrained(pretrain(dict(toy_config(0), seed=7), tmp_path / "c"))
    for key, value in first.state_dict().items():
        assert torch.equal(started.state_dict()[key], value), key
    assert not all(torch.equal(fresh.state_dict()[k], v) for k, v in first.state_dict().items())
    with pytest.raises(CheckpointError, match="model.safetensors|does not exist|not a"):
        pretrain(toy_config(1, init_from=str(tmp_path / "missing")), tmp_path / "d")


def test_pretrain_leaves_warning_filters_and_logger_levels_alone(tmp_path):
    import logging
    import warnings

    name = "lightning.pytorch.utilities.rank_zero"
    level = logging.getLogger(name).level
    before = list(warnings.filters)
    pretrain(toy_config(2), tmp_path / "run")
    assert warnings.filters == before and logging.getLogger(name).level == level

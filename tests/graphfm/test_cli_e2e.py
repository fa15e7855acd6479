"""End-to-end runs of the ``graphfm`` CLI on real graphs and on bad input.

Issue 2's bar: a config in ``configs/`` pretrains on three real domains, writes a
checkpoint, and ``graphfm embed`` then embeds a fourth, unseen one; ``adapt`` writes the
result JSON of the contract; every bad input is one clear line and exit code 2.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
ADAPT_KEYS = {"target", "task", "shots", "tasks", "seeds", "mean", "std", "n", "seconds", "accuracies"}


def graphfm(*args, data_root=None):
    env = dict(os.environ)
    if data_root is not None:
        env["GRAPHFM_DATA"] = str(data_root)
    return subprocess.run([sys.executable, "-m", "graphfm.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=900)


def assert_bad_input(proc, *fragments):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in error[0], error[0]


@pytest.fixture(scope="module")
def real_run(data_root, tmp_path_factory):
    """SAMGPT pretrained for a few steps on three real domains (Cora held out)."""
    run = tmp_path_factory.mktemp("cli") / "run"
    proc = graphfm("pretrain", "--config", "configs/samgpt/cora.yaml", "--out", run,
                   "--set", "data.datasets=[CiteSeer, Photo, LastFMAsia]", "--set", "trainer.max_steps=4",
                   "--set", "model.hidden=32", "--set", "trainer.progress=false", data_root=data_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


@pytest.mark.slow
def test_pretrain_three_real_domains_then_embed_an_unseen_fourth(real_run, data_root, tmp_path):
    for name in ("config.yaml", "model.safetensors", "experiment.yaml", "loss.png"):
        assert (real_run / name).is_file(), name
    out = tmp_path / "cora.npy"
    proc = graphfm("embed", "--checkpoint", real_run, "--dataset", "Cora", "--out", out, data_root=data_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    emb = np.load(out)
    assert emb.shape == (2708, 32) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert emb.std(axis=0).mean() > 0  # not a constant output


@pytest.mark.slow
def test_adapt_writes_the_result_contract(real_run, data_root, tmp_path):
    out = tmp_path / "cora.json"
    proc = graphfm("adapt", "--checkpoint", real_run, "--target", "Cora", "--task", "node", "--shots", 1,
                   "--tasks", 4, "--seeds", 2, "--out", out, data_root=data_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert ADAPT_KEYS <= set(result)
    assert result["target"] == "Cora" and result["task"] == "node" and result["n"] == 8
    assert len(result["accuracies"]) == 8 and all(0 <= a <= 100 for a in result["accuracies"])


@pytest.mark.slow
def test_continued_pretraining_on_the_unseen_domain_starts_from_the_run(real_run, data_root, tmp_path):
    """`--set trainer.init_from=RUN` on Cora alone: 0 steps give the run's shared weights back, and the
    Cora tokens start from the mean source tokens."""
    from graphfm.models import PretrainedModel

    out = tmp_path / "cora-continued"
    proc = graphfm("pretrain", "--config", "configs/samgpt/cora.yaml", "--out", out, "--set", "data.datasets=[Cora]",
                   "--set", f"trainer.init_from={real_run}", "--set", "trainer.max_steps=0", "--set", "model.hidden=32",
                   "--set", "trainer.progress=false", data_root=data_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    source, continued = PretrainedModel.from_pretrained(real_run), PretrainedModel.from_pretrained(out)
    assert continued.domains == ["Cora"]
    gcn = {k: v for k, v in source.state_dict().items() if k.startswith("gcn.")}
    assert gcn and all(torch.equal(continued.state_dict()[k], v) for k, v in gcn.items())
    assert torch.allclose(continued.feature_tokens[0], source.feature_tokens.mean(0))
    proc = graphfm("pretrain", "--config", "configs/samgpt/cora.yaml", "--out", tmp_path / "bad",
                   "--set", "data.datasets=[Cora]", "--set", f"trainer.init_from={tmp_path / 'nowhere'}",
                   "--set", "trainer.progress=false", data_root=data_root)
    assert_bad_input(proc, "nowhere")


def test_missing_raw_file_names_the_file(tmp_path):
    proc = graphfm("embed", "--checkpoint", tmp_path, "--dataset", "Cora", "--out", tmp_path / "x.npy",
                   data_root=tmp_path / "empty")
    assert proc.returncode == 2  # the checkpoint is checked first; now a real one with no data:
    cfg = REPO / "configs" / "samgpt" / "demo.yaml"
    (tmp_path / "empty").mkdir()          # a data root that exists but lacks Cora's files
    proc = graphfm("pretrain", "--config", cfg, "--out", tmp_path / "run", "--set", "data.datasets=[Cora]",
                   data_root=tmp_path / "empty")
    assert_bad_input(proc, "ind.cora", "planetoid/Cora/raw")


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case,fragment", [
    ("corrupt", "corrupt"),
    ("edge_out_of_range", "point outside"),
    ("nan_features", "NaN"),
])
def test_bad_user_graphs_are_clear_errors(tmp_path, case, fragment):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    edges = np.array([[0, 1, 2], [1, 2, 3]])
    path = tmp_path / f"{case}.npz"
    if case == "corrupt":
        path.write_bytes(b"this is not a zip archive")
    elif case == "edge_out_of_range":
        _write_npz(path, x=x, edge_index=np.array([[0, 1], [1, 42]]))
    else:
        x[3, 1] = np.nan
        _write_npz(path, x=x, edge_index=edges)
    cfg = REPO / "configs" / "samgpt" / "demo.yaml"
    proc = graphfm("pretrain", "--config", cfg, "--out", tmp_path / "run", "--set", f"data.datasets=[{path}]")
    assert_bad_input(proc, fragment)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_unknown_config_key_lists_valid_keys(tmp_path):
    cfg = REPO / "configs" / "samgpt" / "demo.yaml"
    proc = graphfm("pretrain", "--config", cfg, "--out", tmp_path / "run", "--set", "model.hiden=3")
    assert_bad_input(proc, "hiden", "valid keys", "hidden")


def test_data_verify_passes_on_the_copy_and_fails_on_tampering(data_root, tmp_path):
    proc = graphfm("data", "verify", "--data-root", data_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tampered = tmp_path / "root"
    target = tampered / "tu" / "MUTAG" / "raw"
    target.mkdir(parents=True)
    for f in (data_root / "tu" / "MUTAG" / "raw").iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    labels = target / "MUTAG_graph_labels.txt"
    labels.write_text(labels.read_text().replace("1", "-1", 1))
    proc = graphfm("data", "verify", "--data-root", tampered)
    assert proc.returncode != 0
    assert "MUTAG_graph_labels.txt" in proc.stdout

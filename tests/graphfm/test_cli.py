"""The CLI's error contract: one clear line on stderr, exit 2 for bad input, no traceback."""
import subprocess
import sys

import pytest

from graphfm.cli import main


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "graphfm.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def assert_clean_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_config_file(tmp_path):
    proc = run_cli("pretrain", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run"))
    assert_clean_error(proc, "nope.yaml", "does not exist")


def test_unknown_top_level_section(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("data: {name: graph_domains, datasets: [Cora]}\nmodel: {name: samgpt}\n"
                   "objective: {name: x}\ntrainr: {max_steps: 3}\n")
    proc = run_cli("pretrain", "--config", str(cfg), "--out", str(tmp_path / "run"))
    assert_clean_error(proc, "trainr", "valid sections")


def test_invalid_yaml(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("data: [unclosed\n")
    proc = run_cli("pretrain", "--config", str(cfg), "--out", str(tmp_path / "run"))
    assert_clean_error(proc, "not valid YAML")


def test_missing_checkpoint(tmp_path):
    proc = run_cli("embed", "--checkpoint", str(tmp_path / "nothing"), "--dataset", "Cora",
                   "--out", str(tmp_path / "x.npy"))
    assert_clean_error(proc, "does not exist")
    assert not (tmp_path / "x.npy").exists()


def test_debug_shows_traceback(tmp_path, capsys):
    with pytest.raises(Exception, match="does not exist"):
        main(["--debug", "embed", "--checkpoint", str(tmp_path / "nothing"), "--dataset", "Cora",
              "--out", str(tmp_path / "x.npy")])


def test_unknown_benchmark_lists_valid_names(tmp_path):
    proc = run_cli("bench", "nosuch", "--out", str(tmp_path))
    assert_clean_error(proc, "unknown benchmark 'nosuch'", "samgpt")

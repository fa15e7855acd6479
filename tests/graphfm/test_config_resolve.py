"""Bundled configs: ``resolve_config`` takes a path or a bundled name, from any directory."""
from __future__ import annotations

from pathlib import Path

import pytest

from graphfm.config import bundled_config_dir, bundled_configs, load_experiment, resolve_config
from graphfm.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_every_top_level_config_is_bundled() -> None:
    expected = sorted(p.relative_to(REPO / "configs").with_suffix("").as_posix()
                      for p in (REPO / "configs").rglob("*.yaml"))
    assert bundled_configs() == expected
    assert "samgpt/cora" in expected and "samgpt/demo" in expected


@pytest.mark.parametrize("name", ["samgpt/cora", "samgpt/cora.yaml", "configs/samgpt/cora.yaml"])
def test_bundled_names_resolve_from_another_directory(name: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = resolve_config(name)
    assert path == bundled_config_dir() / "samgpt" / "cora.yaml" and path.is_file()
    assert load_experiment(name).model["name"] == "samgpt"


def test_a_path_wins_over_a_bundled_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "samgpt" / "cora.yaml"
    mine.parent.mkdir()
    mine.write_text("name: mine\ndata: {name: graph_domains}\nmodel: {name: samgpt}\nobjective: {name: x}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config("samgpt/cora.yaml") == Path("samgpt/cora.yaml")
    assert load_experiment("samgpt/cora.yaml").name == "mine"


def test_unknown_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match="samgpt/cora") as info:
        resolve_config("samgpt/atlantis")
    assert "does not exist and is not a bundled config name" in str(info.value)
    with pytest.raises(ConfigError):
        resolve_config("../pyproject")

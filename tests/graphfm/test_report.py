"""The one Markdown table writer and the header every benchmark result carries."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from graphfm.bench.base import source_commit, write_results
from graphfm.report import markdown_row, markdown_table


def test_markdown_table_formats_cells():
    lines = markdown_table(["target", "mean", "note"], [["Cora", 61.234, None], ["Photo", 7, ""]])
    assert lines == ["| target | mean | note |", "|---|---|---|", "| Cora | 61.23 | – |", "| Photo | 7 |  |"]
    assert markdown_row(["a", 1.0], fmt=str) == "| a | 1.0 |"


def test_results_record_the_commit_they_were_made_at(tmp_path):
    row = {"target": "T", "task": "node", "method": "m", "mean": 50.0, "std": 1.0, "n": 2, "seconds": 0.5}
    payload = write_results(tmp_path, "toy", [row], command="graphfm bench toy")
    commit = json.loads((tmp_path / "toy.json").read_text())["commit"]
    assert commit == payload["commit"]
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists():            # a checkout: a commit of this repository, maybe "+dirty"
        assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?", commit), commit
        assert subprocess.run(["git", "-C", str(repo), "cat-file", "-e", commit.split("+")[0] + "^{commit}"]).returncode == 0
    md = (tmp_path / "toy.md").read_text().splitlines()
    assert md[2:6] == [md[2], md[3], f"- commit: {commit}", "- command: `graphfm bench toy`"]
    assert md[2].startswith("- machine: ") and md[3].startswith("- date: ")


def test_outside_a_git_checkout_the_version_stands_in(monkeypatch):
    monkeypatch.setenv("GIT_DIR", "/nonexistent")      # git finds no repository
    assert source_commit().startswith("graphfm ")

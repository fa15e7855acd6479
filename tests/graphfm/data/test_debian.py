"""Debian 12 package graph: the parsing rules on small stanzas, and the registered graph's counts."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import torch

from graphfm.data import load_dataset
from graphfm.data.loaders import debian
from graphfm.errors import DataError

STANZAS = """\
Package: app
Version: 1.0-1
Depends: libfoo1 (>= 1.2), python3:any | python3-minimal, mail-transport-agent
Recommends: app-data [amd64], ghost
Section: utils
Description: the app tool for app users
 long description, not read

Package: libfoo1
Version: 2:1.2-3
Depends: libfoo1, libc6
Section: libs
Description: foo library (libfoo1 runtime)

Package: python3
Version: 3.11.2-1
Section: python
Description: interactive high-level object-oriented language (default python3 version)

Package: python3-minimal
Version: 3.11.2-1
Section: python
Description: minimal subset of the Python language

Package: exim4
Version: 4.96-15
Provides: mail-transport-agent
Section: contrib/mail
Description: metapackage for exim4

Package: postfix
Version: 3.7.11-0
Provides: mail-transport-agent (= 1), python3
Section: mail
Description:

Package: app-data
Version: 1.0~rc1
Section: utils
Description: data for app.

Package: app-data
Version: 1.0
Section: utils
Description: data files for the app

Package: app-data
Version: 1.0~beta
Section: misc
Description: an old upload
"""


def _packages(tmp_path: Path) -> Path:
    path = tmp_path / "Packages"
    path.write_text(STANZAS, encoding="utf-8")
    return path


def test_version_order_is_dpkgs() -> None:
    chain = ["1.0~~", "1.0~rc1", "1.0", "1.0-1", "1.0-1.1", "1.0a", "1.0.1", "1.2", "1.10", "1:0.1"]
    keys = [debian.debian_version_key(v) for v in chain]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert debian.debian_version_key("1.01") == debian.debian_version_key("1.1")


def test_relation_names_strip_versions_architectures_and_qualifiers() -> None:
    value = "libc6 (>= 2.34), python3:any | python3-minimal [amd64], foo <!nocheck> (<< 2)"
    assert debian.relation_names(value) == [["libc6"], ["python3", "python3-minimal"], ["foo"]]
    assert debian.relation_names("") == []


def test_own_name_is_replaced_as_a_whole_word_only() -> None:
    assert debian.hide_own_name("slapd", "OpenLDAP server (slapd)") == ("OpenLDAP server (this package)", True)
    assert debian.hide_own_name("sml-mode", "Transition package, sml-mode to elpa-sml-mode") == (
        "Transition package, this package to elpa-sml-mode", True)
    assert debian.hide_own_name("nuget", "Package manager for NuGet repos") == (
        "Package manager for NuGet repos", False)                                  # case-sensitive
    assert debian.hide_own_name("foo", "foo.bar and libfoo, foo-utils") == ("foo.bar and libfoo, foo-utils", False)
    assert debian.hide_own_name("vim", "Vi editor: vim.") == ("Vi editor: this package.", True)


def test_small_index_nodes_text_edges_labels(tmp_path: Path) -> None:
    stanzas = debian.newest_stanzas(debian.parse_packages(_packages(tmp_path)))
    names = [s["Package"] for s in stanzas]
    assert names == ["app", "libfoo1", "python3", "python3-minimal", "exim4", "postfix", "app-data"]
    assert stanzas[-1]["Version"] == "1.0"                       # the newest of three, not the last
    edges = {tuple(e) for e in debian.dependency_edges(stanzas).t().tolist()}
    idx = {n: i for i, n in enumerate(names)}
    expected = {("app", "libfoo1"), ("app", "python3"), ("app", "python3-minimal"),   # both alternatives;
                ("app", "exim4"), ("app", "postfix"), ("app", "app-data")}            # python3 is real: not postfix
    want = {(idx[a], idx[b]) for a, b in expected} | {(idx[b], idx[a]) for a, b in expected}
    assert edges == want                                          # no self-loop, libc6 and ghost unresolved
    y, label_names = debian.section_labels([s.get("Section", "") for s in stanzas], min_size=2)
    assert label_names == ["mail", "python", "utils"]                # contrib/mail -> mail; libs has 1
    assert y.tolist() == [2, -1, 1, 1, 0, 0, 2]


def test_build_hides_names_and_masks_empty_synopses(tmp_path: Path) -> None:
    obj = debian._build(_packages(tmp_path))
    texts = dict(zip(obj["names"], obj["text"]))
    assert texts["app"] == "the this package tool for this package users"
    assert texts["libfoo1"] == "foo library (this package runtime)"
    assert texts["postfix"] == "" and obj["text_mask"].tolist() == [True] * 5 + [False, True]
    assert obj["names_hidden"] == 4 and obj["x_values"].numel() > 0


def test_a_stanza_without_package_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Packages"
    path.write_text("Package: a\nSection: x\n\nVersion: 1\nSection: y\n", encoding="utf-8")
    with pytest.raises(DataError, match="stanza 2 has no Package field"):
        debian.parse_packages(path)
    path.write_bytes(b"Package: \xff\n")
    with pytest.raises(DataError, match="cannot read .* as a Debian Packages index"):
        debian.parse_packages(path)


# ----------------------------------------------------------------------------- the registered graph
@pytest.fixture(scope="module")
def graph(data_root):
    return load_dataset("Debian", data_root)


def _sections(data_root: Path):
    stanzas = debian.newest_stanzas(debian.parse_packages(data_root / "debian/bookworm/raw/Packages"))
    return [s["Package"] for s in stanzas], [s["Section"].rsplit("/", 1)[-1] for s in stanzas]


@pytest.mark.slow
def test_counts_as_measured(graph) -> None:
    n = 63436
    assert graph.x.shape == (n, 512) and graph.edge_index.shape == (2, 615550)
    key = graph.edge_index[0] * n + graph.edge_index[1]
    assert bool((key[1:] > key[:-1]).all()) and not bool((graph.edge_index[0] == graph.edge_index[1]).any())
    assert int((torch.bincount(graph.edge_index[0], minlength=n) == 0).sum()) == 2850
    assert len(graph.text) == n and graph.text_mask.dtype == torch.bool and bool(graph.text_mask.all())
    assert int((graph.y >= 0).sum()) == 63320 and int(graph.y.max()) + 1 == 53
    assert len(graph.label_names) == 53 and graph.label_names == sorted(graph.label_names)
    assert graph.domain == graph.name == "Debian"


@pytest.mark.slow
def test_labels_are_sections_and_small_sections_are_unlabelled(graph, data_root) -> None:
    names, sections = _sections(data_root)
    sizes = Counter(sections)
    for y, section in zip(graph.y.tolist(), sections):
        assert (y == -1) == (sizes[section] < debian.MIN_CLASS_SIZE)
        assert y == -1 or graph.label_names[y] == section
    assert {"shells", "zope"} <= {s for s in sections if s not in graph.label_names}
    assert int((graph.y == -1).sum()) == 116


@pytest.mark.slow
def test_no_text_holds_its_own_package_name(graph, data_root) -> None:
    names, _ = _sections(data_root)
    word = re.compile(r"[\w+.-]*[\w+-]")                     # name-like tokens, a final "." trimmed
    assert not [n for n, t in zip(names, graph.text) if n in word.findall(t)]
    cache = torch.load(data_root / "debian/bookworm/processed/data.pt", weights_only=True)
    assert cache["names"] == names and cache["names_hidden"] == 175
    assert sum(debian.NAME_TOKEN in t for t in graph.text) >= 175


@pytest.mark.slow
def test_second_load_reuses_the_cache(graph, data_root, monkeypatch) -> None:
    assert (data_root / "debian/bookworm/processed/data.pt").is_file()

    def refuse(path):
        raise AssertionError("the Packages file was parsed again")

    monkeypatch.setattr(debian, "_build", refuse)
    again = load_dataset("Debian", data_root)
    assert torch.equal(again.x, graph.x) and torch.equal(again.edge_index, graph.edge_index)
    assert again.text == graph.text and again.label_names == graph.label_names

"""Debian 12 (bookworm) as a text-attributed graph of software packages.

The raw file is Debian's index of binary packages (``dists/bookworm/main/binary-amd64/Packages``,
Debian 12.15 of 2026-07-11, uncompressed; its sha256 is the one the signed ``InRelease``
beside it lists). It is a text graph outside the citation domain: 63,436 packages, each
with a one-line synopsis, linked by what they need.

* **Nodes**: one per distinct ``Package`` name, in file order. Four names
  (``linux-doc``, ``linux-doc-6.1``, ``linux-source``, ``linux-source-6.1``) have two
  stanzas; the one whose ``Version`` sorts last in Debian's version order
  (:func:`debian_version_key`) is kept, wherever it stands in the file.
* **Text** (``data.text``): the synopsis, the first line of ``Description``. The package
  name is never prepended: names leak the label (``python3-``, ``lib``, ``golang-`` prefixes
  name the section). Whole-word occurrences of the package's own name inside its synopsis
  (case-sensitive, as Debian names are lower case: "OpenLDAP server (slapd)" for ``slapd``)
  are replaced by :data:`NAME_TOKEN` ("this package"); 175 synopses contain their own name
  (325 if case is ignored: "NuGet" in ``nuget``'s synopsis is the product's name, kept).
  Other packages' names in a synopsis ("transitional package for afl++-clang") are kept.
  An empty synopsis gives a node without text: ``data.text_mask`` is false there (none in
  this release).
* **Edges**: ``Depends``, ``Pre-Depends`` and ``Recommends``. Version constraints
  ``(>= 1.0)``, architecture lists ``[amd64]``, build profiles ``<!nocheck>`` and
  ``:any`` / ``:native`` qualifiers are stripped. Every alternative of ``a | b`` counts.
  A name that is a real package links to that package only; a name that is not (a virtual
  name) links to every package that ``Provides`` it; a name that resolves to nothing is
  dropped, and so are self-loops. Edges are undirected and coalesced: 307,775 undirected
  (615,550 directed) edges, 2,850 packages without any, the counts the dataset's
  ``SOURCE.md`` reports. (Only the first resolvable alternative: 293,283.)
* **Labels**: ``Section``, without a ``component/`` prefix (``contrib/net`` -> ``net``).
  Only sections with at least :data:`MIN_CLASS_SIZE` (50) packages are classes: 53 of the 58
  sections, 63,320 labelled packages. The 116 packages of ``shells``, ``embedded``,
  ``education``, ``news`` and ``zope`` keep ``y = -1`` (unlabelled) but stay nodes with text
  and edges. Class ids follow the sorted section names; ``data.label_names`` lists them
  (index = class id).
* **x**: the synopsis' hashed bag of words (:func:`graphfm.data.loaders.tag.hashed_bag_of_words`,
  512 columns), as for the other text graphs, so text-free models run on it too.

The parse (about ten seconds) is cached in ``<data root>/debian/bookworm/processed/data.pt``
(:func:`graphfm.data.cache.cached`); the cache also keeps the package names (``names``),
which are deliberately not put on the returned graph.

Debtags (the ``Tag`` field of 30,300 packages, e.g. ``field::biology``, ``use::*``) are not
read; they would make a second, multi-label label set.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphfm.data.cache import cached
from graphfm.data.graph import to_undirected
from graphfm.data.registry import DatasetSpec, register_dataset
from graphfm.errors import DataError

#: Smallest section that is a class; smaller sections are unlabelled (``y = -1``).
MIN_CLASS_SIZE = 50
#: What replaces a package's own name inside its synopsis.
NAME_TOKEN = "this package"
#: Relationship fields that make edges.
EDGE_FIELDS = ("Depends", "Pre-Depends", "Recommends")
#: Classes of the registered release (sections with at least MIN_CLASS_SIZE packages).
NUM_CLASSES = 53

_KEEP = frozenset({"Package", "Version", "Section", "Description", "Provides", *EDGE_FIELDS})
_QUALIFIERS = re.compile(r"\([^)]*\)|\[[^\]]*\]|<[^>]*>")
_VERSION = re.compile(r"^(?:(\d+):)?(.*?)(?:-([^-]*))?$")
_PARTS = re.compile(r"(\D*)(\d*)")


# ----------------------------------------------------------------------------- parsing
def parse_packages(path: Path) -> List[Dict[str, str]]:
    """The stanzas of a Debian ``Packages`` file, in file order, with the fields this loader reads.

    Raises:
        DataError: unreadable file, or a stanza without a ``Package`` field.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read '{path}' as a Debian Packages index ({exc}); copy it again "
                        "(`graphfm data verify` checks it)") from exc
    stanzas = []
    for number, block in enumerate(text.split("\n\n")):
        fields: Dict[str, str] = {}
        key = None
        for line in block.split("\n"):
            if not line:
                continue
            if line[0] in " \t":                   # folded continuation of the previous field
                if key is not None and key != "Description":   # (the long description is not read)
                    fields[key] += " " + line.strip()
                continue
            name, _, value = line.partition(":")
            key = name if name in _KEEP else None
            if key is not None:
                fields[key] = value.strip()
        if not fields:
            continue
        if "Package" not in fields:
            raise DataError(f"'{path}': stanza {number + 1} has no Package field; this is not a Debian "
                            "Packages index (run `graphfm data verify`)")
        stanzas.append(fields)
    return stanzas


def debian_version_key(version: str) -> Tuple:
    """A sort key that orders Debian version strings as ``dpkg --compare-versions`` does.

    ``[epoch:]upstream[-revision]``: epochs compare as integers; upstream and revision
    alternate non-digit runs (compared character by character, ``~`` before everything,
    even the end, letters before other characters) and digit runs (compared as integers).
    E.g. ``1.0~rc1 < 1.0 < 1.0-1 < 1.0a < 1:0.1``.
    """
    epoch, upstream, revision = _VERSION.match(version.strip()).groups()
    return int(epoch or 0), _part_key(upstream), _part_key(revision or "")


def _part_key(text: str) -> Tuple:
    key = []
    for letters, digits in _PARTS.findall(text):
        if not letters and not digits:
            continue
        key.append((tuple(_char_order(c) for c in letters) + (0,), int(digits or 0)))
    return tuple(key) + (((0,), 0),)            # the end: an empty run, a zero number


def _char_order(c: str) -> int:
    if c == "~":
        return -1
    return ord(c) if c.isalpha() else ord(c) + 256


def newest_stanzas(stanzas: Sequence[Dict[str, str]]) -> List[Dict[str, str]]:
    """One stanza per package name: the one with the highest ``Version``; first-seen order."""
    kept: Dict[str, Dict[str, str]] = {}
    for fields in stanzas:
        name = fields["Package"]
        old = kept.get(name)
        if old is None or debian_version_key(fields.get("Version", "")) > \
                debian_version_key(old.get("Version", "")):
            kept[name] = fields
    return list(kept.values())


def relation_names(value: str) -> List[List[str]]:
    """The clauses of a relationship field, each a list of alternative package names.

    ``"libc6 (>= 2.34), python3:any | python3-minimal [amd64]"`` ->
    ``[["libc6"], ["python3", "python3-minimal"]]``.
    """
    clauses = []
    for clause in _QUALIFIERS.sub("", value).split(","):
        names = [alt.strip().split(":", 1)[0] for alt in clause.split("|")]
        names = [n for n in names if n]
        if names:
            clauses.append(names)
    return clauses


def dependency_edges(stanzas: Sequence[Dict[str, str]]) -> Tensor:
    """Undirected, coalesced ``[2, E]`` edges of :data:`EDGE_FIELDS` (see the module docstring)."""
    index = {fields["Package"]: i for i, fields in enumerate(stanzas)}
    providers: Dict[str, List[int]] = {}
    for i, fields in enumerate(stanzas):
        for names in relation_names(fields.get("Provides", "")):
            for name in names:
                providers.setdefault(name, []).append(i)
    src: List[int] = []
    dst: List[int] = []
    for i, fields in enumerate(stanzas):
        for key in EDGE_FIELDS:
            for names in relation_names(fields.get(key, "")):
                for name in names:
                    real = index.get(name)
                    for j in ((real,) if real is not None else providers.get(name, ())):
                        if j != i:
                            src.append(i)
                            dst.append(j)
    edges = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    return to_undirected(edges, num_nodes=len(stanzas))


def hide_own_name(name: str, synopsis: str) -> Tuple[str, bool]:
    """``synopsis`` with whole-word occurrences of ``name`` replaced by :data:`NAME_TOKEN`.

    A whole word is not glued to letters, digits, ``_``, ``+``, ``-`` or a ``.`` inside a
    name (a sentence's final ``.`` is fine). Returns ``(text, whether anything was replaced)``.
    """
    if name not in synopsis:
        return synopsis, False
    pattern = re.compile(rf"(?<![\w+.-]){re.escape(name)}(?![\w+-]|\.\w)")
    text, count = pattern.subn(NAME_TOKEN, synopsis)
    return text, count > 0


# ----------------------------------------------------------------------------- the graph
def section_labels(sections: Sequence[str], min_size: int = MIN_CLASS_SIZE) -> Tuple[Tensor, List[str]]:
    """``(y [N], label_names)``: sorted sections of at least ``min_size`` packages; others -1."""
    names = [s.rsplit("/", 1)[-1] for s in sections]
    counts = Counter(n for n in names if n)
    label_names = sorted(s for s, c in counts.items() if c >= min_size)
    lookup = {s: i for i, s in enumerate(label_names)}
    return torch.tensor([lookup.get(n, -1) for n in names], dtype=torch.long), label_names


def _build(path: Path) -> dict:
    from graphfm.data.loaders.tag import hashed_bag_of_words

    stanzas = newest_stanzas(parse_packages(path))
    names = [f["Package"] for f in stanzas]
    texts, hidden = [], 0
    for name, fields in zip(names, stanzas):
        text, replaced = hide_own_name(name, fields.get("Description", "").split("\n", 1)[0].strip())
        texts.append(text)
        hidden += replaced
    y, label_names = section_labels([f.get("Section", "") for f in stanzas])
    x = hashed_bag_of_words(texts)
    rows, cols = x.nonzero(as_tuple=True)
    return dict(names=names, text=texts, text_mask=torch.tensor([bool(t) for t in texts]),
                edge_index=dependency_edges(stanzas), y=y, label_names=label_names,
                x_rows=rows, x_cols=cols, x_values=x[rows, cols], num_features=x.size(1),
                names_hidden=hidden)


def load_debian(root: Path, spec: DatasetSpec) -> Data:
    """The Debian package graph (see the module docstring); parsed once, then cached."""
    raw = root / spec.folder
    obj = cached(raw.parent / "processed" / "data.pt", lambda: _build(raw / "Packages"))
    x = torch.zeros(len(obj["text"]), obj["num_features"], dtype=torch.float32)
    x[obj["x_rows"], obj["x_cols"]] = obj["x_values"]
    return Data(x=x, edge_index=obj["edge_index"], y=obj["y"], text=list(obj["text"]),
                text_mask=obj["text_mask"], label_names=list(obj["label_names"]))


register_dataset(DatasetSpec(
    name="Debian", kind="node", domain="Debian", area="software", folder="debian/bookworm/raw",
    files=("Packages", "InRelease"),
    source=("the Debian archive, Debian 12.15 (bookworm, 2026-07-11), "
            "dists/bookworm/main/binary-amd64/Packages.xz decompressed, and dists/bookworm/InRelease "
            "(https://snapshot.debian.org/archive/debian/; public package metadata)"),
    loader=load_debian, num_classes=NUM_CLASSES,
    note=("data.text = package synopsis (own name replaced); edges = Depends/Pre-Depends/Recommends via "
          f"Provides; y = Section (>= {MIN_CLASS_SIZE} packages, else -1); x = hashed bag of words (512)"),
))

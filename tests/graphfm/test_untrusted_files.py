"""Untrusted files execute nothing (issue 11).

Every file a user or a data root can hand graphfm is read with safetensors,
``torch.load(weights_only=True)``, ``np.load(allow_pickle=False)`` or checked against
the sha256 manifest first. Each test plants a pickle whose ``__reduce__`` would create
a marker file, and checks that the load is refused with a clear error and the marker
never appears. Also: YAML is only read with safe loaders, and components are only
resolved through the registries.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from graphfm.errors import CheckpointError, ConfigError, DataError, GraphFMError

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path(os.environ.get("GRAPHFM_DATA_SOURCE") or REPO / ".." / "shared" / "datasets")


class Payload:
    """Unpickling this calls ``pathlib.Path(marker).touch()``: it would run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _plant(path: Path, marker: Path, wrap=lambda p: p) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(Payload(marker)), path)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "executed"
    yield path
    assert not path.exists(), "a planted pickle ran code"


def test_payload_really_runs_when_unpickled_unsafely(tmp_path: Path) -> None:
    """The planted files are dangerous: an unsafe load would create the marker."""
    marker = tmp_path / "executed"
    _plant(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_user_pt_file_is_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.data import load_dataset

    _plant(tmp_path / "graph.pt", marker, lambda p: {"edge_index": torch.zeros(2, 0, dtype=torch.long), "x": p})
    with pytest.raises(DataError, match="weights_only=True.*never unpickles"):
        load_dataset(str(tmp_path / "graph.pt"))


def test_user_npz_with_pickled_object_is_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.data import load_dataset

    np.savez(tmp_path / "graph.npz", edge_index=np.zeros((2, 0), dtype=np.int64),
             x=np.array([Payload(marker)], dtype=object))
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(str(tmp_path / "graph.npz"))


def test_mmgraph_feature_file_is_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.data.mmgraph import load_mmgraph

    folder = tmp_path / "books-nc"
    folder.mkdir()
    torch.save([[0, 1], [1, 2]], folder / "nc_edges-nodeid.pt")
    _plant(folder / "clip_feat.pt", marker)
    with pytest.raises(DataError, match="clip_feat.pt.*weights_only=True"):
        load_mmgraph(folder)


def test_mmgraph_numpy_arrays_still_load(tmp_path: Path) -> None:
    """Released MM-Graph files hold numpy arrays: those stay readable without unsafe unpickling."""
    from graphfm.data.mmgraph import load_mmgraph

    folder = tmp_path / "toy-nc"
    folder.mkdir()
    torch.save(np.array([[0, 1], [1, 2]]), folder / "nc_edges-nodeid.pt")
    torch.save(np.array([0, 1, -1]), folder / "labels-w-missing.pt")
    torch.save({"train_idx": np.array([0]), "val_idx": [1], "test_idx": torch.tensor([2])}, folder / "split.pt")
    torch.save(np.ones((3, 4), dtype=np.float32), folder / "clip_feat.pt")
    data = load_mmgraph(folder)
    assert data.num_nodes == 3 and data.y.tolist() == [0, 1, -1]


def test_checkpoint_weights_that_are_a_pickle_are_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.models import PretrainedModel

    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.yaml").write_text("model: samgpt\nkwargs: {in_dims: {a: 3}, hidden: 8, align_dim: 4}\n")
    _plant(tmp_path / "ck" / "model.safetensors", marker)
    with pytest.raises(CheckpointError, match="model.safetensors.*not a readable safetensors file"):
        PretrainedModel.from_pretrained(tmp_path / "ck")


def test_checkpoint_config_with_python_tags_is_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.models import PretrainedModel

    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.yaml").write_text(
        f"model: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n")
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not valid YAML"):
        PretrainedModel.from_pretrained(tmp_path / "ck")


def test_experiment_config_with_python_tags_is_refused(tmp_path: Path, marker: Path) -> None:
    from graphfm.config import load_experiment

    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(cfg)


def _copy(folder: str, root: Path) -> None:
    if not SOURCE.is_dir():
        pytest.skip("offline datasets not available")
    shutil.copytree(SOURCE / folder, root / folder, copy_function=shutil.copyfile)


def test_tampered_raw_pickle_is_refused_before_it_is_read(tmp_path: Path, marker: Path) -> None:
    """Planetoid raw files are pickles that PyG unpickles: the checksum check comes first."""
    from graphfm.data import load_dataset

    _copy("planetoid/Cora/raw", tmp_path)
    with open(tmp_path / "planetoid/Cora/raw/ind.cora.x", "wb") as fh:
        import pickle

        pickle.dump(Payload(marker), fh)
    with pytest.raises(DataError, match="ind.cora.x.*does not match the manifest"):
        load_dataset("Cora", root=tmp_path)


@pytest.mark.parametrize("name", ["pre_transform.pt", "data.pt"])
def test_planted_pyg_processed_file_is_refused(tmp_path: Path, marker: Path, name: str) -> None:
    """PyG reads pre_transform.pt unsafely and falls back to unsafe loads for data.pt."""
    from graphfm.data import load_dataset

    _copy("tu/MUTAG/raw", tmp_path)
    processed = tmp_path / "tu/MUTAG/processed"
    processed.mkdir(parents=True)
    for other in ("data.pt", "pre_transform.pt", "pre_filter.pt"):
        if other != name:
            torch.save("None", processed / other)
    _plant(processed / name, marker, (lambda p: ({}, p)) if name == "data.pt" else (lambda p: p))
    with pytest.raises(DataError, match=f"{name}.*weights_only=True.*Delete"):
        load_dataset("MUTAG", root=tmp_path)


def test_no_unsafe_loaders_in_the_sources() -> None:
    """No yaml.load / unsafe Loader, no pickle, no torch.load without weights_only=True, no eval/exec."""
    pattern = re.compile(r"yaml\.(load|unsafe_load|full_load)\(|Loader=|import pickle|pickle\.loads?\(|"
                         r"weights_only=False|allow_pickle=True|(?<![.\w])eval\(|(?<![.\w])exec\(|__import__\(")
    offenders = []
    for folder in ("graphfm", "multimodal"):
        for path in (REPO / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                line = re.sub(r"``[^`]*``", "", line)  # code quoted in docstrings
                line = re.sub(r"save_checkpoint\(.*weights_only=False", "", line)  # saving, not loading
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
                if "torch.load(" in line and "weights_only=True" not in line:
                    offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_components_only_through_registries() -> None:
    """A config naming a dotted Python path is an unknown name, not an import."""
    from graphfm.models import MODELS

    with pytest.raises(ConfigError, match="unknown model 'os.system'"):
        MODELS.get("os.system")
    with pytest.raises(GraphFMError):
        MODELS.get("graphfm.models.samgpt.SAMGPT")

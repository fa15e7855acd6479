"""Malformed input everywhere data enters graphfm (issue 11).

Each case builds one bad input in a temporary folder and runs the CLI on it in-process
(``graphfm.cli.main``): once with ``--debug``, where the library's exception must be the
expected :class:`~graphfm.errors.GraphFMError` subclass, and once as a user would, where
stderr must be exactly one ``error:`` line naming the problem and the fix, the exit
code 2, and no output file (or temporary file) left behind. Argument-parsing cases have
no library exception (argparse refuses them) and only check the CLI contract.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Type

import numpy as np
import pytest
import torch

from graphfm.cli import main
from graphfm.errors import CheckpointError, ConfigError, DataError, GraphFMError

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "samgpt" / "demo.yaml")


@dataclass
class Ctx:
    """What a case's setup gets: its folder, the prepared checkpoints and data."""

    tmp: Path
    ckpt: Path          # a small SAMGPT checkpoint
    wide: Path          # the same model, hidden=32 instead of 16
    mm: Path            # a small multimodal_vit checkpoint
    data: Optional[Path]
    monkeypatch: pytest.MonkeyPatch


@dataclass
class Case:
    kind: str
    name: str
    setup: Callable[[Ctx], Tuple[List[str], Path]]   # -> (argv, the output that must not appear)
    error: Optional[Type[GraphFMError]]              # None: refused by argument parsing
    fragments: Tuple[str, ...]                       # problem and fix, in the message
    xfail: str = ""                                  # why it still fails (a fix outside this suite's files)


# ------------------------------------------------------------------------------ helpers
def _npz(ctx: Ctx, **arrays) -> str:
    path = ctx.tmp / "g.npz"
    np.savez(path, **arrays)
    return str(path)


def _good(n: int = 6, f: int = 3) -> dict:
    ei = np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    return dict(edge_index=ei, x=np.random.default_rng(0).random((n, f)).astype(np.float32),
                y=np.array([0, 1, 0, 1, 0, 1]))


def _embed(path: str, ctx: Ctx, *extra: str) -> Tuple[List[str], Path]:
    out = ctx.tmp / "out" / "emb.npy"
    return ["embed", "--checkpoint", str(ctx.ckpt), "--dataset", path, "--out", str(out), *extra], out


def _graph(**change):
    def setup(ctx: Ctx):
        arrays = {**_good(), **change}
        return _embed(_npz(ctx, **{k: v for k, v in arrays.items() if v is not None}), ctx)
    return setup


def _file(name: str, content: bytes):
    def setup(ctx: Ctx):
        path = ctx.tmp / name
        path.write_bytes(content)
        return _embed(str(path), ctx)
    return setup


def _pt(obj):
    def setup(ctx: Ctx):
        path = ctx.tmp / "g.pt"
        torch.save(obj, path)
        return _embed(str(path), ctx)
    return setup


def _ckpt(edit: Callable[[Path, Ctx], None], command: str = "embed"):
    def setup(ctx: Ctx):
        ck = ctx.tmp / "ck"
        shutil.copytree(ctx.ckpt, ck)
        edit(ck, ctx)
        out = ctx.tmp / "out.npy"
        return ["embed", "--checkpoint", str(ck), "--dataset", "synthetic-3", "--out", str(out)], out
    return setup


def _config(text: Optional[str] = None, raw: Optional[bytes] = None, sets: Tuple[str, ...] = (),
            flags: Tuple[str, ...] = ()):
    def setup(ctx: Ctx):
        cfg = ctx.tmp / "exp.yaml"
        if raw is not None:
            cfg.write_bytes(raw)
        elif text is not None:
            cfg.write_text(text)
        else:
            cfg = Path(DEMO)
        out = ctx.tmp / "run"
        argv = ["pretrain", "--config", str(cfg), "--out", str(out), *flags]
        for s in sets:
            argv += ["--set", s]
        return argv, out
    return setup


def _adapt(*flags: str):
    def setup(ctx: Ctx):
        out = ctx.tmp / "res.json"
        return ["adapt", "--checkpoint", str(ctx.ckpt), "--target", "synthetic-3", "--out", str(out), *flags], out
    return setup


def _copy_raw(ctx: Ctx, *folders: str) -> Path:
    if ctx.data is None:
        pytest.skip("offline datasets not available")
    root = ctx.tmp / "root"
    for folder in folders:
        shutil.copytree(ctx.data / folder, root / folder, copy_function=shutil.copyfile)
    return root


def _on_root(dataset: str, folder: str, edit: Callable[[Path, Ctx], None]):
    def setup(ctx: Ctx):
        root = _copy_raw(ctx, folder)
        edit(root, ctx)
        argv, out = _embed(dataset, ctx, "--data-root", str(root))
        return argv, out
    return setup


def _read_only(root: Path, ctx: Ctx) -> None:
    for dirpath, dirs, _ in os.walk(root):
        os.chmod(dirpath, 0o555)
    if os.geteuid() == 0:  # root ignores permission bits: make PyG's mkdir fail as it would for a user
        from torch_geometric.io import fs

        original = fs.makedirs

        def makedirs(path, exist_ok=True):
            if str(path).startswith(str(root)):
                raise PermissionError(13, "Permission denied", str(path))
            return original(path, exist_ok=exist_ok)

        ctx.monkeypatch.setattr(fs, "makedirs", makedirs)


def _flip_byte(rel: str, offset: int = 100):
    def edit(root: Path, ctx: Ctx) -> None:
        path = root / rel
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
    return edit


def _write_cfg(text: str):
    return lambda ck, ctx: (ck / "config.yaml").write_text(text)


_BASE = ("data: {name: graph_domains, datasets: [synthetic-0]}\nmodel: {name: samgpt, hidden: 8}\n"
         "objective: {name: graph_contrastive}\n")

# ------------------------------------------------------------------------------ the cases
CASES = [
    # graphs (a user's .npz given to `graphfm embed`)
    Case("graph", "edge-out-of-range", _graph(edge_index=np.array([[0, 1], [1, 9]])), DataError,
         ("point outside", "re-index")),
    Case("graph", "negative-edge", _graph(edge_index=np.array([[0, -1], [1, 2]])), DataError,
         ("negative node indices", "re-index")),
    Case("graph", "nan-features", _graph(x=np.full((6, 3), np.nan, dtype=np.float32)), DataError,
         ("NaN or Inf", "impute")),
    Case("graph", "inf-feature", _graph(x=np.array([[1.0, np.inf, 0]] * 6, dtype=np.float32)), DataError,
         ("NaN or Inf", "clean")),
    Case("graph", "float-edge-index", _graph(edge_index=np.array([[0.0, 1.0], [1.0, 2.0]])), DataError,
         ("must hold integers", ".long()")),
    Case("graph", "edge-index-3-rows", _graph(edge_index=np.zeros((3, 4), dtype=np.int64)), DataError,
         ("shape [2, E]", "transpose")),
    Case("graph", "x-one-dimensional", _graph(x=np.ones(6, dtype=np.float32)), DataError,
         ("2-D tensor", "reshape")),
    Case("graph", "no-edge-index", _graph(edge_index=None), DataError, ("no 'edge_index'", "expected a .npz")),
    # labels
    Case("labels", "too-few-labels", _graph(y=np.array([0, 1])), DataError, ("y has 2 entries", "one label per node")),
    Case("labels", "label-below-minus-one", _graph(y=np.array([0, 1, -5, 1, 0, 1])), DataError,
         ("out of range", "-1 for unlabelled")),
    Case("labels", "float-labels", _graph(y=np.array([0.5, 1, 0, 1, 0, 1])), DataError, ("int64", "y.long()")),
    Case("labels", "graph-set-two-labels", _pt([dict(edge_index=torch.tensor([[0], [1]]), x=torch.ones(2, 3),
                                                     y=torch.tensor([0, 1]))]), DataError,
         ("but 1 are expected", "one label per graph")),
    # user files
    Case("user file", "npz-garbage", _file("g.npz", b"not a zip archive at all"), DataError,
         ("cannot read", "expected a .npz")),
    Case("user file", "pt-garbage", _file("g.pt", b"\x00\x01garbage" * 10), DataError,
         ("cannot read", "corrupt")),
    Case("user file", "missing-file", lambda ctx: _embed(str(ctx.tmp / "nope.npz"), ctx), DataError,
         ("does not exist", "check the path")),
    Case("user file", "pt-holds-a-string", _pt("hello"), DataError, ("holds a str", "expected a .npz")),
    Case("user file", "npz-object-array", lambda ctx: _embed(_npz(ctx, edge_index=np.array([[0], [1]]),
                                                                  x=np.array([None, "a"], dtype=object)), ctx),
         DataError, ("cannot read", "corrupt or not a numpy archive")),
    Case("user file", "npz-string-features", _graph(x=np.array([["a", "b"]] * 6)), DataError,
         ("not a numeric array", "int/float")),
    Case("user file", "npz-empty", lambda ctx: _embed(_npz(ctx), ctx), DataError, ("no 'edge_index'", "expected")),
    Case("user file", "ids-not-reindexed", _graph(x=None, y=None, edge_index=np.array([[0, 10**9], [1, 2]])),
         DataError, ("implies", "re-indexed")),
    Case("user file", "pt-sparse-x", _pt(dict(edge_index=torch.tensor([[0], [1]]),
                                              x=torch.eye(2).to_sparse())), DataError, ("sparse", "to_dense")),
    # checkpoints
    Case("checkpoint", "truncated-safetensors",
         _ckpt(lambda ck, ctx: (ck / "model.safetensors").write_bytes((ck / "model.safetensors").read_bytes()[:50])),
         CheckpointError, ("model.safetensors", "truncated", "re-run pretraining")),
    Case("checkpoint", "empty-safetensors", _ckpt(lambda ck, ctx: (ck / "model.safetensors").write_bytes(b"")),
         CheckpointError, ("model.safetensors", "copy it again")),
    Case("checkpoint", "missing-config", _ckpt(lambda ck, ctx: (ck / "config.yaml").unlink()), CheckpointError,
         ("has no config.yaml", "re-run pretraining")),
    Case("checkpoint", "missing-weights", _ckpt(lambda ck, ctx: (ck / "model.safetensors").unlink()),
         CheckpointError, ("has no model.safetensors", "re-run pretraining")),
    Case("checkpoint", "corrupt-config-yaml", _ckpt(_write_cfg("model: [samgpt\n")), CheckpointError,
         ("config.yaml", "not valid YAML", "copy the checkpoint again")),
    Case("checkpoint", "binary-config", _ckpt(lambda ck, ctx: (ck / "config.yaml").write_bytes(b"\xff\xfe\x00\x81")),
         CheckpointError, ("config.yaml", "re-run pretraining")),
    Case("checkpoint", "config-without-model", _ckpt(_write_cfg("kwargs: {}\n")), CheckpointError,
         ("does not name a model", "--out folder")),
    Case("checkpoint", "unknown-model-name", _ckpt(_write_cfg("model: samgtp\nkwargs: {}\n")), CheckpointError,
         ("samgtp", "re-run pretraining")),
    Case("checkpoint", "unknown-constructor-arg",
         _ckpt(lambda ck, ctx: (ck / "config.yaml").write_text((ck / "config.yaml").read_text().replace(
             "kwargs:", "kwargs:\n  hiddn: 3", 1))), CheckpointError, ("cannot be built", "re-run pretraining")),
    Case("checkpoint", "wrong-width",
         _ckpt(lambda ck, ctx: shutil.copy(ctx.wide / "model.safetensors", ck / "model.safetensors")),
         CheckpointError, ("do not load", "different runs or widths")),
    Case("checkpoint", "wrong-model-kind",
         _ckpt(lambda ck, ctx: shutil.copy(ctx.mm / "model.safetensors", ck / "model.safetensors")),
         CheckpointError, ("do not load", "re-run pretraining")),
    Case("checkpoint", "multimodal-for-graph-adapt",
         lambda ctx: (["adapt", "--checkpoint", str(ctx.mm), "--target", "synthetic-3", "--out",
                       str(ctx.tmp / "r.json")], ctx.tmp / "r.json"), GraphFMError,
         ("embeds items, not graphs", "--task item")),
    Case("checkpoint", "multimodal-for-graph-embed",
         lambda ctx: (["embed", "--checkpoint", str(ctx.mm), "--dataset", "synthetic-3", "--out",
                       str(ctx.tmp / "e.npy")], ctx.tmp / "e.npy"), GraphFMError,
         ("unknown multimodal dataset", "use one of")),
    Case("checkpoint", "path-is-a-file",
         lambda ctx: (["embed", "--checkpoint", str(ctx.ckpt / "config.yaml"), "--dataset", "synthetic-3",
                       "--out", str(ctx.tmp / "o.npy")], ctx.tmp / "o.npy"), CheckpointError,
         ("is a file", "pass the folder")),
    Case("checkpoint", "missing-directory",
         lambda ctx: (["embed", "--checkpoint", str(ctx.tmp / "none"), "--dataset", "synthetic-3",
                       "--out", str(ctx.tmp / "o.npy")], ctx.tmp / "o.npy"), CheckpointError,
         ("does not exist", "graphfm pretrain")),
    # configs (`graphfm pretrain`)
    Case("config", "unknown-section", _config(_BASE + "trainr: {max_steps: 1}\n"), ConfigError,
         ("trainr", "valid sections")),
    Case("config", "unknown-trainer-key", _config(_BASE + "trainer: {max_step: 1}\n"), ConfigError,
         ("max_step", "valid keys")),
    Case("config", "wrong-type", _config(_BASE + "trainer: {max_steps: ten}\n"), ConfigError,
         ("max_steps", "expected int")),
    Case("config", "bad-yaml", _config("data: [unclosed\n"), ConfigError, ("not valid YAML", "fix the syntax")),
    Case("config", "binary-file", _config(raw=b"\xff\xfe\x00garbage\x81"), ConfigError, ("UTF-8", "YAML text")),
    Case("config", "top-level-list", _config("- a\n- b\n"), ConfigError, ("mapping of sections",)),
    Case("config", "section-not-mapping", _config("data: Cora\nmodel: {name: samgpt}\nobjective: {name: x}\n"),
         ConfigError, ("'data' must be a mapping", "'name' key")),
    Case("config", "negative-steps", _config(sets=("trainer.max_steps=-1",)), ConfigError,
         ("max_steps", ">= 0")),
    Case("config", "bad-seed", _config(sets=("seed=abc",)), ConfigError, ("seed", "non-negative integer")),
    Case("config", "bad-precision", _config(sets=("trainer.precision=fp8",)), ConfigError,
         ("precision", "valid:")),
    Case("config", "override-without-equals", _config(sets=("trainer.max_steps",)), ConfigError,
         ("must look like", "trainer.max_steps=50")),
    Case("config", "override-wrong-type", _config(sets=("trainer.lr=fast",)), ConfigError, ("lr", "expected float")),
    Case("config", "override-into-value", _config(sets=("name.x=1",)), ConfigError, ("not a section",)),
    Case("config", "override-empty-key", _config(sets=("trainer..lr=1",)), ConfigError, ("empty key", "section.key")),
    Case("config", "unknown-model-kwarg", _config(sets=("model.hiddn=3",)), ConfigError, ("hiddn", "valid keys")),
    Case("config", "unknown-objective", _config(sets=("objective.name=nope",)), ConfigError,
         ("unknown objective", "graph_contrastive")),
    Case("config", "resume-without-state", _config(sets=("trainer.max_steps=1",), flags=("--resume",)), CheckpointError,
         ("cannot resume", "without --resume")),
    # CLI flags
    Case("cli flag", "zero-shots", _adapt("--shots", "0"), None, ("--shots", ">= 1")),
    Case("cli flag", "text-tasks", _adapt("--tasks", "many"), None, ("--tasks", "whole number")),
    Case("cli flag", "bad-task-choice", _adapt("--task", "edge"), None, ("invalid choice", "--help")),
    Case("cli flag", "unknown-flag", _adapt("--shotz", "1"), None, ("unrecognized", "--help")),
    Case("cli flag", "missing-out", lambda ctx: (["embed", "--checkpoint", str(ctx.ckpt), "--dataset", "Cora"],
                                                 ctx.tmp / "x"), None, ("--out", "required")),
    Case("cli flag", "out-is-directory", lambda ctx: (ctx.tmp.joinpath("d").mkdir() or _embed("synthetic-3", ctx)[0][:-1]
                                                      + [str(ctx.tmp / "d")], ctx.tmp / "d" / "emb.npy"),
         GraphFMError, ("is a directory", "file path")),
    Case("cli flag", "out-parent-is-file", lambda ctx: (ctx.tmp.joinpath("f").write_text("x") and
                                                        ["embed", "--checkpoint", str(ctx.ckpt), "--dataset",
                                                         "synthetic-3", "--out", str(ctx.tmp / "f" / "e.npy")],
                                                        ctx.tmp / "f" / "e.npy"),
         GraphFMError, ("is a file, not a folder", "another path")),
    Case("cli flag", "pretrain-out-is-file", lambda ctx: (ctx.tmp.joinpath("run").write_text("x") and
                                                          ["pretrain", "--config", DEMO, "--out", str(ctx.tmp / "run")],
                                                          ctx.tmp / "run" / "model.safetensors"),
         GraphFMError, ("is a file", "folder path")),
    Case("cli flag", "unknown-benchmark", lambda ctx: (["bench", "nosuch", "--out", str(ctx.tmp / "b")],
                                                       ctx.tmp / "b"), ConfigError, ("nosuch", "samgpt")),
    # data roots
    Case("data root", "missing-root", lambda ctx: _embed("Cora", ctx, "--data-root", str(ctx.tmp / "nowhere")),
         DataError, ("does not exist", "cp -r ../shared/datasets")),
    Case("data root", "empty-root", lambda ctx: (ctx.tmp.joinpath("empty").mkdir() or
                                                 _embed("Cora", ctx, "--data-root", str(ctx.tmp / "empty"))),
         DataError, ("is missing", "graphfm never downloads")),
    Case("data root", "root-is-a-file", lambda ctx: (ctx.tmp.joinpath("f").write_text("x") and
                                                     _embed("MUTAG", ctx, "--data-root", str(ctx.tmp / "f"))),
         DataError, ("not a folder", "--data-root")),
    Case("data root", "read-only-planetoid", _on_root("Cora", "planetoid/Cora/raw", _read_only), DataError,
         ("processed/", "must be writable")),
    Case("data root", "read-only-tu", _on_root("MUTAG", "tu/MUTAG/raw", _read_only), DataError,
         ("processed/", "writable directory")),
    Case("data root", "unknown-dataset", lambda ctx: _embed("Coraa", ctx), DataError, ("unknown dataset", "Cora")),
    # raw files with a wrong checksum
    Case("checksum", "planetoid-byte-flipped", _on_root("Cora", "planetoid/Cora/raw",
                                                        _flip_byte("planetoid/Cora/raw/ind.cora.y")), DataError,
         ("ind.cora.y", "does not match the manifest", "Replace it")),
    Case("checksum", "tu-label-changed", _on_root("MUTAG", "tu/MUTAG/raw",
                                                  _flip_byte("tu/MUTAG/raw/MUTAG_graph_labels.txt", 0)), DataError,
         ("MUTAG_graph_labels.txt", "sha256", "graphfm data verify")),
    Case("checksum", "amazon-truncated", _on_root("Photo", "amazon/Photo/raw", lambda root, ctx: (
        root / "amazon/Photo/raw/amazon_electronics_photo.npz").write_bytes(b"PK\x03\x04")), DataError,
         ("amazon_electronics_photo.npz", "bytes, expected", "copy it again")),
]


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Tuple[Path, Path, Path]:
    from types import SimpleNamespace

    from graphfm.data import synthetic_domain
    from graphfm.models.samgpt import SAMGPT
    from multimodal.model import MultimodalViT

    graphs = [synthetic_domain(k) for k in (0, 1)]
    dm = SimpleNamespace(graphs=graphs, spec={"domains": [g.domain for g in graphs],
                                              "in_dims": {g.domain: g.num_features for g in graphs}})
    base = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    SAMGPT.from_datamodule(dm, hidden=16, align_dim=8, num_layers=1).save_pretrained(base / "samgpt")
    SAMGPT.from_datamodule(dm, hidden=32, align_dim=8, num_layers=1).save_pretrained(base / "wide")
    MultimodalViT(modalities={"rgb": {"kind": "patch2d", "channels": 1, "image_size": 8, "patch_size": 4}},
                  dim=16, depth=1, heads=2).save_pretrained(base / "mm")
    return base / "samgpt", base / "wide", base / "mm"


@pytest.fixture
def ctx(tmp_path, checkpoints, monkeypatch, request) -> Ctx:
    data = None
    source = Path(os.environ.get("GRAPHFM_DATA_SOURCE") or Path(__file__).resolve().parents[2] / ".." / "shared"
                  / "datasets")
    if source.is_dir():
        data = source.resolve()   # only read (copied per case), never written
    monkeypatch.setenv("GRAPHFM_DATA", str(tmp_path / "default-root"))
    ckpt, wide, mm = checkpoints
    return Ctx(tmp_path, ckpt, wide, mm, data, monkeypatch)


def _leftovers(out: Path) -> List[str]:
    found = [str(out)] if out.exists() else []
    parent = out.parent
    if parent.is_dir():
        found += [p.name for p in parent.iterdir() if p.name.endswith(".tmp")]
    return found


def test_at_least_three_cases_per_kind():
    kinds = {}
    for case in CASES:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    assert len(CASES) >= 40 and min(kinds.values()) >= 3, kinds
    assert {"graph", "labels", "user file", "checkpoint", "config", "cli flag", "data root", "checksum"} <= set(kinds)


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.kind.replace(' ', '-')}:{c.name}", marks=[
    pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else []) for c in CASES])
def test_bad_input(case: Case, ctx: Ctx, capsys: pytest.CaptureFixture) -> None:
    argv, out = case.setup(ctx)
    if case.error is not None:
        with pytest.raises(GraphFMError) as info:
            main(["--debug", *argv])
        assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
        capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    for fragment in case.fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert not _leftovers(out), _leftovers(out)


SUBPROCESS = ("truncated-safetensors", "edge-out-of-range", "zero-shots")


@pytest.mark.parametrize("name", SUBPROCESS)
def test_bad_input_in_a_real_process(name: str, ctx: Ctx) -> None:
    """The same contract from a real ``graphfm`` process (a representative few)."""
    import subprocess
    import sys

    case = next(c for c in CASES if c.name == name)
    argv, out = case.setup(ctx)
    proc = subprocess.run([sys.executable, "-m", "graphfm.cli", *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "GRAPHFM_DATA": str(ctx.tmp / "default-root")})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert all(f in lines[0] for f in case.fragments) and not _leftovers(out)

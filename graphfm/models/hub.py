"""Hugging Face Hub conventions for graphfm checkpoints.

A checkpoint is a folder with ``config.yaml`` + ``model.safetensors`` (DESIGN.md) and a
model card ``README.md`` (Hub metadata, the config, the source domains, steps, final
losses when known, the graphfm version). The same folder is what a Hub model repo holds,
so:

* :func:`resolve_checkpoint` turns a local folder *or* a Hub repo id (``owner/name``,
  optionally ``owner/name@revision``) into a local folder, through the Hugging Face
  cache (``$HF_HUB_CACHE``); with ``HF_HUB_OFFLINE=1`` it never touches the network and
  works once the repo is cached;
* :func:`push_to_hub` uploads a checkpoint with :class:`huggingface_hub.HfApi`;
* :func:`write_model_card` writes the ``README.md``.

Example::

    model = PretrainedModel.from_pretrained("my-org/samgpt-cora")   # Hub id or folder
    model.push_to_hub("my-org/samgpt-cora")                           # config + weights + card
"""
from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from graphfm.errors import CheckpointError
from graphfm.io import write_text

__all__ = ["resolve_checkpoint", "push_to_hub", "write_model_card", "model_card", "is_repo_id"]

CARD_FILE = "README.md"
CHECKPOINT_FILES = ("config.yaml", "model.safetensors", CARD_FILE)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}(@[\w./-]+)?$")
_TRUE = ("1", "true", "yes", "on")


def is_repo_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Hub repo id (``owner/name[@revision]``)."""
    return bool(_REPO_ID.match(str(text))) and not str(text).startswith(("./", "../"))


def resolve_checkpoint(name_or_path: Union[str, Path], revision: Optional[str] = None,
                       cache_dir: Optional[Union[str, Path]] = None,
                       local_files_only: Optional[bool] = None) -> Path:
    """The local folder of a checkpoint given as a folder or a Hub repo id.

    An existing folder is returned as is. Anything else shaped like ``owner/name`` (or
    ``owner/name@revision``) is fetched with :func:`huggingface_hub.snapshot_download`
    into the Hugging Face cache, or read from it.

    Args:
        name_or_path (str or path): A checkpoint folder or a Hub repo id.
        revision (str, optional): Branch, tag or commit (default: ``main``, or the
            ``@revision`` suffix).
        cache_dir (str or path, optional): Hub cache. (default: ``$HF_HUB_CACHE``, else
            the Hugging Face default)
        local_files_only (bool, optional): Only use the cache. (default: ``$HF_HUB_OFFLINE``)

    Raises:
        CheckpointError: the folder does not exist and the repo id cannot be resolved.
    """
    path = Path(name_or_path).expanduser()
    text = str(name_or_path)
    if path.exists() or not is_repo_id(text):
        return path
    repo_id, _, suffix = text.partition("@")
    revision = revision or suffix or None
    from huggingface_hub import constants, snapshot_download

    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)
    cache_dir = cache_dir or os.environ.get("HF_HUB_CACHE") or None

    from graphfm import __version__

    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                   allow_patterns=list(CHECKPOINT_FILES), library_name="graphfm",
                                   library_version=__version__)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many types (offline, 404, auth, ...)
        hint = ("it is not in the Hugging Face cache and HF_HUB_OFFLINE is set" if local_files_only
                else "the Hub could not be reached or has no such repo")
        raise CheckpointError(
            f"checkpoint directory '{text}' does not exist, and as a Hugging Face Hub repo id it could not be "
            f"resolved: {hint} ({type(exc).__name__}). Pass the --out folder of 'graphfm pretrain', or a repo id "
            "that is cached (HF_HUB_CACHE) or reachable") from None
    return Path(folder)


# ----------------------------------------------------------------------------- model card
def _training_info(run_dir: Path) -> Dict[str, Any]:
    """Source domains, steps and final losses recorded by ``graphfm pretrain`` in ``run_dir``."""
    info: Dict[str, Any] = {}
    experiment = run_dir / "experiment.yaml"
    if experiment.is_file():
        try:
            exp = yaml.safe_load(experiment.read_text()) or {}
        except yaml.YAMLError:
            exp = {}
        data = exp.get("data") or {}
        sources = data.get("datasets") or data.get("sources") or data.get("dataset")
        if sources:
            info["domains"] = [str(s.get("name", s)) if isinstance(s, dict) else str(s)
                               for s in (sources if isinstance(sources, list) else [sources])]
        info["experiment"] = exp.get("name")
        info["max_steps"] = (exp.get("trainer") or {}).get("max_steps")
        info["objective"] = (exp.get("objective") or {}).get("name")
    metrics = run_dir / "logs" / "metrics.csv"
    if metrics.is_file():
        last: Dict[str, str] = {}
        steps: List[int] = []
        with open(metrics, newline="") as fh:
            for row in csv.DictReader(fh):
                last.update({k: v for k, v in row.items() if k and v not in (None, "")})
                if row.get("step"):
                    steps.append(int(float(row["step"])))
        if steps:
            info["steps"] = max(steps) + 1
        losses = {k: float(v) for k, v in last.items() if "loss" in k}
        if losses:
            info["final_losses"] = losses
    return info


def model_card(model: Any, run_dir: Optional[Union[str, Path]] = None, repo_id: Optional[str] = None) -> str:
    """The ``README.md`` text of a checkpoint of ``model`` (training facts read from ``run_dir``)."""
    from graphfm import __version__

    name = getattr(model, "model_name", "") or type(model).__name__
    kwargs = _plain_kwargs(model)
    info = _training_info(Path(run_dir)) if run_dir is not None else {}
    domains = info.get("domains") or kwargs.get("domains") or kwargs.get("sources")
    steps = info.get("steps", info.get("max_steps"))
    front = {"library_name": "graphfm", "tags": ["graphfm", name, "foundation-model"]}
    losses = info.get("final_losses")
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        f"# {info.get('experiment') or name} ({name}, graphfm)", "",
        f"A `{name}` checkpoint written by graphfm {__version__}: "
        "`config.yaml` (everything needed to rebuild the model) and `model.safetensors`.", "",
        "```python", "from graphfm.models import PretrainedModel", "",
        f"model = PretrainedModel.from_pretrained({(repo_id or 'PATH_OR_REPO_ID')!r})", "```", "",
        "## Training", "",
        f"- source domains: {', '.join(map(str, domains)) if domains else 'unknown'}",
        f"- objective: {info.get('objective') or 'unknown'}",
        f"- steps: {steps if steps is not None else 'unknown'}",
        "- final losses: " + (", ".join(f"{k} {v:.4g}" for k, v in sorted(losses.items())) if losses else "unknown"),
        f"- graphfm version: {__version__}", "",
        "## Config", "", "```yaml",
        yaml.safe_dump({"model": name, "kwargs": kwargs}, sort_keys=False).strip(), "```", "",
    ]
    return "\n".join(lines)


def write_model_card(directory: Union[str, Path], model: Any, repo_id: Optional[str] = None) -> Path:
    """Write ``directory/README.md`` for ``model`` (training facts from the same folder)."""
    directory = Path(directory)
    write_text(directory / CARD_FILE, model_card(model, run_dir=directory, repo_id=repo_id))
    return directory / CARD_FILE


def _plain_kwargs(model: Any) -> Dict[str, Any]:
    from graphfm.models.base import _plain

    return _plain(getattr(model, "init_kwargs", {}) or {})


# ----------------------------------------------------------------------------- upload
def push_to_hub(model: Any, repo_id: str, run_dir: Optional[Union[str, Path]] = None, token: Optional[str] = None,
                private: Optional[bool] = None, revision: Optional[str] = None,
                commit_message: str = "Upload graphfm checkpoint", endpoint: Optional[str] = None) -> str:
    """Upload ``model`` as ``config.yaml`` + ``model.safetensors`` + ``README.md`` to a Hub repo.

    The repo is created if needed. Training facts for the card come from ``run_dir``
    (the pretraining run folder) when given.

    Args:
        model: A :class:`~graphfm.models.PretrainedModel`.
        repo_id (str): ``owner/name``.
        run_dir (str or path, optional): Pretraining run folder for the model card.
        token (str, optional): Hub token. (default: the Hugging Face login / ``$HF_TOKEN``)
        private (bool, optional): Create the repo private.
        revision (str, optional): Branch to commit to.
        commit_message (str): Commit message.
        endpoint (str, optional): Hub URL. (default: ``$HF_ENDPOINT`` or huggingface.co)

    Returns:
        str: The URL of the commit.
    """
    from huggingface_hub import HfApi

    if not is_repo_id(repo_id) or "@" in repo_id:
        raise CheckpointError(f"'{repo_id}' is not a Hub repo id; use owner/name")
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    with tempfile.TemporaryDirectory(prefix="graphfm-push-") as tmp:
        model.save_pretrained(tmp)
        write_text(Path(tmp) / CARD_FILE, model_card(model, run_dir=run_dir, repo_id=repo_id))
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision, commit_message=commit_message,
                                 allow_patterns=list(CHECKPOINT_FILES))
    return str(getattr(info, "commit_url", info))

"""SAMGPT on text graphs for the text benchmark: pretrain on loaded text graphs, return the model.

:func:`pretrain_samgpt_text` runs the bundled ``samgpt/text`` config (SAMGPT with ``model.align:
text``: the node texts through a frozen MiniLM, centred per graph) through the engine on the text
graphs a fold of the benchmark gives, and returns the trained model, which offers
``embed(data) -> [N, H]`` and ``embed_texts(texts, data) -> [T, H]`` (class names for zero-shot and
label-aware few-shot). Its baseline is ``model.untrained_copy(seed)`` (same architecture and
encoder, weights drawn afresh). Every setting comes from the config (chosen without any target's
labels); the sources are written as text-graph files in ``out_dir/sources`` for the engine to load.

Example::

    sources = [load_graph(n) for n in ("CiteSeer-TAG", "FacebookPagePage-TAG", "Debian")]
    model = pretrain_samgpt_text(sources, "runs/fold-cora")
    target = load_graph("Cora-TAG")
    emb, names = model.embed(target), model.embed_texts(target.label_names, target)
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator, List, Optional

import torch

from graphfm.errors import DataError

__all__ = ["CONFIG", "pretrain_samgpt_text", "write_text_source"]

#: The bundled config this benchmark row pretrains with.
CONFIG = "samgpt/text"


def pretrain_samgpt_text(sources: list, out_dir: str, seed: int = 0, max_steps: Optional[int] = None,
                         cache_dir: Any = None, progress: bool = False) -> "Any":
    """Pretrain SAMGPT with text alignment on ``sources`` and return it in eval mode.

    Args:
        sources (list[Data]): Loaded text graphs (:func:`graphfm.data.load_graph`), each with
            ``text`` and ``edge_index``; their ``domain`` (else ``name``) names their tokens.
        out_dir (str): Working folder: ``sources/`` (the graphs as ``.pt`` text dicts) and ``run/``
            (the run: checkpoint, logs), replaced if it holds an earlier run.
        seed (int): Seed of the run. (default: ``0``)
        max_steps (int, optional): Optimisation steps. (default: ``None``: the config's)
        cache_dir (str, optional): Text encoder cache folder, also used by the returned model's
            ``embed`` / ``embed_texts``. (default: ``$GRAPHFM_CACHE``)
        progress (bool): Progress bars. (default: ``False``)

    Returns:
        SAMGPT: the trained model (eval mode; ``untrained_copy(seed)`` is its untrained twin).

    Raises:
        DataError: no source, a source without node texts, or two sources with one name.
    """
    from graphfm.config import load_yaml, resolve_config
    from graphfm.engine import pretrain
    from graphfm.models import PretrainedModel

    if not sources:
        raise DataError("pretrain_samgpt_text needs at least one source text graph")
    folder = Path(out_dir)
    files = _write_sources(sources, folder / "sources")
    cfg = load_yaml(resolve_config(CONFIG))
    cfg["seed"] = int(seed)
    cfg["data"]["datasets"] = [str(f) for f in files]
    cfg["trainer"]["progress"] = bool(progress)
    if max_steps is not None:
        cfg["trainer"]["max_steps"] = int(max_steps)
    with _feature_cache(cache_dir):
        pretrain(cfg, folder / "run", overwrite=True)     # the benchmark's own working folder
    model = PretrainedModel.from_pretrained(folder / "run").eval()
    model.text_cache_dir = None if cache_dir is None else str(cache_dir)
    return model


def _write_sources(sources: list, folder: Path) -> List[Path]:
    names = [_source_name(g, i) for i, g in enumerate(sources)]
    if len(set(names)) != len(names):
        raise DataError(f"two sources share a name ({names}); give every source graph its own domain name")
    folder.mkdir(parents=True, exist_ok=True)
    return [write_text_source(g, folder / f"{name}.pt") for g, name in zip(sources, names)]


def _source_name(graph: Any, index: int) -> str:
    name = str(getattr(graph, "domain", None) or getattr(graph, "name", None) or f"source{index}")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write_text_source(graph: Any, path: Path) -> Path:
    """Write ``graph`` as a ``.pt`` text dict (:mod:`graphfm.data.textgraph`) the engine loads by path.

    Texts of nodes whose ``text_mask`` is false are written empty (nodes without text). ``x`` is a
    one-column placeholder: text alignment never reads it, and it spares the loader the hashed bag
    of words of every text.
    """
    from graphfm.io import atomic_path

    texts = getattr(graph, "text", None)
    n = int(graph.num_nodes)
    if texts is None or len(texts) != n:
        raise DataError(f"source graph '{getattr(graph, 'name', 'graph')}' has no node texts (data.text, one per "
                        "node); SAMGPT with text alignment pretrains on text graphs")
    mask = getattr(graph, "text_mask", None)
    keep = [True] * n if mask is None else torch.as_tensor(mask, dtype=torch.bool).view(-1).tolist()
    obj = {"raw_texts": [str(t) if k else "" for t, k in zip(texts, keep)],
           "edge_index": graph.edge_index.long().cpu(), "x": torch.zeros(n, 1)}
    y = getattr(graph, "y", None)
    if y is not None and y.numel() == n:
        obj["y"] = y.long().view(-1).cpu()
        if getattr(graph, "label_names", None) is not None:
            obj["label_names"] = [str(s) for s in graph.label_names]
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


@contextlib.contextmanager
def _feature_cache(cache_dir: Any) -> Iterator[None]:
    """``$GRAPHFM_CACHE`` set to ``cache_dir`` for the run (the engine builds the model), then restored."""
    if cache_dir is None:
        yield
        return
    before = os.environ.get("GRAPHFM_CACHE")
    os.environ["GRAPHFM_CACHE"] = str(cache_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GRAPHFM_CACHE", None)
        else:
            os.environ["GRAPHFM_CACHE"] = before

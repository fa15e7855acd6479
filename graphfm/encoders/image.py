"""Image encoder: the vision tower of an open_clip model, never downloaded.

Weights come from a local checkpoint file the user gives (``weights=``); without one
the model is randomly initialised with a fixed seed, and a warning says so.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphfm.encoders.base import ENCODERS, Items, ModalityEncoder
from graphfm.errors import ConfigError, DataError

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@ENCODERS.register("image")
class ImageEncoder(ModalityEncoder):
    """Frozen open_clip image encoder (``model.encode_image``).

    Inputs are float tensors ``[N, C, H, W]`` / ``[N, H, W]`` with values in
    ``[0, 1]`` (uint8 is scaled), or a list of such images, numpy arrays or PIL
    images. Each image is resized (bilinear) to the model's input size, grayscale is
    repeated to three channels, and CLIP's mean/std normalisation is applied.

    Args:
        model (str): An open_clip architecture name (see ``open_clip.list_models()``).
            (default: ``"ViT-B-32"``)
        weights (str, optional): Path to a local checkpoint of that architecture;
            ``None`` means random initialisation (with a warning). (default: ``None``)
        image_size (int, optional): Override the model's input size (e.g. ``32`` for
            small images; position embeddings are sized for it). (default: ``None``)
        seed (int): Seed of the random initialisation. (default: ``0``)
        batch_size (int): Images per forward pass. (default: ``64``)
        device (str): Device that runs the model. (default: ``"cpu"``)
    """

    def __init__(self, model: str = "ViT-B-32", weights: Optional[str] = None, image_size: Optional[int] = None,
                 seed: int = 0, batch_size: int = 64, device: str = "cpu") -> None:
        import open_clip

        if model not in open_clip.list_models():
            raise ConfigError(f"unknown open_clip model '{model}'; valid names: see open_clip.list_models(), "
                              "e.g. ViT-B-32, RN50")
        if weights is not None and not Path(weights).expanduser().is_file():
            raise ConfigError(f"image encoder weights '{weights}' do not exist; pass a local open_clip checkpoint "
                              "file, or leave weights unset for a random initialisation")
        self.model_name, self.weights, self.image_size = model, weights, image_size
        self.seed, self.batch_size, self.device = int(seed), int(batch_size), device
        self._model: Optional[torch.nn.Module] = None

    # ------------------------------------------------------------------ identity
    @property
    def dim(self) -> int:
        return int(self._model_config()["embed_dim"])

    @property
    def encoder_id(self) -> str:
        if self.weights is None:
            source = f"random{self.seed}"
        else:
            path = Path(self.weights).expanduser()
            stat = path.stat()
            source = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
        return f"image:{self.model_name}:{source}:size{self.input_size}"

    @property
    def input_size(self) -> int:
        """Side of the square images the model takes."""
        if self.image_size is not None:
            return int(self.image_size)
        size = self._model_config()["vision_cfg"].get("image_size", 224)
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def _model_config(self) -> Dict[str, Any]:
        import open_clip

        return open_clip.get_model_config(self.model_name)

    def config(self) -> Dict[str, Any]:
        return {"name": self.kind, "model": self.model_name, "weights": self.weights,
                "image_size": self.image_size, "seed": self.seed, "batch_size": self.batch_size,
                "device": self.device}

    # ------------------------------------------------------------------ encoding
    def _ensure_loaded(self) -> torch.nn.Module:
        if self._model is None:
            import open_clip

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            if self.weights is None:
                warnings.warn(f"image encoder '{self.model_name}' has no weights file: it is randomly initialised "
                              f"(seed {self.seed}); pass weights=<local open_clip checkpoint> for pretrained features",
                              stacklevel=3)
            kwargs = dict(pretrained=self.weights, pretrained_image=False, pretrained_text=False,
                          force_image_size=self.image_size)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                try:
                    model = open_clip.create_model(self.model_name, **kwargs)
                except (RuntimeError, OSError, ValueError) as exc:
                    raise ConfigError(f"cannot build open_clip model '{self.model_name}' from "
                                      f"'{self.weights}': {str(exc).splitlines()[0]}") from None
            self._model = model.to(self.device).eval()
            for p in self._model.parameters():
                p.requires_grad_(False)
        return self._model

    def _encode(self, items: Items, progress: bool) -> Tensor:
        from tqdm.auto import tqdm

        model = self._ensure_loaded()
        out: List[Tensor] = []
        for start in tqdm(range(0, len(items), self.batch_size), desc=f"encoding images ({self.model_name})",
                          disable=not progress, unit="batch"):
            batch = self.preprocess(items[start:start + self.batch_size])
            out.append(model.encode_image(batch.to(self.device)).float().cpu())
        return torch.cat(out)

    def preprocess(self, images: Items) -> Tensor:
        """Images -> normalised float tensor ``[B, 3, S, S]`` at the model's input size ``S``."""
        if isinstance(images, Tensor):
            return self._normalise(images)
        return torch.cat([self._normalise(_to_chw(img).unsqueeze(0)) for img in images])

    def _normalise(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.size(1) not in (1, 3):
            raise DataError(f"images must be [N, C, H, W] with 1 or 3 channels (or [N, H, W]), got {tuple(x.shape)}")
        x = x.float() / 255.0 if not x.is_floating_point() else x.float()
        if x.size(1) == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.input_size
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(_CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_CLIP_STD).view(1, 3, 1, 1)
        return (x - mean) / std


def _to_chw(img: Any) -> Tensor:
    """One image (tensor, array or PIL) as a ``[C, H, W]`` tensor."""
    if isinstance(img, Tensor):
        t = img
    else:
        arr = np.asarray(img)
        t = torch.from_numpy(arr.copy())
        if t.dim() == 3 and t.size(-1) in (1, 3, 4):   # HWC from PIL / numpy
            t = t[..., :3].permute(2, 0, 1)
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if not t.is_floating_point():
        t = t.float() / 255.0
    return t

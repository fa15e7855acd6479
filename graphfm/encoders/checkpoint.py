"""Image encoder from a graphfm checkpoint: the encoder of a multimodal pretraining run.

Any run directory written by ``graphfm pretrain`` with a multimodal objective (MultiMAE,
`arXiv:2204.01678 <https://arxiv.org/abs/2204.01678>`_; M3I, BM-MAE, ...) holds a
:class:`~multimodal.model.MultimodalViT`; this encoder feeds images through one of its
2D patch adapters and returns the pooled embedding (:meth:`MultimodalViT.embed`), so
UniGraph2 (He et al., WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_)
can use it as a frozen image encoder::

    modalities:
      image: {encoder: {name: graphfm, checkpoint: runs/multimae}}

Images (``[N, C, H, W]`` / ``[N, H, W]`` in ``[0, 1]``, uint8 scaled, or lists of
arrays / PIL images) are resized bilinearly to the adapter's input size, as the
multimodal data sets resize theirs, and brought to its channel count (grey-scale
repeated, colour averaged).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from graphfm.encoders.base import ENCODERS, Items, ModalityEncoder
from graphfm.errors import ConfigError, DataError


@ENCODERS.register("graphfm")
class CheckpointImageEncoder(ModalityEncoder):
    """Frozen image encoder loaded from a ``graphfm pretrain`` run directory.

    Args:
        checkpoint (str): Run directory (``config.yaml`` + ``model.safetensors``) of a
            multimodal model.
        modality (str, optional): The model's image modality to feed (a ``patch2d``
            adapter that is not a class map). (default: the first such modality, e.g.
            ``rgb``)
        batch_size (int): Images per forward pass. (default: ``256``)
        device (str): Device that runs the model. (default: ``"cpu"``)
    """

    def __init__(self, checkpoint: Optional[str] = None, modality: Optional[str] = None, batch_size: int = 256,
                 device: str = "cpu") -> None:
        if not checkpoint:
            raise ConfigError("image encoder 'graphfm' needs checkpoint: <run dir>; write one with "
                              "`graphfm pretrain --config configs/multimodal/multimae.yaml --out runs/multimae` "
                              "(graphfm bench unigraph2 does this itself)")
        path = Path(checkpoint).expanduser()
        if not (path / "model.safetensors").is_file() or not (path / "config.yaml").is_file():
            raise ConfigError(f"image encoder checkpoint '{checkpoint}' is not a graphfm run directory "
                              "(config.yaml + model.safetensors); pass the --out folder of `graphfm pretrain "
                              "--config configs/multimodal/multimae.yaml`")
        self.checkpoint, self.batch_size, self.device = str(path), int(batch_size), device
        self._requested = modality
        self._model: Optional[torch.nn.Module] = None
        self._config = self._read_config()
        self.modality = self._pick_modality(modality)

    # ------------------------------------------------------------------ identity
    def _read_config(self) -> Dict[str, Any]:
        from graphfm.models.base import read_model_config

        config = read_model_config(self.checkpoint)
        mods = (config.get("kwargs") or {}).get("modalities")
        if not isinstance(mods, dict):
            raise ConfigError(f"checkpoint '{self.checkpoint}' holds a '{config.get('model')}' model, which has no "
                              "image modality; use a multimodal run (e.g. configs/multimodal/multimae.yaml)")
        return config

    def _pick_modality(self, modality: Optional[str]) -> str:
        mods = self._config["kwargs"]["modalities"]
        images = [n for n, s in mods.items()       # adapter specs name the adapter by "name" ("kind" before)
                  if s.get("name", s.get("kind")) == "patch2d" and not s.get("num_classes")]
        if modality is None:
            if not images:
                raise ConfigError(f"checkpoint '{self.checkpoint}' has no image modality (patch2d, not a class map) "
                                  f"among {sorted(mods)}; use a checkpoint trained on images")
            return images[0]
        if modality not in images:
            raise ConfigError(f"modality '{modality}' is not an image modality of checkpoint '{self.checkpoint}'; "
                              f"valid: {', '.join(images) or '(none)'}")
        return modality

    @property
    def spec(self) -> Dict[str, Any]:
        return dict(self._config["kwargs"]["modalities"][self.modality])

    @property
    def dim(self) -> int:
        return int(self._config["kwargs"].get("dim", 64))

    @property
    def encoder_id(self) -> str:
        h = hashlib.sha256()
        with open(Path(self.checkpoint) / "model.safetensors", "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return f"graphfm:{h.hexdigest()[:16]}:{self.modality}"

    def config(self) -> Dict[str, Any]:
        return {"name": self.kind, "checkpoint": self.checkpoint, "modality": self._requested,
                "batch_size": self.batch_size, "device": self.device}

    # ------------------------------------------------------------------ encoding
    def load(self) -> torch.nn.Module:
        """The frozen multimodal model of the checkpoint (loaded once)."""
        if self._model is None:
            from graphfm.models.base import PretrainedModel

            model = PretrainedModel.from_pretrained(self.checkpoint)
            self._model = model.to(self.device).eval()
            for p in self._model.parameters():
                p.requires_grad_(False)
        return self._model

    def preprocess(self, images: Items) -> Tensor:
        """Images -> float ``[B, C, S, S]`` in ``[0, 1]`` at the adapter's size and channels."""
        if isinstance(images, Tensor):
            x = images
        else:
            x = torch.stack([_as_tensor(img) for img in images])
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.size(1) not in (1, 3, 4):
            raise DataError(f"images must be [N, C, H, W] with 1 or 3 channels (or [N, H, W]), got {tuple(x.shape)}")
        x = x.float() / 255.0 if not x.is_floating_point() else x.float()
        x = x[:, :3]
        channels, size = int(self.spec.get("channels", 1)), int(self.spec.get("image_size", 16))
        if x.size(1) != channels:
            x = x.mean(1, keepdim=True).expand(-1, channels, -1, -1) if channels in (1, 3) else x
            if x.size(1) != channels:
                raise DataError(f"cannot feed {x.size(1)}-channel images to a {channels}-channel adapter")
        if tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x.clamp(0.0, 1.0).contiguous()

    def _encode(self, items: Items, progress: bool) -> Tensor:
        from tqdm.auto import tqdm

        model = self.load()
        out: List[Tensor] = []
        for start in tqdm(range(0, len(items), self.batch_size), desc=f"encoding images ({Path(self.checkpoint).name})",
                          disable=not progress, unit="batch"):
            batch = self.preprocess(items[start:start + self.batch_size]).to(self.device)
            out.append(model.embed({self.modality: batch}).float().cpu())
        return torch.cat(out)


def _as_tensor(img: Any) -> Tensor:
    import numpy as np

    t = img if isinstance(img, Tensor) else torch.from_numpy(np.asarray(img).copy())
    if t.dim() == 3 and t.size(-1) in (1, 3, 4) and t.size(0) not in (1, 3, 4):   # HWC
        t = t.permute(2, 0, 1)
    if t.dim() == 2:
        t = t.unsqueeze(0)
    return t.float() / 255.0 if not t.is_floating_point() else t.float()

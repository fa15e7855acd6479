"""The multimodal transformer encoder shared by MultiMAE, BM-MAE, M3I and UNITER.

Each modality goes through its input adapter (:mod:`multimodal.adapters`), gets a
learned modality embedding, and all tokens are concatenated behind a few learned
global tokens and encoded by one pre-norm transformer (:mod:`multimodal.vit`). The
encoder accepts *any subset* of its modalities: a missing modality simply contributes
no tokens (MultiMAE Sec. 3.1, BM-MAE Sec. 2), and text padding is masked out of
attention. UNITER's single-stream encoder is the same module with text + region
adapters (`arXiv:1909.11740 <https://arxiv.org/abs/1909.11740>`_).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from graphfm.errors import ConfigError, DataError
from graphfm.models.base import MODELS, PretrainedModel
from multimodal.adapters import InputAdapter, build_adapter
from multimodal.vit import Transformer, init_weights

Tokens = Tuple[Tensor, Optional[Tensor]]


@MODELS.register("multimodal_vit")
class MultimodalViT(PretrainedModel):
    r"""Multimodal ViT encoder with per-modality input adapters.

    Args:
        modalities (dict): Modality name -> adapter spec, e.g.
            ``{"rgb": {"name": "patch2d", "channels": 1, "image_size": 16, "patch_size": 4}}``
            (adapters: ``patch2d``, ``patch3d``, ``text``, ``regions``). Filled from the data
            module's ``spec`` when omitted in YAML.
        dim (int): Token width. (default: ``64``)
        depth (int): Transformer blocks. (default: ``4``)
        heads (int): Attention heads. (default: ``4``)
        mlp_ratio (float): MLP ratio. (default: ``4.0``)
        num_global_tokens (int): Learned global tokens prepended to the sequence (the
            first one is UNITER's ``[CLS]``). (default: ``1``)
        pool (str): ``"mean"`` (mean of all valid output tokens) or ``"cls"`` (first
            global token) for :meth:`embed`. (default: ``"mean"``)
        data_options (dict): Options of :func:`multimodal.data.load_multimodal` the model
            was trained with (image size, ...), reused by :meth:`load_data`. (default: ``{}``)
    """

    def __init__(self, modalities: Dict[str, Any], dim: int = 64, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 4.0, num_global_tokens: int = 1, pool: str = "mean",
                 data_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        if not isinstance(modalities, dict) or not modalities:
            raise ConfigError("model.modalities must map at least one modality name to an adapter spec, "
                              "e.g. {rgb: {name: patch2d, image_size: 16, patch_size: 4}}")
        if pool not in ("mean", "cls"):
            raise ConfigError(f"model.pool must be 'mean' or 'cls', got {pool!r}")
        for name in modalities:
            if not str(name).isidentifier():
                raise ConfigError(f"modality name {name!r} must be a Python identifier (letters, digits, _)")
        self.dim, self.pool, self.num_global_tokens = dim, pool, num_global_tokens
        self.data_options = dict(data_options or {})
        self.adapters = nn.ModuleDict({n: build_adapter(n, s, dim) for n, s in modalities.items()})
        self.modality_embed = nn.ParameterDict({n: nn.Parameter(torch.zeros(1, 1, dim)) for n in modalities})
        self.global_tokens = nn.Parameter(torch.zeros(1, num_global_tokens, dim))
        self.encoder = Transformer(dim, depth, heads, mlp_ratio)
        self.apply(init_weights)
        for p in [self.global_tokens, *self.modality_embed.values()]:
            nn.init.normal_(p, std=0.02)

    # ------------------------------------------------------------------ inputs
    @property
    def modality_names(self) -> List[str]:
        return list(self.adapters.keys())

    def adapter(self, name: str) -> InputAdapter:
        """The input adapter of modality ``name`` (ConfigError if the model has none)."""
        if name not in self.adapters:
            raise ConfigError(f"unknown modality '{name}'; this model's modalities are: "
                              f"{', '.join(self.modality_names)}")
        return self.adapters[name]

    def select_inputs(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        """The entries of a data batch that are modalities of this model (others are targets/labels)."""
        inputs = {k: v for k, v in batch.items() if k in self.adapters}
        if not inputs:
            raise DataError(f"the batch holds none of this model's modalities ({', '.join(self.modality_names)}); "
                            f"its keys are: {', '.join(map(str, batch))}")
        return inputs

    def tokenize(self, inputs: Mapping[str, Tensor]) -> Dict[str, Tokens]:
        """Adapter tokens per modality: ``{name: (tokens [B, L_m, D], valid [B, L_m] or None)}``.

        Raises:
            ConfigError: for a modality name the model does not have.
            DataError: for an input of the wrong shape/dtype or mismatched batch sizes.
        """
        self.check_inputs(inputs)
        out = {}
        for name, x in inputs.items():
            tokens, valid = self.adapters[name](x)
            out[name] = (tokens + self.modality_embed[name], valid)
        return out

    def check_inputs(self, inputs: Mapping[str, Tensor]) -> None:
        """Validate modality names, shapes and batch sizes (ConfigError / DataError with a fix)."""
        if not inputs:
            raise DataError(f"no modality given; pass at least one of: {', '.join(self.modality_names)}")
        sizes = set()
        for name, x in inputs.items():
            self.adapter(name).check(x, name)
            sizes.add(x.shape[0])
        if len(sizes) > 1:
            raise DataError(f"modalities have different batch sizes {sorted(sizes)}; give one row per item in each")

    # ------------------------------------------------------------------ encoder
    def encode(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """Prepend global tokens and run the transformer.

        Args:
            x (Tensor): ``[B, L, D]`` tokens (any modalities, any subset, already masked).
            valid (Tensor, optional): ``[B, L]`` bool key mask.

        Returns:
            Tensor: ``[B, G + L, D]`` with ``G = num_global_tokens``.
        """
        g = self.global_tokens.expand(x.shape[0], -1, -1).to(x.dtype)
        if valid is not None:
            valid = torch.cat([valid.new_ones(x.shape[0], g.shape[1]), valid], dim=1)
        return self.encoder(torch.cat([g, x], dim=1), valid)

    def concat(self, tokens: Mapping[str, Tokens]) -> Tuple[Tensor, Optional[Tensor]]:
        """Concatenate ``{name: (tokens, valid)}`` along the sequence -> ``([B, L, D], [B, L] or None)``."""
        xs = [t for t, _ in tokens.values()]
        if all(v is None for _, v in tokens.values()):
            return torch.cat(xs, dim=1), None
        valids = [torch.ones(t.shape[:2], dtype=torch.bool, device=t.device) if v is None else v
                  for t, v in tokens.values()]
        return torch.cat(xs, dim=1), torch.cat(valids, dim=1)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """Encode all tokens of the given modalities (any non-empty subset).

        Returns:
            tuple: ``(h [B, G + L, D], valid [B, G + L] bool)``.
        """
        x, valid = self.concat(self.tokenize(inputs))
        h = self.encode(x, valid)
        if valid is None:
            valid = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
        else:
            valid = torch.cat([valid.new_ones(h.shape[0], self.num_global_tokens), valid], dim=1)
        return h, valid

    def pool_tokens(self, h: Tensor, valid: Tensor) -> Tensor:
        """``[B, L, D]`` -> ``[B, D]`` by :attr:`pool`."""
        if self.pool == "cls":
            return h[:, 0]
        w = valid.to(h.dtype)[..., None]
        return (h * w).sum(1) / w.sum(1).clamp_min(1.0)

    def embed(self, data: Mapping[str, Any]) -> Tensor:
        """Pooled embeddings ``[B, D]`` of a batch dict (its non-modality keys are ignored)."""
        return self.pool_tokens(*self(self.select_inputs(data)))

    # ------------------------------------------------------------------ capabilities
    def load_data(self, source: Any, data_root: Any = None, arrays: bool = False) -> Any:
        """The multimodal dataset ``source`` (a :data:`multimodal.data.DATASETS` name such as ``digits``
        or ``phantoms``, or a folder of NIfTI subjects), built with the options this model was trained
        with (:attr:`data_options`). ``data_root`` and ``arrays`` are unused."""
        from multimodal.data import accepted_options, load_multimodal

        return load_multimodal(str(source), **accepted_options(str(source), self.data_options))

    def embed_loaded(self, data: Any, level: str = "node", modalities: Optional[List[str]] = None,
                     batch_size: int = 256) -> Tensor:
        """Embeddings ``[N, D]`` of a loaded multimodal dataset (row i = item i; ``level`` is ignored).

        Args:
            data (MultimodalData): What :meth:`load_data` returned.
            modalities (list[str], optional): Subset of modalities to use (default: all the
                dataset and the model share).
            batch_size (int): Items per forward pass. (default: ``256``)
        """
        keys = [m for m in (modalities or self.modality_names) if m in data.tensors and m in self.adapters]
        if not keys:
            raise DataError(f"the dataset has none of this model's modalities ({', '.join(self.modality_names)})")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        rows = []
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                batch = {k: data.tensors[k][start:start + batch_size].to(device) for k in keys}
                rows.append(self.embed(batch).float().cpu())
        self.train(was_training)
        return torch.cat(rows)

    def item_labels(self, data: Any, level: str = "node") -> Optional[Tensor]:
        """The items' ``label`` (``None`` for an unlabelled dataset)."""
        label = data.tensors.get("label")
        return None if label is None else label.view(-1).long()

    def adaptations(self, task: str) -> Dict[str, str]:
        """None for graph tasks: the items are what this model embeds (``--task item``)."""
        raise ConfigError(f"a {self.model_name} model embeds items, not graphs: use --task item (e.g. --target "
                          "digits)")

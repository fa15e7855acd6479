"""The interface every modality encoder implements, and the encoder registry.

An encoder turns the raw items of one modality (texts, images, feature rows) into
fixed-size float vectors ``[N, D]``. Encoders are *frozen*: UniGraph2
(He et al., WWW 2025, `arXiv:2502.00806 <https://arxiv.org/abs/2502.00806>`_) trains
on their outputs, which are computed once per dataset and cached on disk (see
:mod:`graphfm.encoders.cache`).

Example::

    enc = build_encoder({"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 128})
    feats = enc.encode(["a paper about graphs", "a paper about images"])   # [2, 384]
"""
from __future__ import annotations

import abc
import contextlib
from typing import Any, ClassVar, Dict, Iterator, Mapping, Sequence, Union

import torch
from torch import Tensor

from graphfm.registry import Registry

ENCODERS = Registry("encoder", group="graphfm.encoders", name_attr="kind")


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the torch CPU (and, once CUDA is in use, current device), NumPy and Python random
    states on exit. CUDA is not forked before it is initialised: that would initialise it, and
    ``fork_rng``'s default (every device) warns on multi-GPU machines."""
    import random

    import numpy as np

    py, npy = random.getstate(), np.random.get_state()
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)

Items = Union[Sequence[Any], Tensor]


class ModalityEncoder(abc.ABC):
    """Base class of the frozen modality encoders.

    ``kind`` is the registered name (``@ENCODERS.register(name)`` sets it). Subclasses implement :meth:`_encode`,
    :attr:`dim` and :meth:`config`, and describe everything that changes their
    output in :attr:`encoder_id` (the cache key uses it).
    """

    kind: ClassVar[str] = ""     # set by ENCODERS.register
    #: Whether outputs are worth caching on disk (false for pass-through encoders).
    cacheable: ClassVar[bool] = True

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Width ``D`` of the output vectors."""

    @property
    @abc.abstractmethod
    def encoder_id(self) -> str:
        """A stable string naming the encoder and every option that changes its output."""

    @abc.abstractmethod
    def config(self) -> Dict[str, Any]:
        """Plain (YAML-safe) arguments that rebuild this encoder with :func:`build_encoder`."""

    @abc.abstractmethod
    def _encode(self, items: Items, progress: bool) -> Tensor:
        """Encode ``items`` (none missing) to ``[N, D]``."""

    def encode(self, items: Items, progress: bool = True) -> Tensor:
        """Encode ``N`` items to a float32 tensor ``[N, D]`` (no gradients).

        Args:
            items: The raw items of this modality, none of them missing.
            progress (bool): Show a progress bar. (default: ``True``)
        """
        if len(items) == 0:
            return torch.zeros(0, self.dim)
        # Loading a model draws random initial weights before the real ones replace them. Encoding
        # happens only on a cache miss, so it must not move the global random state: else a seeded
        # run that encodes (cold cache) and one that reads the cache would diverge.
        with preserved_rng(), torch.inference_mode():
            out = self._encode(items, progress)
        out = out.detach().float().cpu().clone()
        if out.shape != (len(items), self.dim):
            raise RuntimeError(f"{self.encoder_id} returned shape {tuple(out.shape)} for {len(items)} items")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.encoder_id})"


def build_encoder(config: Union[str, Mapping[str, Any], ModalityEncoder]) -> ModalityEncoder:
    """Build an encoder from ``{"name": <registered name>, ...its arguments}`` (or a bare name)
    with :meth:`ENCODERS.build <graphfm.registry.Registry.build>`; an encoder passes through.

    Raises:
        ConfigError: for an unknown encoder name or argument (the message lists the valid ones).
    """
    if isinstance(config, ModalityEncoder):
        return config
    return ENCODERS.build(config)

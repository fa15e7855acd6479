"""Small name -> component registries, in the spirit of PyG's ``resolver.py``.

Example::

    MODELS = Registry("model")

    @MODELS.register("samgpt")
    class SAMGPT(nn.Module): ...

    MODELS.get("samgpt")         # -> SAMGPT
    MODELS.get("samgtp")         # ConfigError: unknown model 'samgtp'; valid: samgpt, ...

Components register with the decorator when their module is imported. There is one
way a registry gets filled: :data:`PROVIDERS` names, per registry kind, the modules
that register into it, and a registry imports them (once) the first time a lookup
misses or its names are listed. So ``MODELS.get("multimodal_vit")`` works whatever
the caller imported before: :meth:`PretrainedModel.from_pretrained`, ``graphfm adapt``,
``graphfm embed`` and the engine all find every component. A new component package
adds its module to :data:`PROVIDERS`.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Iterator, List, Tuple, TypeVar

from graphfm.errors import ConfigError

T = TypeVar("T")


#: Registry kind -> modules whose import registers that kind's components.
PROVIDERS: Dict[str, Tuple[str, ...]] = {
    "model": ("graphfm.models.samgpt", "graphfm.models.unigraph2", "multimodal.model"),
    "objective": ("graphfm.objectives.contrastive", "graphfm.objectives.unigraph2", "multimodal.objectives"),
    "datamodule": ("graphfm.engine.datamodules.graph", "graphfm.engine.datamodules.multimodal",
                   "graphfm.engine.datamodules.multimodal_graph"),
    "dataset": ("graphfm.data.loaders.pyg", "graphfm.data.loaders.musae", "graphfm.data.loaders.tag",
                "graphfm.data.loaders.debian", "graphfm.data.digits"),
    "encoder": ("graphfm.encoders.text", "graphfm.encoders.image", "graphfm.encoders.precomputed"),
    "benchmark": ("graphfm.bench.samgpt", "graphfm.bench.samgpt_curve", "graphfm.bench.unigraph2",
                  "graphfm.bench.multimodal", "graphfm.bench.scale"),
    "modality adapter": ("multimodal.adapters",),
    "multimodal dataset": ("multimodal.data",),
}


def load_providers(kind: str) -> None:
    """Import every module that registers components of ``kind`` (see :data:`PROVIDERS`)."""
    for module in PROVIDERS.get(kind, ()):
        importlib.import_module(module)


def load_all() -> None:
    """Import every component module of every registry."""
    for kind in PROVIDERS:
        load_providers(kind)


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_")


class Registry:
    """A mapping from names to classes or functions.

    Names are case-insensitive and ``-`` equals ``_``.

    Args:
        kind (str): What the registry holds, used in error messages (e.g. ``"model"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, Any] = {}
        self._loaded = False

    def load(self) -> None:
        """Import this registry's provider modules once (see :data:`PROVIDERS`)."""
        if not self._loaded:
            self._loaded = True  # set first: a provider may look names up while it is imported
            load_providers(self.kind)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``."""

        def decorator(obj: T) -> T:
            key = _normalise(name)
            if key in self._items and self._items[key] is not obj:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> Any:
        """Return the component registered under ``name``.

        Raises:
            ConfigError: if no component has that name; the message lists the valid names.
        """
        if not isinstance(name, str):
            raise ConfigError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = _normalise(name)
        if key not in self._items:
            self.load()
        try:
            return self._items[key]
        except KeyError:
            valid = ", ".join(self.names()) or "(none registered)"
            raise ConfigError(f"unknown {self.kind} '{name}'; valid {self.kind}s: {valid}") from None

    def names(self) -> List[str]:
        """Every registered name (after importing the providers)."""
        self.load()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        key = _normalise(name)
        if key not in self._items:
            self.load()
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

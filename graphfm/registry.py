"""Small name -> component registries, in the spirit of PyG's ``resolver.py``.

Example::

    MODELS = Registry("model")

    @MODELS.register("samgpt")
    class SAMGPT(nn.Module): ...

    MODELS.get("samgpt")         # -> SAMGPT
    MODELS.get("samgtp")         # ConfigError: unknown model 'samgtp'; valid: samgpt, ...
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, TypeVar

from graphfm.errors import ConfigError

T = TypeVar("T")


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
        try:
            return self._items[_normalise(name)]
        except KeyError:
            valid = ", ".join(self.names()) or "(none registered)"
            raise ConfigError(f"unknown {self.kind} '{name}'; valid {self.kind}s: {valid}") from None

    def names(self) -> List[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return _normalise(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

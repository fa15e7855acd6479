"""Name -> component registries, filled by entry points.

Example::

    MODELS = Registry("model", group="graphfm.models", name_attr="model_name", section="model")

    @MODELS.register("samgpt")
    class SAMGPT(PretrainedModel): ...           # SAMGPT.model_name == "samgpt"

    MODELS.get("samgpt")                         # -> SAMGPT
    MODELS.get("samgtp")                         # ConfigError: unknown model 'samgtp'; valid models: ...
    MODELS.build({"name": "samgpt", "hidden": 64})   # or MODELS.build("samgpt", hidden=64)

A registry is filled from the entry points of its ``group`` (``importlib.metadata``), so a
package outside graphfm adds a component by declaring one in its own ``pyproject.toml``::

    [project.entry-points."graphfm.models"]
    my_model = "my_package.model:MyModel"        # registered as "my_model"
    [project.entry-points."graphfm.datasets"]
    my_loaders = "my_package.loaders"            # a module that registers on import

An entry point ``module:attr`` names the component itself (registered under the entry
point's name unless the module registered it under that name on import); a bare
``module`` is imported for the registrations it makes (e.g. datasets registered in a
loop). Entry points are loaded lazily: a lookup first loads the entry point of the same
name, and only a miss (or listing the names) loads all of them. This module names no
component module: graphfm's own components are declared in its ``pyproject.toml`` like
any plugin's.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from graphfm.errors import ConfigError

T = TypeVar("T")

Spec = Union[str, Mapping[str, Any]]


def _normalise(name: str) -> str:
    return str(name).lower().replace("-", "_")


def entry_points(group: str) -> List[Any]:
    """The entry points of ``group`` in every installed distribution (de-duplicated by name)."""
    from importlib.metadata import entry_points as _entry_points

    seen: Dict[str, Any] = {}
    for ep in _entry_points(group=group):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


class Registry:
    """A mapping from names to classes or functions, filled by entry points.

    Names are case-insensitive and ``-`` equals ``_``.

    Args:
        kind (str): What the registry holds, used in error messages (e.g. ``"model"``).
        group (str, optional): The entry-point group that fills it (e.g.
            ``"graphfm.models"``). (default: ``None``: filled by ``register`` only)
        name_attr (str, optional): Class attribute that :meth:`register` sets to the
            registered name (e.g. ``"model_name"``), so a component never spells its
            name twice. (default: ``None``)
        section (str, optional): What :meth:`build`'s errors call the spec (the config
            section, e.g. ``"model"``). (default: ``"<kind> '<name>'"``)
    """

    def __init__(self, kind: str, group: Optional[str] = None, name_attr: Optional[str] = None,
                 section: Optional[str] = None) -> None:
        self.kind, self.group, self.name_attr, self.section = kind, group, name_attr, section
        self._items: Dict[str, Any] = {}
        self._pending: Optional[Dict[str, Any]] = None     # normalised name -> entry point not loaded yet
        self.failures: Dict[str, str] = {}                 # entry point -> why it did not load

    # ------------------------------------------------------------------ filling
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (and sets its ``name_attr``)."""

        def decorator(obj: T) -> T:
            key = _normalise(name)
            if key in self._items and self._items[key] is not obj:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[key] = obj
            if self.name_attr and isinstance(obj, type) and self.name_attr not in vars(obj):
                setattr(obj, self.name_attr, name)
            return obj

        return decorator

    def _entry_points(self) -> Dict[str, Any]:
        if self._pending is None:
            self._pending = {_normalise(ep.name): ep for ep in entry_points(self.group)} if self.group else {}
        return self._pending

    def _load_entry_point(self, key: str, strict: bool) -> None:
        ep = self._entry_points().pop(key, None)
        if ep is None:
            return
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            why = f"{type(exc).__name__}: {first}"
            self.failures[f"{ep.name} = {ep.value}"] = why
            message = (f"{self.kind} plugin '{ep.name}' ({ep.value}, group {self.group}) failed to import ({why}); "
                       "reinstall the package that declares it, or uninstall it")
            if strict:
                raise ConfigError(message) from exc
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            return
        if ":" in ep.value and key not in self._items:
            self.register(ep.name)(obj)

    def load(self) -> None:
        """Load every entry point of the group not loaded yet (broken ones are skipped with a warning)."""
        for key in list(self._entry_points()):
            self._load_entry_point(key, strict=False)

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> Any:
        """Return the component registered under ``name``.

        Raises:
            ConfigError: if no component has that name; the message lists the valid names.
        """
        if not isinstance(name, str):
            raise ConfigError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = _normalise(name)
        if key not in self._items:
            self._load_entry_point(key, strict=True)
        if key not in self._items:
            self.load()
        try:
            return self._items[key]
        except KeyError:
            raise ConfigError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        valid = ", ".join(self.names()) or "(none registered)"
        message = f"unknown {self.kind} '{name}'; valid {self.kind}s: {valid}"
        if self.failures:
            message += "; plugins that failed to load: " + "; ".join(f"{k} ({v})" for k, v in self.failures.items())
        elif self.group and not self._items:
            message += (f" (no '{self.group}' entry points are installed: install graphfm, e.g. "
                        "pip install -e . in its checkout)")
        return message

    def names(self) -> List[str]:
        """Every registered name (after loading the entry points)."""
        self.load()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except ConfigError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    # ------------------------------------------------------------------ building
    def resolve(self, spec: Spec, fixed: Sequence[str] = ()) -> Tuple[Any, Dict[str, Any]]:
        """The component a spec names and its keyword arguments, checked against its signature.

        For callers that construct the component their own way (e.g.
        ``Model.from_datamodule``); :meth:`build` is the common case.

        Args:
            spec: A registered name, or a mapping ``{"name": <name>, **keyword arguments}``.
            fixed: Arguments the caller passes itself; a spec may not set them.

        Raises:
            ConfigError: a spec of the wrong form or an unknown name (listing the valid
                names), an unknown key (listing the valid keys) or a value of the wrong type.
        """
        from graphfm.config import check_kwargs

        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ConfigError(f"a {self.kind} must be given as a name or as a mapping with a 'name' key, got "
                              f"{spec!r}; valid names: {', '.join(self.names()) or '(none registered)'}")
        component = self.get(spec["name"])
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        check_kwargs(component, kwargs, self.section or f"{self.kind} '{spec['name']}'", skip=tuple(fixed))
        return component, kwargs

    def build(self, spec: Spec, **fixed: Any) -> Any:
        """Build the component a spec names: ``component(**spec_arguments, **fixed)``.

        Args:
            spec: A registered name, or a mapping ``{"name": <name>, **keyword arguments}``.
            **fixed: Arguments the caller supplies (e.g. ``model=``, ``data_root=``); a spec
                may not set them.

        Raises:
            ConfigError: see :meth:`resolve`.
        """
        component, kwargs = self.resolve(spec, tuple(fixed))
        return component(**kwargs, **fixed)

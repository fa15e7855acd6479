"""YAML experiment configs, validated on load.

An experiment file has these top-level sections::

    name: samgpt-cora          # free text, used in logs
    seed: 0
    data:      {name: <datamodule>, ...its keyword arguments}
    model:     {name: <model>, ...its keyword arguments}
    objective: {name: <objective>, ...its keyword arguments}
    trainer:   {max_steps: 200, lr: 0.001, ...}   # see TrainerConfig

Keyword arguments are checked against the component's ``__init__`` signature: an
unknown key, or a value of the wrong type, is a :class:`ConfigError` that lists the
valid keys.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import yaml

from graphfm.errors import ConfigError

SECTIONS = ("name", "seed", "data", "model", "objective", "trainer")


@dataclass
class TrainerConfig:
    """Options of the pretraining engine.

    Args:
        max_steps (int): Optimisation steps. (default: ``200``)
        lr (float): AdamW learning rate. (default: ``1e-3``)
        weight_decay (float): AdamW weight decay. (default: ``0.0``)
        warmup_steps (int): Linear warm-up steps before cosine decay; ``0`` keeps the
            learning rate constant. (default: ``0``)
        grad_clip (float): Gradient-norm clipping, ``0`` disables. (default: ``1.0``)
        precision (str): ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"32"``,
            ``"bf16-mixed"``. (default: ``"auto"``)
        accelerator (str): Lightning accelerator. (default: ``"auto"``)
        devices (Any): Lightning devices. (default: ``1``)
        strategy (str): Lightning strategy (``"auto"``, ``"ddp"``, ``"fsdp"``). (default: ``"auto"``)
        num_nodes (int): Machines of a multi-node run (Lightning ``num_nodes``). (default: ``1``)
        log_every (int): Log metrics every N steps. (default: ``10``)
        ckpt_every (int): Save a resumable checkpoint every N steps, ``0`` only at the end.
            (default: ``0``)
        num_workers (int): DataLoader workers. (default: ``0``)
        progress (bool): Show a progress bar. (default: ``True``)
        patience (int): Stop once the training loss has not improved for this many steps
            and keep the best weights; ``0`` trains exactly ``max_steps`` steps. (default: ``0``)
        diagnostics (bool): Log the objective's embedding diagnostics (effective rank, mean
            cosine) every ``log_every`` steps where it has them. (default: ``True``)
        snapshots (list[int]): Also save the model after these steps, to
            ``RUN_DIR/step_<n>/`` (e.g. for a pretraining curve). (default: ``[]``)
        init_from (str, optional): Start from the weights of this run directory (continued
            pretraining, e.g. self-supervised on a target graph after pretraining on other
            domains): weights of the same name and shape are copied, see
            :meth:`graphfm.models.base.PretrainedModel.init_from`; the objective's own parts
            (decoders, heads) start fresh. (default: ``None``)
    """

    max_steps: int = 200
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    precision: str = "auto"
    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    log_every: int = 10
    ckpt_every: int = 0
    num_workers: int = 0
    progress: bool = True
    patience: int = 0
    diagnostics: bool = True
    snapshots: List[int] = field(default_factory=list)
    init_from: Optional[str] = None


@dataclass
class ExperimentConfig:
    """A validated experiment file (see the module docstring)."""

    data: Dict[str, Any]
    model: Dict[str, Any]
    objective: Dict[str, Any]
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    name: str = "experiment"
    seed: int = 0

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: out[k] for k in SECTIONS}


# ----------------------------------------------------------------------------- bundled configs
def bundled_config_dir() -> Path:
    """The folder of the configs that ship with graphfm.

    An installed wheel holds them in ``graphfm/configs/`` (copied there from the
    repository's top-level ``configs/`` at build time, see ``setup.py``); a source
    checkout or editable install reads the top-level ``configs/`` itself.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "configs", package.parent / "configs"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"graphfm's bundled configs are missing (looked in '{package / 'configs'}' and "
                      f"'{package.parent / 'configs'}'); reinstall graphfm (pip install graphfm or pip install .)")


def bundled_configs() -> List[str]:
    """Names of the bundled configs, e.g. ``["multimodal/bm_mae", ..., "samgpt/cora", ...]``."""
    try:
        root = bundled_config_dir()
    except ConfigError:
        return []
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def resolve_config(name_or_path: Union[str, Path]) -> Path:
    """The YAML file meant by ``name_or_path``: an existing file, else a bundled config.

    Every caller that takes a config (``--config``, benchmarks, the demo) resolves it
    here, so ``graphfm`` works from any directory once installed.

    Args:
        name_or_path (str or path): A path to a YAML file, or the name of a bundled
            config: ``"samgpt/cora"``, ``"samgpt/cora.yaml"`` or
            ``"configs/samgpt/cora.yaml"`` (the repository-relative path, which
            therefore works from any directory).

    Raises:
        ConfigError: if it is neither a file nor a bundled name; the message lists the
            bundled names.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = Path(name_or_path).as_posix().strip("/")
    if name.startswith("configs/"):
        name = name[len("configs/"):]
    if name.endswith((".yaml", ".yml")):
        name = name.rsplit(".", 1)[0]
    names = bundled_configs()
    if name in names and ".." not in name.split("/"):
        return bundled_config_dir() / f"{name}.yaml"
    raise ConfigError(f"config file '{name_or_path}' does not exist and is not a bundled config name; pass a "
                      f"YAML path or one of: {', '.join(names) or '(none bundled: reinstall graphfm)'}")


# ----------------------------------------------------------------------------- files
def load_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a YAML mapping, with clear errors for a missing or malformed file.

    ``path`` may also name a bundled config (see :func:`resolve_config`).
    """
    path = resolve_config(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {' '.join(str(exc).split())}; fix the syntax "
                          "at the line shown") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"config file '{path}' cannot be read as UTF-8 text ({type(exc).__name__}: {exc}); "
                          "pass a YAML text file such as configs/samgpt/cora.yaml") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of sections, got {type(data).__name__}")
    return data


def apply_overrides(cfg: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.subkey=value (e.g. trainer.max_steps=50)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = cfg
        parts = key.strip().split(".")
        if not all(part.strip() for part in parts):
            raise ConfigError(f"override '{item}' has an empty key; write it as section.key=value "
                              "(e.g. trainer.max_steps=50)")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return cfg


def load_experiment(path: Union[str, Path], overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load, override and validate an experiment file (a path or a bundled name, see :func:`resolve_config`)."""
    path = resolve_config(path)
    return experiment_from_dict(apply_overrides(load_yaml(path), overrides), where=str(path))


def experiment_from_dict(cfg: Dict[str, Any], where: str = "config") -> ExperimentConfig:
    unknown = sorted(set(cfg) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {unknown}; valid sections: {', '.join(SECTIONS)}")
    for section in ("data", "model", "objective"):
        value = cfg.get(section)
        if not isinstance(value, dict) or "name" not in value:
            raise ConfigError(f"{where}: section '{section}' must be a mapping with a 'name' key")
    trainer = build_dataclass(TrainerConfig, cfg.get("trainer") or {}, where=f"{where}: trainer")
    _check_trainer_ranges(trainer, f"{where}: trainer")
    seed = cfg.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{where}: seed must be a non-negative integer, got {seed!r}; e.g. seed: 0")
    return ExperimentConfig(
        data=dict(cfg["data"]), model=dict(cfg["model"]), objective=dict(cfg["objective"]),
        trainer=trainer, name=str(cfg.get("name", Path(where).stem)), seed=seed,
    )


#: Lightning's precision values, plus ``"auto"``.
PRECISIONS = ("auto", "16", "32", "64", "bf16", "16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true",
              "64-true", "transformer-engine", "transformer-engine-float16")


def _check_trainer_ranges(trainer: TrainerConfig, where: str) -> None:
    """Values of the right type but out of range (Lightning would fail later, or train forever)."""
    import math

    for key in ("max_steps", "warmup_steps", "ckpt_every", "num_workers", "patience"):
        if getattr(trainer, key) < 0:
            raise ConfigError(f"{where}.{key}: must be >= 0, got {getattr(trainer, key)}; e.g. {key}: "
                              f"{getattr(TrainerConfig, key)}")
    if trainer.log_every < 1:
        raise ConfigError(f"{where}.log_every: must be >= 1, got {trainer.log_every}; e.g. log_every: 10")
    for key in ("lr", "weight_decay", "grad_clip"):
        value = getattr(trainer, key)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}.{key}: must be a finite number >= 0, got {value}; e.g. {key}: "
                              f"{getattr(TrainerConfig, key)}")
    if str(trainer.precision) not in PRECISIONS:
        raise ConfigError(f"{where}.precision: unknown precision {trainer.precision!r}; valid: "
                          f"{', '.join(PRECISIONS)}")


# ----------------------------------------------------------------------------- checking
def build_dataclass(cls: type, values: Dict[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``, checking keys and types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    _reject_unknown(values, valid, where)
    for key, value in values.items():
        _check_type(value, hints.get(key, Any), f"{where}.{key}")
    return cls(**values)


def check_kwargs(fn: Callable, kwargs: Dict[str, Any], where: str, skip: Sequence[str] = ()) -> None:
    """Check ``kwargs`` against the signature of ``fn`` (a class or function).

    Raises:
        ConfigError: for an unknown key (listing the valid ones) or a wrong type.
    """
    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(target)
    params = {n: p for n, p in sig.parameters.items() if n != "self" and n not in skip
              and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        _reject_unknown(kwargs, list(params), where)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: check keys only
        hints = {}
    for key, value in kwargs.items():
        if key in params:
            _check_type(value, hints.get(key, Any), f"{where}.{key}")


def _reject_unknown(values: Dict[str, Any], valid: List[str], where: str) -> None:
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}")


def _check_type(value: Any, hint: Any, where: str) -> None:
    if not _matches(value, hint):
        raise ConfigError(f"{where}: expected {_hint_name(hint)}, got {value!r} ({type(value).__name__})")


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin is Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence, Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin in (dict, typing.Mapping) or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")

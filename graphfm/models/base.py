"""Base class of every pretrained model: ``save_pretrained`` / ``from_pretrained``.

A checkpoint directory holds:

* ``config.yaml``: ``{"model": <registered name>, "kwargs": {...}}``: the constructor
  arguments, enough to rebuild the model with no other input (feature-alignment
  shapes included; their values are buffers in the weights);
* ``model.safetensors``: the state dict (parameters and persistent buffers);
* ``README.md``: a model card (Hub metadata, config, source domains, steps, final
  losses, graphfm version), see :mod:`graphfm.models.hub`.

``from_pretrained`` also takes a Hugging Face Hub repo id (``owner/name``), resolved
through the Hugging Face cache; ``push_to_hub`` uploads a checkpoint.

Constructor arguments are captured automatically, so subclasses only need plain,
YAML-serialisable ``__init__`` arguments, a ``@MODELS.register(name)`` decorator and an
entry point in the ``graphfm.models`` group (see :mod:`graphfm.registry`).
"""
from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import nn

from graphfm.errors import CheckpointError, ConfigError
from graphfm.io import atomic_path, write_yaml
from graphfm.registry import Registry

MODELS = Registry("model", group="graphfm.models", name_attr="model_name", section="model")


class NoTextRouteError(ConfigError):
    """A model without a text encoder was asked to embed texts (:meth:`PretrainedModel.embed_texts`)."""

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"


class PretrainedModel(nn.Module):
    """An ``nn.Module`` that can be saved to and rebuilt from a directory."""

    #: The registered name, set by ``@MODELS.register(name)``.
    model_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self, *args: Any, **kw: Any) -> None:
            if "_init_kwargs" not in self.__dict__:
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                captured = {k: v for k, v in bound.arguments.items() if k != "self"}
                object.__setattr__(self, "_init_kwargs", captured)
            original(self, *args, **kw)

        cls.__init__ = __init__

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_datamodule(cls, datamodule: Any, **kwargs: Any) -> "PretrainedModel":
        """Build the model for the data a datamodule prepared.

        The default fills constructor arguments missing from ``kwargs`` with the
        same-named entries of ``datamodule.spec`` (e.g. ``in_dim``, ``domains``).
        Models that must fit something on the data (feature alignment) override it.
        """
        params = inspect.signature(cls.__init__).parameters
        spec = getattr(datamodule, "spec", {}) or {}
        filled = {k: v for k, v in spec.items() if k in params and k not in kwargs}
        return cls(**filled, **kwargs)

    # ------------------------------------------------------------------ capabilities
    # What a model can do is said by these methods (defaults for graph models here, overridden
    # where a model does more or other), never by attributes its callers probe for.
    def load_data(self, source: Any, data_root: Any = None, arrays: bool = False) -> Any:
        """Load what this model embeds from ``source`` (a dataset name, file or folder): by default
        a graph or graph set through :func:`graphfm.data.load_graph` (``arrays``: a ``.npz`` as
        plain tensors, without importing PyG). :meth:`embed_loaded`, :meth:`embed_chunks` and
        :meth:`item_labels` take what it returns."""
        from graphfm.data import load_graph

        return load_graph(source, root=data_root, arrays=arrays)

    def embed(self, data: Any) -> torch.Tensor:
        """Node embeddings ``[N, D]`` of one graph (graph models implement this)."""
        raise NotImplementedError(f"{type(self).__name__} does not embed graphs")

    def embed_graphs(self, graphs: Any) -> torch.Tensor:
        """Graph embeddings ``[G, D]``: mean of each graph's node embeddings by default."""
        return torch.stack([self.embed(g).mean(dim=0) for g in graphs])

    def embed_dataset(self, name: str, level: str = "node", data_root: Any = None) -> torch.Tensor:
        """Embeddings of a registered dataset (or a user's file): row i = item i as loaded.

        Args:
            name (str): Dataset name or path (see :meth:`load_data`).
            level (str): ``"node"`` or ``"graph"``. (default: ``"node"``)
            data_root: Data root. (default: ``None``, i.e. ``$GRAPHFM_DATA`` or ``./data``)
        """
        return self.embed_loaded(self.load_data(name, data_root), level)

    def embed_loaded(self, data: Any, level: str = "node") -> torch.Tensor:
        """:meth:`embed_dataset` of what :meth:`load_data` returned: node rows of a graph (of every
        graph of a set, concatenated) or one row per graph (``level="graph"``)."""
        with torch.no_grad():
            if level == "graph":
                graphs = data if isinstance(data, list) else [data]
                return self.embed_graphs(graphs)
            if isinstance(data, list):
                return torch.cat([self.embed(g) for g in data])
            return self.embed(data)

    def embed_chunks(self, data: Any, chunk_size: int = 2048,
                     progress: Optional[Callable[[int, int], None]] = None) -> Iterator[Tuple[int, int, torch.Tensor]]:
        """Node embeddings of :meth:`embed_loaded` in row order, as ``(start, stop, rows)`` chunks, for
        :func:`graphfm.embed.embed_chunked_to_npy` to write as they come. The default is one chunk;
        SAMGPT runs layer by layer in chunks of ``chunk_size`` rows.

        Args:
            data: What :meth:`load_data` returned.
            chunk_size (int): Rows per chunk where the model computes in chunks. (default: ``2048``)
            progress (callable, optional): ``progress(rows_done, rows_total)`` after every chunk.
        """
        emb = self.embed_loaded(data, "node")
        if progress is not None:
            progress(emb.size(0), emb.size(0))
        yield 0, int(emb.size(0)), emb

    def item_labels(self, data: Any, level: str = "node") -> Optional[torch.Tensor]:
        """Labels ``[N]`` of the rows :meth:`embed_loaded` gives for ``data``, or ``None`` if they are
        not all labelled: node labels of a graph (or set), or one label per graph (``level="graph"``)."""
        graphs = data if isinstance(data, list) else [data]
        ys = [getattr(g, "y", None) for g in graphs]
        if level == "graph" or isinstance(data, list):
            if any(y is None or y.numel() == 0 for y in ys):
                return None
            if level == "graph":
                return torch.cat([y.view(-1)[:1] for y in ys]).long()
        if any(y is None or y.numel() != g.num_nodes for y, g in zip(ys, graphs)):
            return None
        return torch.cat([y.view(-1) for y in ys]).long()

    def adaptations(self, task: str) -> Dict[str, str]:
        """How this model adapts to few-shot ``task`` (``"node"`` or ``"graph"``): ``{method:
        adaptation}``, its default first. ``method`` is what a caller may ask for
        (``graphfm.adapt.adapt_model(method=...)``: ``"frozen"``, ``"prompt"``, ``"dual_prompts"``,
        ...), the adaptation a scorer of :data:`graphfm.adapt.ADAPTATIONS`. Item tasks (nearest
        prototypes of :meth:`embed_loaded`'s rows) need none. Default: nearest class prototypes of
        the frozen :meth:`embed` (``{"frozen": "prototypes"}``); a model that cannot adapt to
        ``task`` raises :class:`~graphfm.errors.ConfigError` saying what it does instead."""
        return {"frozen": "prototypes"}

    def embed_texts(self, texts: List[str], graph: Any) -> torch.Tensor:
        """The model's route from text into its embedding space: embeddings ``[T, D]`` of ``texts``
        (e.g. class names for zero-shot classification, :mod:`graphfm.adapt.names`) as if they were
        isolated nodes of ``graph``, normalised with ``graph``'s statistics (its feature mean for
        centring), so that they compare with :meth:`embed` ``(graph)`` by cosine.

        Raises:
            NoTextRouteError: by default: the model has no text encoder.
        """
        raise NoTextRouteError(f"a '{self.model_name or type(self).__name__}' model has no route from text into its "
                               "embedding space, and zero-shot classification from class names needs a model with a "
                               "text encoder (e.g. UniGraph2 with a text modality); use --shots >= 1 without names")

    def label_rule(self) -> Optional[Dict[str, Any]]:
        """The rule mixing class names and supports this checkpoint was given at pretraining time
        (``{"template", "w0", "kind"}``, see :class:`graphfm.adapt.names.LabelRule`): the constructor's
        ``label_rule`` argument where the model has one, else ``None`` (the library default applies)."""
        rule = self.init_kwargs.get("label_rule")
        return dict(rule) if isinstance(rule, dict) else None

    @property
    def init_kwargs(self) -> Dict[str, Any]:
        return dict(self.__dict__.get("_init_kwargs", {}))

    def untrained_copy(self, seed: int = 0) -> "PretrainedModel":
        """The same architecture freshly initialised under ``seed``: the baseline that answers
        "what does pretraining add?".

        Learnable parameters are re-drawn; buffers that are *fitted to data* rather than
        learned (feature alignment, normalisation statistics) are copied, so that both
        models see the same inputs; buffers that pretraining learns (prefixes in
        :attr:`learned_buffers`, e.g. running statistics) start fresh. The global RNG state is
        left untouched.

        Args:
            seed (int): Seed of the initialisation. (default: ``0``)
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            copy = type(self)(**self.init_kwargs)
        params = {name for name, _ in copy.named_parameters()}
        buffers = {k: v for k, v in self.state_dict().items()
                   if k not in params and not k.startswith(self.learned_buffers)}
        copy.load_state_dict({**copy.state_dict(), **buffers}, strict=True)
        return copy.to(next(self.parameters(), torch.empty(0)).device).eval()

    def init_from(self, directory: Union[str, Path]) -> Dict[str, List[str]]:
        """Start from the weights of another run of the same model (continued pretraining,
        e.g. on a target graph after pretraining on other domains).

        Entries that :meth:`_init_mapped` fills are mapped (UniGraph2 and SAMGPT map their
        domain tokens by domain name); state fitted to this run's data (names starting with
        one of :attr:`init_fitted`, e.g. SAMGPT's feature alignment) is kept; of the rest,
        every parameter or buffer with the same name and shape is copied and the others keep
        their initialisation. The checkpoint may cover other modalities or domains than this
        model. The global random state is left untouched.

        Args:
            directory (str or Path): A run directory written by ``graphfm pretrain``.

        Returns:
            ``{"copied": [...], "mapped": [...], "kept": [...]}``: the state names by fate.

        Raises:
            CheckpointError: if the checkpoint is unreadable, holds another kind of model or
                shares no learnable weight with this one.
        """
        try:
            with torch.random.fork_rng(devices=[]):     # building the source must not move the run's RNG
                source = PretrainedModel.from_pretrained(directory)
        except CheckpointError as exc:
            raise CheckpointError(f"trainer.init_from: {exc}") from None
        if source.model_name != self.model_name:
            raise CheckpointError(f"trainer.init_from '{directory}' holds a '{source.model_name}' model, this run "
                                  f"builds a '{self.model_name}'; point it at a run of the same model")
        theirs, mine = source.state_dict(), self.state_dict()
        mapped = self._init_mapped(source)
        copied = [k for k, v in mine.items() if k not in mapped and not k.startswith(self.init_fitted)
                  and k in theirs and theirs[k].shape == v.shape]
        if not set(copied) & {name for name, _ in self.named_parameters()}:
            raise CheckpointError(f"trainer.init_from '{directory}': no weight has this model's name and shape "
                                  "(another width or depth?); use a run with the same model settings")
        with torch.no_grad():
            for k in copied:
                mine[k].copy_(theirs[k])
        return {"copied": copied, "mapped": mapped, "kept": [k for k in mine if k not in copied and k not in mapped]}

    #: State-name prefixes of state fitted to a run's own data, never taken by :meth:`init_from`.
    init_fitted: ClassVar[Tuple[str, ...]] = ()
    #: Prefixes of buffers that pretraining learns (running statistics): an untrained copy keeps
    #: its own fresh ones instead of copying them.
    learned_buffers: ClassVar[Tuple[str, ...]] = ()

    def _init_mapped(self, source: "PretrainedModel") -> List[str]:
        """Hook of :meth:`init_from`: fill the state entries that do not correspond by name
        and position from ``source``; return their names. (default: none)"""
        return []

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: Union[str, Path]) -> Path:
        """Write ``model.safetensors`` then ``config.yaml`` into ``directory``.

        Each file is written to a temporary name and renamed, so a crash never
        leaves a half-written file; other files in ``directory`` are left alone.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()}
        with atomic_path(directory / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        write_yaml(directory / CONFIG_FILE, {"model": self.model_name, "kwargs": _plain(self.init_kwargs)})
        from graphfm.models.hub import write_model_card

        write_model_card(directory, self)
        return directory

    def push_to_hub(self, repo_id: str, run_dir: Union[str, Path, None] = None, **options: Any) -> str:
        """Upload ``config.yaml`` + ``model.safetensors`` + a model card to the Hub repo ``repo_id``.

        See :func:`graphfm.models.hub.push_to_hub` for ``run_dir`` (training facts for the
        card) and ``options`` (``token``, ``private``, ``revision``, ``commit_message``,
        ``endpoint``). Returns the commit URL.
        """
        from graphfm.models.hub import push_to_hub

        return push_to_hub(self, repo_id, run_dir=run_dir, **options)

    @classmethod
    def from_pretrained(cls, directory: Union[str, Path], map_location: str = "cpu") -> "PretrainedModel":
        """Rebuild a model saved by :meth:`save_pretrained`.

        Called on :class:`PretrainedModel` itself, the registered class named in
        ``config.yaml`` is used; called on a subclass, the names must agree.
        """
        from safetensors.torch import load_file

        from safetensors import SafetensorError

        from graphfm.errors import GraphFMError

        from graphfm.models.hub import resolve_checkpoint

        directory = resolve_checkpoint(directory)  # a local folder, or a Hub repo id via the HF cache
        config = read_model_config(directory)
        cfg_file = directory / CONFIG_FILE
        try:
            target = MODELS.get(config["model"])
        except GraphFMError as exc:
            raise CheckpointError(f"'{cfg_file}' names a model graphfm does not know ({exc}); it was written by "
                                  "another program or version: re-run pretraining to rebuild the checkpoint") from None
        if cls is not PretrainedModel and not issubclass(target, cls):
            raise CheckpointError(f"checkpoint '{directory}' holds a '{config['model']}' model, not a {cls.__name__}; "
                                  f"pass a checkpoint of a {cls.__name__}")
        kwargs = config.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise CheckpointError(f"'{cfg_file}': 'kwargs' must be a mapping of constructor arguments, got "
                                  f"{type(kwargs).__name__}; re-run pretraining to rebuild the checkpoint")
        try:
            model = target(**kwargs)
        except GraphFMError as exc:
            raise CheckpointError(f"'{cfg_file}' describes a model that cannot be built ({exc}); re-run "
                                  "pretraining to rebuild the checkpoint") from None
        except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as exc:
            raise CheckpointError(f"'{cfg_file}' describes a '{config['model']}' model that cannot be built "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); it was "
                                  "edited or written by another version: re-run pretraining") from None
        try:
            state = load_file(str(directory / WEIGHTS_FILE), device=map_location)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"'{directory / WEIGHTS_FILE}' is not a readable safetensors file ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); it is truncated or corrupt: copy it again or "
                "re-run pretraining to rebuild the checkpoint") from None
        try:
            model.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"weights in '{directory / WEIGHTS_FILE}' do not load into the model its config describes "
                f"({str(exc).splitlines()[0]}); the two files come from different runs or widths: re-run "
                "pretraining to rebuild the checkpoint") from None
        return model.eval()


def read_model_config(directory: Union[str, Path]) -> Dict[str, Any]:
    """Read and check ``config.yaml`` of a checkpoint directory."""
    import yaml

    directory = Path(directory)
    if directory.is_file():
        raise CheckpointError(f"checkpoint '{directory}' is a file, not a directory; pass the folder that holds "
                              f"{CONFIG_FILE} and {WEIGHTS_FILE} (the --out folder of 'graphfm pretrain')")
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory '{directory}' does not exist; pass the --out folder of "
                              "'graphfm pretrain' (or 'graphfm demo')")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise CheckpointError(f"checkpoint directory '{directory}' has no {name}; it is incomplete, "
                                  "re-run pretraining")
    try:
        config = yaml.safe_load((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        message = " ".join(str(exc).split())
        raise CheckpointError(f"'{directory / CONFIG_FILE}' is not valid YAML ({message}); it is corrupt: copy "
                              "the checkpoint again or re-run pretraining") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise CheckpointError(f"'{directory / CONFIG_FILE}' does not name a model; it was not written by graphfm: "
                              "pass the --out folder of 'graphfm pretrain'")
    return config


def _plain(value: Any) -> Any:
    """Make constructor arguments YAML-safe (tuples -> lists, tensors -> lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value

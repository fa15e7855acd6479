"""Deep Graph Infomax on one graph, fast on CPU, with its embeddings cached on disk.

Veličković et al., "Deep Graph Infomax", ICLR 2019, https://arxiv.org/abs/1809.10341, as
PyG's example trains it (:class:`torch_geometric.nn.models.DeepGraphInfomax`: bilinear
discriminator, summary ``sigmoid(mean h)``, corruption = the feature rows shuffled, Adam,
full batch), with an encoder of ``layers`` GCN layers ``PReLU(Â H W + b)``
(:class:`GCNEncoder`; Kipf & Welling, ICLR 2017). What makes it fast, the same numbers as
two encoder passes (tested against PyG's ``GCNConv`` and ``DeepGraphInfomax.forward``):

* ``Â`` is one torch CSR matrix (:class:`~graphfm.nn.NormalizedAdjacency`), whose product's
  backward is the product itself (``Â`` is symmetric);
* the corrupted input shares the first layer's ``X W``: ``(P X) W = P (X W)``, so the widest
  product is computed once per epoch for both passes;
* the clean and corrupted passes run side by side, ``[N, 2, H]``: one sparse product of
  ``2H`` columns and one dense product of ``2N`` rows per layer.

:func:`train_dgi_cached` keys the result by a hash of (features, graph, recipe, seed) in
``baselines/`` beside the feature cache (``$GRAPHFM_CACHE``'s parent, default
``~/.cache/graphfm/baselines``); an entry is written atomically, and a damaged one is
recomputed with one warning (as the feature cache does).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfm.errors import ConfigError

__all__ = ["DGIRecipe", "GCNEncoder", "train_dgi", "train_dgi_cached", "baseline_cache_dir", "dgi_cache_path",
           "check_dgi_entry"]

_log = logging.getLogger(__name__)
_VERSION = "dgi-v1"


@dataclass(frozen=True)
class DGIRecipe:
    """Options of :func:`train_dgi`.

    Args:
        hidden (int): Width of every layer. (default: ``256``)
        layers (int): GCN layers. (default: ``3``)
        epochs (int): Full-batch Adam steps. (default: ``200``)
        lr (float): Learning rate. (default: ``1e-3``)
    """

    hidden: int = 256
    layers: int = 3
    epochs: int = 200
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1 or self.epochs < 0 or not self.lr > 0:
            raise ConfigError(f"invalid DGI recipe {self}: hidden >= 1, layers >= 1, epochs >= 0 and lr > 0 are needed")


class GCNEncoder(nn.Module):
    """``layers`` GCN layers ``h <- PReLU(Â h W + b)`` (PyG ``GCNConv`` initialisation: Glorot
    weights, zero bias; PReLU slopes 0.25, one per channel).

    Args:
        in_dim (int): Input width ``D``.
        hidden (int): Width ``H`` of every layer. (default: ``256``)
        layers (int): Number of layers. (default: ``3``)
    """

    def __init__(self, in_dim: int, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.lins = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.acts = nn.ModuleList([nn.PReLU(hidden) for _ in range(layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin, act in zip(self.lins, self.acts):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
            act.reset_parameters()

    def forward(self, x: Tensor, adj: Any = None) -> Tensor:
        """Embeddings ``[N, H]`` of ``x [N, D]``; ``adj=None``: isolated nodes (``Â = I``)."""
        h = x
        for lin, act in zip(self.lins, self.acts):
            h = h @ lin.weight.t()
            h = act((adj @ h if adj is not None else h) + lin.bias)
        return h

    def pair(self, x: Tensor, adj: Any, perm: Tensor) -> Tuple[Tensor, Tensor]:
        """``(forward(x, adj), forward(x[perm], adj))`` in one pass (see the module docstring)."""
        n, hidden = x.size(0), self.lins[0].out_features
        h = None
        for i, (lin, act) in enumerate(zip(self.lins, self.acts)):
            if i == 0:
                xw = x @ lin.weight.t()                                              # [N, H]
                h = torch.stack([xw, xw[perm]], dim=1)                               # [N, 2, H]
            else:
                h = h @ lin.weight.t()
            h = (adj @ h.reshape(n, 2 * hidden)).view(n, 2, hidden) + lin.bias
            h = F.prelu(h.reshape(2 * n, hidden), act.weight).view(n, 2, hidden)
        return h[:, 0], h[:, 1]


def _summary(z: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    return z.mean(dim=0).sigmoid()


def _corruption(x: Tensor, adj: Any) -> Tuple[Tensor, Any]:
    return x[torch.randperm(x.size(0))], adj


def train_dgi(x: Tensor, adj: Any, seed: int = 0, recipe: Optional[DGIRecipe] = None) -> Tuple[Tensor, GCNEncoder]:
    """Train DGI on one graph; returns ``(embeddings [N, H], the trained encoder in eval mode)``.

    Args:
        x (Tensor): Node features ``[N, D]``.
        adj: ``Â`` ``[N, N]`` (a symmetric :class:`~graphfm.nn.propagation.SparseMatrix`).
        seed (int): Seed of the initialisation and the corruptions; the global random state is
            left untouched. (default: ``0``)
        recipe (DGIRecipe, optional): Options. (default: :class:`DGIRecipe`)
    """
    from torch_geometric.nn import DeepGraphInfomax

    recipe = recipe or DGIRecipe()
    x = x.detach().float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        encoder = GCNEncoder(x.size(1), recipe.hidden, recipe.layers)
        model = DeepGraphInfomax(recipe.hidden, encoder, summary=_summary, corruption=_corruption)
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    model.train()
    for _ in range(recipe.epochs):
        pos, neg = encoder.pair(x, adj, torch.randperm(x.size(0), generator=gen))
        loss = model.loss(pos, neg, _summary(pos))
        opt.zero_grad()
        loss.backward()
        opt.step()
    encoder.eval()
    with torch.no_grad():
        return encoder(x, adj), encoder


# ----------------------------------------------------------------------------- the cache
def baseline_cache_dir() -> Path:
    """``baselines/`` beside the feature cache (:func:`graphfm.encoders.default_cache_dir`)."""
    from graphfm.encoders import default_cache_dir

    return default_cache_dir().parent / "baselines"


def dgi_cache_path(x: Tensor, adj: Any, seed: int, recipe: DGIRecipe, folder: Any = None) -> Path:
    """Where DGI's result on ``(x, adj)`` with ``seed`` and ``recipe`` is (or would be) cached."""
    from graphfm.encoders import data_hash

    h = hashlib.sha256()
    for part in (_VERSION, data_hash(x.detach().float().contiguous()), data_hash(adj.crow), data_hash(adj.col),
                 json.dumps(asdict(recipe), sort_keys=True), str(int(seed))):
        h.update(part.encode() + b"|")
    return Path(folder or baseline_cache_dir()) / f"dgi-{h.hexdigest()[:24]}.safetensors"


def _expected(n: int, in_dim: int, recipe: DGIRecipe) -> Dict[str, tuple]:
    with torch.random.fork_rng(devices=[]):
        shapes = {f"encoder.{k}": tuple(v.shape) for k, v in GCNEncoder(in_dim, recipe.hidden, recipe.layers)
                  .state_dict().items()}
    return {"embeddings": (n, recipe.hidden), **shapes}


def check_dgi_entry(path: Any, expected: Dict[str, tuple], key: str) -> str:
    """What is wrong with a cached DGI entry, from its header and size alone ("" when nothing): it
    must hold exactly the ``expected`` float32 tensors (name -> shape), all their bytes, and the
    metadata ``key`` (the file name's hash)."""
    from graphfm.encoders.cache import header_and_size

    try:
        header, start, size = header_and_size(path)
    except ValueError as exc:
        return str(exc)
    meta = header.pop("__metadata__", None)
    if set(header) != set(expected):
        return f"holds {sorted(header)[:4]}..., not the tensors of this recipe"
    end = 0
    for name, shape in expected.items():
        entry = header[name]
        if not isinstance(entry, dict) or entry.get("dtype") != "F32" or tuple(entry.get("shape") or ()) != shape:
            return f"tensor {name}: {entry}, expected F32 {list(shape)}"
        offsets = entry.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and offsets[1] - offsets[0] == 4 * math.prod(shape)):
            return f"tensor {name}: data offsets {offsets} do not match its shape"
        end = max(end, offsets[1])
    if size != start + end:
        return f"{'truncated' if size < start + end else 'trailing bytes'}: {size} bytes, expected {start + end}"
    if not isinstance(meta, dict) or meta.get("key") != key:
        return "missing or other metadata (not this entry)"
    return ""


def _read(path: Path, expected: Dict[str, tuple], key: str, encoder: GCNEncoder) -> Tuple[Optional[Tensor], str]:
    from safetensors import safe_open

    problem = check_dgi_entry(path, expected, key)
    if problem:
        return None, problem
    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in expected}
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, ...: any unreadable file
        return None, f"unreadable: {type(exc).__name__}"
    if not all(bool(torch.isfinite(t).all()) for t in tensors.values()):
        return None, "non-finite values"
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")})
    return tensors["embeddings"], ""


def _write(path: Path, emb: Tensor, encoder: GCNEncoder, key: str) -> None:
    from safetensors.torch import save_file

    from graphfm.io import atomic_path
    from graphfm.rundir import DiskFullError

    tensors = {"embeddings": emb.contiguous(),
               **{f"encoder.{k}": v.detach().contiguous() for k, v in encoder.state_dict().items()}}
    try:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"key": key, "version": _VERSION})
    except (OSError, DiskFullError) as exc:
        _log.warning("warning: cannot write the baseline cache entry '%s' (%s): DGI is retrained on next use; free "
                     "space or point $GRAPHFM_CACHE at a writable folder", path, str(exc).splitlines()[0][:160])


def train_dgi_cached(x: Tensor, adj: Any, seed: int = 0, recipe: Optional[DGIRecipe] = None,
                     cache: Any = None) -> Tuple[Tensor, GCNEncoder]:
    """:func:`train_dgi`, read from the disk cache when it ran before on the same features, graph,
    recipe and seed.

    Args:
        cache (str, Path or bool, optional): Cache folder; ``False``: no cache. (default: ``None``:
            :func:`baseline_cache_dir`)
    """
    recipe = recipe or DGIRecipe()
    if cache is False:
        return train_dgi(x, adj, seed, recipe)
    path = dgi_cache_path(x, adj, seed, recipe, cache)
    key = path.stem.split("-", 1)[1]
    if path.exists():
        with torch.random.fork_rng(devices=[]):
            encoder = GCNEncoder(x.size(1), recipe.hidden, recipe.layers)
        emb, problem = _read(path, _expected(x.size(0), x.size(1), recipe), key, encoder)
        if emb is not None:
            return emb, encoder.eval()
        _log.warning("warning: damaged baseline cache entry '%s' (%s): retraining DGI", path, problem)
    emb, encoder = train_dgi(x, adj, seed, recipe)
    _write(path, emb, encoder, key)
    return emb, encoder

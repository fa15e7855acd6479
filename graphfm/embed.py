"""``graphfm embed``: a checkpoint's embeddings of a dataset, as float32 ``.npy``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch

from graphfm.errors import GraphFMError
from graphfm.io import write_npy


def load_model(checkpoint: Union[str, Path]):
    """Rebuild any registered model from a checkpoint directory or a Hub repo id."""
    from graphfm.models.base import PretrainedModel

    return PretrainedModel.from_pretrained(checkpoint)


def embed_to_file(checkpoint: Union[str, Path], dataset: str, out: Union[str, Path], level: str = "node",
                  data_root: Optional[str] = None, plot: Optional[Union[str, Path]] = None) -> Tuple[int, int]:
    """Embed ``dataset`` with the model in ``checkpoint`` and write ``out`` (.npy, float32).

    Row i is node i (``level="node"``) or graph i (``level="graph"``) of the dataset as
    :func:`graphfm.data.load_dataset` loads it (item i of a multimodal dataset for a
    multimodal checkpoint). With ``plot``, also draws a 2-D projection there
    (:func:`plot_embeddings`), coloured by label when the dataset has labels. Returns
    the array's shape.
    """
    if level not in ("node", "graph"):
        raise GraphFMError(f"level must be 'node' or 'graph', got '{level}'")
    if plot is not None and Path(plot).suffix.lower() != ".png":
        raise GraphFMError(f"plot file '{plot}' must end in .png")
    model = load_model(checkpoint)
    with torch.no_grad():
        emb = model.embed_dataset(dataset, level=level, data_root=data_root)
    array = emb.detach().float().cpu().numpy().astype(np.float32)
    if not np.isfinite(array).all():
        raise GraphFMError(f"embeddings of '{dataset}' contain NaN/Inf; the checkpoint or the data is broken")
    write_npy(out, array)
    if plot is not None:
        from graphfm.adapt.run import item_labels

        labels = item_labels(model, dataset, level, data_root)
        labels = labels.numpy() if labels is not None and labels.numel() == array.shape[0] else None
        plot_embeddings(array, plot, labels=labels, title=f"{getattr(model, 'model_name', '')} embeddings of {dataset}")
    return tuple(array.shape)


def plot_embeddings(array: np.ndarray, path: Union[str, Path], labels: Optional[np.ndarray] = None,
                    title: str = "", max_points: int = 20000, seed: int = 0) -> Path:
    """Scatter a 2-D PCA projection of ``array`` ``[N, D]`` into the PNG ``path`` (atomic write).

    Args:
        array (np.ndarray): Embeddings ``[N, D]``.
        path (str or path): Output ``.png``.
        labels (np.ndarray, optional): One label per row; points are coloured by label
            (negative labels, i.e. unlabelled, in grey).
        title (str): Plot title. (default: ``""``)
        max_points (int): Draw a seeded random subset when there are more rows. (default: ``20000``)
        seed (int): Seed of that subset. (default: ``0``)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    from graphfm.io import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise GraphFMError(f"plot file '{path}' must end in .png")
    if array.ndim != 2 or array.shape[0] < 2:
        raise GraphFMError(f"cannot plot {array.shape} embeddings: need at least two rows of vectors")
    rows = np.arange(array.shape[0])
    if rows.size > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_points, replace=False))
    xy = PCA(n_components=2, random_state=seed).fit_transform(array[rows]) if array.shape[1] >= 2 \
        else np.c_[array[rows, 0], np.zeros(rows.size)]
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6, linewidths=0)
    else:
        lab = np.asarray(labels)[rows]
        unlabelled = lab < 0
        ax.scatter(xy[unlabelled, 0], xy[unlabelled, 1], s=3, c="lightgrey", linewidths=0)
        classes = np.unique(lab[~unlabelled])
        cmap = plt.get_cmap("tab10" if classes.size <= 10 else "tab20")
        for i, c in enumerate(classes):
            pick = lab == c
            ax.scatter(xy[pick, 0], xy[pick, 1], s=4, alpha=0.7, linewidths=0, color=cmap(i % cmap.N), label=str(c))
        if classes.size <= 20:
            ax.legend(title="label", fontsize=7, markerscale=3, loc="best", frameon=False)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path

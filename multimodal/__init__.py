"""Multimodal masked-autoencoder pretraining: a plugin on the graphfm engine.

graphfm never imports this package: it registers its components through entry points
(``graphfm.models``, ``graphfm.objectives``, ``graphfm.datamodules``, ``graphfm.benchmarks``,
and its own ``multimodal.adapters`` and ``multimodal.datasets``), and imports graphfm.

* :mod:`multimodal.adapters`: per-modality input adapters (2D/3D patches, text tokens,
  regions with boxes) and sin-cos positions, registered by name;
* :mod:`multimodal.vit`: pre-norm transformer blocks on fused attention;
* :mod:`multimodal.masking`: Dirichlet token allocation and random masks;
* :mod:`multimodal.model`: :class:`MultimodalViT` (model ``multimodal_vit``);
* :mod:`multimodal.objectives`: ``multimae``, ``bm_mae``, ``m3i``, ``uniter``;
* :mod:`multimodal.data`: digits with derived modalities, 3D phantoms, NIfTI folders;
* :mod:`multimodal.datamodule`: the ``multimodal`` data module of experiment files;
* :mod:`multimodal.bench`, :mod:`multimodal.evaluate`: ``graphfm bench multimodal``;
* :mod:`multimodal.nifti`, :mod:`multimodal.ot`: a NIfTI-1 reader and IPOT.
"""
from multimodal.adapters import ADAPTERS, build_adapter, tokenize
from multimodal.data import DATASETS, MultimodalData, load_multimodal
from multimodal.model import MultimodalViT
from multimodal import objectives  # noqa: F401  (registers the objectives)

__all__ = ["ADAPTERS", "DATASETS", "MultimodalData", "MultimodalViT", "build_adapter", "load_multimodal",
           "objectives", "tokenize"]

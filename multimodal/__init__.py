"""Multimodal masked-autoencoder pretraining on the graphfm engine.

* :mod:`multimodal.adapters`: per-modality input adapters (2D/3D patches, text tokens,
  regions with boxes) and sin-cos positions, registered by name;
* :mod:`multimodal.vit`: pre-norm transformer blocks on fused attention;
* :mod:`multimodal.masking`: Dirichlet token allocation and random masks;
* :mod:`multimodal.model`: :class:`MultimodalViT` (model ``multimodal_vit``);
* :mod:`multimodal.objectives`: ``multimae``, ``bm_mae``, ``m3i``, ``uniter``;
* :mod:`multimodal.data`: digits with derived modalities, 3D phantoms, NIfTI folders;
* :mod:`multimodal.nifti`, :mod:`multimodal.ot`: a NIfTI-1 reader and IPOT.

Importing the package registers the model and the objectives.
"""
from multimodal.adapters import ADAPTERS, build_adapter, tokenize
from multimodal.data import DATASETS, MultimodalData, load_multimodal
from multimodal.model import MultimodalViT
from multimodal import objectives  # noqa: F401  (registers the objectives)

__all__ = ["ADAPTERS", "DATASETS", "MultimodalData", "MultimodalViT", "build_adapter", "load_multimodal",
           "objectives", "tokenize"]

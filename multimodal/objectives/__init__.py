"""Multimodal pretraining objectives, registered in :data:`graphfm.objectives.OBJECTIVES`.

``multimae`` (arXiv:2204.01678), ``bm_mae`` (arXiv:2505.00568), ``m3i`` (arXiv:2211.09807)
and ``uniter`` (arXiv:1909.11740).
"""
from multimodal.objectives.bm_mae import BMMAE
from multimodal.objectives.m3i import M3I
from multimodal.objectives.multimae import MultiMAE
from multimodal.objectives.uniter import UNITER

__all__ = ["BMMAE", "M3I", "MultiMAE", "UNITER"]

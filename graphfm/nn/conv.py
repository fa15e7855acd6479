"""Layer selection: one ``dim -> dim`` message-passing layer by name."""
from __future__ import annotations

from torch import nn

from graphfm.errors import ConfigError

__all__ = ["build_conv", "CONVS"]

CONVS = ("gat", "gcn", "sage")


def build_conv(gnn: str, dim: int, heads: int = 4, dropout: float = 0.0) -> nn.Module:
    """One ``dim -> dim`` message-passing layer: ``"gat"`` (``heads`` concatenated heads), ``"gcn"`` or ``"sage"``.

    Raises:
        ConfigError: for another name, or a GAT width that ``heads`` does not divide.
    """
    from torch_geometric.nn import GATConv, GCNConv, SAGEConv

    if gnn == "gat":
        if dim % heads:
            raise ConfigError(f"a GAT layer of width {dim} needs a number of heads that divides it, got {heads}")
        return GATConv(dim, dim // heads, heads=heads, dropout=dropout)
    if gnn == "gcn":
        return GCNConv(dim, dim)
    if gnn == "sage":
        return SAGEConv(dim, dim)
    raise ConfigError(f"unknown gnn '{gnn}'; valid: {', '.join(CONVS)}")

"""Graph layers: token-modulated GCN, propagation plans, prompts and readouts."""
from graphfm.nn.conv import build_conv
from graphfm.nn.gcn import TokenGCN
from graphfm.nn.pool import ego_members, mean_pool_matrix
from graphfm.nn.prompts import TaskPrompts
from graphfm.nn.propagation import (NormalizedAdjacency, PropagationPlan, SparseMatrix, build_plan,
                                    spmm_batched)

__all__ = ["TokenGCN", "TaskPrompts", "NormalizedAdjacency", "PropagationPlan", "SparseMatrix", "build_plan", "spmm_batched",
           "ego_members", "mean_pool_matrix", "build_conv"]

"""The few-shot adaptations a model can name (:meth:`PretrainedModel.adaptations`), by name.

Each is a factory ``(model, data, task="node", ego_hops=1, graph_ptr=None, config=None)`` of a
*scorer* whose ``run(tasks, seed)`` returns the accuracy (percent) of every task ``[T]``; it may
prepare what all tasks share (e.g. SAMGPT's self-supervised prompts) once, in the factory.

* ``prototypes``: nearest class prototypes of the frozen ``model.embed`` (every model's default);
* ``prompt``: SAMGPT's prompt tuning (:class:`~graphfm.adapt.samgpt.PromptTuner`);
* ``dual_prompts``: SAMGPT-style dual prompts on a UniGraph2 backbone
  (:class:`~graphfm.adapt.unigraph2.DualPromptTuner`).

They are found through the ``graphfm.adaptations`` entry points, so a package outside graphfm
can add an adaptation for its own model.
"""
from __future__ import annotations

from typing import Any, Optional

from torch import Tensor

from graphfm.adapt.baselines import frozen_embeddings_accuracy
from graphfm.adapt.fewshot import FewShotTasks
from graphfm.adapt.samgpt import PromptConfig, PromptTuner
from graphfm.errors import ConfigError
from graphfm.registry import Registry

__all__ = ["ADAPTATIONS", "FrozenPrototypes", "prompt_tuning", "dual_prompts"]

ADAPTATIONS = Registry("adaptation", group="graphfm.adaptations")


@ADAPTATIONS.register("prototypes")
class FrozenPrototypes:
    """Nearest-prototype accuracy of the frozen embeddings (no tuning).

    Args:
        model: Any model with ``embed(data)``.
        data: The target graph (batched graph set when ``graph_ptr`` is given).
        task (str): ``"node"`` or ``"graph"``. (default: ``"node"``)
        ego_hops (int): Ego-network radius of graph items. (default: ``1``)
        graph_ptr (Tensor, optional): Graph offsets of a batched graph set.
        config: Unused (nothing is tuned).
    """

    def __init__(self, model: Any, data: Any, task: str = "node", ego_hops: int = 1,
                 graph_ptr: Optional[Tensor] = None, config: Any = None) -> None:
        self.model, self.data, self.task, self.ego_hops, self.graph_ptr = model, data, task, ego_hops, graph_ptr

    def run(self, tasks: FewShotTasks, seed: int = 0) -> Tensor:
        return frozen_embeddings_accuracy(self.model, self.data, tasks, self.task, self.ego_hops, self.graph_ptr)


@ADAPTATIONS.register("prompt")
def prompt_tuning(model: Any, data: Any, task: str = "node", ego_hops: int = 1, graph_ptr: Optional[Tensor] = None,
                  config: Optional[PromptConfig] = None) -> PromptTuner:
    """SAMGPT's prompt tuning of ``model`` on ``data`` (its self-supervised stage runs once, here)."""
    return PromptTuner(model, data, task, ego_hops, config, graph_ptr)


@ADAPTATIONS.register("dual_prompts")
def dual_prompts(model: Any, data: Any, task: str = "node", ego_hops: int = 1, graph_ptr: Optional[Tensor] = None,
                 config: Any = None) -> Any:
    """Dual prompts on a UniGraph2 backbone: the target's frozen features are encoded once, here.

    Args:
        config (DualPromptConfig, optional): Tuning options (default: :class:`DualPromptConfig`).
    """
    from graphfm.adapt.unigraph2 import DualPromptConfig, DualPromptTuner

    if task != "node" or graph_ptr is not None:
        raise ConfigError("dual prompts adapt to node tasks of one graph (--task node)")
    if config is not None and not isinstance(config, DualPromptConfig):
        raise ConfigError(f"dual prompts take a DualPromptConfig, got {type(config).__name__}")
    feats, masks = model.prepare(data, progress=False)
    return DualPromptTuner(model, feats, masks, data.edge_index, config)

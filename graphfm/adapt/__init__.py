"""Adaptation to unseen targets: the few-shot protocol, SAMGPT prompt tuning, baselines.

``run_adaptation`` is what ``graphfm adapt`` calls.
"""
from graphfm.adapt.baselines import (aligned_features, frozen_embeddings_accuracy, item_embeddings,
                                     raw_feature_accuracy, supervised_sgc_accuracy)
from graphfm.adapt.fewshot import (FewShotTasks, class_prototypes, linear_probe_accuracy,
                                   paper_tasks, prototype_accuracy, sample_tasks)
from graphfm.adapt.run import adapt_model, load_target, run_adaptation, summarise
from graphfm.adapt.samgpt import PromptConfig, PromptTuner

__all__ = ["FewShotTasks", "sample_tasks", "paper_tasks", "prototype_accuracy", "linear_probe_accuracy",
           "class_prototypes", "PromptConfig", "PromptTuner", "adapt_model", "run_adaptation", "load_target",
           "summarise", "item_embeddings", "frozen_embeddings_accuracy", "raw_feature_accuracy", "aligned_features",
           "supervised_sgc_accuracy"]

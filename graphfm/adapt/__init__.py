"""Adaptation to unseen targets: the few-shot protocol, SAMGPT prompt tuning, class names, baselines.

``run_adaptation`` is what ``graphfm adapt`` calls. A model says how it adapts
(:meth:`PretrainedModel.adaptations <graphfm.models.base.PretrainedModel.adaptations>`), naming
a scorer of :data:`ADAPTATIONS`.
"""
from graphfm.adapt.baselines import (aligned_features, frozen_embeddings_accuracy, item_embeddings,
                                     raw_feature_accuracy, supervised_sgc_accuracy)
from graphfm.adapt.fewshot import (FewShotTasks, class_prototypes, linear_probe_accuracy,
                                   paper_tasks, prototype_accuracy, sample_tasks)
from graphfm.adapt.methods import ADAPTATIONS
from graphfm.adapt.names import (DEFAULT_RULE, TEMPLATES, LabelRule, label_aware_accuracy, label_aware_prototypes,
                                 name_embeddings, task_accuracy)
from graphfm.adapt.run import (adapt_model, adapt_with_names, choose_adaptation, few_shot_target, run_adaptation,
                               summarise)
from graphfm.adapt.samgpt import PromptConfig, PromptTuner

__all__ = ["FewShotTasks", "sample_tasks", "paper_tasks", "prototype_accuracy", "linear_probe_accuracy",
           "class_prototypes", "PromptConfig", "PromptTuner", "ADAPTATIONS", "adapt_model", "run_adaptation",
           "few_shot_target", "choose_adaptation", "summarise", "item_embeddings", "frozen_embeddings_accuracy",
           "raw_feature_accuracy", "aligned_features", "supervised_sgc_accuracy", "LabelRule", "DEFAULT_RULE",
           "TEMPLATES", "label_aware_accuracy", "label_aware_prototypes", "name_embeddings", "task_accuracy",
           "adapt_with_names"]

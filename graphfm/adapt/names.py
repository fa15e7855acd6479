"""Class names as prototypes: zero-shot and label-aware few-shot classification on text graphs.

A class name becomes a text (:func:`label_text`: underscores to spaces), is put in a generic
template (:data:`TEMPLATES`: no domain words) and goes through a model's own route from text
into its embedding space (:meth:`PretrainedModel.embed_texts
<graphfm.models.base.PretrainedModel.embed_texts>`, normalised with the target graph's
statistics; the text baselines of :mod:`graphfm.adapt.text_baselines` offer the same method).

One rule mixes names and support examples for every model and baseline
(:class:`LabelRule`)::

    prototype_c = normalise(mean of the support of class c) + w * normalise(name_c)

with ``w = w0 / shots`` (``kind="count"``: the name counts as ``w0`` supports, so one support
never outweighs the name and many supports do) or ``w = w0`` (``kind="constant"``). With no
support (``shots=0``, tasks from ``sample_tasks(y, 0, ...)``: the queries of the 1-shot tasks
of the same seed) the prototype is the name alone. Queries go to the nearest prototype by
cosine. The library default is ``LabelRule("{}", w0=1.0, kind="count")``; a checkpoint may
carry its own (chosen on its sources while pretraining), read by
:meth:`~graphfm.models.base.PretrainedModel.label_rule`.

Example::

    names = name_embeddings(model, data.label_names, data, DEFAULT_RULE)     # [C, D]
    tasks = sample_tasks(data.y, 0, 20, seed=0)       # zero-shot: the 1-shot tasks' queries
    acc = label_aware_accuracy(model.embed(data), tasks, names)              # [T] percent
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphfm.adapt.fewshot import FewShotTasks, _gather
from graphfm.errors import ConfigError, DataError

__all__ = ["TEMPLATES", "WEIGHT_KINDS", "LabelRule", "DEFAULT_RULE", "label_text", "check_template",
           "parse_label_names", "check_label_names", "rule_for", "name_embeddings", "label_aware_prototypes",
           "label_aware_predictions", "label_aware_accuracy", "task_accuracy", "nearest_name"]

#: Generic templates (no domain words) a rule may put a class name in.
TEMPLATES = ("{}", "a text about {}", "an item about {}", "about {}", "a {} text", "{} content")
#: How a rule weighs the name against the supports: ``w0 / shots`` or ``w0``.
WEIGHT_KINDS = ("count", "constant")


def check_template(template: Any) -> str:
    """``template`` if it is a string holding ``"{}"`` exactly once (where the name goes).

    Raises:
        ConfigError: otherwise, with an example.
    """
    ok = isinstance(template, str) and template.count("{}") == 1
    if ok:
        try:
            ok = template.format("x") == template.replace("{}", "x")
        except (IndexError, KeyError, ValueError):
            ok = False
    if not ok:
        raise ConfigError(f"label template {template!r} must be text holding '{{}}' exactly once (where the class "
                          "name goes) and no other braces, e.g. 'a text about {}'")
    return template


@dataclass(frozen=True)
class LabelRule:
    """How class names become prototypes (see the module docstring).

    Args:
        template (str): Where the name goes, one ``"{}"``. (default: ``"{}"``)
        w0 (float): Weight of the name: with ``kind="count"`` the name counts as ``w0``
            supports (``w = w0 / shots``), with ``"constant"`` ``w = w0``. (default: ``1.0``)
        kind (str): ``"count"`` or ``"constant"``. (default: ``"count"``)
    """

    template: str = "{}"
    w0: float = 1.0
    kind: str = "count"

    def __post_init__(self) -> None:
        check_template(self.template)
        if self.kind not in WEIGHT_KINDS:
            raise ConfigError(f"label rule kind {self.kind!r} is unknown; valid: {', '.join(WEIGHT_KINDS)}")
        if isinstance(self.w0, bool) or not isinstance(self.w0, (int, float)) or not math.isfinite(self.w0) \
                or self.w0 < 0:
            raise ConfigError(f"label rule w0 must be a finite number >= 0, got {self.w0!r}")

    def weight(self, shots: int) -> float:
        """``w`` at ``shots`` supports per class (``shots >= 1``; with none the name is the prototype)."""
        return float(self.w0) / max(int(shots), 1) if self.kind == "count" else float(self.w0)

    def texts(self, names: Sequence[str]) -> List[str]:
        """The template filled with every name (:func:`label_text`)."""
        return [self.template.format(label_text(n)) for n in names]

    def to_dict(self) -> Dict[str, Any]:
        return {"template": self.template, "w0": float(self.w0), "kind": self.kind}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], source: str = "label_rule") -> "LabelRule":
        """A rule from ``{"template", "w0", "kind"}`` (each optional).

        Raises:
            ConfigError: a mapping with other keys or bad values; the message names ``source``.
        """
        if not isinstance(spec, Mapping) or set(spec) - {"template", "w0", "kind"}:
            raise ConfigError(f"{source} must be a mapping with keys template, w0, kind (e.g. {{template: 'a text "
                              f"about {{}}', w0: 2.0, kind: count}}), got {spec!r}")
        try:
            return cls(**dict(spec))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


#: The library's rule when a checkpoint carries none.
DEFAULT_RULE = LabelRule()


def label_text(name: str) -> str:
    """A published class name as text: underscores become spaces, the rest is kept
    (``"Neural_Networks"`` -> ``"Neural Networks"``)."""
    return str(name).replace("_", " ")


def parse_label_names(text: str) -> List[str]:
    """``"a, b ,c"`` -> ``["a", "b", "c"]`` (``--label-names``).

    Raises:
        ConfigError: an empty name or a name given twice.
    """
    names = [n.strip() for n in str(text).split(",")]
    if any(not n for n in names):
        raise ConfigError(f"--label-names {text!r} has an empty name; give one name per class, separated by commas, "
                          "e.g. --label-names 'theory,neural networks,databases'")
    if len(set(names)) != len(names):
        raise ConfigError(f"--label-names {text!r} repeats a name; give every class its own name")
    return names


def check_label_names(names: Sequence[str], labels: Tensor, source: str = "--label-names") -> List[str]:
    """``names`` if there is one per class id ``0 .. max(labels)``.

    Raises:
        DataError: another count, naming both and the fix.
    """
    labelled = labels[labels >= 0]
    classes = int(labelled.max()) + 1 if labelled.numel() else 0
    if len(names) != classes:
        raise DataError(f"{source} gives {len(names)} class name(s) but the target has {classes} classes (ids 0.."
                        f"{classes - 1}); give one name per class, in class-id order")
    return [str(n) for n in names]


def rule_for(model: Any, template: Optional[str] = None) -> Tuple[LabelRule, str]:
    """The rule ``model`` carries (:meth:`~graphfm.models.base.PretrainedModel.label_rule`), else
    :data:`DEFAULT_RULE`, with ``template`` (e.g. ``--template``) in place of its own; and where it
    came from (``"checkpoint"`` or ``"default"``, ``"+template"`` when overridden)."""
    spec = model.label_rule()
    rule = LabelRule.from_dict(spec, "the checkpoint's label_rule") if spec else DEFAULT_RULE
    source = "checkpoint" if spec else "default"
    if template is not None:
        rule, source = replace(rule, template=check_template(template)), source + "+template"
    return rule, source


def name_embeddings(route: Any, names: Sequence[str], graph: Any, rule: LabelRule = DEFAULT_RULE) -> Tensor:
    """The names' embeddings ``[C, D]`` through ``route.embed_texts(texts, graph)`` (a model or a
    text baseline), the texts being ``rule.texts(names)``."""
    emb = route.embed_texts(rule.texts(names), graph)
    return emb.detach().float()


def label_aware_prototypes(emb: Tensor, tasks: FewShotTasks, names_emb: Tensor,
                           rule: LabelRule = DEFAULT_RULE) -> Tensor:
    """Prototypes ``[T, C, D]``: ``normalise(support mean) + w * normalise(name)``; the names alone
    for 0-shot tasks.

    Args:
        emb (Tensor): Embeddings ``[N, D]``.
        tasks (FewShotTasks): The tasks (``shots >= 0``).
        names_emb (Tensor): One row per class id ``[C_all, D]`` (task classes index it).
        rule (LabelRule): The mixing rule. (default: :data:`DEFAULT_RULE`)
    """
    emb = emb.detach().float()
    names_emb = names_emb.detach().float().to(emb.device)
    if names_emb.dim() != 2 or names_emb.size(1) != emb.size(-1):
        raise DataError(f"name embeddings of shape {tuple(names_emb.shape)} do not match embeddings of width "
                        f"{emb.size(-1)}; embed the names with the same model")
    if int(tasks.classes.max()) >= names_emb.size(0):
        raise DataError(f"class {int(tasks.classes.max())} has no name ({names_emb.size(0)} names); give one name "
                        "per class")
    names = F.normalize(names_emb[tasks.classes.to(emb.device)], dim=-1).expand(tasks.num_tasks, -1, -1)
    if tasks.shots == 0:
        return names
    sup = _gather(emb, tasks.support)                                             # [T, C*s, D]
    mean = sup.view(tasks.num_tasks, tasks.num_classes, tasks.shots, -1).mean(2)
    return F.normalize(mean, dim=-1) + rule.weight(tasks.shots) * names


def label_aware_predictions(emb: Tensor, tasks: FewShotTasks, names_emb: Tensor,
                            rule: LabelRule = DEFAULT_RULE) -> Tensor:
    """Task-local class of every query ``[T, Q]``: its nearest :func:`label_aware_prototypes` by cosine."""
    proto = label_aware_prototypes(emb, tasks, names_emb, rule)
    query = F.normalize(_gather(emb.detach().float(), tasks.query), dim=-1)     # [T, Q, D]
    return (query @ F.normalize(proto, dim=-1).transpose(1, 2)).argmax(-1)


def task_accuracy(pred: Tensor, tasks: FewShotTasks, balanced: bool = False) -> Tensor:
    """Accuracy (percent) of every task ``[T]`` from predictions ``[T, Q]``; ``balanced``: the mean
    over the task's classes of the recall of its queries of that class (classes without a query
    are left out), for targets whose classes are far from equally large (Debian)."""
    truth = tasks.query_y.to(pred.device)
    hit = (pred == truth).float()
    if not balanced:
        return hit.mean(1) * 100.0
    onehot = F.one_hot(truth, tasks.num_classes).float()                         # [T, Q, C]
    count = onehot.sum(1)                                                        # [T, C]
    recall = (onehot * hit.unsqueeze(-1)).sum(1) / count.clamp_min(1.0)
    present = (count > 0).float()
    return (recall * present).sum(1) / present.sum(1) * 100.0


def label_aware_accuracy(emb: Tensor, tasks: FewShotTasks, names_emb: Tensor, rule: LabelRule = DEFAULT_RULE,
                         balanced: bool = False) -> Tensor:
    """Accuracy (percent) ``[T]`` of nearest label-aware prototypes: zero-shot for ``tasks.shots == 0``.

    Args:
        emb (Tensor): Embeddings ``[N, D]``.
        tasks (FewShotTasks): The tasks; draw zero-shot ones with ``sample_tasks(y, 0, ...)`` so that
            they carry the queries of the 1-shot tasks of the same seed.
        names_emb (Tensor): Name embeddings ``[C_all, D]`` (:func:`name_embeddings`).
        rule (LabelRule): The mixing rule. (default: :data:`DEFAULT_RULE`)
        balanced (bool): Balanced accuracy instead (:func:`task_accuracy`). (default: ``False``)
    """
    return task_accuracy(label_aware_predictions(emb, tasks, names_emb, rule), tasks, balanced)


def nearest_name(emb: Tensor, names_emb: Tensor, chunk: Optional[int] = 65536) -> Tensor:
    """The class id of the nearest name (cosine) of every row ``[N]``: zero-shot over all items."""
    names = F.normalize(names_emb.detach().float(), dim=-1)
    rows = emb.detach().float()
    step = chunk or rows.size(0) or 1
    return torch.cat([(F.normalize(rows[i:i + step], dim=-1) @ names.t()).argmax(1)
                      for i in range(0, rows.size(0), step)]) if rows.size(0) else torch.zeros(0, dtype=torch.long)

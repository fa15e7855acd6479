"""Choices made inside a fold of ``graphfm bench text`` from its sources only.

Every source graph is scored on its *own* few-shot tasks (seeds :data:`SOURCE_SEEDS`, never
the target's), so nothing the bench picks has seen the target's labels:

* :func:`choose_rule` picks the name template (:data:`graphfm.adapt.names.TEMPLATES`), the
  propagation steps ``k`` and the rule mixing names and supports, with the untrained backbone
  (``Â^k X``, the same for every row);
* :func:`choose_alpha` picks the whitening power by leave-one-source-out: each source is
  scored with ``W`` computed from the statistics the model gathered on the *other* sources.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from graphfm.adapt.names import TEMPLATES, LabelRule, label_aware_accuracy

SOURCE_SEEDS = (100, 101)
SOURCE_TASKS = 10
HOPS = (1, 2, 3)
ALPHAS = (0.0, 0.1, 0.25, 0.4)
#: Candidate mixing rules: the name weighs ``w0`` (constant) or counts as ``w0`` supports.
RULES = tuple([LabelRule(w0=w, kind="constant") for w in (0.5, 1.0, 2.0)]
              + [LabelRule(w0=w, kind="count") for w in (1.0, 2.0, 4.0)])
SHOTS = (0, 1, 5)


@dataclass
class GraphView:
    """A loaded text graph as the bench scores it: normalised frozen features, ``Â^k X`` for
    ``k <= max(HOPS)``, labels, class names; name embeddings per template (memoised).

    Args:
        data (Data): The graph (``data.text``, ``data.y``, ``data.label_names``).
        route (FrozenText): The frozen text route (normalisation and encoder).
    """

    data: Any
    route: Any
    hops: List[Tensor] = field(default_factory=list)
    _names: Dict[str, Tensor] = field(default_factory=dict)
    _tasks: Dict[Tuple[int, int], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from graphfm.adapt.text_baselines import graph_adjacency

        x = self.route.inputs(self.data)
        adj = graph_adjacency(self.data)
        self.hops = [x]
        for _ in range(max(HOPS)):
            self.hops.append(adj @ self.hops[-1])

    @property
    def name(self) -> str:
        return str(getattr(self.data, "name", "graph"))

    @property
    def y(self) -> Tensor:
        return self.data.y.view(-1).long()

    def names(self, template: str) -> Tensor:
        """Class-name embeddings ``[C, D]`` (isolated nodes: ``Â`` leaves them as they are)."""
        if template not in self._names:
            rule = LabelRule(template=template)
            self._names[template] = self.route.text_inputs(rule.texts(self.data.label_names), self.data)
        return self._names[template]


def source_score(view: GraphView, emb: Tensor, names: Tensor, rule: LabelRule,
                 shots: Sequence[int] = SHOTS) -> Dict[int, float]:
    """Mean accuracy per shot count on ``view``'s own tasks (seeds :data:`SOURCE_SEEDS`)."""
    out = {}
    for k in shots:
        accs = [label_aware_accuracy(emb, _tasks(view, k, s), names, rule).mean() for s in SOURCE_SEEDS]
        out[k] = float(torch.stack(accs).mean())
    return out


def _tasks(view: GraphView, shots: int, seed: int) -> Any:
    if (shots, seed) not in view._tasks:
        from graphfm.adapt import sample_tasks

        view._tasks[(shots, seed)] = sample_tasks(view.y, shots, SOURCE_TASKS, seed=seed)
    return view._tasks[(shots, seed)]


def choose_rule(sources: Sequence[GraphView]) -> Dict[str, Any]:
    """``{template, hops, rule}`` from the sources: the template by mean zero-shot accuracy (over
    sources and ``k``); ``k`` by the mean of 0/1/5 shots (name weight 1); the rule by the mean of
    1 and 5 shots. Returns also the table of scores it chose from."""
    plain = LabelRule(w0=1.0, kind="constant")
    zero = {(t, k): _mean(source_score(v, v.hops[k], v.names(t), plain, (0,))[0] for v in sources)
            for t in TEMPLATES for k in HOPS}
    template = max(TEMPLATES, key=lambda t: sum(zero[(t, k)] for k in HOPS))
    by_k = {k: _mean(sum(source_score(v, v.hops[k], v.names(template), plain).values()) / 3 for v in sources)
            for k in HOPS}
    hops = max(HOPS, key=by_k.get)
    by_rule = {r: _mean(sum(source_score(v, v.hops[hops], v.names(template), r, (1, 5)).values()) / 2
                        for v in sources) for r in RULES}
    rule = max(RULES, key=by_rule.get)
    return {"template": template, "hops": hops, "rule": LabelRule(template, rule.w0, rule.kind),
            "table": {"zero_shot": {f"{t} | k={k}": round(a, 2) for (t, k), a in zero.items()},
                      "hops": {str(k): round(a, 2) for k, a in by_k.items()},
                      "rule": {f"{r.kind} {r.w0:g}": round(a, 2) for r, a in by_rule.items()}}}


def choose_alpha(model: Any, sources: Sequence[GraphView], hops: int, rule: LabelRule,
                 alphas: Sequence[float] = ALPHAS) -> Tuple[float, Dict[str, float]]:
    """The whitening power by leave-one-source-out: for each source, ``W`` from the model's
    statistics of the other sources; score = mean of 0/1/5-shot accuracy. Returns the best
    ``alpha`` and the mean score of each candidate."""
    if len(sources) < 2:
        return float(model.whiten_alpha), {}
    scores: Dict[float, List[float]] = {a: [] for a in alphas}
    for held in sources:
        rest = [v.name for v in sources if v is not held]
        names = held.names(rule.template)
        for a in alphas:
            w = model.whitening_matrix(a, rest)
            sc = source_score(held, held.hops[hops] @ w, names @ w, rule)
            scores[a].append(sum(sc.values()) / len(sc))
    mean = {a: _mean(v) for a, v in scores.items()}
    return max(alphas, key=mean.get), {str(a): round(m, 2) for a, m in mean.items()}


def _mean(values: Any) -> float:
    values = list(values)
    return float(sum(values) / max(len(values), 1))

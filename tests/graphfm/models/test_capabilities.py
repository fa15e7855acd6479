"""What a model can do is said by PretrainedModel's methods, never probed for by its callers."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from graphfm.adapt import choose_adaptation
from graphfm.data import synthetic_domain
from graphfm.embed import embed_chunked_to_npy
from graphfm.errors import ConfigError
from graphfm.models import PretrainedModel

PACKAGE = Path(__file__).resolve().parents[3] / "graphfm"


class MeanOfFeatures(PretrainedModel):
    """A graph model with nothing but ``embed``: every capability is the default."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.proj = nn.Linear(1, width)

    def embed(self, data):
        return self.proj(data.x.mean(1, keepdim=True))


def test_defaults_embed_in_one_chunk_and_label_nodes_or_graphs(tmp_path):
    model, graph = MeanOfFeatures(), synthetic_domain(0)
    calls = []
    chunks = list(model.embed_chunks(graph, chunk_size=7, progress=lambda done, total: calls.append((done, total))))
    assert len(chunks) == 1 and chunks[0][:2] == (0, graph.num_nodes) and calls == [(graph.num_nodes,) * 2]
    out = embed_chunked_to_npy(model, graph, tmp_path / "e.npy")
    np.testing.assert_allclose(out, model.embed(graph).detach().numpy(), atol=1e-6)
    assert torch.equal(model.item_labels(graph), graph.y)
    assert torch.equal(model.item_labels([graph, graph], "graph"), torch.cat([graph.y[:1], graph.y[:1]]))
    graph.y = None
    assert model.item_labels(graph) is None
    assert model.adaptations("node") == {"frozen": "prototypes"}


def test_models_say_how_they_adapt():
    from graphfm.models.samgpt import SAMGPT
    from graphfm.models.unigraph2 import UniGraph2

    samgpt = SAMGPT()
    assert choose_adaptation(samgpt, "node") == "prompt" and choose_adaptation(samgpt, "graph", "frozen") == "prototypes"
    unigraph2 = UniGraph2({"feat": {"dim": 4, "encoder": {"name": "precomputed"}, "field": "x"}}, hidden_dim=8)
    assert choose_adaptation(unigraph2, "node") == "prototypes"
    assert choose_adaptation(unigraph2, "node", "dual_prompts") == "dual_prompts"
    with pytest.raises(ConfigError, match="does not adapt to graph tasks by 'dual_prompts'.*--task node"):
        choose_adaptation(unigraph2, "graph", "dual_prompts")
    with pytest.raises(ConfigError, match=r"by 'prompt'; valid methods: auto, frozen"):
        choose_adaptation(MeanOfFeatures(), "node", "prompt")


def _hasattr_on_model(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("hasattr", "getattr") and node.args:
            first = ast.unparse(node.args[0])
            if "model" in first:
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}"


def test_adapt_and_embed_never_probe_the_model():
    files = [PACKAGE / "embed.py", *sorted((PACKAGE / "adapt").glob("*.py"))]
    probes = [hit for path in files for hit in _hasattr_on_model(path)]
    assert probes == [], "ask the model through PretrainedModel's methods instead:\n" + "\n".join(probes)

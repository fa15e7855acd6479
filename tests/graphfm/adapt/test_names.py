"""Class names as prototypes (graphfm.adapt.names), UniGraph2's route from text, and `graphfm adapt --shots 0`.

The text graph is small and real: a few sentences per class about clearly different topics,
encoded by MiniLM (cached after the first run), so zero-shot scores mean something.
"""
import csv
import json

import pytest
import torch
from torch_geometric.data import Data

from graphfm.adapt import sample_tasks
from graphfm.adapt.fewshot import class_prototypes
from graphfm.adapt.names import (DEFAULT_RULE, TEMPLATES, LabelRule, check_label_names, check_template,
                                 label_aware_accuracy, label_aware_predictions, label_aware_prototypes, label_text,
                                 name_embeddings, nearest_name, parse_label_names, rule_for, task_accuracy)
from graphfm.adapt.text_baselines import RawText, SGCText
from graphfm.errors import ConfigError, DataError
from graphfm.models.base import NoTextRouteError

TOPICS = {
    "Astronomy": ["The telescope observed a distant galaxy and its bright stars.",
                  "Planets orbit the sun while comets cross the solar system.",
                  "Astronomers measured the light of a supernova in the night sky.",
                  "The moon and Mars were visible through the observatory telescope.",
                  "A new exoplanet was found orbiting a red dwarf star.",
                  "Black holes bend light near the centre of the Milky Way galaxy."],
    "Cooking": ["Chop the onions and fry them in butter before adding garlic.",
                "Bake the bread dough in a hot oven for forty minutes.",
                "This soup recipe uses fresh tomatoes, basil and olive oil.",
                "Season the roasted chicken with salt, pepper and lemon.",
                "Whisk eggs with sugar and flour to make a sponge cake.",
                "Simmer the pasta sauce slowly and stir it in the pan."],
    "Football": ["The striker scored a goal in the last minute of the match.",
                 "The team won the league after a penalty shootout.",
                 "The goalkeeper saved a penalty and the fans cheered in the stadium.",
                 "The coach picked a new defender for the cup final.",
                 "Both teams played a tense derby that ended in a draw.",
                 "The midfielder passed the ball to the winger who crossed it."],
}
MINILM = {"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 32}


def text_graph() -> Data:
    texts, y = [], []
    for c, sentences in enumerate(TOPICS.values()):
        texts += sentences
        y += [c] * len(sentences)
    n, per = len(texts), len(TOPICS["Astronomy"])
    src = [c * per + i for c in range(len(TOPICS)) for i in range(per - 1)]
    dst = [s + 1 for s in src]
    src, dst = src + [0, 7], dst + [13, 14]                              # two edges across classes
    ei = torch.tensor([src + dst, dst + src])
    return Data(x=torch.zeros(n, 4), edge_index=ei, y=torch.tensor(y), text=texts,
                text_mask=torch.ones(n, dtype=torch.bool), label_names=list(TOPICS), name="topics", num_nodes=n)


def unigraph2(text: bool = True, **kwargs):
    from graphfm.models.unigraph2 import UniGraph2

    mods = {"text": {"dim": 384, "encoder": MINILM}} if text else {"feat": {"dim": 4, "encoder": {"name": "precomputed"}}}
    torch.manual_seed(0)
    return UniGraph2(mods, hidden_dim=32, num_experts=2, top_k=1, heads=2, dropout=0.0, **kwargs).eval()


# ----------------------------------------------------------------------------- rules and texts
def test_label_text_templates_and_rule_checks():
    assert label_text("Neural_Networks") == "Neural Networks"
    assert label_text("IR (Information Retrieval)") == "IR (Information Retrieval)"
    assert 4 <= len(TEMPLATES) <= 8 and all(t.count("{}") == 1 for t in TEMPLATES)
    assert LabelRule("a text about {}").texts(["Case_Based"]) == ["a text about Case Based"]
    for bad in ("no slot", "{} and {}", "{0}", "{name}", "a {} }", 3):
        with pytest.raises(ConfigError, match="exactly once"):
            check_template(bad)
    with pytest.raises(ConfigError, match="kind"):
        LabelRule(kind="mean")
    with pytest.raises(ConfigError, match="w0"):
        LabelRule(w0=-1.0)
    with pytest.raises(ConfigError, match="keys template, w0, kind"):
        LabelRule.from_dict({"templat": "{}"})
    assert LabelRule.from_dict({"w0": 2, "kind": "constant"}) == LabelRule("{}", 2, "constant")
    assert parse_label_names(" a, b ,c") == ["a", "b", "c"]
    for bad in ("a,,b", "a,a"):
        with pytest.raises(ConfigError, match="--label-names"):
            parse_label_names(bad)


def test_count_rule_weighs_the_name_as_w0_supports():
    rule = LabelRule(w0=2.0)
    assert rule.weight(1) == 2.0 and rule.weight(4) == 0.5
    assert LabelRule(w0=2.0, kind="constant").weight(4) == 2.0
    assert DEFAULT_RULE == LabelRule("{}", 1.0, "count")
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(10)
    emb, names = torch.randn(30, 5, generator=gen), torch.randn(3, 5, generator=gen)
    tasks = sample_tasks(y, 4, 3, seed=0)
    proto = label_aware_prototypes(emb, tasks, names, rule)
    mean = class_prototypes(emb, tasks)
    nf = torch.nn.functional.normalize
    expected = nf(mean, dim=-1) + 0.5 * nf(names[tasks.classes], dim=-1)
    assert torch.allclose(proto, expected, atol=1e-6)
    # zero-shot: the names alone, whatever the weight
    zero = sample_tasks(y, 0, 3, seed=0)
    assert torch.allclose(label_aware_prototypes(emb, zero, names, rule), nf(names, dim=-1).expand(3, -1, -1))


def test_zero_shot_tasks_carry_the_one_shot_queries():
    y = torch.arange(4).repeat_interleave(25)
    y[::7] = -1
    one, zero = sample_tasks(y, 1, 6, seed=3, max_query=40), sample_tasks(y, 0, 6, seed=3, max_query=40)
    assert zero.shots == 0 and zero.support.shape == (6, 0)
    assert torch.equal(zero.query, one.query) and torch.equal(zero.query_y, one.query_y)
    assert torch.equal(zero.classes, one.classes)
    with pytest.raises(DataError, match="zero-shot tasks have no support"):
        class_prototypes(torch.randn(100, 3), zero)
    with pytest.raises(DataError, match="at least 0"):
        sample_tasks(y, -1, 2, seed=0)


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    from graphfm.adapt.fewshot import FewShotTasks

    q_y = torch.tensor([[0, 0, 0, 1], [0, 1, 1, 1]])
    tasks = FewShotTasks(torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long),
                         torch.zeros(2, 4, dtype=torch.long), q_y, torch.tensor([0, 1, 2]), 0)
    pred = torch.tensor([[0, 0, 0, 0], [0, 1, 2, 2]])
    assert torch.allclose(task_accuracy(pred, tasks), torch.tensor([75.0, 50.0]))
    assert torch.allclose(task_accuracy(pred, tasks, balanced=True), torch.tensor([50.0, 100 * (1 + 1 / 3) / 2]))


def test_label_names_must_match_the_classes_and_the_width():
    y = torch.tensor([0, 1, 2, -1])
    assert check_label_names(["a", "b", "c"], y) == ["a", "b", "c"]
    with pytest.raises(DataError, match="gives 2 class name.*3 classes"):
        check_label_names(["a", "b"], y)
    tasks = sample_tasks(torch.arange(3).repeat_interleave(4), 1, 2, seed=0)
    with pytest.raises(DataError, match="do not match"):
        label_aware_accuracy(torch.randn(12, 5), tasks, torch.randn(3, 4))


# ----------------------------------------------------------------------------- real texts (MiniLM)
def test_zero_shot_beats_chance_and_pairs_with_the_one_shot_tasks():
    data = text_graph()
    for route in (RawText(encoder=MINILM), SGCText(hops=1, encoder=MINILM), unigraph2()):
        names = name_embeddings(route, data.label_names, data, LabelRule("a text about {}"))
        emb = route.embed(data)
        assert names.shape == (3, emb.size(1))
        zero, one = sample_tasks(data.y, 0, 5, seed=0), sample_tasks(data.y, 1, 5, seed=0)
        acc0 = label_aware_accuracy(emb, zero, names)
        acc1 = label_aware_accuracy(emb, one, names)
        assert acc0.shape == acc1.shape == (5,)
        assert float(acc0.mean()) > 60.0, (type(route).__name__, acc0)           # chance: 33 %
        # all nodes, by the nearest name
        assert float((nearest_name(emb, names) == data.y).float().mean()) > 0.6
        # the names pull 1-shot prototypes: never far below zero-shot on these topics
        assert float(acc1.mean()) > 50.0
        assert label_aware_predictions(emb, one, names).shape == one.query.shape


def test_unigraph2_texts_are_isolated_nodes_normalised_with_the_graph():
    from graphfm.encoders import normalize_features
    from graphfm.models.unigraph2 import _normalise_like

    data = text_graph()
    model = unigraph2()
    out = model.embed_texts(list(data.text[:3]), data)
    feats, masks = model.prepare(data, progress=False)
    isolated = model.embed_features({"text": feats["text"][:3]}, None, torch.zeros(2, 0, dtype=torch.long))
    assert torch.allclose(out, isolated, atol=1e-5)
    x, m = torch.randn(10, 6) + 3.0, torch.tensor([True] * 8 + [False] * 2)
    for mode in ("center", "standardize", "none"):
        assert torch.allclose(_normalise_like(x, x, m, mode)[m], normalize_features({"a": x}, {"a": m}, mode)["a"][m],
                              atol=1e-5)


def test_models_without_a_text_route_say_so():
    data = text_graph()
    with pytest.raises(NoTextRouteError, match="no text modality"):
        unigraph2(text=False).embed_texts(["x"], data)
    from graphfm.models.samgpt import SAMGPT

    samgpt = SAMGPT(domains=["a"], in_dims={"a": 4}, align_dim=4, hidden=8, num_layers=1)
    with pytest.raises(NoTextRouteError, match="'samgpt' model has no route from text.*--shots >= 1"):
        samgpt.embed_texts(["x"], data)
    assert samgpt.label_rule() is None


def test_label_rule_travels_with_the_checkpoint(tmp_path):
    from graphfm.models import PretrainedModel

    model = unigraph2(label_rule={"template": "about {}", "w0": 2.0})
    model.save_pretrained(tmp_path / "ckpt")
    back = PretrainedModel.from_pretrained(tmp_path / "ckpt")
    assert back.label_rule() == {"template": "about {}", "w0": 2.0}
    assert rule_for(back) == (LabelRule("about {}", 2.0), "checkpoint")
    assert rule_for(back, "a {} text") == (LabelRule("a {} text", 2.0), "checkpoint+template")
    assert rule_for(unigraph2()) == (DEFAULT_RULE, "default")
    with pytest.raises(ConfigError, match="label_rule"):
        unigraph2(label_rule={"weight": 1})


# ----------------------------------------------------------------------------- graphfm adapt --shots 0
def write_text_folder(folder, names=True):
    data = text_graph()
    folder.mkdir()
    with open(folder / "nodes.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for t, c in zip(data.text, data.y.tolist()):
            w.writerow([t, data.label_names[c] if names else c])
    with open(folder / "edges.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["src", "dst"])
        w.writerows(data.edge_index.t().tolist())
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny UniGraph2 with a MiniLM text modality, pretrained for two steps on the text folder."""
    from graphfm.engine import pretrain

    tmp = tmp_path_factory.mktemp("names-cli")
    folder = write_text_folder(tmp / "topics")
    cfg = {"name": "names-tiny", "seed": 0,
           "data": {"name": "multimodal_graphs", "graphs": [{"name": str(folder), "weight": 1.0}],
                    "modalities": {"text": {"encoder": MINILM}}, "sampler": "ppr", "subgraph_size": 8,
                    "subgraphs_per_batch": 2, "progress": False},
           "model": {"name": "unigraph2", "hidden_dim": 32, "num_experts": 2, "top_k": 1, "num_layers": 2, "heads": 2},
           "objective": {"name": "unigraph2", "mask_rate": 0.5, "spd_sources": 4, "spd_pairs_per_source": 4,
                         "spd_cutoff": 3},
           "trainer": {"max_steps": 2, "lr": 0.001, "log_every": 1, "progress": False}}
    return pretrain(cfg, tmp / "ckpt"), folder, tmp


def _adapt(capsys, ckpt, target, out, *flags):
    from graphfm.cli import main

    code = main(["adapt", "--checkpoint", str(ckpt), "--target", str(target), "--tasks", "4", "--seeds", "2",
                 "--out", str(out), *flags])
    return code, capsys.readouterr()


def test_cli_zero_shot_and_label_aware_shots_on_a_text_folder(checkpoint, capsys):
    ckpt, folder, tmp = checkpoint
    code, cap = _adapt(capsys, ckpt, folder, tmp / "zero.json", "--shots", "0")
    assert code == 0, cap.err
    zero = json.loads((tmp / "zero.json").read_text())
    for key in ("target", "task", "shots", "tasks", "seeds", "mean", "std", "n", "seconds", "accuracies"):
        assert key in zero
    assert zero["shots"] == 0 and zero["n"] == 8 and len(zero["accuracies"]) == 8
    assert len(zero["balanced_accuracies"]) == 8
    assert zero["label_rule"] == {"template": "{}", "w0": 1.0, "kind": "count", "weight": None, "source": "default"}
    assert zero["label_names"] == sorted(TOPICS)
    assert zero["mean"] > 50.0                                       # chance: 33 %
    code, cap = _adapt(capsys, ckpt, folder, tmp / "one.json", "--shots", "1", "--template", "a text about {}")
    assert code == 0, cap.err
    one = json.loads((tmp / "one.json").read_text())
    assert one["n"] == 8 and one["label_rule"]["weight"] == 1.0 and one["label_rule"]["source"] == "default+template"
    code, cap = _adapt(capsys, ckpt, folder, tmp / "named.json", "--shots", "0", "--label-names",
                       "stars and planets,recipes and food,football matches")
    assert code == 0, cap.err
    assert json.loads((tmp / "named.json").read_text())["label_names"][0] == "stars and planets"


@pytest.mark.parametrize("flags,fragments", [
    (("--shots", "0", "--label-names", "a,b"), ("--label-names gives 2", "3 classes")),
    (("--shots", "0", "--template", "about"), ("template", "exactly once")),
    (("--shots", "0", "--task", "graph"), ("--task node",)),
    (("--shots", "-1"), ("--shots", ">= 0")),
    (("--shots", "0", "--dual-prompts"), ("frozen embeddings", "--dual-prompts")),
])
def test_cli_name_errors(checkpoint, capsys, flags, fragments):
    ckpt, folder, tmp = checkpoint
    code, cap = _adapt(capsys, ckpt, folder, tmp / "bad.json", *flags)
    lines = cap.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), cap.err
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not (tmp / "bad.json").exists()


def test_cli_zero_shot_without_names_says_how_to_give_them(checkpoint, capsys, tmp_path):
    ckpt, _, _ = checkpoint
    folder = write_text_folder(tmp_path / "unnamed", names=False)
    code, cap = _adapt(capsys, ckpt, folder, tmp_path / "r.json", "--shots", "0")
    assert code == 2 and "--label-names" in cap.err and "--shots >= 1" in cap.err, cap.err
    # k >= 1 without names: plain prototypes, no label rule
    code, cap = _adapt(capsys, ckpt, folder, tmp_path / "r.json", "--shots", "1")
    assert code == 0, cap.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert "label_rule" not in result and result["n"] == 8

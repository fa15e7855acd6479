"""graphfm bench text / text_curve: choices on the sources only, rows paired task by task, the report
counting the issue's criteria; end to end on three small text graphs given as user files."""
import json

import pytest
import torch

from graphfm.bench.text_choice import GraphView, choose_alpha, choose_rule
from graphfm.bench.text_report import criteria
from tests.graphfm.adapt.test_names import MINILM

TOPICS = {
    "astronomy": ["stars and galaxies", "a telescope image of a nebula", "planets orbit the sun",
                  "the moon and its craters", "a comet in the night sky"],
    "cooking": ["a recipe for tomato soup", "bake the bread for an hour", "fry onions in butter",
                "a salad with fresh herbs", "season the pasta sauce"],
    "football": ["the striker scored a goal", "the referee showed a red card", "a penalty kick in the final",
                 "the goalkeeper saved the shot", "the league match ended in a draw"],
}


def _graph_dict(seed: int, per_class: int = 16):
    gen = torch.Generator().manual_seed(seed)
    texts, y = [], []
    for c, sentences in enumerate(TOPICS.values()):
        for i in range(per_class):
            texts.append(f"{sentences[(i + seed) % len(sentences)]} ({['note', 'post', 'page'][seed % 3]} {i})")
            y.append(c)
    n = len(texts)
    y = torch.tensor(y)
    src = torch.randint(n, (4 * n,), generator=gen)
    same = (torch.rand(4 * n, generator=gen) < 0.8)
    dst = torch.where(same, (src // per_class) * per_class + torch.randint(per_class, (4 * n,), generator=gen),
                      torch.randint(n, (4 * n,), generator=gen))
    return {"raw_texts": texts, "edge_index": torch.stack([src, dst]), "y": y, "label_names": list(TOPICS)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("textgraphs")
    paths = []
    for i, name in enumerate(("notes", "posts", "pages")):
        path = root / f"{name}.pt"
        torch.save(_graph_dict(i), path)
        paths.append(str(path))
    return paths


def _views(files):
    from graphfm.adapt.text_baselines import RawText
    from graphfm.data import load_graph

    route = RawText(encoder=MINILM)
    return [GraphView(load_graph(f), route) for f in files]


def test_choices_are_made_on_the_sources_alone(files):
    views = _views(files)
    choice = choose_rule(views[:2])
    assert choice["hops"] in (1, 2, 3) and "{}" in choice["template"]
    assert set(choice["table"]) == {"zero_shot", "hops", "rule"}
    again = choose_rule(views[:2])
    assert again["rule"] == choice["rule"] and again["hops"] == choice["hops"]

    class Stats:                        # a pretrained model's statistics, per source domain
        whiten_alpha = 0.25

        def whitening_matrix(self, alpha, domains):
            assert views[2].name not in domains and len(domains) == 1
            return torch.eye(384) * (1.0 + alpha)

    alpha, table = choose_alpha(Stats(), views[:2], choice["hops"], choice["rule"])
    assert alpha in (0.0, 0.1, 0.25, 0.4) and len(table) == 4
    assert len(set(table.values())) == 1          # a scaled identity changes no cosine: all tie


def test_criteria_count_cells_from_paired_tasks():
    rows = []
    for t in ("A", "B", "C", "D"):
        for task in ("0-shot", "1-shot", "5-shot", "probe"):
            base = [50.0 + i for i in range(10)]
            rows.append({"target": t, "method": "sgc_lm", "task": task, "mean": 54.5, "accuracies": base})
            gain = 1.0 if t != "D" else -1.0
            rows.append({"target": t, "method": "unigraph2", "task": task, "mean": 54.5 + gain,
                         "accuracies": [v + gain + 0.1 * (i % 2) for i, v in enumerate(base)]})
    table = {r[0]: (r[1], r[2]) for r in criteria(rows, ["A", "B", "C", "D"])}
    key = next(k for k in table if k.startswith("interval above 0 vs sgc_lm"))
    assert table[key] == ("9 / 12", "not met")
    assert table["zero-shot interval above sgc_lm's (need 3 of 4)"] == ("3 / 4", "met")
    assert table["probe no more than 0.5 below sgc_lm"][1] == "not met"


def test_bench_end_to_end_on_user_files(files, tmp_path, monkeypatch):
    from graphfm.bench import text
    from graphfm.bench.text_curve import run as run_curve

    monkeypatch.setattr(text, "CONFIG", _small_config(tmp_path))
    payload = text.run(tmp_path / "out", graphs=files, rows=["unigraph2", "random_init", "target_ssl", "sgc_lm",
                                                             "raw_lm"], tasks=2, seeds=1, steps=3, probe_splits=1)
    rows = payload["rows"]
    methods = {r["method"] for r in rows}
    assert methods == {"unigraph2", "random_init", "target_ssl", "sgc_lm", "raw_lm"}
    assert {r["task"] for r in rows} == {"0-shot", "1-shot", "5-shot", "probe"}
    by = {(r["target"], r["method"], r["task"]): r["accuracies"] for r in rows}
    for (t, m, task), accs in by.items():
        assert len(accs) == len(by[(t, "sgc_lm", task)])
        if m == "random_init":
            assert accs == by[(t, "sgc_lm", task)]          # untrained = SGC on the frozen features
    for target, fold in payload["folds"].items():
        assert target not in fold["sources"] and len(fold["sources"]) == 2
    md = (tmp_path / "out" / "text.md").read_text()
    assert "The issue's criteria" in md and "What each fold chose" in md
    assert json.loads((tmp_path / "out" / "text.json").read_text())["settings"]["tasks"] == 2

    monkeypatch.setattr("graphfm.bench.text.CONFIG", _small_config(tmp_path))
    curve = run_curve(tmp_path / "curve", graphs=files, targets=files[:1], tasks=2, seeds=1, steps=3)
    assert set(curve["curve"]) == {"1", "2"}
    cells = {(r["sources"], r["task"]): set() for r in curve["rows"]}
    for r in curve["rows"]:
        assert len(r["accuracies"]) == r["n"] == 2
        cells[(r["sources"], r["task"])].add(r["method"])
    assert all(m == {"unigraph2", "random_init"} for m in cells.values())
    assert (tmp_path / "curve" / "text_curve.png").stat().st_size > 1000


def _small_config(tmp_path):
    """configs/unigraph2/text.yaml with the small test encoder."""
    from graphfm.config import load_yaml, resolve_config
    import yaml

    cfg = load_yaml(resolve_config("unigraph2/text"))
    cfg["data"]["modalities"]["text"]["encoder"] = dict(MINILM)
    cfg["data"]["subgraphs_per_batch"] = 4
    path = tmp_path / "text.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)

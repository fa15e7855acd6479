"""SAMGPT with text alignment (model.align: text): one feature space from a frozen text encoder.

Small real text graphs (a few sentences per topic) through MiniLM at max_length 32; the encoder
cache is a temporary folder, so every test encodes its own few dozen texts.
"""
import json
from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Data

from graphfm.data import synthetic_domain
from graphfm.errors import CheckpointError, ConfigError, DataError
from graphfm.models import PretrainedModel
from graphfm.models.base import NoTextRouteError
from graphfm.models.samgpt import SAMGPT

MINILM = {"name": "text", "model": "all-MiniLM-L6-v2", "max_length": 32}
TOPICS = {
    "space": ["The telescope observed a distant galaxy.", "Planets orbit the sun.", "A comet crossed the sky.",
              "Astronomers found a new exoplanet.", "The moon was bright tonight."],
    "food": ["Fry the onions in butter.", "Bake the bread for forty minutes.", "This soup uses fresh tomatoes.",
             "Season the chicken with lemon.", "Whisk eggs with sugar and flour."],
    "sport": ["The striker scored a late goal.", "The team won the league.", "The goalkeeper saved a penalty.",
              "The coach picked a new defender.", "The derby ended in a draw."],
}


def text_graph(name: str = "topics", isolated: bool = True) -> Data:
    """15 nodes, a path per topic; node 14 (the last) has no edge when ``isolated``."""
    texts = [t for ts in TOPICS.values() for t in ts]
    y = [c for c, ts in enumerate(TOPICS.values()) for _ in ts]
    src = [c * 5 + i for c in range(3) for i in range(4) if not (isolated and c * 5 + i + 1 == 14)]
    src += [0]
    dst = [s + 1 for s in src[:-1]] + [6]
    ei = torch.tensor([src + dst, dst + src])
    data = Data(x=torch.zeros(15, 4), edge_index=ei, y=torch.tensor(y), text=texts,
                text_mask=torch.ones(15, dtype=torch.bool), label_names=list(TOPICS), num_nodes=15)
    data.domain = data.name = name
    return data


def other_graph() -> Data:
    data = text_graph("other", isolated=False)
    data.text = [t.upper() for t in data.text[::-1]]
    return data


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFM_CACHE", str(tmp_path / "features"))


def text_model(**kwargs) -> SAMGPT:
    graphs = [text_graph(), other_graph()]
    spec = {"domains": [g.domain for g in graphs], "in_dims": {g.domain: 4 for g in graphs}}
    torch.manual_seed(0)
    kwargs = {"align": "text", "text_encoder": MINILM, "hidden": 16, "token_init": "random", **kwargs}
    return SAMGPT.from_datamodule(SimpleNamespace(graphs=graphs, spec=spec), **kwargs).eval()


def test_text_alignment_is_one_feature_space_of_the_encoder_width():
    model = text_model()
    assert model.align_dim == 384 and model.feature_tokens.shape == (2, 384)
    assert model.aligner.domain_dims == {}                      # no per-domain SVD
    cfg = model.init_kwargs
    assert cfg["align"] == "text" and cfg["align_dim"] == 384 and cfg["text_encoder"] == MINILM
    assert cfg["text_encoder_id"].startswith("text:all-MiniLM-L6-v2:") and cfg["text_encoder_id"].endswith("len32:mean")
    for graph in (text_graph(), other_graph(), text_graph("unseen")):
        x = model.prepare(graph, cache=False).x
        assert x.shape == (15, 384)
        assert torch.allclose(x.mean(0), torch.zeros(384), atol=1e-5)                     # centred per graph
        assert torch.allclose(x.norm(dim=1).mean(), torch.tensor(1.0), atol=1e-5)
    # the same texts give the same features in any domain: one shared space
    assert torch.allclose(model.prepare(text_graph(), cache=False).x, model.prepare(text_graph("unseen")).x)
    emb = model.embed(text_graph("unseen"))
    assert emb.shape == (15, 16) and torch.isfinite(emb).all()
    # a node without text is a zero input row
    graph = text_graph("gappy")
    graph.text_mask[3] = False
    assert model.prepare(graph).x[3].abs().sum() == 0


def test_embed_texts_are_isolated_nodes_with_the_graph_statistics():
    model = text_model()
    for graph in (text_graph("unseen"), text_graph()):          # neutral tokens, then a source's own
        emb = model.embed(graph)
        out = model.embed_texts([graph.text[14], graph.text[2], "cooking pasta"], graph)
        assert out.shape == (3, 16)
        assert torch.allclose(out[0], emb[14], atol=1e-5)       # node 14 has no neighbour
        assert not torch.allclose(out[1], emb[2], atol=1e-3)     # node 2 has two
    # the graph's statistics: another graph centres the same text differently
    assert not torch.allclose(model.embed_texts(["a text"], text_graph("unseen")),
                              model.embed_texts(["a text"], other_graph()), atol=1e-4)


def test_checkpoint_records_the_encoder_and_refuses_another(tmp_path):
    model = text_model()
    model.save_pretrained(tmp_path / "ckpt")
    back = PretrainedModel.from_pretrained(tmp_path / "ckpt")
    graph = text_graph("unseen")
    assert torch.allclose(back.embed(graph), model.embed(graph), atol=1e-5)
    assert torch.allclose(back.embed_texts(["x"], graph), model.embed_texts(["x"], graph), atol=1e-5)
    copy = back.untrained_copy(seed=1)
    assert copy.init_kwargs["text_encoder_id"] == model.init_kwargs["text_encoder_id"]
    assert copy.embed_texts(["x"], graph).shape == (1, 16)
    back.check_text_encoder(dict(MINILM, batch_size=8))         # the same encoder, another batch size
    with pytest.raises(ConfigError, match="len64.*not the one.*len32"):
        back.check_text_encoder(dict(MINILM, max_length=64))
    # the spec now resolves to another model than at pretraining time
    cfg_file = tmp_path / "ckpt" / "config.yaml"
    cfg_file.write_text(cfg_file.read_text().replace(model.init_kwargs["text_encoder_id"],
                                                     "text:all-MiniLM-L6-v2:0000beef:len32:mean"))
    moved = PretrainedModel.from_pretrained(tmp_path / "ckpt")
    for call in (lambda: moved.embed(graph), lambda: moved.embed_texts(["x"], graph)):
        with pytest.raises(CheckpointError, match="0000beef.*install the text model it was pretrained with"):
            call()


def test_graphs_without_text_and_bad_settings_are_clear_errors():
    model = text_model()
    plain = synthetic_domain(0)
    for call in (lambda: model.embed(plain), lambda: model.embed_texts(["x"], plain)):
        with pytest.raises(DataError, match="no node texts.*give it a text graph.*align: svd"):
            call()
    graph = text_graph("blank")
    graph.text_mask[:] = False
    with pytest.raises(DataError, match="none of its 15 nodes has a text"):
        model.embed(graph)
    with pytest.raises(NoTextRouteError, match="aligns features by SVD.*--shots >= 1.*align: text"):
        SAMGPT(in_dims={"a": 4}, align_dim=4, hidden=8).embed_texts(["x"], text_graph())
    with pytest.raises(ConfigError, match="model.align must be one of"):
        SAMGPT(in_dims={"a": 4}, align="pca")
    with pytest.raises(ConfigError, match="text encoder spec"):
        SAMGPT(align="text", text_encoder={"name": "image"})
    with pytest.raises(ConfigError, match="align_dim is 50.*leave align_dim out"):
        text_model(align_dim=50)
    with pytest.raises(ConfigError, match="align_dim is 50.*leave align_dim out"):
        SAMGPT(domains=["a"], align="text", text_encoder=MINILM, align_dim=50).embed(text_graph())


def test_sampled_batches_take_the_rows_of_their_source_graph():
    from graphfm.data.sampling import k_hop_subgraphs

    model = text_model()
    graph = text_graph()
    egos = k_hop_subgraphs(graph, torch.tensor([0, 7]), 1, as_batch=True)
    egos.domain = graph.domain
    full = model.prepare(graph, cache=False).x
    assert torch.equal(model.prepare(egos).x, full[egos.node_ids])


# ----------------------------------------------------------------------------- the CLI, end to end
def _write_pt(graph: Data, path) -> str:
    torch.save({"raw_texts": list(graph.text), "edge_index": graph.edge_index, "y": graph.y,
                "label_names": list(graph.label_names)}, path)
    return str(path)


def test_cli_pretrain_then_adapt_zero_and_one_shot(tmp_path, capsys):
    import yaml

    from graphfm.cli import main
    from graphfm.config import resolve_config

    sources = [_write_pt(text_graph(), tmp_path / "topics.pt"), _write_pt(other_graph(), tmp_path / "caps.pt")]
    target = _write_pt(text_graph(isolated=False), tmp_path / "target.pt")
    cfg = yaml.safe_load(resolve_config("samgpt/text").read_text())
    cfg["data"]["datasets"] = sources
    cfg["model"].update(text_encoder=MINILM, hidden=16)
    cfg["trainer"].update(max_steps=3, log_every=1, progress=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")]) == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["kwargs"]["align"] == "text" and saved["kwargs"]["text_encoder"] == MINILM
    assert saved["kwargs"]["text_encoder_id"].endswith("len32:mean") and saved["kwargs"]["align_dim"] == 384
    capsys.readouterr()
    for shots in ("0", "1"):
        out = tmp_path / f"shots{shots}.json"
        code = main(["adapt", "--checkpoint", str(tmp_path / "run"), "--target", target, "--shots", shots,
                     "--tasks", "3", "--seeds", "1", "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        result = json.loads(out.read_text())
        assert result["shots"] == int(shots) and len(result["accuracies"]) == 3
    assert "label_rule" in json.loads((tmp_path / "shots0.json").read_text())
    # a target without node texts: one error line naming the fix
    capsys.readouterr()
    code = main(["adapt", "--checkpoint", str(tmp_path / "run"), "--target", "synthetic-3", "--shots", "1",
                 "--tasks", "2", "--seeds", "1", "--out", str(tmp_path / "bad.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no node texts" in err[0] and "text graph" in err[0], err
    assert not (tmp_path / "bad.json").exists()

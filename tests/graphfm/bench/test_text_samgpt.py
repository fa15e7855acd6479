"""The SAMGPT row of the text benchmark: pretrain_samgpt_text on loaded text graphs."""
import pytest
import torch

from graphfm.bench.text_samgpt import pretrain_samgpt_text
from graphfm.data import load_graph, synthetic_domain
from graphfm.errors import DataError
from graphfm.models.samgpt import SAMGPT
from tests.graphfm.models.test_samgpt_text import MINILM, other_graph, text_graph


def test_pretrains_on_loaded_text_graphs_and_embeds_names(tmp_path, monkeypatch):
    import graphfm.bench.text_samgpt as bench

    monkeypatch.setattr(bench, "CONFIG", str(_tiny_config(tmp_path)))
    sources = [text_graph(), other_graph()]
    sources[1].text_mask[0] = False                        # a node without text stays one
    model = pretrain_samgpt_text(sources, str(tmp_path / "fold"), seed=0, max_steps=2, cache_dir=tmp_path / "c")
    assert isinstance(model, SAMGPT) and not model.training and model.align == "text"
    assert model.domains == ["topics", "other"] and (tmp_path / "fold" / "run" / "model.safetensors").is_file()
    assert load_graph(str(tmp_path / "fold" / "sources" / "other.pt")).text_mask.tolist()[:2] == [False, True]
    assert any((tmp_path / "c").iterdir())                 # the given encoder cache
    target = text_graph("unseen", isolated=False)
    emb, names = model.embed(target), model.embed_texts(target.label_names, target)
    assert emb.shape == (15, 16) and names.shape == (3, 16)
    untrained = model.untrained_copy(0)
    assert untrained.text_cache_dir == str(tmp_path / "c")
    assert not torch.allclose(untrained.embed(target), emb)
    again = pretrain_samgpt_text(sources, str(tmp_path / "fold"), seed=0, max_steps=2, cache_dir=tmp_path / "c")
    assert torch.allclose(again.embed(target), emb)        # same seed, same model; the folder is reused


def test_bad_sources(tmp_path):
    with pytest.raises(DataError, match="at least one source"):
        pretrain_samgpt_text([], str(tmp_path))
    with pytest.raises(DataError, match="share a name"):
        pretrain_samgpt_text([text_graph(), text_graph()], str(tmp_path))
    with pytest.raises(DataError, match="no node texts"):
        pretrain_samgpt_text([synthetic_domain(0)], str(tmp_path))


def _tiny_config(tmp_path):
    import yaml

    from graphfm.config import resolve_config

    cfg = yaml.safe_load(resolve_config("samgpt/text").read_text())
    cfg["model"].update(text_encoder=MINILM, hidden=16)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path

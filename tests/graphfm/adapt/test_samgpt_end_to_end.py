"""End to end on real graphs: pretraining SAMGPT on two small domains beats no pretraining."""
import pytest
import torch

from graphfm.adapt import PromptConfig, adapt_model, few_shot_target
from graphfm.data import load_graph
from graphfm.engine import pretrain
from graphfm.models import PretrainedModel


@pytest.mark.slow
def test_pretraining_on_two_real_domains_beats_random_init(tmp_path, data_root):
    cfg = {"name": "e2e", "seed": 0,
           "data": {"name": "graph_domains", "datasets": ["CiteSeer", "LastFMAsia"]},
           "model": {"name": "samgpt", "hidden": 64},
           "objective": {"name": "graph_contrastive", "num_samples": 512},
           "trainer": {"max_steps": 20, "lr": 3e-4, "progress": False}}
    pretrain(cfg, tmp_path / "run", data_root=str(data_root))
    model = PretrainedModel.from_pretrained(tmp_path / "run")
    untrained = model.untrained_copy(seed=0)
    data, _, labels = few_shot_target(load_graph("Cora", root=str(data_root)))
    frozen = PromptConfig(steps=0, ssl_steps=0)
    results = [adapt_model(m, data, labels, "node", shots=1, tasks=100, seeds=1, config=frozen)
               for m in (model, untrained)]
    assert results[0]["n"] == results[1]["n"] == 100
    assert results[0]["mean"] > results[1]["mean"]

"""Convergence-based stopping keeps the best weights; diagnostics reach the log."""
import csv

from graphfm.engine import pretrain

CFG = {"name": "stop", "seed": 0,
       "data": {"name": "graph_domains", "datasets": ["synthetic-0", "synthetic-1"]},
       "model": {"name": "samgpt", "hidden": 16, "align_dim": 8, "branches": "dual", "residual": True},
       "objective": {"name": "graph_contrastive", "variant": "dgi"},
       "trainer": {"max_steps": 60, "lr": 0.5, "patience": 3, "log_every": 2, "progress": False}}


def test_patience_stops_early_and_restores_the_best_weights(tmp_path):
    out = pretrain(CFG, tmp_path / "run")
    rows = list(csv.DictReader(open(out / "logs" / "metrics.csv")))
    steps = [int(r["step"]) for r in rows]
    assert max(steps) < 59                                          # stopped before max_steps
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    best = [float(r["train/best_loss"]) for r in rows if r.get("train/best_loss")]
    assert best[-1] == min(best) <= min(losses) + 1e-6
    assert any(r.get("diag/effective_rank") for r in rows) and (out / "loss.png").is_file()


def test_without_patience_all_steps_run(tmp_path):
    cfg = {**CFG, "trainer": {**CFG["trainer"], "patience": 0, "max_steps": 6, "diagnostics": False}}
    out = pretrain(cfg, tmp_path / "run")
    rows = list(csv.DictReader(open(out / "logs" / "metrics.csv")))
    assert max(int(r["step"]) for r in rows) == 5 and not any("diag/effective_rank" in r for r in rows)


def test_best_loss_stopping_keeps_the_weights_before_the_best_step():
    """The callback keeps the weights that *produced* the lowest loss (before that step's update)."""
    from types import SimpleNamespace

    import torch

    from graphfm.engine.callbacks import BestLossStopping

    model = torch.nn.Linear(1, 1, bias=False)
    module = SimpleNamespace(objective=SimpleNamespace(model=model), log=lambda *a, **k: None)
    trainer = SimpleNamespace(global_step=0, should_stop=False)
    cb = BestLossStopping(patience=2)
    for step, loss in enumerate([3.0, 1.0, 2.0, 2.5, 0.5]):
        trainer.global_step = step
        with torch.no_grad():
            model.weight.fill_(float(step))
        cb.on_train_batch_start(trainer, module, None, step)
        with torch.no_grad():
            model.weight.fill_(100.0 + step)                       # the optimiser step
        cb.on_train_batch_end(trainer, module, {"loss": torch.tensor(loss)}, None, step)
        if trainer.should_stop:
            break
    assert trainer.should_stop and step == 3 and cb.best == 1.0
    cb.on_train_end(trainer, module)
    assert float(model.weight) == 1.0
    restored = BestLossStopping(patience=2)
    restored.load_state_dict(cb.state_dict())
    assert restored.best == 1.0 and restored.wait == 2


def test_snapshots_save_the_model_after_the_listed_steps(tmp_path):
    import torch

    from graphfm.models import PretrainedModel

    cfg = {**CFG, "trainer": {**CFG["trainer"], "patience": 0, "max_steps": 5, "lr": 0.05, "snapshots": [2, 4]}}
    out = pretrain(cfg, tmp_path / "run")
    two, four = PretrainedModel.from_pretrained(out / "step_2"), PretrainedModel.from_pretrained(out / "step_4")
    last = PretrainedModel.from_pretrained(out)
    assert not torch.equal(two.gcn.lins[0].weight, four.gcn.lins[0].weight)
    assert not torch.equal(four.gcn.lins[0].weight, last.gcn.lins[0].weight)

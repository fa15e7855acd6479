"""Measured processes of ``graphfm bench scale``, each run as its own fresh interpreter.

Run as a *script* (``python scale_workers.py KIND ...``), not ``-m``, so that the floor
imports nothing but NumPy and PyTorch. Kinds:

* ``floor GRAPH WIDTH LAYERS``: load the ``.npz``, build ``Â`` as a torch CSR tensor, run
  ``LAYERS`` GCN layers (``relu(Â H W + b)``, ``torch.sparse.mm`` + dense products, all
  threads); the result stays in memory.
* ``pyg GRAPH WIDTH LAYERS OUT``: the same network as PyG ``GCNConv`` layers, full batch,
  written to ``OUT`` (``.npy``).
* ``pretrain GRAPH WIDTH LAYERS STEPS WARMUP BATCH OUT [MODEL CACHE]``: sampled pretraining
  through :func:`graphfm.engine.train.build` and Lightning, ``MODEL`` ``samgpt`` (ego-graphs,
  ``BATCH`` centres; the default) or ``unigraph2`` (the graph's ``x`` as a precomputed
  modality cached under ``CACHE``, ``BATCH`` random-walk subgraphs of 64 nodes); writes
  ``OUT`` (JSON) with steps/s after ``WARMUP`` steps, the RSS once the graph is loaded and
  the peak RSS during the timed steps.
"""
import json
import sys
import time


def _rss_kib(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def floor(path: str, width: int, layers: int, out: str = "") -> None:
    import numpy as np
    import torch

    z = np.load(path)
    ei, x = torch.from_numpy(z["edge_index"]), torch.from_numpy(z["x"])
    n = x.size(0)
    row, col = ei[0], ei[1]                        # the file's edges are sorted by (row, col)
    deg = torch.bincount(row, minlength=n)
    dinv = (deg.float() + 1.0).rsqrt()
    crow = torch.zeros(n + 1, dtype=torch.long)
    crow[1:] = deg.cumsum(0)
    adj = torch.sparse_csr_tensor(crow, col, dinv[row] * dinv[col], (n, n))
    del ei, row
    gen = torch.Generator().manual_seed(0)
    h, dims = x, [x.size(1)] + [width] * layers
    for i in range(layers):
        w = torch.randn(dims[i], dims[i + 1], generator=gen) / dims[i] ** 0.5
        agg = torch.sparse.mm(adj, h).addcmul_(h, (dinv * dinv).unsqueeze(1))   # Â H = A' H + D̃^-1 H
        h = (agg @ w).relu_()
        del agg
    assert torch.isfinite(h[:10]).all()


def pyg(path: str, width: int, layers: int, out: str) -> None:
    import numpy as np
    import torch
    from torch_geometric.nn import GCNConv

    z = np.load(path)
    ei, x = torch.from_numpy(z["edge_index"]), torch.from_numpy(z["x"])
    torch.manual_seed(0)
    convs = [GCNConv(x.size(1) if i == 0 else width, width) for i in range(layers)]
    h = x
    with torch.no_grad():
        for conv in convs:
            h = conv(h, ei).relu()
    np.save(out, h.numpy())


def _experiment(model: str, path: str, width: int, layers: int, batch: int, cache: str) -> dict:
    """The sampled-pretraining experiment of ``model`` on the graph file ``path``."""
    if model == "samgpt":
        return {"data": {"name": "graph_domains", "datasets": [path], "mode": "ego", "batch_size": batch, "hops": 2,
                         "max_degree": 10},
                "model": {"name": "samgpt", "hidden": width, "num_layers": layers, "align_dim": 50},
                "objective": {"name": "graph_contrastive", "variant": "graphcl"}}
    if model == "unigraph2":        # the settings of configs/unigraph2/pretrain.yaml
        return {"data": {"name": "multimodal_graphs", "graphs": [path], "sampler": "ppr", "subgraph_size": 64,
                         "subgraphs_per_batch": batch, "cache_dir": cache, "progress": False,
                         "modalities": {"features": {"encoder": {"name": "precomputed"}}}},
                "model": {"name": "unigraph2", "hidden_dim": width, "num_layers": layers, "gnn": "gat", "heads": 4},
                "objective": {"name": "unigraph2", "decoder": "mlp", "var_weight": 1.0, "cov_weight": 0.04}}
    raise SystemExit(f"unknown model {model!r}; valid: samgpt, unigraph2")


def pretrain(path: str, width: int, layers: int, steps: int, warmup: int, batch: int, out: str,
             model: str = "samgpt", cache: str = "") -> None:
    import lightning.pytorch as pl

    from graphfm.config import experiment_from_dict
    from graphfm.engine.module import PretrainModule
    from graphfm.engine.train import build

    cfg = experiment_from_dict({
        "name": f"scale-{model}", "seed": 0, **_experiment(model, path, width, layers, batch, cache),
        "trainer": {"max_steps": warmup + steps, "accelerator": "cpu", "progress": False, "log_every": 1000,
                    "diagnostics": False},
    })
    pl.seed_everything(0, verbose=False)
    datamodule, objective = build(cfg)
    loaded_kib = _rss_kib()
    record = {"loaded_gb": loaded_kib / 2**20, "warmup": warmup, "steps": steps, "batch_size": batch}

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch_, batch_idx):
            if batch_idx == warmup:
                record["peak_reset"] = _reset_peak()
                record["start"] = time.perf_counter()

        def on_train_end(self, trainer, module):
            record["steps_per_s"] = steps / (time.perf_counter() - record.pop("start"))
            record["train_peak_gb"] = _rss_kib("VmHWM") / 2**20
            record["train_peak_minus_loaded_gb"] = record["train_peak_gb"] - record["loaded_gb"]

    trainer = pl.Trainer(max_steps=warmup + steps, max_epochs=-1, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[Timer()], num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(PretrainModule(objective, cfg.trainer), train_dataloaders=datamodule.train_dataloader())
    with open(out, "w") as fh:
        json.dump(record, fh)


if __name__ == "__main__":
    import os

    here = os.path.dirname(os.path.abspath(__file__))      # run as a script: its folder (graphfm/bench) would
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]   # shadow packages by module names
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "floor":
        floor(args[0], int(args[1]), int(args[2]))
    elif kind == "pyg":
        pyg(args[0], int(args[1]), int(args[2]), args[3])
    elif kind == "pretrain":
        pretrain(args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]), int(args[5]), args[6], *args[7:9])
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")

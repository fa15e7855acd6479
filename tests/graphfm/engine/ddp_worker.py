"""Run by test_ddp.py as a script (Lightning's DDP launcher re-runs it once per extra rank).

``python ddp_worker.py OUT MODE DEVICES`` pretrains a tiny SAMGPT on three synthetic
domains for a few steps through :func:`graphfm.engine.pretrain` and appends, per rank,
the items of every batch the rank trained on to ``OUT/items_rank<r>.jsonl``.
"""
import json
import sys
from pathlib import Path


def _record(out: Path):
    import graphfm.engine.datamodules.graph as graph_module
    from graphfm.engine.datamodules.sharding import rank_and_world

    def wrap(cls):
        original = cls.__iter__

        def __iter__(self):
            rank, _ = rank_and_world()
            with open(out / f"items_rank{rank}.jsonl", "a") as fh:
                for batch in original(self):
                    items = []
                    for g in batch:
                        if getattr(g, "center_index", None) is not None:
                            items += [[g.domain, int(c)] for c in g.node_ids[g.center_index]]
                        else:
                            items.append([g.domain, -1])
                    fh.write(json.dumps(items) + "\n")
                    fh.flush()
                    yield batch

        cls.__iter__ = __iter__

    wrap(graph_module._FullGraphs)
    wrap(graph_module._EgoGraphs)


def main(out: str, mode: str, devices: int) -> None:
    from graphfm.engine import pretrain

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _record(out_dir)
    config = {
        "name": "ddp-test", "seed": 0,
        "data": {"name": "graph_domains", "datasets": ["synthetic-0", "synthetic-1", "synthetic-2"], "mode": mode,
                 "batch_size": 24, "hops": 1},
        "model": {"name": "samgpt", "hidden": 16, "align_dim": 8, "num_layers": 2},
        # every node an anchor: the loss does not depend on the anchor sampler's state
        "objective": {"name": "graph_contrastive", "variant": "subgraph", "num_samples": 100000},
        "trainer": {"max_steps": 3, "lr": 0.01, "accelerator": "cpu", "devices": devices, "grad_clip": 0.0,
                    "strategy": "ddp_find_unused_parameters_true" if devices > 1 else "auto",
                    "progress": False, "log_every": 1, "diagnostics": False},
    }
    pretrain(config, out_dir / "run")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

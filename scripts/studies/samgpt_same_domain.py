"""A control for SAMGPT's transfer: pretraining on the *same* domain, other nodes.

Does SAMGPT's pretraining fail to transfer because the domains differ, or would it fail even
between two graphs of one domain? For each dataset X the nodes are split at random (seed 0) into
halves A and B; each half's induced subgraph is saved as a user's ``.npz``. Adapted to B with the
default adaptation (self-supervised prompts, then one-shot node tuning), on the very same tasks:

* ``samgpt``: the committed leave-one-out checkpoint of X (``configs/samgpt/<x>.yaml``: pretrained on
  the other domains, X never seen);
* ``samgpt_same_domain``: the same config pretrained on half A alone (B's domain, other nodes);
* ``target_ssl``: the same config pretrained on B itself (unlabelled);
* ``no_pretrain``: the network untrained (``untrained_copy(0)``).

B is aligned with its own SVD in every case (it is an unseen domain to every checkpoint).
Nothing here chooses a default.

    PYTHONPATH=. python scripts/studies/samgpt_same_domain.py --out results/studies/samgpt_same_domain [--targets Cora Photo]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

METHODS = ("samgpt", "samgpt_same_domain", "target_ssl", "no_pretrain")
PAIRS = (("samgpt_same_domain", "no_pretrain"), ("samgpt", "no_pretrain"), ("target_ssl", "no_pretrain"),
         ("samgpt_same_domain", "samgpt"))


def halves(data, seed: int = 0) -> tuple:
    """Arrays of the induced subgraphs of a random half of the nodes and of the other half."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(data.num_nodes, generator=gen)
    out = []
    for part in (perm[: data.num_nodes // 2], perm[data.num_nodes // 2:]):
        part = part.sort().values
        index = torch.full((data.num_nodes,), -1, dtype=torch.long)
        index[part] = torch.arange(part.numel())
        row, col = index[data.edge_index]
        keep = (row >= 0) & (col >= 0)
        out.append({"x": data.x[part].float().numpy(), "edge_index": torch.stack([row[keep], col[keep]]).numpy(),
                    "y": data.y[part].numpy()})
    return tuple(out)


def measure(target: str, work: Path, tasks: int, seeds: int) -> list:
    import numpy as np

    from graphfm.adapt import few_shot_target
    from graphfm.data import load_graph
    from graphfm.bench.samgpt import _pretrain

    work = work / target
    work.mkdir(parents=True, exist_ok=True)
    data, _, _ = few_shot_target(load_graph(target))
    for name, arrays in zip(("A", "B"), halves(data)):
        np.savez(work / f"{target}-{name}.npz", **arrays)
    from samgpt_continued import BEFORE_ROTATION, adapt_rows   # this folder is on sys.path when a script runs

    nets, times = {}, {}
    for method, datasets in (("samgpt", None), ("samgpt_same_domain", f"{target}-A"), ("target_ssl", f"{target}-B")):
        t0 = time.perf_counter()
        extra = ([f"data.datasets=[{work / (datasets + '.npz')}]"] if datasets else []) + BEFORE_ROTATION
        nets[method] = _pretrain(target, work / method, None, False, extra)
        times[method] = time.perf_counter() - t0
    nets["no_pretrain"], times["no_pretrain"] = nets["samgpt"].untrained_copy(seed=0), 0.0
    graph, _, labels = few_shot_target(load_graph(str(work / f"{target}-B.npz")))
    return adapt_rows(f"{target}-B", {m: nets[m] for m in METHODS}, times, graph, labels, tasks, seeds)


def markdown(rows: list, tasks: int, seeds: int) -> str:
    from graphfm.report import markdown_table
    from graphfm.stats import format_interval, paired_difference

    by = {(r["target"], r["method"]): r for r in rows}
    targets = list(dict.fromkeys(r["target"] for r in rows))
    lines = ["", "## One-shot node accuracy (%) on half B, default adaptation", "",
             f"{tasks} tasks x {seeds} seeds, every method on the same tasks; one pretraining seed (the config's).", ""]
    lines += markdown_table(["target", *METHODS], [[t, *(f"{by[(t, m)]['mean']:.2f}" for m in METHODS)]
                                                   for t in targets])
    lines += ["", "## Paired differences (points, 95 % t-interval over the tasks)", ""]
    lines += markdown_table(["target", *(f"{a} − {b}" for a, b in PAIRS)], [
        [t, *(format_interval(paired_difference(by[(t, a)]["accuracies"], by[(t, b)]["accuracies"])) for a, b in PAIRS)]
        for t in targets])
    return "\n".join(lines) + "\n"


def main() -> None:
    from graphfm.bench.base import write_results
    from graphfm.bench.samgpt import TARGETS

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="output path without suffix")
    parser.add_argument("--targets", nargs="+", default=["Cora", "CiteSeer", "Photo"], choices=TARGETS)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--work", default="/tmp/samgpt-same-domain")
    args = parser.parse_args()
    rows = [r for target in args.targets for r in measure(target, Path(args.work), args.tasks, args.seeds)]
    out = Path(args.out)
    write_results(out.parent, out.name, rows, extra_md=markdown(rows, args.tasks, args.seeds),
                  columns=("target", "method", "mean", "std", "n", "train_seconds", "seconds"),
                  extra={"tasks": args.tasks, "seeds": args.seeds})


if __name__ == "__main__":
    main()

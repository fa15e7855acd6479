"""The ``graphfm`` command line: argument parsing and error-to-exit-code mapping only.

Exit codes: 0 success, 2 bad input (a :class:`~graphfm.errors.GraphFMError`), 1 any
other failure. ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from graphfm.errors import GraphFMError


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one ``error:`` line on stderr, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see '{self.prog} --help'\n")


def _whole(text: str, low: int, hint: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got '{text}'") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}{hint}, got {value}")
    return value


def _count(text: str) -> int:
    """An integer >= 1 (``--shots``, ``--tasks``, ``--seeds``)."""
    return _whole(text, 1)


def _shots(text: str) -> int:
    """An integer >= 0 (``adapt --shots``; 0 is zero-shot from the class names)."""
    return _whole(text, 0, " (0: zero-shot from class names)")


def _check_out_file(path: str, example: str) -> None:
    """Refuse an output file path that cannot be written, before any work is done."""
    out = Path(path)
    if out.is_dir():
        raise GraphFMError(f"--out '{out}' is a directory; give a file path such as '{out / example}'")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise GraphFMError(f"--out '{out}': '{parent}' is a file, not a folder; choose another path")
            break


def _add_data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help="dataset root (default: $GRAPHFM_DATA or ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphfm", description="Graph and multimodal foundation models.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("pretrain", help="pretrain a model from a YAML config")
    p.add_argument("--config", required=True, help="experiment YAML: a path, or a bundled name such as samgpt/cora")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set trainer.max_steps=50 (repeatable)")
    p.add_argument("--out", required=True, help="run directory (checkpoint, logs, loss.png)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state/last.ckpt")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in --out (only graphfm's run files are removed); without it, a folder "
                        "holding another run is refused")
    _add_data_root(p)

    p = sub.add_parser("adapt", help="few-shot adaptation of a checkpoint to a target graph")
    p.add_argument("--checkpoint", required=True, help="run directory written by pretrain, or a Hub repo id")
    p.add_argument("--target", required=True, help="dataset name or path to a .npz/.pt graph")
    p.add_argument("--task", choices=("node", "graph", "item"), default="node",
                   help="node, graph, or item (few-shot on frozen item embeddings, e.g. multimodal checkpoints)")
    p.add_argument("--shots", type=_shots, default=1,
                   help="support nodes per class; 0: zero-shot from the class names (text graphs, a model with a "
                        "text encoder)")
    p.add_argument("--tasks", type=_count, default=100)
    p.add_argument("--seeds", type=_count, default=5)
    p.add_argument("--out", required=True, help="result JSON file")
    p.add_argument("--dual-prompts", action="store_true",
                   help="UniGraph2: tune SAMGPT-style holistic + specific prompts per task (graphfm.adapt.unigraph2)")
    p.add_argument("--label-names", default=None, metavar="'A,B,C'",
                   help="class names in class-id order, comma-separated (default: the target's label_names)")
    p.add_argument("--template", default=None, metavar="'a text about {}'",
                   help="text a class name is put in, one '{}' (default: the checkpoint's, else '{}')")
    _add_data_root(p)

    p = sub.add_parser("embed", help="write embeddings of a dataset as .npy (row i = node/graph i)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True, help="dataset name or path to a .npz/.pt graph")
    p.add_argument("--level", choices=("node", "graph"), default="node")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="also draw a 2-D PCA projection, coloured by label when the dataset has labels")
    _add_data_root(p)

    p = sub.add_parser("data", help="list, verify or download the datasets under the data root")
    p.add_argument("action", choices=("list", "verify", "download"))
    p.add_argument("names", nargs="*", metavar="NAME", help="datasets to download (download only)")
    p.add_argument("--mirror", default=None, metavar="URL",
                   help="download from URL laid out as the data root instead of each file's origin")
    _add_data_root(p)

    p = sub.add_parser("doctor", help="check the installation, devices, data root and caches (exit 1 if broken)")
    _add_data_root(p)

    p = sub.add_parser("demo", help="offline end-to-end demo on synthetic domains (under a minute on 2 cores)")
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    _add_data_root(p)

    p = sub.add_parser("bench", help="run a benchmark and write NAME.json + NAME.md")
    p.add_argument("name", help="benchmark name (samgpt, unigraph2, multimodal)")
    p.add_argument("--out", default="results", help="output directory (default: results)")
    p.add_argument("--quick", action="store_true", help="a small version, for smoke tests")
    p.add_argument("--targets", nargs="+", default=None, help="restrict to these targets")
    p.add_argument("--tasks", type=_count, default=None, help="few-shot tasks per seed")
    p.add_argument("--seeds", type=_count, default=None, help="seeds")
    p.add_argument("--protocol", choices=("graphfm", "paper", "both"), default=None,
                   help="few-shot protocol of benchmarks that offer one (samgpt): ours, the paper's, or both")
    _add_data_root(p)
    return parser


def cmd_pretrain(args: argparse.Namespace) -> int:
    from graphfm.engine import pretrain

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise GraphFMError(f"--out '{args.out}' is a file; pretrain writes a run directory: give a folder path")
    from lightning.pytorch.utilities import rank_zero_only

    out = pretrain(args.config, args.out, data_root=args.data_root, overrides=args.set, resume=args.resume,
                   overwrite=args.overwrite)
    if getattr(rank_zero_only, "rank", 0) == 0:     # DDP: every rank returns here, one prints
        print(f"checkpoint written to {out}")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from graphfm.adapt import run_adaptation
    from graphfm.io import write_json

    _check_out_file(args.out, "result.json")
    result = run_adaptation(args.checkpoint, args.target, task=args.task, shots=args.shots, tasks=args.tasks,
                            seeds=args.seeds, data_root=args.data_root, label_names=args.label_names,
                            template=args.template, **({"dual_prompts": True} if args.dual_prompts else {}))
    write_json(args.out, result)
    print(f"{result['target']} {result['task']} {result['shots']}-shot: "
          f"{result['mean']:.2f} ± {result['std']:.2f} % over {result['n']} tasks -> {args.out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from graphfm.embed import embed_to_file

    _check_out_file(args.out, "embeddings.npy")
    shape = embed_to_file(args.checkpoint, args.dataset, args.out, level=args.level, data_root=args.data_root,
                          plot=args.plot)
    print(f"embeddings {shape[0]} x {shape[1]} written to {args.out}" + (f", plot to {args.plot}" if args.plot else ""))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from graphfm.data import list_datasets
    from graphfm.data.verify import verify_root

    if args.action == "download":
        from graphfm.data.download import download
        from graphfm.data.registry import resolve_root

        written = download(args.names, root=args.data_root, mirror=args.mirror)
        print(f"{len(written)} file(s) downloaded and verified under {resolve_root(args.data_root)}")
        return 0
    if args.names or args.mirror:
        raise GraphFMError(f"'graphfm data {args.action}' takes no dataset names or --mirror; did you mean "
                           "'graphfm data download NAME...'?")
    if args.action == "list":
        rows = list_datasets(args.data_root)
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            state = "present" if r["present"] else "missing: " + ", ".join(map(str, r.get("missing", [])))[:80]
            print(f"{r['name']:<{width}}  {r['kind']:<5}  {state}")
        return 0
    problems = verify_root(args.data_root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"error: {len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("all raw files match the manifest")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from graphfm.doctor import run_doctor

    return run_doctor(args.data_root)


def cmd_demo(args: argparse.Namespace) -> int:
    from graphfm.bench.demo import run_demo

    run_demo(Path(args.out), data_root=args.data_root, overwrite=args.overwrite)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from graphfm.bench import BENCHMARKS
    from graphfm.rundir import bench_lock

    runner = BENCHMARKS.get(args.name)
    options = {k: v for k, v in (("targets", args.targets), ("tasks", args.tasks), ("seeds", args.seeds),
                                 ("protocol", args.protocol)) if v is not None}
    with bench_lock(args.out):          # two benches never write one folder at once
        result = runner(Path(args.out), data_root=args.data_root, quick=args.quick, **options)
    print(f"{len(result['rows'])} rows written to {Path(args.out) / (args.name + '.json')} and .md")
    return 0


COMMANDS = {"pretrain": cmd_pretrain, "adapt": cmd_adapt, "embed": cmd_embed, "data": cmd_data,
            "demo": cmd_demo, "bench": cmd_bench, "doctor": cmd_doctor}


def main(argv: Optional[List[str]] = None) -> int:
    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # bad flags (one error line, already printed) or --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except GraphFMError as exc:
        if args.debug:
            raise
        print("error: " + str(exc).replace("\n", " "), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: {type(exc).__name__}: {message} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

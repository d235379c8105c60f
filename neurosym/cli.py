"""The ``neurosym`` command line.

Every user error (unknown task, missing data folder, unreadable file, mismatched
checkpoint) prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurosym.errors import NeurosymError

EXIT_USAGE = 2
logger = logging.getLogger("neurosym")


def _parse_pair(text: str) -> tuple[str, str]:
    """Split ``NAME=VALUE``; the value stays text until its knob or binding gives it a type."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, raw


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parse_feature(text: str) -> tuple[str, dict[str, Any]]:
    """Read ``NAME`` or ``NAME=JSON-object`` for ``train --feature``."""
    from neurosym.config import FEATURES

    name, sep, raw = text.partition("=")
    if name not in FEATURES:
        raise argparse.ArgumentTypeError(f"unknown feature {name!r}; valid features: {', '.join(FEATURES)}")
    if not sep:
        return name, {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"feature {name}: options {raw!r} are not valid JSON ({exc})") from exc
    if not isinstance(options, dict):
        raise argparse.ArgumentTypeError(f"feature {name}: options must be a JSON object, got {raw!r}")
    return name, options


def _binding_value(text: str) -> object:
    """Read an integer, a fraction p/q or, failing both, keep the text as a string."""
    from fractions import Fraction

    try:
        return int(text)
    except ValueError:
        pass
    try:
        return Fraction(text) if "/" in text else text
    except (ValueError, ZeroDivisionError):
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosym", description="Transformer Plus models: train, evaluate, inspect.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list the registered tasks")
    p.set_defaults(handler=cmd_tasks)

    p = sub.add_parser("generate", help="write examples of a task as JSON lines")
    p.add_argument("task", help="task name, e.g. episodic.location")
    p.add_argument("-n", type=_positive_int, default=10, help="number of examples (default 10)")
    p.add_argument("--split", default="train",
                   help="train, valid, test, or an evaluation split of the task such as test_ood (default train)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob, e.g. --set max_digits=8 (repeatable)")
    p.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    p.add_argument("--out", help="output JSONL file (default: stdout)")
    p.add_argument("--render", action="store_true", help="print readable stories instead of JSON")
    p.set_defaults(handler=cmd_generate)

    p = sub.add_parser("train", help="train a model on one or more tasks")
    p.add_argument("--task", action="append", required=True, metavar="NAME[:WEIGHT]",
                   help="task to train on, repeatable; WEIGHT sets its share of batches")
    p.add_argument("--preset", default="tiny", help="model size: tiny, small or base (default tiny)")
    p.add_argument("--steps", type=_positive_int, default=2000, help="optimizer steps (default 2000)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="examples per step (default 64)")
    p.add_argument("--grad-accum", type=_positive_int, default=1, help="micro-batches per step (default 1)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--warmup", type=int, default=100, help="warmup steps (default 100)")
    p.add_argument("--eval-every", type=_positive_int, default=250, help="validate every N steps (default 250)")
    p.add_argument("--loss-on", choices=["answer", "all"], default="answer",
                   help="tokens that carry the loss: the answer only, or every token after <bos> (default answer)")
    p.add_argument("--train-examples", type=_positive_int, help="training examples per task (default: task default)")
    p.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob applied to every task that has it (repeatable)")
    p.add_argument("--max-seq-len", type=_positive_int, help="model context window in tokens (default 512)")
    p.add_argument("--feature", dest="features", action="append", type=_parse_feature, default=[],
                   metavar="NAME[=JSON]",
                   help="switch on an optional model feature, e.g. --feature slots or "
                        "--feature 'slots={\"layers\": [1, 3]}' (repeatable; see ModelConfig)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (default auto)")
    p.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, logs and reports")
    p.add_argument("--mode", default="neural", choices=["neural", "program", "tool"],
                   help="training layout: answer only, program then answer, or a tool call (default neural)")
    p.add_argument("--pack", action="store_true",
                   help="share one sequence among questions about the same story (bAbI), computing its context once")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--eval", action="store_true", help="evaluate every task's test splits after training")
    p.add_argument("--valid-examples", type=_positive_int, default=500,
                   help="validation examples per task, decoded at every --eval-every (default 500)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    p.add_argument("--task", action="append", metavar="NAME", help="task to evaluate (default: the training tasks)")
    p.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    p.add_argument("-n", type=_positive_int, help="examples per split (default: all / task default)")
    p.add_argument("--seed", type=int, default=0, help="seed of generated test splits (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--out", help="folder for eval.json and eval.md (default: the run folder)")
    p.add_argument("--mode", action="append", choices=["neural", "program", "tool"],
                   help="inference mode, repeatable to compare modes on the same items (default: the training mode)")
    p.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob for the tasks given with --task, e.g. --set story_length=2000 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("bench", help="speed benchmarks (training speeds as ratios to a baseline in the same process)")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("train", help="Trainer tokens/s against a minimal hand-written loop")
    b.add_argument("--task", default="episodic.location")
    b.add_argument("--preset", default="tiny")
    b.add_argument("--batch-size", type=_positive_int, default=64)
    b.add_argument("--rounds", type=_positive_int, default=5)
    b.add_argument("--precision", default="fp32", help="fp32 or bf16 (default fp32)")
    b.set_defaults(handler=cmd_bench_train)
    b = bench.add_parser("precision", help="bf16 autocast training tokens/s against float32")
    b.add_argument("--task", default="episodic.location")
    b.add_argument("--preset", default="tiny")
    b.add_argument("--batch-size", type=_positive_int, default=64)
    b.add_argument("--rounds", type=_positive_int, default=4)
    b.set_defaults(handler=cmd_bench_precision)

    b = bench.add_parser("exec", help="symbolic executor: small arithmetic programs parsed and run per second")
    b.add_argument("-n", type=_positive_int, default=20000, help="number of programs (default 20000)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(handler=cmd_bench_exec)
    b = bench.add_parser("memory", help="episodic memory: write rate, search latency, recall, reopen time")
    b.add_argument("--events", type=_positive_int, nargs="+", default=[100_000], help="store sizes (default 100000)")
    b.add_argument("--dim", type=_positive_int, default=256, help="key dimension (default 256)")
    b.add_argument("--k", type=_positive_int, default=10, help="neighbours per query (default 10)")
    b.add_argument("--queries", type=_positive_int, default=200, help="queries per index kind (default 200)")
    b.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivf"], help="index kinds (default all)")
    b.add_argument("--hnsw-ef-search", type=_positive_int,
                   help="HNSW candidate list size per search (default: MemoryConfig.hnsw_ef_search)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(handler=cmd_bench_memory)

    p = sub.add_parser("exec", help="run a program with the symbolic executor")
    p.add_argument("program", help='S-expression program, e.g. "(add 2 3)"; - reads it from standard input')
    p.add_argument("--file", action="store_true", help="treat PROGRAM as the path of a file holding the program")
    p.add_argument("--bind", action="append", type=_parse_pair, default=[], metavar="NAME=VALUE",
                   help="bind a reference $NAME to an integer, a fraction p/q or a string (repeatable)")
    p.add_argument("--trace", action="store_true", help="print each executed step")
    p.add_argument("--json", action="store_true", help="print the value and trace as JSON")
    p.set_defaults(handler=cmd_exec)

    p = sub.add_parser("data", help="fetch public data sets")
    data = p.add_subparsers(dest="data", required=True, metavar="ACTION")
    d = data.add_parser("fetch", help="download and extract a data set")
    d.add_argument("dataset", choices=["babi"])
    d.add_argument("--url", help="archive URL or local path (default: the official bAbI v1.2 archive)")
    d.add_argument("--to", default="data", help="folder to extract into (default ./data)")
    d.set_defaults(handler=cmd_data_fetch)
    return parser


def cmd_tasks(args: argparse.Namespace) -> int:
    from neurosym.tasks import get_task, list_tasks

    for name in list_tasks():
        task = get_task(name)
        knobs = ", ".join(f"{k}={v}" for k, v in task.difficulty.items())
        print(f"{name:<20} {task.description}" + (f"  [{knobs}]" if knobs else ""))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from neurosym.tasks import SPLITS, get_task, write_jsonl

    task = get_task(args.task)
    knobs = {key: task.parse_knob(key, raw) for key, raw in args.knobs}
    split = args.split
    if split not in SPLITS and split in task.eval_splits:
        # An evaluation split label such as test_ood: its split plus its knob overrides.
        split, overrides = task.eval_splits[split]
        knobs = {**overrides, **knobs}
    examples = task.examples(split, n=args.n, seed=args.seed, data_dir=args.data_dir, **knobs)
    if args.out:
        count = write_jsonl(examples, args.out)
        print(f"wrote {count} examples to {args.out}")
    elif args.render:
        print("\n\n".join(example.render() for example in examples))
    else:
        for example in examples:
            print(json.dumps(example.to_dict(), ensure_ascii=False))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from neurosym.config import preset
    from neurosym.device import resolve_device, resolve_precision
    from neurosym.runs import TaskSpec, train_run
    from neurosym.tasks import get_task
    from neurosym.training import TrainConfig

    specs = [TaskSpec.parse(text, data_dir=args.data_dir) for text in args.task]
    knobs = dict(args.knobs)
    for spec in specs:
        task = get_task(spec.name)
        spec.difficulty = {k: task.parse_knob(k, v) for k, v in knobs.items() if k in task.difficulty}
        spec.train_examples = args.train_examples
    unused = set(knobs) - {k for spec in specs for k in spec.difficulty}
    if unused:
        raise NeurosymError(f"no chosen task has the knob(s) {sorted(unused)}; see `neurosym tasks`")
    overrides: dict[str, Any] = dict(args.features)
    if args.max_seq_len:
        overrides["max_seq_len"] = args.max_seq_len
    # reject a bad preset, feature, device or precision before any data work
    preset(args.preset, vocab_size=1, **overrides)
    resolve_precision(args.precision, resolve_device(args.device))
    _check_run_folder(Path(args.out), args.resume, [spec.name for spec in specs])
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        warmup_steps=args.warmup, eval_every=args.eval_every, seed=args.seed, device=args.device,
        precision=args.precision, answer_loss_only=args.loss_on == "answer",
    )
    result = train_run(specs, args.out, model_preset=args.preset, model_overrides=overrides,
                       train_config=config, resume=args.resume, evaluate_after=args.eval, mode=args.mode,
                       pack=args.pack, valid_examples=args.valid_examples)
    final = [r for r in result.history if "valid/accuracy" in r]
    if final:
        print(f"validation accuracy at step {final[-1]['step']}: {100 * final[-1]['valid/accuracy']:.2f}%")
    print(f"checkpoints in {Path(args.out) / 'best'} and {Path(args.out) / 'last'}")
    if result.report is not None:
        print(result.report.to_table())
        print(f"report: {Path(args.out) / 'eval.md'}")
    return 0


def _check_run_folder(out: Path, resume: bool, task_names: list[str]) -> None:
    """Refuse to overwrite a finished run, and to resume a run that is missing or differs."""
    from neurosym.checkpoint import load_run_info

    last = out / "last"
    if not resume:
        if last.exists() or (out / "metrics.jsonl").exists():
            raise NeurosymError(f"run folder {out} already holds a run; pass --resume to continue it or choose another --out")
        return
    if not (last / "training_state.pt").is_file():
        raise NeurosymError(f"cannot resume: {last / 'training_state.pt'} not found; train without --resume first")
    stored = [record["name"] for record in load_run_info(last).get("tasks", [])]
    if stored and sorted(stored) != sorted(task_names):
        raise NeurosymError(f"cannot resume: {out} was trained on {stored}, not {task_names}")


def _apply_eval_knobs(specs: list, knobs: dict[str, str]) -> None:
    from neurosym.tasks import get_task

    for spec in specs:
        task = get_task(spec.name)
        spec.difficulty = {k: task.parse_knob(k, v) for k, v in knobs.items() if k in task.difficulty}
    unused = set(knobs) - {k for spec in specs for k in spec.difficulty}
    if unused:
        raise NeurosymError(f"no chosen task has the knob(s) {sorted(unused)}; see `neurosym tasks`")


def cmd_eval(args: argparse.Namespace) -> int:
    from neurosym.checkpoint import resolve_checkpoint_dir
    from neurosym.runs import TaskSpec, evaluate_checkpoint

    specs = [TaskSpec.parse(name, data_dir=args.data_dir) for name in args.task] if args.task else None
    if args.knobs:
        if specs is None:
            raise NeurosymError("--set needs --task: name the tasks whose difficulty it changes")
        _apply_eval_knobs(specs, dict(args.knobs))
    directory = resolve_checkpoint_dir(args.checkpoint)
    if specs is None and args.data_dir:
        from neurosym.checkpoint import load_run_info

        specs = [TaskSpec(**{**r, "data_dir": args.data_dir}) for r in load_run_info(directory).get("tasks", [])] or None
    report = evaluate_checkpoint(directory, specs, n=args.n, seed=args.seed, device=args.device, progress=True,
                                 modes=args.mode)
    if args.out:
        out = Path(args.out)
    elif directory.name in ("best", "last"):
        out = directory.parent  # the run folder
    else:
        out = directory
    json_path, md_path = report.write(out)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_table())
    print(f"report: {md_path} and {json_path}", file=sys.stderr)
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from neurosym.bench import bench_train

    r = bench_train(args.task, args.preset, args.batch_size, rounds=args.rounds, precision=args.precision)
    print(f"task {r['task']}, preset {r['preset']}, batch {r['batch_size']}, precision {r['precision']}")
    print(f"Trainer       {r['trainer']['tokens_per_s']:>10.0f} tokens/s")
    print(f"minimal loop  {r['minimal_loop']['tokens_per_s']:>10.0f} tokens/s")
    print(f"ratio Trainer / minimal loop: {r['ratio']:.3f}")
    return 0


def cmd_bench_precision(args: argparse.Namespace) -> int:
    from neurosym.bench import bench_precision

    r = bench_precision(args.task, args.preset, args.batch_size, rounds=args.rounds)
    print(f"task {r['task']}, preset {r['preset']}, batch {r['batch_size']}")
    print(f"fp32  {r['fp32']['tokens_per_s']:>10.0f} tokens/s")
    print(f"bf16  {r['bf16']['tokens_per_s']:>10.0f} tokens/s")
    print(f"ratio bf16 / fp32: {r['ratio']:.3f}")
    return 0


def cmd_bench_exec(args: argparse.Namespace) -> int:
    from neurosym.symbolic import benchmark_executor

    r = benchmark_executor(args.n, seed=args.seed)
    print(f"{r['programs']} programs (mean {r['mean_chars']:.1f} characters) parsed and run in {r['seconds']:.3f} s")
    print(f"{r['programs_per_second']:,.0f} programs/s on one core (parsing alone: {r['parse_seconds']:.3f} s)")
    return 0


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from neurosym.memory import MemoryConfig, benchmark_memory

    config = MemoryConfig(hnsw_ef_search=args.hnsw_ef_search) if args.hnsw_ef_search else None
    results = [benchmark_memory(n, dim=args.dim, k=args.k, n_queries=args.queries, kinds=args.kinds, config=config)
               for n in args.events]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return 0
    for result in results:
        print(_format_memory_result(result))
    return 0


def _format_memory_result(result: dict[str, Any]) -> str:
    lines = [f"events {result.get('n_events')}, dim {result.get('dim')}, k {result.get('k')}"]
    header = f"{'index':<6} {'write ev/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'recall@k':>9} {'reopen s':>9}"
    lines += [header, "-" * len(header)]
    for kind, row in result.get("kinds", {}).items():
        lines.append(
            f"{kind:<6} {row['write_events_per_s']:>11,.0f} {row['search_p50_ms']:>8.3f} "
            f"{row['search_p99_ms']:>8.3f} {row['recall_at_k']:>9.3f} {row['reopen_s']:>9.2f}"
        )
    return "\n".join(lines)


def cmd_exec(args: argparse.Namespace) -> int:
    from neurosym.symbolic import execute, format_value

    if args.program == "-":
        program: str | bytes = sys.stdin.buffer.read()
    elif args.file:
        program = Path(args.program).read_bytes()
    else:
        # Undecodable command-line bytes arrive as surrogates; recover the bytes so the
        # executor reports them as invalid UTF-8.
        program = os.fsencode(args.program)
    bindings = {name: _binding_value(raw) for name, raw in args.bind}
    result = execute(program, bindings=bindings)
    if args.json:
        steps = [{"op": s.op, "inputs": [format_value(v) for v in s.inputs], "output": format_value(s.output)}
                 for s in result.trace]
        print(json.dumps({"value": result.answer, "trace": steps}, indent=2))
        return 0
    if args.trace:
        for step in result.trace:
            inputs = " ".join(format_value(v) for v in step.inputs)
            print(f"({step.op} {inputs}) -> {format_value(step.output)}")
    print(result.answer)
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from neurosym.fetch import BABI_URL, fetch_babi

    folder = fetch_babi(args.to, url=args.url or BABI_URL)
    print(f"bAbI extracted to {folder}")
    variants = [name for name in ("en-10k", "en") if (folder / name).is_dir()]
    print("use: " + "  or  ".join(f"--data-dir {folder / name}" for name in variants))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except NeurosymError as exc:
        print(f"neurosym: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"neurosym: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neurosym: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

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


def _dropout_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r}; use a number from 0 up to, not including, 1")
    return value


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
    p.add_argument("--config", metavar="FILE",
                   help="JSON run file whose keys are this command's long options; flags typed here override it")
    p.add_argument("--task", action="append", metavar="NAME[:WEIGHT]",
                   help="task to train on, repeatable; WEIGHT sets its share of batches")
    p.add_argument("--suite", choices=["core", "babi", "clutrr", "all"],
                   help="train one model jointly on every task of a suite (added to any --task)")
    p.add_argument("--babi-set", choices=["1k", "10k"],
                   help="bAbI training set: 1,000 or 10,000 questions per task (sets the knob variant=en or en-10k)")
    p.add_argument("--preset", default="tiny", help="model size: tiny, small or base (default tiny)")
    p.add_argument("--steps", type=_positive_int, default=2000, help="optimizer steps (default 2000)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="examples per step (default 64)")
    p.add_argument("--grad-accum", type=_positive_int, default=1, help="micro-batches per step (default 1)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--warmup", type=int, default=100, help="warmup steps (default 100)")
    p.add_argument("--eval-every", type=_positive_int, default=250, help="validate every N steps (default 250)")
    p.add_argument("--log-every", type=_positive_int, default=25,
                   help="write the training loss to metrics.jsonl every N steps (default 25)")
    p.add_argument("--stop-after", type=_positive_int, metavar="STEP",
                   help="stop at this step without changing the learning-rate schedule; continue later with --resume")
    p.add_argument("--loss-on", choices=["answer", "all"], default="answer",
                   help="tokens that carry the loss: the answer only, or every token after <bos> (default answer)")
    p.add_argument("--prompt-dropout", type=_dropout_rate, default=0.0, metavar="P",
                   help="replace each prompt word by <unk> with probability P while training, except layout "
                        "tokens, references and words the target copies (default 0)")
    p.add_argument("--train-examples", type=_positive_int, help="training examples per task (default: task default)")
    p.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob applied to every task that has it (repeatable)")
    p.add_argument("--max-seq-len", type=_positive_int, help="model context window in tokens (default 512)")
    p.add_argument("--mlp", choices=["swiglu", "relu"],
                   help="MLP kind (default swiglu); relu gives exactly sparse activations for knn_mlp")
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
    p.add_argument("--no-fallback", action="store_true",
                   help="program and tool modes: train only the program layout, not the neural answer that a "
                        "failed program falls back to (much cheaper on long stories; failed programs then "
                        "get an untrained answer)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--eval", action="store_true", help="evaluate every task's test splits after training (neural mode, and --mode beside it)")
    p.add_argument("--valid-examples", type=_positive_int, default=500,
                   help="validation examples per task, decoded at every --eval-every (default 500)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint, run a task suite over checkpoints, or compare runs")
    p.add_argument("--checkpoint", action="append", metavar="[LABEL=]PATH",
                   help="checkpoint folder or run folder; with --suite repeatable, and checkpoints that share "
                        "a LABEL are seeds of one variant (mean ± std)")
    p.add_argument("--suite", choices=["core", "babi", "clutrr", "all"],
                   help="evaluate every task of a suite and write report.md, report.json and PNG plots to --out")
    p.add_argument("--babi-set", choices=["1k", "10k"],
                   help="bAbI test files of this set (default: the set each checkpoint was trained on)")
    p.add_argument("--add-report", action="append", default=[], metavar="DIR",
                   help="with --suite: merge the rows of an earlier report folder (e.g. other seeds) into this report")
    p.add_argument("--compare", nargs="+", metavar="RUN",
                   help="compare training runs from their metrics.jsonl logs (table and curves in --out)")
    p.add_argument("--task", action="append", metavar="NAME", help="task to evaluate (default: the training tasks)")
    p.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    p.add_argument("-n", type=_positive_int, help="examples per split (default: all / task default)")
    p.add_argument("--seed", type=int, default=0, help="seed of generated test splits (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--out", help="folder for eval.json and eval.md (default: the run folder); for --suite "
                                 "(default reports/suite-SUITE) and --compare (default reports/compare) the report folder")
    p.add_argument("--mode", action="append", choices=["neural", "program", "tool"],
                   help="inference mode, repeatable to compare modes on the same items (default: the training mode)")
    p.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob for the tasks given with --task, e.g. --set story_length=2000 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--candidates", type=_positive_int, default=1, metavar="N",
                   help="program mode: beam-search this many programs per prompt and keep the most probable "
                        "one that runs and agrees with the stated facts (default 1: greedy)")
    p.add_argument("--neural-confidence", type=float, metavar="P",
                   help="program mode: use the neural answer instead of the program's when the model gives it "
                        "at least probability P (default: only when the program fails)")
    p.add_argument("--feature", dest="features", action="append", type=_parse_feature, default=[],
                   metavar="NAME[=JSON]",
                   help="switch a feature on for this evaluation with the checkpoint's weights, e.g. "
                        "--feature 'knn_attention={\"k\": 32}' (repeatable)")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("inspect", help="show which slot bound which entity where in a text")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder of a model with slots")
    p.add_argument("--text", required=True, help='story to read, e.g. "Mary went to the kitchen ."')
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p.add_argument("--plot", metavar="PNG", help="also draw slot-by-token heatmaps into this PNG (needs neurosym[plot])")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("bench", help="speed benchmarks (training speeds as ratios to a baseline in the same process)")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("train", help="Trainer tokens/s against a minimal hand-written loop")
    b.add_argument("--task", default="episodic.location")
    b.add_argument("--preset", default="tiny")
    b.add_argument("--batch-size", type=_positive_int, default=64)
    b.add_argument("--rounds", type=_positive_int, default=5)
    b.add_argument("--precision", default="fp32", help="fp32 or bf16 (default fp32)")
    b.add_argument("--compare", choices=["slots"],
                   help="instead, time training steps of a model with this feature on every other layer "
                        "against the baseline")
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
    b.add_argument("--hnsw-ef-construction", type=_positive_int,
                   help="HNSW candidate list size while building (default: MemoryConfig.hnsw_ef_construction)")
    b.add_argument("--hnsw-m", type=_positive_int, help="HNSW neighbours per node (default: MemoryConfig.hnsw_m)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(handler=cmd_bench_memory)

    b = bench.add_parser("knn", help="kNN attention decode step and kNN MLP against dense, with recall and error")
    b.add_argument("--checkpoint", help="checkpoint whose keys and queries kNN attention is measured on "
                                        "(default: train a tiny model for --train-steps steps)")
    b.add_argument("--task", default="episodic.location", help="task whose stories fill the context")
    b.add_argument("--contexts", type=_positive_int, nargs="+", default=[4096, 16384, 65536],
                   help="context lengths in tokens (default 4096 16384 65536)")
    b.add_argument("--k", type=_positive_int, default=32, help="keys retrieved per query (default 32)")
    b.add_argument("--window", type=_positive_int, default=64, help="local window (default 64)")
    b.add_argument("--kinds", nargs="+", default=["hnsw", "ivf"], help="index kinds (default hnsw ivf)")
    b.add_argument("--tails", nargs="+", choices=["none", "taylor"], default=["none", "taylor"],
                   help="how keys outside top-k and window count: dropped or Taylor sums (default both)")
    b.add_argument("--queries", type=_positive_int, default=32, help="decode steps timed per context (default 32)")
    b.add_argument("--train-steps", type=_positive_int, default=150, help="steps of the tiny model trained "
                                                                          "when no --checkpoint (default 150)")
    b.add_argument("--neurons", type=_positive_int, nargs="+", default=[16384, 262144],
                   help="kNN MLP widths, perfect squares (default 16384 262144)")
    b.add_argument("--d-model", type=_positive_int, default=1024, help="kNN MLP model width (default 1024)")
    b.add_argument("--fraction", type=float, default=0.1, help="kNN MLP neurons kept (default 0.1)")
    b.add_argument("--skip", choices=["attention", "mlp"], help="leave out one part")
    b.add_argument("--json", action="store_true", help="print JSON instead of tables")
    b.set_defaults(handler=cmd_bench_knn)

    p = sub.add_parser("analyze", help="measure properties of a trained model")
    analyze = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    a = analyze.add_parser("sparsity", help="attention top-k mass, MLP activation sparsity, layer similarity")
    a.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    a.add_argument("--task", required=True, help="task whose prompts are fed to the model")
    a.add_argument("-n", type=_positive_int, default=200, help="number of prompts (default 200)")
    a.add_argument("--split", default="test",
                   help="split or evaluation split of the task, e.g. test_long (default test)")
    a.add_argument("--seed", type=int, default=0, help="seed of generated examples (default 0)")
    a.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    a.add_argument("--swiglu-threshold", type=float, default=0.01,
                   help="SwiGLU neuron counts as active above this fraction of the token's largest |a| (default 0.01)")
    a.add_argument("--plot", help="write a PNG plot to this path (needs matplotlib: neurosym[plot])")
    a.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="print JSON instead of the table, or write it to PATH")
    a.set_defaults(handler=cmd_analyze_sparsity)

    b = bench.add_parser("depth", help="early exit, skip-layer and mixture-of-depths against the dense model")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    b.add_argument("--task", help="task to measure (default: the training task)")
    b.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    b.add_argument("-n", type=_positive_int, default=300, help="test examples (default 300)")
    b.add_argument("--thresholds", type=float, nargs="+", help="early-exit thresholds (default 1.0 down to 0.6)")
    b.add_argument("--similarities", type=float, nargs="+", help="dynamic skip similarities (default 0.99 0.95)")
    b.add_argument("--no-speed", action="store_true", help="skip the latency and throughput timings")
    b.add_argument("--plot", help="write the accuracy/threshold curve to this PNG (needs matplotlib)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(handler=cmd_bench_depth)
    b = bench.add_parser("compress", help="quantization and pruning methods against the dense model")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    b.add_argument("--task", help="task to measure and calibrate on (default: the training task)")
    b.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    b.add_argument("-n", type=_positive_int, default=300, help="test examples (default 300)")
    b.add_argument("--methods", nargs="+", help="methods to compare (default all)")
    b.add_argument("--sparsity", type=float, default=0.5, help="unstructured pruning sparsity (default 0.5)")
    b.add_argument("--group-size", type=_positive_int, default=32, help="int4 group size (default 32)")
    b.add_argument("--no-speed", action="store_true", help="skip the latency and throughput timings")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(handler=cmd_bench_compress)

    b = bench.add_parser("mod", help="mixture-of-depths against a dense model trained with equal FLOPs")
    b.add_argument("--task", default="episodic.location")
    b.add_argument("--set", dest="knobs", action="append", type=_parse_pair, default=[], metavar="KNOB=VALUE",
                   help="difficulty knob of the task (repeatable)")
    b.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    b.add_argument("--dense-steps", type=_positive_int, default=600, help="steps of the dense model (default 600)")
    b.add_argument("--capacity", type=float, default=0.125, help="fraction of tokens routed (default 0.125)")
    b.add_argument("--layers", type=int, nargs="+", help="routed blocks (default: every other block, from 1)")
    b.add_argument("--predictor-weight", type=float, default=1.0,
                   help="weight of the causal predictor's BCE loss (default 1.0)")
    b.add_argument("--batch-size", type=_positive_int, default=32)
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(handler=cmd_bench_mod)

    p = sub.add_parser("compress", help="quantize or prune a checkpoint into a new checkpoint")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    p.add_argument("--method", required=True, help="int8-dynamic, int8-weight, int4-weight, magnitude, wanda or 2:4")
    p.add_argument("--sparsity", type=float, help="fraction of weights to prune (default 0.5)")
    p.add_argument("--group-size", type=_positive_int, default=32, help="int4 group size (default 32)")
    p.add_argument("--task", help="task whose training examples calibrate wanda (and 2:4)")
    p.add_argument("--data-dir", help="folder of public data files (or set NEUROSYM_DATA)")
    p.add_argument("--calibration-examples", type=_positive_int, default=128, help="calibration examples (default 128)")
    p.add_argument("--out", required=True, help="folder for the compressed checkpoint")
    p.set_defaults(handler=cmd_compress)

    p = sub.add_parser("exec", help="run a program with the symbolic executor")
    p.add_argument("program", help='S-expression program, e.g. "(add 2 3)"; - reads it from standard input')
    p.add_argument("--file", action="store_true", help="treat PROGRAM as the path of a file holding the program")
    p.add_argument("--bind", action="append", type=_parse_pair, default=[], metavar="NAME=VALUE",
                   help="bind a reference $NAME to an integer, a fraction p/q or a string (repeatable)")
    p.add_argument("--trace", action="store_true", help="print each executed step")
    p.add_argument("--json", action="store_true", help="print the value and trace as JSON")
    p.set_defaults(handler=cmd_exec)

    p = sub.add_parser("data", help="fetch or audit public data sets")
    data = p.add_subparsers(dest="data", required=True, metavar="ACTION")
    d = data.add_parser("fetch", help="download and extract a data set")
    d.add_argument("dataset", choices=["babi"])
    d.add_argument("--url", help="archive URL or local path (default: the official bAbI v1.2 archive)")
    d.add_argument("--to", default="data", help="folder to extract into (default ./data)")
    d.set_defaults(handler=cmd_data_fetch)
    d = data.add_parser("audit", help="count the rows of a data set that a reader can get right")
    d.add_argument("dataset", choices=["clutrr"])
    d.add_argument("--data-dir", required=True, help="folder of the CLUTRR data_* folders, or one of them")
    d.add_argument("--set", dest="name", default="data_db9b8f04",
                   help="CLUTRR data set folder name (default data_db9b8f04)")
    d.set_defaults(handler=cmd_data_audit)
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
    from neurosym import distributed
    from neurosym.config import preset
    from neurosym.device import resolve_device, resolve_precision
    from neurosym.runs import TaskSpec, train_run
    from neurosym.tasks import get_task
    from neurosym.training import TrainConfig

    specs = [TaskSpec.parse(text, data_dir=args.data_dir) for text in _train_task_names(args)]
    knobs = dict(args.knobs)
    if args.babi_set and "variant" not in knobs:
        from neurosym.suites import babi_variant

        knobs["variant"] = babi_variant(args.babi_set)
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
    if args.mlp:
        overrides["mlp"] = args.mlp
    # reject a bad preset, feature, device or precision before any data work
    preset(args.preset, vocab_size=1, **overrides)
    resolve_precision(args.precision, resolve_device(args.device))
    _check_run_folder(Path(args.out), args.resume, [spec.name for spec in specs])
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        warmup_steps=args.warmup, eval_every=args.eval_every, seed=args.seed, device=args.device,
        precision=args.precision, answer_loss_only=args.loss_on == "answer", log_every=args.log_every,
        prompt_dropout=args.prompt_dropout,
    )
    context = distributed.init_from_env(args.device)
    try:
        distributed.barrier()  # every rank has checked the run folder before rank 0 writes to it
        if context.is_main:
            _write_run_file(args, Path(args.out))
        result = train_run(specs, args.out, model_preset=args.preset, model_overrides=overrides,
                           train_config=config, resume=args.resume, evaluate_after=args.eval, mode=args.mode,
                           pack=args.pack, valid_examples=args.valid_examples, stop_at=args.stop_after,
                           fallback=not args.no_fallback)
    finally:
        distributed.shutdown()
    if not context.is_main:
        return 0
    final = [r for r in result.history if "valid/accuracy" in r]
    if final:
        print(f"validation accuracy at step {final[-1]['step']}: {100 * final[-1]['valid/accuracy']:.2f}%")
    print(f"checkpoints in {Path(args.out) / 'best'} and {Path(args.out) / 'last'}")
    if result.report is not None:
        print(result.report.to_table())
        print(f"report: {Path(args.out) / 'eval.md'}")
    return 0


def _train_task_names(args: argparse.Namespace) -> list[str]:
    """Return the ``--task`` entries followed by the tasks of ``--suite`` not already named."""
    names = list(args.task or [])
    if args.suite:
        from neurosym.suites import suite_tasks

        chosen = {text.partition(":")[0] for text in names}
        names += [name for name in suite_tasks(args.suite) if name not in chosen]
    if not names:
        raise NeurosymError("no task to train on; pass --task NAME (repeatable) or --suite core|babi|clutrr|all")
    return names


def _write_run_file(args: argparse.Namespace, out: Path) -> None:
    """Record the resolved options as ``OUT/train_args.json``, a run file that ``--config`` reads back."""
    from neurosym.evaluation import _atomic_write
    from neurosym.runconfig import args_to_config, subparser

    options = args_to_config(args, subparser(build_parser(), "train"))
    options.pop("resume", None)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "train_args.json", json.dumps(options, indent=2) + "\n")


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

    if args.compare:
        return _eval_compare(args)
    if args.suite:
        return _eval_suite(args)
    if not args.checkpoint or len(args.checkpoint) > 1:
        raise NeurosymError("pass one --checkpoint PATH, or several with --suite NAME, or --compare RUN RUN")
    specs = [TaskSpec.parse(name, data_dir=args.data_dir) for name in args.task] if args.task else None
    if args.knobs:
        if specs is None:
            raise NeurosymError("--set needs --task: name the tasks whose difficulty it changes")
        _apply_eval_knobs(specs, dict(args.knobs))
    directory = resolve_checkpoint_dir(args.checkpoint[0])
    if specs is None and args.data_dir:
        from neurosym.checkpoint import load_run_info

        specs = [TaskSpec(**{**r, "data_dir": args.data_dir}) for r in load_run_info(directory).get("tasks", [])] or None
    report = evaluate_checkpoint(directory, specs, n=args.n, seed=args.seed, device=args.device, progress=True,
                                 modes=args.mode, features=dict(args.features) or None,
                                 candidates=args.candidates, neural_confidence=args.neural_confidence)
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


def _eval_suite(args: argparse.Namespace) -> int:
    from neurosym.suite_report import (
        evaluate_suite,
        load_result,
        merge_results,
        parse_checkpoint,
        write_report,
    )

    if not args.checkpoint and not args.add_report:
        raise NeurosymError("--suite needs at least one --checkpoint [LABEL=]PATH or --add-report DIR")
    if args.task:
        raise NeurosymError("--suite evaluates the suite's tasks; leave out --task or drop --suite")
    results = [load_result(folder) for folder in args.add_report]
    if args.checkpoint:
        results.append(evaluate_suite(args.suite, [parse_checkpoint(text) for text in args.checkpoint],
                                      modes=args.mode, n=args.n, seed=args.seed, data_dir=args.data_dir,
                                      device=args.device, babi_set=args.babi_set, progress=True))
    result = merge_results(results)
    if result.suite != args.suite:
        raise NeurosymError(f"--add-report holds a {result.suite!r} report, not --suite {args.suite}")
    paths = write_report(result, Path(args.out or f"reports/suite-{args.suite}"))
    print(json.dumps(result.to_dict(), indent=2) if args.json else paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['markdown'].parent} ({len(paths) - 2} plots)", file=sys.stderr)
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from neurosym.compare import compare_runs

    paths = compare_runs(args.compare, Path(args.out or "reports/compare"))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"report: {paths['markdown'].parent}", file=sys.stderr)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from neurosym.checkpoint import load_pretrained, load_tokenizer, resolve_checkpoint_dir
    from neurosym.inspect import bindings, format_bindings, plot_slot_maps, slot_maps

    directory = resolve_checkpoint_dir(args.checkpoint)
    model = load_pretrained(directory)
    tokenizer = load_tokenizer(directory)
    rows = bindings(model, tokenizer, args.text)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(format_bindings(rows))
    if args.plot:
        path = plot_slot_maps(slot_maps(model, tokenizer, args.text), args.plot)
        print(f"plot: {path}", file=sys.stderr)
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from neurosym.bench import bench_train

    if args.compare:
        from neurosym.bench import bench_feature

        r = bench_feature(args.compare, args.task, args.preset, args.batch_size, rounds=args.rounds,
                          precision=args.precision)
        print(f"task {r['task']}, preset {r['preset']}, batch {r['batch_size']}, precision {r['precision']}, "
              f"{args.compare} on layers {r['layers']}")
        print(f"baseline        {r['baseline']['tokens_per_s']:>10.0f} tokens/s")
        print(f"{args.compare:<15} {r[args.compare]['tokens_per_s']:>10.0f} tokens/s")
        print(f"step time ratio {args.compare} / baseline: {r['step_time_ratio']:.3f}")
        return 0
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

    settings = {"hnsw_ef_search": args.hnsw_ef_search, "hnsw_ef_construction": args.hnsw_ef_construction,
                "hnsw_m": args.hnsw_m}
    settings = {name: value for name, value in settings.items() if value is not None}
    config = MemoryConfig(**settings) if settings else None
    results = [benchmark_memory(n, dim=args.dim, k=args.k, n_queries=args.queries, kinds=args.kinds, config=config)
               for n in args.events]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return 0
    for result in results:
        print(_format_memory_result(result))
    return 0


def cmd_bench_depth(args: argparse.Namespace) -> int:
    from neurosym.depth_bench import bench_depth, format_rows, plot_thresholds

    result = bench_depth(args.checkpoint, args.task, n=args.n, thresholds=args.thresholds,
                         similarities=args.similarities, data_dir=args.data_dir, speed=not args.no_speed)
    print(json.dumps(result, indent=2) if args.json else format_rows(result))
    if args.plot:
        print(f"plot: {plot_thresholds(result, args.plot)}", file=sys.stderr)
    return 0


def cmd_bench_compress(args: argparse.Namespace) -> int:
    from neurosym.depth_bench import bench_compress, format_rows

    result = bench_compress(args.checkpoint, args.task, n=args.n, methods=args.methods, sparsity=args.sparsity,
                            group_size=args.group_size, data_dir=args.data_dir, speed=not args.no_speed)
    print(json.dumps(result, indent=2) if args.json else format_rows(result))
    return 0


def cmd_bench_mod(args: argparse.Namespace) -> int:
    from neurosym.depth_bench import bench_mod
    from neurosym.tasks import get_task

    task = get_task(args.task)
    knobs = {key: task.parse_knob(key, raw) for key, raw in args.knobs}
    r = bench_mod(args.task, knobs, dense_steps=args.dense_steps, capacity=args.capacity, layers=args.layers,
                  predictor_weight=args.predictor_weight, batch_size=args.batch_size, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"task {r['task']} {r['difficulty']}, mean length {r['mean_length']} tokens, capacity {r['capacity']} "
          f"on blocks {r['routed_layers']}, predictor weight {r['predictor_weight']}")
    print(f"{'variant':<18} {'steps':>6} {'FLOPs/forward':>14} {'train FLOPs':>12} {'valid loss':>10} "
          f"{'(top-k)':>8} {'valid acc':>9} {'seconds':>8}")
    for name, v in r["variants"].items():
        print(f"{name:<18} {v['steps']:>6} {v['flops_per_forward']:>14.3e} {v['training_flops']:>12.3e} "
              f"{v['valid_loss']:>10.4f} {v['valid_loss_top_k']:>8.4f} {100 * v['valid_accuracy']:>8.2f}% "
              f"{v['train_seconds']:>8.0f}")
        if v["predictor_routed_share"] is not None:
            print(f"  the causal predictors route {100 * v['predictor_routed_share']:.1f}% of validation tokens")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    from neurosym.checkpoint import (
        load_pretrained,
        load_run_info,
        load_tokenizer,
        resolve_checkpoint_dir,
    )
    from neurosym.compress import (
        METHODS,
        calibration_batches,
        compress_model,
        layer_sparsity_table,
        save_compressed,
    )
    from neurosym.errors import ConfigError

    if args.method not in METHODS:
        raise ConfigError(f"unknown --method {args.method!r}; valid methods: {', '.join(METHODS)}")
    directory = resolve_checkpoint_dir(args.checkpoint)
    model = load_pretrained(directory).eval()
    tokenizer = load_tokenizer(directory)
    run_info = load_run_info(directory)
    calibration = None
    if args.task:
        from neurosym.tasks import get_task

        stored = next((r for r in run_info.get("tasks", []) if r.get("name") == args.task), {})
        examples = get_task(args.task).examples("train", n=args.calibration_examples, seed=0,
                                                data_dir=args.data_dir or stored.get("data_dir"),
                                                **stored.get("difficulty", {}))
        calibration = calibration_batches(examples, tokenizer, model.config.max_seq_len)
    model, recipe = compress_model(model, args.method, sparsity=args.sparsity, group_size=args.group_size,
                                   calibration=calibration)
    recipe["source"] = str(directory)
    out = save_compressed(model, args.out, recipe, tokenizer=tokenizer, run_info=run_info or None)
    if "achieved_sparsity" in recipe:
        print(layer_sparsity_table(recipe["achieved_sparsity"]))
        print(f"mean sparsity {100 * recipe['mean_sparsity']:.2f}%")
    else:
        print(f"Linear weights {recipe['linear_bytes_before']:,} -> {recipe['linear_bytes_after']:,} bytes "
              f"({recipe['linear_size_ratio']:.2f}x smaller)")
    print(f"compressed checkpoint ({args.method}) in {out}")
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


def cmd_analyze_sparsity(args: argparse.Namespace) -> int:
    from neurosym.analysis import analyze_sparsity, plot_sparsity
    from neurosym.checkpoint import load_pretrained, load_tokenizer, resolve_checkpoint_dir
    from neurosym.tasks import get_task

    task = get_task(args.task)
    directory = resolve_checkpoint_dir(args.checkpoint)
    model = load_pretrained(directory)
    tokenizer = load_tokenizer(directory)
    split, knobs = args.split, {}
    if split in task.eval_splits:  # an evaluation label such as test_long: its split and knob overrides
        split, knobs = task.eval_splits[split]
    examples = task.examples(split, n=args.n, seed=args.seed, data_dir=args.data_dir, **knobs)
    report = analyze_sparsity(model, tokenizer, examples, checkpoint=str(directory), task=args.task,
                              swiglu_threshold=args.swiglu_threshold)
    if args.json == "-":
        print(report.to_json())
    else:
        print(report.to_table())
        if args.json:
            Path(args.json).write_text(report.to_json() + "\n", encoding="utf-8")
            print(f"JSON: {args.json}", file=sys.stderr)
    if args.plot:
        print(f"plot: {plot_sparsity(report, args.plot)}", file=sys.stderr)
    return 0


def cmd_bench_knn(args: argparse.Namespace) -> int:
    from neurosym.knn import (
        bench_knn_attention,
        bench_knn_mlp,
        format_attention_bench,
        format_mlp_bench,
        format_mlp_checkpoint,
        knn_mlp_checkpoint_recall,
    )

    results: dict[str, Any] = {}
    if args.skip != "attention":
        results["attention"] = bench_knn_attention(
            checkpoint=args.checkpoint, task=args.task, contexts=args.contexts, k=args.k, window=args.window,
            kinds=args.kinds, n_queries=args.queries, train_steps=args.train_steps, tails=args.tails)
        if not args.json:
            print(format_attention_bench(results["attention"]), flush=True)
    if args.skip != "mlp":
        results["mlp"] = bench_knn_mlp(neurons=args.neurons, d_model=args.d_model, fraction=args.fraction)
        if not args.json:
            print(format_mlp_bench(results["mlp"]), flush=True)
        if args.checkpoint:
            results["mlp_checkpoint"] = knn_mlp_checkpoint_recall(args.checkpoint, args.task, fraction=args.fraction)
            if not args.json:
                print(format_mlp_checkpoint(results["mlp_checkpoint"]))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


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


def cmd_data_audit(args: argparse.Namespace) -> int:
    from neurosym.tasks.clutrr import ClutrrTask, audit

    folder = ClutrrTask.find_dataset(Path(args.data_dir), args.name)
    print(f"{'file':<24} {'rows':>6} {'gold program':>13} {'worded against':>15} {'read as written':>16}")
    for row in audit(folder):
        def share(count: int, rows: int = row.rows) -> str:
            return f"{count / rows:.1%}" if rows else "-"

        print(f"{row.file:<24} {row.rows:>6} {share(row.program_agrees):>13} {share(row.worded_against):>15} "
              f"{share(row.text_agrees):>16}")
    print("gold program: rows whose gold edges give the target; worded against: rows with a sentence "
          "stating an edge the other way round; read as written: rows whose facts, read as the sentences "
          "word them, give the target")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from neurosym.runconfig import expand_config

    parser = build_parser()
    try:
        argv = expand_config(sys.argv[1:] if argv is None else argv, parser)
    except NeurosymError as exc:
        print(f"neurosym: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    # Under torchrun only rank 0 reports progress; the other ranks log warnings and errors.
    quiet = os.environ.get("RANK", "0") != "0"
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except NeurosymError as exc:
        print(f"neurosym: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader of our output (such as `head`) stopped early, which is not an error.
        # Point stdout at /dev/null so that the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"neurosym: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neurosym: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

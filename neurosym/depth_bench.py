"""Benchmarks of conditional depth and compression against the dense model.

Every variant is built from the same checkpoint and measured in the same process as the
dense model, which is the checkpoint's weights with no depth feature and no compression.
Speeds are therefore ratios against dense, above 1 when the variant is faster.

- ``bench_depth``: accuracy, block evaluations per token, batch-1 latency and batch-64
  throughput ratios for early exit at several thresholds, skip-layer (static, on the
  block whose output is most similar to its input, and dynamic) and mixture-of-depths.
- ``bench_compress``: accuracy, Linear weight size ratio, size on disk and the same
  speed ratios for each compression method.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from neurosym.checkpoint import (
    load_pretrained,
    load_run_info,
    load_tokenizer,
    resolve_checkpoint_dir,
)
from neurosym.compress import (
    DEFAULT_GROUP_SIZE,
    calibration_batches,
    compress_model,
    folder_bytes,
    linear_weight_bytes,
    save_compressed,
)
from neurosym.config import ModelConfig, SkipLayerConfig
from neurosym.data import collate_prompts, encode_prompt
from neurosym.errors import ConfigError, TaskError
from neurosym.evaluation import evaluate
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tasks.registry import get_task
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

DEPTH_FEATURES = ("early_exit", "skip_layers", "mixture_of_depths")


@dataclass
class VariantResult:
    """One row of a depth or compression benchmark."""

    variant: str
    accuracy: float
    layers_per_token: float
    latency_ratio: float  # batch 1: dense seconds / variant seconds
    throughput_ratio: float  # batch 64: variant tokens/s / dense tokens/s
    disk_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)


def with_features(model: TransformerPlus, **features: Any) -> TransformerPlus:
    """Copy ``model`` into a new model whose config has ``features`` replaced (None switches one off)."""
    config = ModelConfig.from_dict({**model.config.to_dict(), **features})
    variant = TransformerPlus(config).eval()
    state = model.state_dict()
    own = variant.state_dict()
    variant.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return variant


def dense_of(model: TransformerPlus) -> TransformerPlus:
    """Copy ``model`` with every depth feature switched off."""
    return with_features(model, **dict.fromkeys(DEPTH_FEATURES))


@dataclass
class BenchSetup:
    """Model, tokenizer and examples that every variant is measured on."""

    model: TransformerPlus
    tokenizer: Tokenizer
    task_name: str
    examples: list[Example]
    prompts: list[list[int]]
    checkpoint: Path
    calibration: list[Example]


def load_setup(checkpoint: str, task: str | None, n: int, seed: int, data_dir: str | None,
               calibration_examples: int = 128) -> BenchSetup:
    """Load the checkpoint and the test (and calibration) examples of its task."""
    directory = resolve_checkpoint_dir(checkpoint)
    model = load_pretrained(directory).eval()
    tokenizer = load_tokenizer(directory)
    tasks = load_run_info(directory).get("tasks", [])
    stored = next((record for record in tasks if task is None or record["name"] == task), None)
    name = task or (stored["name"] if stored else None)
    if name is None:
        raise TaskError(f"{directory} records no training task; pass --task NAME")
    difficulty = stored.get("difficulty", {}) if stored else {}
    data_dir = data_dir or (stored.get("data_dir") if stored else None)
    spec = get_task(name)
    examples = spec.examples("test", n=n, seed=seed, data_dir=data_dir, **difficulty)
    calibration = spec.examples("train", n=calibration_examples, seed=seed, data_dir=data_dir, **difficulty)
    prompts = [encode_prompt(example, tokenizer, model.config.max_seq_len - 16)[0] for example in examples]
    return BenchSetup(model, tokenizer, name, examples, prompts, Path(directory), calibration)


def _time_generation(model: TransformerPlus, batch: dict[str, torch.Tensor], new_tokens: int) -> float:
    start = time.perf_counter()
    model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=new_tokens)
    return time.perf_counter() - start


def speed_ratios(dense: TransformerPlus, variant: TransformerPlus, prompts: list[list[int]], pad_id: int,
                 new_tokens: int = 6, latency_prompts: int = 8, batch_size: int = 64, rounds: int = 3
                 ) -> tuple[float, float]:
    """(batch-1 latency ratio, batch-64 throughput ratio), dense over variant, alternating rounds.

    Both models decode the same prompts greedily for ``new_tokens`` tokens, without
    stopping early, so they do the same amount of work apart from what the variant saves.
    """
    singles = [collate_prompts([prompt], pad_id) for prompt in prompts[:latency_prompts]]
    batch = collate_prompts(prompts[:batch_size], pad_id)
    latency: dict[str, list[float]] = {"dense": [], "variant": []}
    throughput: dict[str, list[float]] = {"dense": [], "variant": []}
    models = {"dense": dense, "variant": variant}
    with torch.no_grad():
        for model in models.values():  # warm-up
            _time_generation(model, singles[0], new_tokens)
        for _ in range(rounds):
            for name, model in models.items():
                latency[name].append(sum(_time_generation(model, single, new_tokens) for single in singles))
                throughput[name].append(_time_generation(model, batch, new_tokens))
    latency_ratio = statistics.median(latency["dense"]) / statistics.median(latency["variant"])
    throughput_ratio = statistics.median(throughput["dense"]) / statistics.median(throughput["variant"])
    return latency_ratio, throughput_ratio


def accuracy_and_depth(model: TransformerPlus, setup: BenchSetup) -> tuple[float, float]:
    """Return task accuracy and block evaluations per token (prompt and generated tokens)."""
    if model.depth is not None:
        model.depth.stats.reset()
    report = evaluate(model, setup.tokenizer, get_task(setup.task_name), setup.examples, "test")
    layers = model.depth.stats.layers_per_token if model.depth is not None else float(model.config.n_layers)
    return report.accuracy, layers


def answer_loss(model: TransformerPlus, setup: BenchSetup) -> float:
    """Return the mean cross-entropy of the gold answer tokens of the test examples, a finer signal than accuracy."""
    from neurosym.runs import encode_all

    items = encode_all(setup.examples, setup.tokenizer, model.config.max_seq_len)
    return validation_loss(model, items, setup.tokenizer.pad_id)


@torch.no_grad()
def block_similarity(model: TransformerPlus, setup: BenchSetup, limit: int = 64) -> list[float]:
    """Mean cos(h_in, h_out) of each block over calibration tokens: high means the block changes little."""
    dense = dense_of(model)
    batches = calibration_batches(setup.calibration[:limit], setup.tokenizer, model.config.max_seq_len)
    totals = [0.0] * model.config.n_layers
    count = 0
    for batch in batches:
        states = dense(batch["input_ids"], return_internals=True).internals.hidden_states
        previous = dense.embed(batch["input_ids"])
        mask = batch["token_mask"]
        for index, state in enumerate(states):
            totals[index] += float(F.cosine_similarity(previous, state, dim=-1)[mask].sum())
            previous = state
        count += int(mask.sum())
    return [total / count for total in totals]


def _checkpoint_bytes(setup: BenchSetup) -> int:
    return folder_bytes(setup.checkpoint)


def bench_depth(
    checkpoint: str,
    task: str | None = None,
    n: int = 300,
    thresholds: list[float] | None = None,
    similarities: list[float] | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    speed: bool = True,
) -> dict[str, Any]:
    """Compare the checkpoint's depth variants with its dense form; see the module docstring."""
    setup = load_setup(checkpoint, task, n, seed, data_dir)
    model = setup.model
    dense = dense_of(model)
    size = _checkpoint_bytes(setup)
    similarity = block_similarity(model, setup)

    variants: dict[str, TransformerPlus] = {"dense": dense}
    if model.config.early_exit is not None:
        for threshold in thresholds or [1.0, 0.99, 0.95, 0.9, 0.8, 0.7, 0.6]:
            exit_config = dataclasses.replace(model.config.early_exit, threshold=threshold)
            variants[f"early_exit@{threshold:g}"] = with_features(model, early_exit=exit_config,
                                                                  mixture_of_depths=None, skip_layers=None)
    most_similar = max(range(model.config.n_layers), key=lambda i: similarity[i])
    variants[f"skip_static[{most_similar}]"] = with_features(
        dense, skip_layers=SkipLayerConfig(static=[most_similar], dynamic=False))
    for value in similarities or [0.99, 0.95]:
        variants[f"skip_dynamic@{value:g}"] = with_features(dense, skip_layers=SkipLayerConfig(dynamic=True,
                                                                                                similarity=value))
    if model.config.mixture_of_depths is not None:
        variants["mixture_of_depths"] = model

    rows = []
    for name, variant in variants.items():
        accuracy, layers = accuracy_and_depth(variant, setup)
        latency, throughput = (speed_ratios(dense, variant, setup.prompts, setup.tokenizer.pad_id)
                               if speed and name != "dense" else (1.0, 1.0))
        rows.append(VariantResult(name, accuracy, layers, latency, throughput, size,
                                  {"answer_loss": answer_loss(variant, setup)}))
        logger.info("%s: accuracy %.4f, %.2f layers per token", name, accuracy, layers)
    return {"task": setup.task_name, "n": len(setup.examples), "checkpoint": str(setup.checkpoint),
            "n_layers": model.config.n_layers, "block_similarity": similarity,
            "criterion": model.config.early_exit.criterion if model.config.early_exit else None,
            "rows": [dataclasses.asdict(row) for row in rows]}


def bench_compress(
    checkpoint: str,
    task: str | None = None,
    n: int = 300,
    methods: list[str] | None = None,
    sparsity: float = 0.5,
    group_size: int = DEFAULT_GROUP_SIZE,
    seed: int = 0,
    data_dir: str | None = None,
    speed: bool = True,
) -> dict[str, Any]:
    """Compare each compression method with the dense checkpoint; see the module docstring."""
    setup = load_setup(checkpoint, task, n, seed, data_dir)
    dense = setup.model
    calibration = calibration_batches(setup.calibration, setup.tokenizer, dense.config.max_seq_len)
    dense_linear = linear_weight_bytes(dense)
    rows = []
    accuracy, layers = accuracy_and_depth(dense, setup)
    rows.append(VariantResult("dense", accuracy, layers, 1.0, 1.0, _checkpoint_bytes(setup),
                              {"linear_bytes": dense_linear, "linear_size_ratio": 1.0,
                               "answer_loss": answer_loss(dense, setup)}))
    for method in methods or ["int8-dynamic", "int8-weight", "int4-weight", "magnitude", "wanda", "2:4"]:
        model = load_pretrained(setup.checkpoint).eval()
        model, recipe = compress_model(model, method, sparsity=sparsity if method not in ("2:4",) else 0.5,
                                       group_size=group_size, calibration=calibration)
        with tempfile.TemporaryDirectory() as folder:
            save_compressed(model, Path(folder) / "c", recipe)
            disk = folder_bytes(Path(folder) / "c")
        accuracy, layers = accuracy_and_depth(model, setup)
        latency, throughput = (speed_ratios(dense, model, setup.prompts, setup.tokenizer.pad_id)
                               if speed else (1.0, 1.0))
        extra = {"linear_bytes": linear_weight_bytes(model),
                 "linear_size_ratio": dense_linear / max(linear_weight_bytes(model), 1),
                 "answer_loss": answer_loss(model, setup)}
        if "mean_sparsity" in recipe:
            extra["mean_sparsity"] = recipe["mean_sparsity"]
            extra["achieved_sparsity"] = recipe["achieved_sparsity"]
        rows.append(VariantResult(method, accuracy, layers, latency, throughput, disk, extra))
        logger.info("%s: accuracy %.4f", method, accuracy)
    return {"task": setup.task_name, "n": len(setup.examples), "checkpoint": str(setup.checkpoint),
            "rows": [dataclasses.asdict(row) for row in rows]}


def format_rows(result: dict[str, Any]) -> str:
    """Plain-text table of a benchmark result."""
    header = f"{'variant':<22} {'accuracy':>9} {'ans loss':>8} {'layers/tok':>10} {'b1 lat x':>9} " \
             f"{'b64 thr x':>9} {'disk KiB':>9} {'linear x':>9}"
    lines = [f"task {result['task']}, {result['n']} test examples, checkpoint {result['checkpoint']}", header,
             "-" * len(header)]
    for row in result["rows"]:
        ratio = row["extra"].get("linear_size_ratio")
        lines.append(
            f"{row['variant']:<22} {100 * row['accuracy']:>8.2f}% {row['extra'].get('answer_loss', float('nan')):>8.4f} "
            f"{row['layers_per_token']:>10.2f} "
            f"{row['latency_ratio']:>9.2f} {row['throughput_ratio']:>9.2f} {row['disk_bytes'] / 1024:>9.0f} "
            + (f"{ratio:>9.2f}" if ratio is not None else f"{'-':>9}")
        )
    if "block_similarity" in result:
        lines.append("block similarity cos(h_in, h_out): "
                     + ", ".join(f"{i}: {value:.3f}" for i, value in enumerate(result["block_similarity"])))
    return "\n".join(lines)


def plot_thresholds(result: dict[str, Any], path: str) -> Path:
    """Plot accuracy and layers per token against the exit threshold to a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("plotting needs matplotlib: pip install 'neurosym[plot]'") from exc
    rows = [row for row in result["rows"] if row["variant"].startswith("early_exit@")]
    if not rows:
        raise ConfigError("the checkpoint has no early exit heads; nothing to plot")
    thresholds = [float(row["variant"].split("@")[1]) for row in rows]
    figure, left = plt.subplots(figsize=(6, 4))
    left.plot(thresholds, [100 * row["accuracy"] for row in rows], "o-", color="tab:blue")
    left.set_xlabel(f"exit threshold ({result.get('criterion') or 'max_prob'})")
    left.set_ylabel("accuracy (%)", color="tab:blue")
    right = left.twinx()
    right.plot(thresholds, [row["layers_per_token"] for row in rows], "s--", color="tab:orange")
    right.set_ylabel("blocks evaluated per token", color="tab:orange")
    left.set_title(f"early exit on {result['task']}")
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


@torch.no_grad()
def validation_loss(model: TransformerPlus, items: list[Any], pad_id: int, batch_size: int = 64,
                    top_k_routing: bool = False) -> float:
    """Return the mean answer-token cross-entropy over encoded examples.

    The model runs in eval mode, so mixture-of-depths routes by its causal predictor.
    ``top_k_routing`` runs it in training mode instead (dropout aside), so the
    non-causal top-k router decides, as during training.
    """
    from neurosym.data import collate_train
    from neurosym.layers.routing import shifted_cross_entropy

    model.train(top_k_routing)
    total, count = 0.0, 0
    for start in range(0, len(items), batch_size):
        batch = collate_train(items[start : start + batch_size], pad_id)
        logits = model(batch["input_ids"]).logits
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        total += float(shifted_cross_entropy(logits, batch["labels"])) * tokens
        count += tokens
    model.eval()
    return total / max(count, 1)


def bench_mod(
    task: str = "episodic.location",
    difficulty: dict[str, Any] | None = None,
    dense_steps: int = 600,
    capacity: float = 0.125,
    layers: list[int] | None = None,
    predictor_weight: float = 1.0,
    model_preset: str = "tiny",
    batch_size: int = 32,
    lr: float = 2e-3,
    valid_examples: int = 500,
    seed: int = 0,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Train a dense model and a mixture-of-depths model on the same data at equal training FLOPs.

    The routed model gets more steps, dense_steps * FLOPs(dense) / FLOPs(routed), with
    FLOPs per forward at the mean training sequence length (training costs three
    forwards either way). Reports final validation loss in eval mode (the causal
    predictor routes), accuracy and FLOPs per forward.
    """
    from neurosym.config import MixtureOfDepthsConfig, preset
    from neurosym.data import MixtureSampler
    from neurosym.layers.routing import forward_flops
    from neurosym.runs import TaskSpec, build_tokenizer, encode_all
    from neurosym.training import TrainConfig, Trainer

    spec = TaskSpec(task, difficulty=dict(difficulty or {}), data_dir=data_dir)
    train = spec.examples("train", seed=seed)
    valid = spec.examples("valid", n=valid_examples, seed=seed)
    tokenizer = build_tokenizer({task: train})
    dense_config = preset(model_preset, len(tokenizer))
    routed_layers = layers if layers is not None else list(range(1, dense_config.n_layers, 2))
    mod_config = preset(model_preset, len(tokenizer),
                        mixture_of_depths=MixtureOfDepthsConfig(layers=routed_layers, capacity=capacity,
                                                                predictor_weight=predictor_weight))
    encoded = encode_all(train, tokenizer, dense_config.max_seq_len)
    valid_items = encode_all(valid, tokenizer, dense_config.max_seq_len)
    length = round(sum(len(item.input_ids) for item in encoded) / len(encoded))
    flops = {"dense": forward_flops(dense_config, length)["total"],
             "mixture_of_depths": forward_flops(mod_config, length)["total"]}
    steps = {"dense": dense_steps, "mixture_of_depths": round(dense_steps * flops["dense"] / flops["mixture_of_depths"])}
    result: dict[str, Any] = {"task": task, "difficulty": spec.difficulty, "mean_length": length,
                              "capacity": capacity, "routed_layers": routed_layers,
                              "predictor_weight": predictor_weight, "variants": {}}
    for name, config in (("dense", dense_config), ("mixture_of_depths", mod_config)):
        torch.manual_seed(seed)
        model = TransformerPlus(config)
        sampler = MixtureSampler({task: encoded}, {task: 1.0}, seed)
        train_config = TrainConfig(steps=steps[name], batch_size=batch_size, lr=lr, seed=seed, device="cpu",
                                   precision="fp32", progress=False, warmup_steps=min(100, steps[name] // 10))
        start = time.perf_counter()
        Trainer(model, tokenizer, sampler, train_config).train()
        seconds = time.perf_counter() - start
        report = evaluate(model, tokenizer, get_task(task), valid, "valid")
        routed_share = predictor_routed_share(model, valid_items, tokenizer.pad_id)
        result["variants"][name] = {
            "predictor_routed_share": routed_share,
            "steps": steps[name], "flops_per_forward": flops[name],
            "training_flops": 3 * flops[name] * steps[name] * batch_size,
            "valid_loss": validation_loss(model, valid_items, tokenizer.pad_id),
            "valid_loss_top_k": validation_loss(model, valid_items, tokenizer.pad_id, top_k_routing=True),
            "valid_accuracy": report.accuracy, "train_seconds": seconds,
        }
        logger.info("%s: %s", name, result["variants"][name])
    return result


@torch.no_grad()
def predictor_routed_share(model: TransformerPlus, items: list[Any], pad_id: int, batch_size: int = 64) -> float | None:
    """Return the share of real tokens that the causal predictors route, over all routed blocks (None: no router)."""
    from neurosym.data import collate_train

    if model.depth is None or not len(model.depth.routers):
        return None
    model.eval()
    routed, total = 0, 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = collate_train(chunk, pad_id)
        real = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
        for row, item in enumerate(chunk):
            real[row, : len(item.input_ids)] = True
        records = model(batch["input_ids"], return_internals=True).internals.features["mixture_of_depths"]
        for record in records:
            routed += int(record["routed"][real].sum())
            total += int(real.sum())
    return routed / max(total, 1)

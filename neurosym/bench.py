"""Benchmarks that report speed as a ratio to a baseline run in the same process.

The machine is noisy, so the measured variant and its baseline alternate in short
rounds and the median ratio is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from neurosym.config import ModelConfig, preset
from neurosym.data import MixtureSampler, collate_train
from neurosym.device import autocast
from neurosym.model import TransformerPlus
from neurosym.runs import TaskSpec, build_tokenizer, encode_all
from neurosym.tokenizer import Tokenizer
from neurosym.training import TrainConfig, Trainer


def _training_setup(task: str, model_preset: str, seed: int) -> tuple[Tokenizer, ModelConfig, MixtureSampler]:
    """Build the tokenizer, model config and batch sampler shared by the training benchmarks."""
    torch.manual_seed(seed)
    examples = {task: TaskSpec(task).examples("train", n=2000, seed=seed)}
    tokenizer = build_tokenizer(examples)
    config = preset(model_preset, len(tokenizer))
    encoded = {task: encode_all(examples[task], tokenizer, config.max_seq_len)}
    return tokenizer, config, MixtureSampler(encoded, {task: 1.0}, seed)


def bench_train(
    task: str = "episodic.location",
    model_preset: str = "tiny",
    batch_size: int = 64,
    steps_per_round: int = 10,
    rounds: int = 5,
    precision: str = "fp32",
    seed: int = 0,
) -> dict[str, Any]:
    """Compare the Trainer's tokens/s with a minimal hand-written loop on the same model and data."""
    tokenizer, config, sampler = _training_setup(task, model_preset, seed)

    trainer_model = TransformerPlus(config)
    train_config = TrainConfig(steps=10**9, batch_size=batch_size, precision=precision, device="cpu",
                               progress=False, warmup_steps=0)
    trainer = Trainer(trainer_model, tokenizer, sampler, train_config)

    loop_model = TransformerPlus(config)
    loop_model.load_state_dict(trainer_model.state_dict())
    optimizer = torch.optim.AdamW(loop_model.parameters(), lr=train_config.lr)
    loop_step = [0]
    device = torch.device("cpu")

    def minimal_loop_step() -> int:
        items = sampler.batch(loop_step[0], 0, batch_size)
        batch = collate_train(items, tokenizer.pad_id)
        with autocast(device, trainer.precision):
            loss = loop_model(batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loop_step[0] += 1
        return batch["input_ids"].numel()

    def trainer_step() -> int:
        return int(trainer.train_step()["tokens"])

    result = _alternate({"trainer": trainer_step, "minimal_loop": minimal_loop_step}, steps_per_round, rounds)
    result["ratio"] = result["trainer"]["tokens_per_s"] / result["minimal_loop"]["tokens_per_s"]
    result.update({"task": task, "preset": model_preset, "batch_size": batch_size, "precision": trainer.precision})
    return result


def bench_precision(
    task: str = "episodic.location",
    model_preset: str = "tiny",
    batch_size: int = 64,
    steps_per_round: int = 5,
    rounds: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare training tokens/s under bf16 autocast with float32 on the CPU."""
    tokenizer, config, sampler = _training_setup(task, model_preset, seed)
    steppers = {}
    for precision in ("fp32", "bf16"):
        model = TransformerPlus(config)
        train_config = TrainConfig(steps=10**9, batch_size=batch_size, precision=precision, device="cpu",
                                   progress=False)
        trainer = Trainer(model, tokenizer, sampler, train_config)
        steppers[precision] = (lambda t: lambda: int(t.train_step()["tokens"]))(trainer)
    result = _alternate(steppers, steps_per_round, rounds)
    result["ratio"] = result["bf16"]["tokens_per_s"] / result["fp32"]["tokens_per_s"]
    result.update({"task": task, "preset": model_preset, "batch_size": batch_size})
    return result


def bench_feature(
    feature: str,
    task: str = "episodic.location",
    model_preset: str = "tiny",
    batch_size: int = 64,
    steps_per_round: int = 5,
    rounds: int = 5,
    precision: str = "fp32",
    seed: int = 0,
) -> dict[str, Any]:
    """Time Trainer steps with ``feature`` on every other block (1, 3, ...) against the baseline.

    Both models see the same batches; ``step_time_ratio`` is the feature's seconds per
    step over the baseline's (tokens/s of baseline over feature).
    """
    tokenizer, config, sampler = _training_setup(task, model_preset, seed)
    layers = list(range(1, config.n_layers, 2)) or [0]
    steppers = {}
    for name, options in (("baseline", None), (feature, {"layers": layers})):
        model = TransformerPlus(preset(model_preset, len(tokenizer), **({feature: options} if options else {})))
        train_config = TrainConfig(steps=10**9, batch_size=batch_size, precision=precision, device="cpu",
                                   progress=False, warmup_steps=0)
        trainer = Trainer(model, tokenizer, sampler, train_config)
        steppers[name] = (lambda t: lambda: int(t.train_step()["tokens"]))(trainer)
    result = _alternate(steppers, steps_per_round, rounds)
    result["step_time_ratio"] = result["baseline"]["tokens_per_s"] / result[feature]["tokens_per_s"]
    result.update({"task": task, "preset": model_preset, "batch_size": batch_size, "precision": precision,
                   "layers": layers, "feature": feature})
    return result


def _alternate(steppers: dict[str, Callable[[], int]], steps_per_round: int, rounds: int) -> dict[str, Any]:
    """Run each stepper for ``steps_per_round`` steps per round, alternating; report median tokens/s."""
    for step in steppers.values():  # warm-up: allocator, kernels
        step()
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, step in steppers.items():
            start = time.perf_counter()
            tokens = sum(step() for _ in range(steps_per_round))
            rates[name].append(tokens / (time.perf_counter() - start))
    return {name: {"tokens_per_s": statistics.median(values), "rounds": values} for name, values in rates.items()}

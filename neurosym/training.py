"""Training loop: AdamW, warmup and cosine decay, clipping, accumulation, checkpoints.

A run folder holds ``last/`` and ``best/`` checkpoints, ``last/training_state.pt``
(optimizer, step, RNG states) and ``metrics.jsonl``. Resuming from ``last/`` gives
the same result as an uninterrupted run with the same seed, because each step's
batch depends only on ``(seed, step)`` and the RNG states are restored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from neurosym import distributed
from neurosym.checkpoint import load_training_state, save_training_state
from neurosym.data import (
    MixtureSampler,
    collate_train,
    drop_prompt_tokens,
    model_inputs,
    undroppable_ids,
)
from neurosym.device import autocast, resolve_device, resolve_precision
from neurosym.errors import CheckpointError, ConfigError
from neurosym.model import TransformerPlus
from neurosym.tokenizer import PROGRAM, Tokenizer
from neurosym.tracking import TensorBoardTracker

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation settings of one run."""

    steps: int = 2000
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_every: int = 250
    log_every: int = 25
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    answer_loss_only: bool = True
    progress: bool = True
    prompt_dropout: float = 0.0  # word dropout on prompts (neurosym.data.drop_prompt_tokens)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if self.lr <= 0:
            raise ConfigError(f"TrainConfig.lr must be positive, got {self.lr}")
        if self.warmup_steps < 0:
            raise ConfigError(f"TrainConfig.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.prompt_dropout < 1.0:
            raise ConfigError(f"invalid TrainConfig.prompt_dropout {self.prompt_dropout}; use a number from 0 up to, not including, 1")
        self.betas = tuple(self.betas)

    def lr_at(self, step: int) -> float:
        """Linear warmup to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
        floor = self.lr * self.min_lr_ratio
        return floor + 0.5 * (self.lr - floor) * (1 + math.cos(math.pi * progress))


# Called at validation time with the model; returns metrics such as {"valid/acc": 0.93}.
Validator = Callable[[TransformerPlus], dict[str, float]]


class Trainer:
    """Train a :class:`TransformerPlus` on batches from a :class:`MixtureSampler`."""

    def __init__(
        self,
        model: TransformerPlus,
        tokenizer: Tokenizer,
        sampler: MixtureSampler,
        config: TrainConfig,
        out_dir: str | Path | None = None,
        validator: Validator | None = None,
        select_metric: str = "valid/accuracy",
        run_info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.dist = distributed.current()
        self.device = distributed.local_device(resolve_device(config.device), self.dist)
        self.precision = resolve_precision(config.precision, self.device)
        self.model = model.to(self.device)
        # Under torchrun: the DistributedDataParallel wrapper for training steps; else the model.
        self.parallel_model = distributed.wrap_model(self.model, self.dist)
        self.tokenizer = tokenizer
        self.sampler = sampler
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.validator = validator
        self.select_metric = select_metric
        self.run_info = run_info or {}
        self.optimizer = self._build_optimizer()
        self._keep_ids = undroppable_ids(tokenizer)
        self.step = 0
        self.best_score: float | None = None
        self.history: list[dict[str, Any]] = []
        # TensorBoard scalars beside metrics.jsonl, written by rank 0 only.
        self.tracker = None
        if self.out_dir is not None and self.dist.is_main:
            self.tracker = TensorBoardTracker(self.out_dir / "tensorboard")
        _seed_everything(config.seed)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        # No weight decay on norms and embeddings' gains (1-D tensors).
        decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=self.config.lr, betas=self.config.betas)

    # -- one step ---------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """Run one optimiser step (``grad_accum`` micro-batches); return its metrics."""
        cfg = self.config
        self.model.train()
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total_loss = 0.0
        total_lm_loss: float | None = None
        tokens = 0
        for micro in range(cfg.grad_accum):
            items = self.sampler.batch(self.step, micro, cfg.batch_size)
            if cfg.prompt_dropout:
                # Drawn from (seed, step, micro-step) on the global batch, so a resumed run, or one
                # with another number of processes, drops the same tokens.
                rng = random.Random(f"{cfg.seed}/{self.step}/{micro}")
                items = drop_prompt_tokens(items, self.tokenizer.unk_id, self._keep_ids, cfg.prompt_dropout, rng,
                                           prompt_end_id=self.tokenizer.token_to_id[PROGRAM])
            if self.dist.enabled:
                items = distributed.shard(items, self.dist)
            batch = collate_train(items, self.tokenizer.pad_id, cfg.answer_loss_only)
            batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            with autocast(self.device, self.precision):
                output = self.parallel_model(**model_inputs(batch))
            share = distributed.loss_share(batch["labels"], self.dist)
            (output.loss * share / cfg.grad_accum).backward()
            loss, micro_tokens = distributed.global_loss_and_tokens(output.loss, share, batch["input_ids"], self.dist)
            total_loss += loss / cfg.grad_accum
            tokens += micro_tokens
            if output.aux_losses:  # features add losses: log the language-model part on its own too
                lm_loss, _ = distributed.global_loss_and_tokens(output.lm_loss, share, batch["input_ids"], self.dist)
                total_lm_loss = (total_lm_loss or 0.0) + lm_loss / cfg.grad_accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        metrics = {"loss": total_loss, "lr": lr, "grad_norm": float(grad_norm), "tokens": tokens}
        if total_lm_loss is not None:
            metrics["lm_loss"] = total_lm_loss
        return metrics

    # -- the loop ---------------------------------------------------------
    def train(self, stop_at: int | None = None) -> list[dict[str, Any]]:
        """Train until ``config.steps`` (or ``stop_at``); validate, log and checkpoint along the way.

        ``stop_at`` ends the run early without changing the learning-rate schedule, as an
        interruption would; a later :meth:`resume` continues it.
        """
        cfg = self.config
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        logger.info(
            "training %d steps on %s (%s), %d parameters",
            cfg.steps, self.device, self.precision, self.model.num_parameters(),
        )
        if self.dist.enabled:
            logger.info("data parallel over %d processes; each takes its share of a batch of %d",
                        self.dist.world_size, cfg.batch_size)
        show = cfg.progress and self.dist.is_main
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show, desc="train", unit="step")
        window_tokens, window_start = 0, time.perf_counter()
        while self.step < end:
            metrics = self.train_step()
            window_tokens += metrics.pop("tokens")
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                elapsed = time.perf_counter() - window_start
                record = {"step": self.step, **metrics, "tokens_per_s": window_tokens / max(elapsed, 1e-9)}
                self._log(record)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
                window_tokens, window_start = 0, time.perf_counter()
            if self.step % cfg.eval_every == 0 or self.step in (cfg.steps, end):
                self.validate_and_save()
                window_start = time.perf_counter()
        bar.close()
        if self.tracker is not None:
            self.tracker.flush()
        return self.history

    def validate_and_save(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if not self.dist.is_main:
            distributed.barrier()  # rank 0 validates and writes the checkpoints meanwhile
            return metrics
        if self.validator is not None:
            self.model.eval()
            metrics = self.validator(self.model)
            self._log({"step": self.step, **metrics})
        if self.out_dir is not None:
            self.save(self.out_dir / "last", with_state=True)
            score = metrics.get(self.select_metric)
            if score is None and "valid/loss" in metrics:
                score = -metrics["valid/loss"]
            if score is None or self.best_score is None or score >= self.best_score:
                self.best_score = score
                self.save(self.out_dir / "best", with_state=False)
        distributed.barrier()
        return metrics

    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.out_dir is not None and self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            if self.tracker is not None:
                self.tracker.log(record)
        logger.debug("%s", record)

    # -- checkpoints ------------------------------------------------------
    def save(self, directory: Path, with_state: bool) -> None:
        run_info = {**self.run_info, "step": self.step, "train_config": dataclasses.asdict(self.config)}
        self.model.save_pretrained(directory, tokenizer=self.tokenizer, run_info=run_info)
        if with_state:
            state = {
                "step": self.step,
                "best_score": self.best_score,
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": _python_rng_state(),
                "numpy_rng": _numpy_rng_state(),
            }
            save_training_state(state, directory / "training_state.pt")

    def resume(self, directory: str | Path) -> None:
        """Restore model weights, optimizer, step and RNG states from a ``last/`` folder."""
        from neurosym.checkpoint import load_pretrained

        directory = Path(directory)
        loaded = load_pretrained(directory, config=self.model.config)
        self.model.load_state_dict(loaded.state_dict())
        state = load_training_state(directory / "training_state.pt")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.best_score = state["best_score"]
            torch.set_rng_state(state["torch_rng"])
            random.setstate(_restore_python_rng(state["python_rng"]))
            np.random.set_state(_restore_numpy_rng(state["numpy_rng"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{directory / 'training_state.pt'} is incomplete or from another run: {exc}") from exc
        logger.info("resumed from %s at step %d", directory, self.step)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# weights_only loading accepts tensors, lists, dicts and numbers, so RNG states are
# stored in those forms.
def _python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _restore_python_rng(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def _numpy_rng_state() -> list:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def _restore_numpy_rng(state: list) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)

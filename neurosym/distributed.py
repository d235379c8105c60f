"""Multi-process data-parallel training with ``torch.distributed``.

Launch with ``torchrun --nproc_per_node=N -m neurosym train ...``: torchrun sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, and
:func:`init_from_env` joins the process group (gloo on the CPU, NCCL on CUDA).

Every rank builds the same global batch for a step (it depends only on the seed and
the step) and keeps its own contiguous shard of it. Each rank's loss is weighted by
its share of the global batch's loss tokens, so that after DistributedDataParallel
averages the gradients they equal the gradient of the token-mean loss over the whole
global batch, as one process computes it. The training state (weights, optimizer,
step, RNG states) is therefore the same on every rank; rank 0 alone logs, validates
and writes checkpoints, and a run resumes under any number of processes.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from neurosym.errors import ConfigError
from neurosym.model import IGNORE_INDEX

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

# A rank waits this long at a barrier, e.g. while rank 0 validates and saves.
BARRIER_TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_ranks() -> int:
    """Return ``WORLD_SIZE`` as torchrun set it (1 outside a launcher)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError as exc:
        raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from exc


def current() -> DistributedContext:
    """Return the context of this process; the single-process one when no group is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    return DistributedContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )


def init_from_env(device: str = "auto") -> DistributedContext:
    """Join the process group that torchrun describes in the environment, if any.

    Returns the single-process context when ``WORLD_SIZE`` is unset or 1. With CUDA
    each process uses the GPU ``cuda:LOCAL_RANK`` and the NCCL backend; otherwise gloo.
    """
    if launched_ranks() <= 1:
        return DistributedContext()
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run one process (without torchrun)")
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=BARRIER_TIMEOUT)
        logger.info("rank %d of %d joined the %s process group", dist.get_rank(), dist.get_world_size(), backend)
    return current()


def shutdown() -> None:
    """Leave the process group (a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank arrives (a no-op in a single process)."""
    if current().enabled:
        dist.barrier()


def local_device(device: torch.device, context: DistributedContext) -> torch.device:
    """Return this rank's device: ``cuda:LOCAL_RANK`` for a bare ``cuda`` device under several ranks."""
    if context.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", context.local_rank)
    return device


def shard(items: Sequence[Item], context: DistributedContext) -> list[Item]:
    """Return this rank's contiguous share of a global batch (sizes differ by at most one)."""
    if len(items) < context.world_size:
        raise ConfigError(
            f"a batch of {len(items)} examples cannot be split among {context.world_size} processes; "
            f"use --batch-size of at least {context.world_size}"
        )
    base, extra = divmod(len(items), context.world_size)
    start = context.rank * base + min(context.rank, extra)
    stop = start + base + (1 if context.rank < extra else 0)
    return list(items[start:stop])


def all_reduce_sum(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum ``value`` over the ranks (a copy; the input is left as it is)."""
    total = value.detach().clone()
    if context.enabled:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def wrap_model(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel under several ranks; return it unchanged otherwise.

    DDP broadcasts rank 0's weights at construction, so every rank starts alike.
    ``find_unused_parameters`` is on when the model has optional features, because
    some of them (early exit, routing) leave parameters out of a step's graph; the plain
    model uses every parameter, and the extra graph traversal is skipped.
    """
    if not context.enabled:
        return model
    config = getattr(model, "config", None)
    has_features = bool(getattr(config, "enabled_features", lambda: [])())
    device_ids = [model_device(model).index] if model_device(model).type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=has_features
    )


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def loss_share(labels: torch.Tensor, context: DistributedContext) -> float:
    """Return the factor that turns this rank's token-mean loss into its part of the global mean.

    The model's loss is the mean over the shard's ``n_r`` loss tokens (labels shifted
    by one, padding ignored). DDP averages gradients over ``W`` ranks, so scaling the
    loss by ``W * n_r / N`` (``N`` the global count) makes the averaged gradient that
    of the mean over all ``N`` tokens. Returns 1.0 in a single process.
    """
    if not context.enabled:
        return 1.0
    local = (labels[:, 1:] != IGNORE_INDEX).sum().to(torch.float64)
    total = float(all_reduce_sum(local, context))
    if total == 0:
        return 1.0
    return context.world_size * float(local) / total


def global_loss_and_tokens(
    loss: torch.Tensor, share: float, input_ids: torch.Tensor, context: DistributedContext
) -> tuple[float, int]:
    """Return the global batch's loss and its input-token count, summed over the ranks."""
    if not context.enabled:
        return loss.item(), input_ids.numel()
    parts = torch.tensor([loss.item() * share / context.world_size, float(input_ids.numel())], dtype=torch.float64,
                         device=loss.device)
    total = all_reduce_sum(parts, context)
    return float(total[0]), int(total[1])

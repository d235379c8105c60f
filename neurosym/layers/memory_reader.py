"""Episodic memory inside the model: a writer that encodes sentences, a reader that retrieves them.

The writer runs the model's first ``write_layer + 1`` blocks over each context
sentence on its own, as a batch of short sequences. So a story of any length is
written in pieces that each fit the window. The writer pools the states of each
sentence and projects the pooled state to a unit key and a value. A reader layer inside a
block projects every token to a unit query, retrieves the ``top_k`` events of its
own example with the best

    score = cos(query, key) + recency_weight * 2 ** (-(now - time) / recency_half_life)

and attends to those events' values plus an embedding of their age ``now - time``.
The result is added to the residual stream.

Two memories serve the reader with the same scoring rule:

- :class:`TensorMemory` contains the written keys and values as torch tensors (with
  gradient), padded per example. Retrieval is an exact ``topk`` in torch, masked so
  that a row only retrieves its own example's events. Training uses it.
- :class:`StoreMemory` reads the same vectors from a
  :class:`neurosym.memory.EpisodicMemory`, one episode per example, through its
  ``search``. Inference uses it.

Shapes: B batch, T tokens, N events per example, S sentences in the batch,
L sentence tokens, K key width, D model width, k retrieved events, H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import MemoryReaderConfig, ModelConfig
from neurosym.errors import ConfigError
from neurosym.layers.norm import RMSNorm

if TYPE_CHECKING:
    from neurosym.memory import EpisodicMemory

MEMORY_BANK = "memory_bank"  # key of the memory in ForwardContext.inputs
WRITE_CHUNK = 1024  # sentences encoded per writer call


@dataclass
class Retrieved:
    """Events that one reader call retrieved for every token."""

    scores: torch.Tensor  # (B, T, k) retrieval scores, 0 where not valid
    values: torch.Tensor  # (B, T, k, D)
    ages: torch.Tensor  # (B, T, k) now - time, as float
    valid: torch.Tensor  # (B, T, k) bool
    ids: torch.Tensor  # (B, T, k) event ids (store) or row slots (tensors), -1 where not valid


@dataclass
class TensorMemory:
    """Written events as padded torch tensors; ``mask`` marks real events."""

    keys: torch.Tensor  # (B, N, K), unit length
    values: torch.Tensor  # (B, N, D)
    times: torch.Tensor  # (B, N) long
    mask: torch.Tensor  # (B, N) bool
    now: torch.Tensor  # (B,) long

    def retrieve(self, query: torch.Tensor, top_k: int, weight: float, half_life: float) -> Retrieved:
        batch, length, _ = query.shape
        count = self.keys.shape[1]
        k = min(top_k, count)
        if k == 0:
            return _empty(query, self.values.shape[-1])
        similarity = torch.einsum("btk,bnk->btn", query, self.keys.to(query.dtype))
        age = (self.now.unsqueeze(1) - self.times).to(query.dtype)  # (B, N)
        score = similarity + weight * torch.exp2(-age / half_life).unsqueeze(1)
        score = score.masked_fill(~self.mask.unsqueeze(1), float("-inf"))
        top, slots = score.topk(k, dim=-1)  # (B, T, k)
        valid = torch.isfinite(top)
        flat = slots.reshape(batch, length * k)
        values = self.values.gather(1, flat.unsqueeze(-1).expand(-1, -1, self.values.shape[-1]))
        return Retrieved(
            scores=top.masked_fill(~valid, 0.0),
            values=values.view(batch, length, k, -1).to(query.dtype),
            ages=age.gather(1, flat).view(batch, length, k),
            valid=valid,
            ids=slots.masked_fill(~valid, -1),
        )


@dataclass
class StoreMemory:
    """Events in an :class:`~neurosym.memory.EpisodicMemory`.

    Row b reads episode ``episodes[b]`` as of ``now[b]``.
    """

    store: EpisodicMemory
    episodes: list[str]
    now: list[int]

    def retrieve(self, query: torch.Tensor, top_k: int, weight: float, half_life: float) -> Retrieved:
        if abs(self.store.config.recency_weight - weight) > 1e-9:
            raise ConfigError(
                f"the store's recency_weight={self.store.config.recency_weight} differs from the model's "
                f"memory.recency_weight={weight}. Open the store with MemoryConfig(recency_weight={weight})"
            )

        batch, length, _ = query.shape
        if len(self.episodes) != batch or len(self.now) != batch:
            raise ValueError(f"StoreMemory has {len(self.episodes)} episodes for a batch of {batch} rows")
        queries = query.detach().float().cpu().numpy()
        rows = []
        for row in range(batch):
            rows.append(self.store.search(queries[row], k=top_k, as_of=self.now[row], episode=self.episodes[row],
                                          recency_half_life=half_life))

        k = max((len(hits) for token_hits in rows for hits in token_hits), default=0)
        if k == 0:
            return _empty(query, None)
        width = next(len(hits[0].event.value) for token_hits in rows for hits in token_hits if hits)
        scores = torch.zeros(batch, length, k)
        values = torch.zeros(batch, length, k, width)
        ages = torch.zeros(batch, length, k)
        valid = torch.zeros(batch, length, k, dtype=torch.bool)
        ids = torch.full((batch, length, k), -1, dtype=torch.long)
        for row, token_hits in enumerate(rows):
            for token, hits in enumerate(token_hits):
                for rank, hit in enumerate(hits):
                    if hit.event.value is None:
                        raise ValueError(f"memory event {hit.id} has no value vector. Write it with a value")
                    scores[row, token, rank] = hit.score
                    values[row, token, rank] = torch.from_numpy(hit.event.value)
                    ages[row, token, rank] = float(self.now[row] - hit.event.time)
                    valid[row, token, rank] = True
                    ids[row, token, rank] = hit.id
        device, dtype = query.device, query.dtype
        return Retrieved(scores.to(device, dtype), values.to(device, dtype), ages.to(device, dtype),
                         valid.to(device), ids.to(device))


def _empty(query: torch.Tensor, width: int | None) -> Retrieved:
    batch, length, _ = query.shape
    shape = (batch, length, 0)
    return Retrieved(
        scores=query.new_zeros(shape), values=query.new_zeros((*shape, width or 1)), ages=query.new_zeros(shape),
        valid=torch.zeros(shape, dtype=torch.bool, device=query.device),
        ids=torch.zeros(shape, dtype=torch.long, device=query.device),
    )


def time_embedding(ages: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Embed ages (...) as (..., dim) sines and cosines at periods from 1 to ``max_period``."""
    half = dim // 2
    periods = max_period ** (torch.arange(half, device=ages.device, dtype=torch.float32) / max(half - 1, 1))
    angles = ages.float().unsqueeze(-1) / periods * (2 * math.pi)
    return torch.cat((angles.sin(), angles.cos()), dim=-1).to(ages.dtype)


class Projection(nn.Module):
    """Bias-free linear map initialised with standard deviation ``std``.

    It is not an ``nn.Linear`` on purpose, because the model re-initialises every
    ``nn.Linear`` with std 0.02, and a bilinear score of two such maps starts so
    close to zero that the reader's attention stays uniform for hundreds of steps.
    """

    def __init__(self, in_features: int, out_features: int, std: float | None = None, seed: int | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        std = in_features ** -0.5 if std is None else std
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.weight = nn.Parameter(torch.randn(out_features, in_features, generator=generator) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


# Projections made with the same seed start equal. The writer's key and every reader's
# query start as one map, and so do a reader's attention query and key. So states that
# share tokens (a question and a sentence about the same person) start with a positive
# similarity instead of a random one. Training then moves them apart freely.
KEY_SEED = 7919
ATTENTION_SEED = 104729


class MemoryWriter(nn.Module):
    """Encode sentences with the model's own lower blocks into unit keys and values."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        memory = _memory_config(config)
        self.settings = memory
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.key = Projection(config.d_model, memory.key_dim, seed=KEY_SEED)
        self.d_model = config.d_model

    def encode(self, model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return unit keys (S, K) and values (S, D) of right-padded sentences ``tokens`` (S, L).

        Each sentence is read on its own from position 0 by blocks ``0..write_layer``
        without memory. Padding comes after every real token, so causal attention never
        mixes it into the pooled states.
        """
        if tokens.dim() != 2 or lengths.shape != tokens.shape[:1]:
            raise ValueError(f"tokens must be (S, L) with lengths (S,), got {tuple(tokens.shape)} and "
                             f"{tuple(lengths.shape)}")
        if bool((lengths <= 0).any()):
            raise ValueError("every written sentence needs at least one token")
        keys, values = [], []
        for start in range(0, tokens.shape[0], WRITE_CHUNK):
            chunk = tokens[start : start + WRITE_CHUNK]
            size = lengths[start : start + WRITE_CHUNK]
            chunk = chunk[:, : int(size.max())]
            positions = torch.arange(chunk.shape[1], device=chunk.device).expand_as(chunk)
            x = model.embed(chunk)
            for block in model.blocks[: self.settings.write_layer + 1]:
                x, _ = block(x, positions, None, None, None)
            if self.settings.pool == "last":
                pooled = x[torch.arange(len(size), device=x.device), size - 1]
            else:
                real = (torch.arange(chunk.shape[1], device=x.device) < size.unsqueeze(1)).to(x.dtype)
                pooled = (x * real.unsqueeze(-1)).sum(1) / size.unsqueeze(1).to(x.dtype)
            pooled = self.norm(pooled)
            keys.append(F.normalize(self.key(pooled), dim=-1))
            # The value is the normalised pooled state itself. With no projection of small
            # initial weights in between, the reader's gradient reaches it from the first step.
            values.append(pooled)
        return torch.cat(keys), torch.cat(values)

    def prepare(self, model: nn.Module, inputs: dict[str, Any], batch: int) -> None:
        """Write the batch's sentences into ``inputs[MEMORY_BANK]`` unless a memory is already there.

        Reads ``memory_tokens`` (S, L), ``memory_lengths`` (S,), ``memory_rows`` (S,)
        with the example of each sentence in sorted order, ``memory_times`` (S,) and
        ``memory_now`` (B,), as :func:`neurosym.memory_data.collate_memory` makes them.
        """
        if MEMORY_BANK in inputs or "memory_tokens" not in inputs:
            return
        rows = inputs["memory_rows"]
        now = inputs["memory_now"]
        if now.shape != (batch,):
            raise ValueError(f"memory_now must have shape ({batch},), got {tuple(now.shape)}")
        d_model = self.d_model
        if rows.numel() == 0:
            empty = torch.zeros(batch, 0, device=now.device)
            inputs[MEMORY_BANK] = TensorMemory(
                keys=empty.new_zeros(batch, 0, self.key.out_features), values=empty.new_zeros(batch, 0, d_model),
                times=empty.long(), mask=empty.bool(), now=now)
            return
        if bool((rows[1:] < rows[:-1]).any()) or int(rows.max()) >= batch or int(rows.min()) < 0:
            raise ValueError("memory_rows must be sorted example indices in 0..B-1")
        keys, values = self.encode(model, inputs["memory_tokens"], inputs["memory_lengths"])
        counts = torch.bincount(rows, minlength=batch)
        starts = torch.cumsum(counts, 0) - counts
        slots = torch.arange(rows.numel(), device=rows.device) - starts[rows]
        width = int(counts.max())
        padded_keys = keys.new_zeros(batch, width, keys.shape[-1])
        padded_values = values.new_zeros(batch, width, d_model)
        times = torch.zeros(batch, width, dtype=torch.long, device=rows.device)
        mask = torch.zeros(batch, width, dtype=torch.bool, device=rows.device)
        padded_keys = padded_keys.index_put((rows, slots), keys)
        padded_values = padded_values.index_put((rows, slots), values)
        times[rows, slots] = inputs["memory_times"]
        mask[rows, slots] = True
        inputs[MEMORY_BANK] = TensorMemory(padded_keys, padded_values, times, mask, now)


class MemoryReader(nn.Module):
    """Reader layer that retrieves the top-k events of each token's example and attends to them.

    Its forward pass returns the residual update.
    """

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        memory = _memory_config(config)
        self.settings = memory
        self.index = index
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.query = Projection(config.d_model, memory.key_dim, seed=KEY_SEED)
        self.time = Projection(memory.time_dim, config.d_model, std=0.02)
        self.q = Projection(config.d_model, config.d_model, seed=ATTENTION_SEED + index)
        self.k = Projection(config.d_model, config.d_model, seed=ATTENTION_SEED + index)
        self.out = Projection(config.d_model, config.d_model, std=0.02)
        # A learned "nothing retrieved" entry keeps the softmax defined on an empty memory.
        self.null = nn.Parameter(torch.zeros(config.d_model))
        self.score_scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x: torch.Tensor, inputs: dict[str, Any], internals: Any = None) -> torch.Tensor | None:
        """Return the update (B, T, D) for ``x``, or None when the pass carries no memory."""
        memory = inputs.get(MEMORY_BANK)
        if memory is None:
            return None
        settings = self.settings
        batch, length, _ = x.shape
        h = self.norm(x)
        query = F.normalize(self.query(h), dim=-1)
        got = memory.retrieve(query, settings.top_k, settings.recency_weight, settings.recency_half_life)
        entries = got.values + self.time(time_embedding(got.ages, settings.time_dim))  # (B, T, k, D)
        null = self.null.to(entries.dtype).expand(batch, length, 1, -1)
        entries = torch.cat((null, entries), dim=2)  # (B, T, 1 + k, D)
        scores = torch.cat((got.scores.new_zeros(batch, length, 1), got.scores), dim=2)
        valid = torch.cat((got.valid.new_ones(batch, length, 1), got.valid), dim=2)
        slots = entries.shape[2]
        q = self.q(h).view(batch, length, self.n_heads, self.head_dim)
        k = self.k(entries).view(batch, length, slots, self.n_heads, self.head_dim)
        v = entries.view(batch, length, slots, self.n_heads, self.head_dim)
        logits = torch.einsum("bthd,btshd->bths", q, k) / math.sqrt(self.head_dim)
        logits = logits + self.score_scale * scores.unsqueeze(2)
        logits = logits.masked_fill(~valid.unsqueeze(2), float("-inf"))
        weights = torch.softmax(logits.float(), dim=-1).to(v.dtype)
        read = torch.einsum("bths,btshd->bthd", weights, v).reshape(batch, length, -1)
        if internals is not None:
            internals.add("memory", {"layer": self.index, "ids": got.ids.detach().cpu(),
                                     "ages": got.ages.detach().cpu(), "valid": got.valid.detach().cpu()})
        return self.out(read)


def _memory_config(config: ModelConfig) -> MemoryReaderConfig:
    if config.memory is None:
        raise ConfigError("the memory layers need ModelConfig.memory. Set memory=MemoryReaderConfig()")
    return config.memory

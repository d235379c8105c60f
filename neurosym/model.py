"""TransformerPlus: a pre-norm decoder-only Transformer.

Dimension legend: B batch, T tokens in this call, S keys (cache plus new),
D model width, V vocabulary size, L layers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import ModelConfig
from neurosym.layers.attention import CausalSelfAttention, KVPair, build_attention_mask
from neurosym.layers.memory_reader import MemoryReader, MemoryWriter
from neurosym.layers.mlp import build_mlp
from neurosym.layers.norm import RMSNorm
from neurosym.layers.rope import RotaryEmbedding
from neurosym.layers.routing import DepthControl, DepthRunner, cache_length, uses_depth_features
from neurosym.layers.slots import SymbolSlots

if TYPE_CHECKING:
    from neurosym.tokenizer import Tokenizer

IGNORE_INDEX = -100


@dataclass
class Internals:
    """Per-layer values of a forward pass that inspection reads."""

    hidden_states: list[torch.Tensor] = field(default_factory=list)  # each (B, T, D)
    # feature name -> one record per layer that has the feature (slot bindings,
    # exit decisions, router choices, retrieved memory ids, ...)
    features: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, feature: str, record: Any) -> None:
        self.features.setdefault(feature, []).append(record)


@dataclass
class ForwardContext:
    """State of one forward pass that blocks and feature layers share.

    ``inputs`` holds batch-level extras that features read (for example gold entity
    targets for slot supervision); layers add weighted auxiliary losses to
    ``aux_losses`` under a unique name and, when ``internals`` is set, their records.
    """

    inputs: dict[str, Any] = field(default_factory=dict)
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    internals: Internals | None = None
    past_length: int = 0


@dataclass
class ModelOutput:
    """Result of :meth:`TransformerPlus.forward`."""

    logits: torch.Tensor  # (B, T, V)
    loss: torch.Tensor | None = None  # language-model loss plus weighted auxiliary losses
    lm_loss: torch.Tensor | None = None  # the language-model loss alone, comparable across features
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    past_key_values: list[KVPair] | None = None
    internals: Internals | None = None


class Block(nn.Module):
    """x + Attn(Norm(x)), then x + MLP(Norm(x)).

    ``index`` is the block's position in the stack; optional features look it up in
    their config's ``layers`` list.
    """

    def __init__(self, config: ModelConfig, rope: RotaryEmbedding, index: int = 0) -> None:
        super().__init__()
        self.index = index
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        if config.knn_attention is not None and config.knn_attention.applies_to(index):
            from neurosym.layers.knn_attention import KNNAttention

            self.attn = KNNAttention(config, rope)
        else:
            self.attn = CausalSelfAttention(config, rope)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        if config.knn_mlp is not None and config.knn_mlp.applies_to(index):
            from neurosym.layers.knn_mlp import build_knn_mlp

            self.mlp = build_knn_mlp(config)
        else:
            self.mlp = build_mlp(config)
        self.dropout = nn.Dropout(config.dropout)
        self.slots = (
            SymbolSlots(config, index) if config.slots is not None and config.slots.applies_to(index) else None
        )
        if self.slots is not None:
            self.supports_cache = False  # slot states are prefix statistics the (k, v) cache cannot carry
        memory = config.memory
        self.memory_reader = MemoryReader(config, index) if memory is not None and memory.applies_to(index) else None

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: KVPair | None,
        context: ForwardContext | None = None,
    ) -> tuple[torch.Tensor, KVPair]:
        attended, present = self.attn(self.attn_norm(x), positions, mask, past)
        x = x + self.dropout(attended)
        if self.slots is not None:
            x = x + self.dropout(self.slots(x, mask, context, positions))
        if self.memory_reader is not None and context is not None:
            read = self.memory_reader(x, context.inputs, context.internals)
            if read is not None:
                x = x + self.dropout(read)
        x = x + self.dropout(self.mlp(self.mlp_norm(x)))
        return x, present


class TransformerPlus(nn.Module):
    """The neurosym model; the baseline is a plain causal decoder."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        rope = RotaryEmbedding(config.head_dim, config.max_seq_len, config.rope_theta)
        self.rope = rope
        self.blocks = nn.ModuleList(Block(config, rope, index) for index in range(config.n_layers))
        self.final_norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # early exit, skip-layer and mixture-of-depths (neurosym.layers.routing)
        self.depth = DepthControl(config) if uses_depth_features(config) else None
        self.memory_writer = MemoryWriter(config) if config.memory is not None else None
        if config.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.apply(self._init_weights)
        # Scale residual output projections by 1/sqrt(2L) as in GPT-2 (Radford et al. 2019).
        for name, param in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.down.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def save_pretrained(
        self, directory: str | os.PathLike[str], tokenizer: Tokenizer | None = None, run_info: dict | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and, if given, ``tokenizer.json``."""
        from neurosym.checkpoint import save_pretrained

        return save_pretrained(self, directory, tokenizer=tokenizer, run_info=run_info)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], config: ModelConfig | None = None, map_location: str = "cpu"
    ) -> TransformerPlus:
        """Load a checkpoint; a mismatched or corrupt one raises CheckpointError."""
        from neurosym.checkpoint import load_pretrained

        return load_pretrained(directory, config=config, map_location=map_location)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.embed.weight.numel()
        return total

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        past_key_values: list[KVPair] | None = None,
        use_cache: bool = False,
        return_internals: bool = False,
        attn_mask: torch.Tensor | None = None,
        feature_inputs: dict[str, Any] | None = None,
    ) -> ModelOutput:
        """Run the decoder on ``input_ids`` (B, T).

        ``labels`` (B, T) are the token ids themselves, with IGNORE_INDEX where no loss
        applies; the shift by one happens here. ``attention_mask`` (B, S) marks real
        tokens (1) and padding (0) over the cached and new positions. ``attn_mask``
        (B, T, T), boolean, replaces the causal mask for packed sequences (see
        :func:`neurosym.data.pack_story`); it must never allow a later key.
        ``feature_inputs`` carries batch extras that optional features read. The
        returned loss is the language-model loss plus the features' weighted
        auxiliary losses, which are also returned one by one.
        """
        batch, length = input_ids.shape
        past_length = cache_length(past_key_values)
        if past_length + length > self.config.max_seq_len:
            raise ValueError(
                f"sequence of {past_length + length} tokens exceeds max_seq_len={self.config.max_seq_len}; "
                "shorten the input or train with a larger max_seq_len"
            )
        if positions is None:
            positions = self._default_positions(batch, length, past_length, attention_mask, input_ids.device)
        if attn_mask is not None:
            if past_key_values or attn_mask.shape != (batch, length, length):
                raise ValueError(
                    f"attn_mask must have shape {(batch, length, length)} and no KV cache, got {tuple(attn_mask.shape)}"
                )
            mask = attn_mask.unsqueeze(1)
        else:
            mask = build_attention_mask(attention_mask, length, past_length)

        x = self.embed(input_ids)
        internals = Internals() if return_internals else None
        context = ForwardContext(inputs=dict(feature_inputs or {}), internals=internals, past_length=past_length)
        if self.memory_writer is not None:
            self.memory_writer.prepare(self, context.inputs, batch)
        presents: list[KVPair] = []
        if self.depth is not None:
            logits, presents = DepthRunner(self, context, labels).run(x, positions, mask, past_key_values, use_cache)
        else:
            for index, block in enumerate(self.blocks):
                past = past_key_values[index] if past_key_values else None
                x, present = block(x, positions, mask, past, context)
                if use_cache:
                    presents.append(present)
                if internals is not None:
                    internals.hidden_states.append(x)
            logits = self.lm_head(self.final_norm(x))

        loss = lm_loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, 1:].reshape(-1),
                ignore_index=IGNORE_INDEX,
            )
            lm_loss = loss
            for aux in context.aux_losses.values():
                loss = loss + aux
        return ModelOutput(
            logits=logits,
            loss=loss,
            lm_loss=lm_loss,
            aux_losses=context.aux_losses,
            past_key_values=presents if use_cache else None,
            internals=internals,
        )

    @staticmethod
    def _default_positions(
        batch: int, length: int, past_length: int, attention_mask: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor:
        if attention_mask is None:
            return torch.arange(past_length, past_length + length, device=device).expand(batch, length)
        # Left padding: a token's position counts the real tokens before it.
        cumulative = attention_mask.long().cumsum(-1) - 1
        return cumulative[:, past_length:].clamp(min=0)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 32,
        eos_id: int | Sequence[int] | None = None,
        pad_id: int = 0,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        feature_inputs: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """Decode up to ``max_new_tokens`` after left-padded prompts; return (B, new) ids.

        Temperature 0 is greedy. ``eos_id`` is one stop token or several; rows that
        produced one are filled with ``pad_id`` afterwards. ``feature_inputs`` reach
        every forward call (for example the episodic memory the prompts read).
        """
        if eos_id is None:
            stop_ids = []
        elif isinstance(eos_id, int):
            stop_ids = [eos_id]
        else:
            stop_ids = list(eos_id)
        stop = torch.tensor(stop_ids, dtype=torch.long, device=input_ids.device)
        batch = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        max_new_tokens = min(max_new_tokens, self.config.max_seq_len - input_ids.shape[1])
        if max_new_tokens <= 0:
            return input_ids.new_empty((batch, 0))
        if not self.supports_cache:
            return self._generate_without_cache(input_ids, attention_mask, max_new_tokens, stop, pad_id,
                                                temperature, top_k, generator, feature_inputs)
        output = self(input_ids, attention_mask=attention_mask, use_cache=True, feature_inputs=feature_inputs)
        past = output.past_key_values
        next_logits = output.logits[:, -1]
        finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        new_tokens = []
        for step in range(max_new_tokens):
            token = self._pick(next_logits, temperature, top_k, generator)
            token = torch.where(finished, torch.full_like(token, pad_id), token)
            new_tokens.append(token)
            if stop_ids:
                finished |= torch.isin(token, stop)
            if bool(finished.all()) or step == max_new_tokens - 1:
                break
            attention_mask = torch.cat((attention_mask, torch.ones_like(token).unsqueeze(1)), dim=1)
            output = self(token.unsqueeze(1), attention_mask=attention_mask, past_key_values=past, use_cache=True,
                          feature_inputs=feature_inputs)
            past = output.past_key_values
            next_logits = output.logits[:, -1]
        return torch.stack(new_tokens, dim=1)

    @property
    def supports_cache(self) -> bool:
        """False when a block's feature keeps state the KV cache cannot carry.

        Such a block sets ``supports_cache = False``; generation then recomputes the
        whole sequence at every step, which is slower but exact.
        """
        return all(getattr(block, "supports_cache", True) for block in self.blocks)

    def _generate_without_cache(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        max_new_tokens: int,
        stop: torch.Tensor,
        pad_id: int,
        temperature: float,
        top_k: int | None,
        generator: torch.Generator | None,
        feature_inputs: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        batch = input_ids.shape[0]
        finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        new_tokens = []
        for _ in range(max_new_tokens):
            next_logits = self(input_ids, attention_mask=attention_mask, feature_inputs=feature_inputs).logits[:, -1]
            token = self._pick(next_logits, temperature, top_k, generator)
            token = torch.where(finished, torch.full_like(token, pad_id), token)
            new_tokens.append(token)
            if stop.numel():
                finished |= torch.isin(token, stop)
            if bool(finished.all()):
                break
            input_ids = torch.cat((input_ids, token.unsqueeze(1)), dim=1)
            attention_mask = torch.cat((attention_mask, torch.ones_like(token).unsqueeze(1)), dim=1)
        return torch.stack(new_tokens, dim=1)

    @staticmethod
    def _pick(
        logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        if temperature <= 0:
            return logits.argmax(-1)
        logits = logits.float() / temperature
        if top_k is not None:
            threshold = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < threshold, float("-inf"))
        return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)


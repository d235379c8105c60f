"""Data path of a model with episodic memory (``ModelConfig.memory``).

A memory example is split in two. The token window holds ``<bos>``, the last
``window_sentences`` context sentences, ``<q> question <a> answer <eos>``. Every
earlier sentence becomes a :class:`MemoryTrace` entry: its own token ids and its
timestamp. The writer (:class:`neurosym.layers.memory_reader.MemoryWriter`) reads
those sentences one by one, so a story far longer than ``max_seq_len`` still
reaches the model, and no window token can see a later token: every written
sentence comes before the window.

In training the batch carries the sentences (:func:`collate_memory`) and the
model writes them into torch tensors within its forward pass. In inference
(:class:`MemoryPredictor`) the model writes each story once into an
:class:`~neurosym.memory.EpisodicMemory`, one episode per story, and the readers
search that store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from neurosym.data import EncodedExample, collate_prompts, encode_example, encode_prompt
from neurosym.errors import ConfigError
from neurosym.layers.memory_reader import MEMORY_BANK, StoreMemory
from neurosym.memory import EpisodicMemory, MemoryConfig
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)


@dataclass
class MemoryTrace:
    """The sentences of one example that go to memory, with their times and the question's time."""

    sentences: list[list[int]]
    times: list[int]
    texts: list[str]
    now: int
    triples: list[tuple[str, str, str] | None] | None = None  # the fact each sentence states, if known


def split_context(example: Example, window_sentences: int, max_events: int) -> tuple[Example, list, int]:
    """Return (the example with only its window sentences, the written sentences, now).

    ``now`` is the time of the question: the latest context time, or 0 for an empty
    context. At most ``max_events`` sentences are written, the latest ones.
    """
    context = list(example.context)
    cut = max(0, len(context) - window_sentences)
    written, window = context[:cut], context[cut:]
    now = max((sentence.time for sentence in context), default=0)
    if len(written) > max_events:
        written = written[-max_events:]
    return replace(example, context=window), written, now


def memory_trace(
    written: Sequence, now: int, tokenizer: Tokenizer, max_tokens: int, facts: Sequence = ()
) -> MemoryTrace:
    """Tokenize the written sentences; a fact whose time is a sentence's time becomes its triple."""
    by_time = {int(fact[3]): (str(fact[0]), str(fact[1]), str(fact[2])) for fact in facts}
    sentences, times, texts, triples = [], [], [], []
    for sentence in written:
        ids = tokenizer.encode(sentence.text)[:max_tokens]
        if not ids:
            continue
        sentences.append(ids)
        times.append(int(sentence.time))
        texts.append(sentence.text)
        triples.append(by_time.get(int(sentence.time)))
    return MemoryTrace(sentences, times, texts, now, triples)


def encode_memory_example(
    example: Example, tokenizer: Tokenizer, model_config, mode: str = "neural"  # noqa: ANN001
) -> EncodedExample:
    """Encode the window part like :func:`neurosym.data.encode_example` and attach the written sentences."""
    if mode != "neural":
        raise ConfigError(f"a memory model trains and answers in neural mode only, not {mode!r}; use --mode neural")
    settings = model_config.memory
    window, written, now = split_context(example, settings.window_sentences, settings.max_events)
    encoded = encode_example(window, tokenizer, model_config.max_seq_len, mode)
    encoded.memory = memory_trace(written, now, tokenizer, model_config.max_seq_len, example.facts)
    return encoded


def collate_memory(batch: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Batch the written sentences of ``batch``: tokens (S, L), lengths, owning rows, times, and now (B,)."""
    traces = [item.memory or MemoryTrace([], [], [], 0) for item in batch]
    sentences = [ids for trace in traces for ids in trace.sentences]
    width = max((len(ids) for ids in sentences), default=1)
    tokens = torch.full((len(sentences), width), pad_id, dtype=torch.long)
    for index, ids in enumerate(sentences):
        tokens[index, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return {
        "memory_tokens": tokens,
        "memory_lengths": torch.tensor([len(ids) for ids in sentences], dtype=torch.long),
        "memory_rows": torch.tensor([row for row, t in enumerate(traces) for _ in t.sentences], dtype=torch.long),
        "memory_times": torch.tensor([time for t in traces for time in t.times], dtype=torch.long),
        "memory_now": torch.tensor([t.now for t in traces], dtype=torch.long),
    }


@torch.no_grad()
def write_to_store(
    model: TransformerPlus, trace: MemoryTrace, store: EpisodicMemory, episode: str, batch_size: int = 1024
) -> list[int]:
    """Encode the sentences of ``trace`` with ``model``'s writer and add them to ``store`` as one episode."""
    if model.memory_writer is None:
        raise ValueError("the model has no memory writer; build it with ModelConfig.memory set")
    if not trace.sentences:
        return []
    device = next(model.parameters()).device
    ids: list[int] = []
    for start in range(0, len(trace.sentences), batch_size):
        chunk = trace.sentences[start : start + batch_size]
        width = max(len(s) for s in chunk)
        tokens = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, sentence in enumerate(chunk):
            tokens[row, : len(sentence)] = torch.tensor(sentence, dtype=torch.long)
        lengths = torch.tensor([len(s) for s in chunk], dtype=torch.long)
        keys, values = model.memory_writer.encode(model, tokens.to(device), lengths.to(device))
        ids += store.add_batch(
            keys.float().cpu().numpy().astype(np.float32), times=trace.times[start : start + batch_size],
            texts=trace.texts[start : start + batch_size], values=values.float().cpu().numpy().astype(np.float32),
            triples=trace.triples[start : start + batch_size] if trace.triples is not None else None,
            episodes=episode,
        )
    return ids


def open_model_store(model: TransformerPlus, path: str | None = None, index: str = "flat") -> EpisodicMemory:
    """Open (or create) a store whose dimension and recency weight match ``model``'s memory."""
    settings = model.config.memory
    if settings is None:
        raise ValueError("the model has no episodic memory; build it with ModelConfig.memory set")
    config = MemoryConfig(index=index, recency_weight=settings.recency_weight)
    return EpisodicMemory.open(path, dim=settings.key_dim, config=config)


class MemoryPredictor:
    """Answer questions with a memory model: write each story once to a store, then decode greedily.

    Consecutive examples with the same context share one episode. ``store`` defaults
    to a fresh in-memory store per :meth:`predict` call.
    """

    def __init__(self, model: TransformerPlus, tokenizer: Tokenizer, batch_size: int = 64,
                 store: EpisodicMemory | None = None) -> None:
        if model.config.memory is None:
            raise ValueError("MemoryPredictor needs a model with ModelConfig.memory set")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.store = store
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def predict(
        self, examples: Sequence[Example], mode: str = "neural", answer_budget: int = 24, by_sentence: bool = False
    ) -> list:
        from neurosym.inference import Prediction, prompt_room

        if mode != "neural":
            raise ConfigError(f"a memory model answers in neural mode only, not {mode!r}; use --mode neural")
        del by_sentence  # a program-mode layout; neural mode reads whole stories
        self.model.eval()
        settings = self.model.config.memory
        room = prompt_room(self.model.config.max_seq_len, mode, answer_budget)
        store = self.store if self.store is not None else open_model_store(self.model)
        try:
            prompts, episodes, nows = [], [], []
            previous_context, episode = None, ""
            for number, example in enumerate(examples):
                window, written, now = split_context(example, settings.window_sentences, settings.max_events)
                if example.context != previous_context:
                    episode = f"story-{number}-{len(store)}"
                    trace = memory_trace(written, now, self.tokenizer, self.model.config.max_seq_len, example.facts)
                    write_to_store(self.model, trace, store, episode)
                    previous_context = example.context
                prompts.append(encode_prompt(window, self.tokenizer, room)[0])
                episodes.append(episode)
                nows.append(now)
            answers: list[list[int]] = [[] for _ in examples]
            for start in range(0, len(examples), self.batch_size):
                rows = list(range(start, min(start + self.batch_size, len(examples))))
                batch = collate_prompts([prompts[i] for i in rows], self.tokenizer.pad_id)
                budget = min(answer_budget, self.model.config.max_seq_len - batch["input_ids"].shape[1])
                bank = StoreMemory(store, [episodes[i] for i in rows], [nows[i] for i in rows])
                generated = self.model.generate(
                    batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device),
                    max_new_tokens=budget, eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id,
                    feature_inputs={MEMORY_BANK: bank},
                )
                for row, index in enumerate(rows):
                    tokens = []
                    for token in generated[row].tolist():
                        if token == self.tokenizer.eos_id:
                            break
                        tokens.append(token)
                    answers[index] = tokens
        finally:
            if self.store is None:
                store.close()
        return [Prediction(self.tokenizer.decode([t for t in ids if t != self.tokenizer.pad_id])) for ids in answers]

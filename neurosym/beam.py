"""Beam search over the model's own logits: several likely continuations per prompt.

Greedy decoding keeps one continuation. A reader whose first choice can be checked
(a fact that contradicts a stated gender, a program that fails to run) does better
with a short list of alternatives to fall back on. :func:`beam_candidates` keeps the
``beams`` best partial continuations of every prompt at each step, ranked by their
summed token log-probabilities, and returns each prompt's finished continuations
best first. With one beam it is greedy decoding.

Prompts are decoded in batches of left-padded rows, ``beams`` rows per prompt. The
KV cache is computed once per prompt and copied to its beams. A model whose blocks
cannot use the cache recomputes the whole sequence at every step instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from neurosym.data import collate_prompts
from neurosym.errors import ConfigError
from neurosym.model import TransformerPlus


@dataclass(frozen=True)
class Candidate:
    """One decoded continuation and its summed token log-probability under the model."""

    tokens: list[int]  # up to and including the stop token when ``finished``
    log_prob: float
    finished: bool  # ended with a stop token rather than at the token budget


def _select_rows(past: Any, index: torch.Tensor) -> Any:
    """Return the cache with batch rows ``index`` (in that order) of every tensor in it."""
    if isinstance(past, torch.Tensor):
        return past.index_select(0, index)
    if isinstance(past, (list, tuple)):
        return type(past)(_select_rows(item, index) for item in past)
    return past


@torch.no_grad()
def beam_candidates(
    model: TransformerPlus,
    prompts: Sequence[list[int]],
    beams: int,
    max_new: int,
    stop_ids: Sequence[int],
    pad_id: int,
    batch_size: int = 128,
) -> list[list[Candidate]]:
    """Return up to ``beams`` continuations of each prompt, highest log-probability first.

    A prompt longer than the model's window loses its start, like greedy decoding.
    Continuations stop after a token of ``stop_ids`` or after ``max_new`` tokens
    (fewer when the window is full); those cut by the budget have ``finished`` False.

    Raises:
        ConfigError: ``beams`` is below 1.
    """
    if beams < 1:
        raise ConfigError(f"beams must be at least 1, got {beams}; use 1 for greedy decoding")
    model.eval()
    results: list[list[Candidate]] = [[] for _ in prompts]
    room = model.config.max_seq_len
    per_chunk = max(1, batch_size // beams)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), per_chunk):
        chunk = order[start : start + per_chunk]
        cut = [prompts[i][-(room - 1):] for i in chunk]
        budget = min(max_new, room - max(len(p) for p in cut))
        if budget <= 0:
            continue
        found = _search(model, cut, beams, budget, stop_ids, pad_id)
        for index, candidates in zip(chunk, found, strict=True):
            results[index] = candidates
    return results


def _search(
    model: TransformerPlus, prompts: list[list[int]], beams: int, budget: int, stop_ids: Sequence[int], pad_id: int
) -> list[list[Candidate]]:
    device = next(model.parameters()).device
    batch = collate_prompts(prompts, pad_id)
    input_ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    count = len(prompts)
    rows = count * beams
    stop = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    cached = model.supports_cache
    output = model(input_ids, attention_mask=mask, use_cache=cached)
    # Every beam of a prompt starts from the same prompt state.
    spread = torch.arange(count, device=device).repeat_interleave(beams)
    past = _select_rows(output.past_key_values, spread) if cached else None
    log_probs = torch.log_softmax(output.logits[:, -1].float(), dim=-1).index_select(0, spread)
    sequences = input_ids.index_select(0, spread)
    mask = mask.index_select(0, spread)
    vocab = log_probs.shape[-1]
    scores = torch.full((count, beams), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live beam per prompt until the first step fills the rest
    finished = torch.zeros((count, beams), dtype=torch.bool, device=device)
    history = torch.empty((count, beams, 0), dtype=torch.long, device=device)
    offsets = (torch.arange(count, device=device) * beams).unsqueeze(1)

    for step in range(budget):
        step_scores = log_probs.view(count, beams, vocab).clone()
        # A finished beam carries on with padding at no cost, so it keeps its score.
        done = finished.unsqueeze(-1).expand_as(step_scores)
        step_scores = step_scores.masked_fill(done, float("-inf"))
        step_scores[..., pad_id] = torch.where(finished, 0.0, step_scores[..., pad_id])
        total = (scores.unsqueeze(-1) + step_scores).view(count, beams * vocab)
        scores, picked = total.topk(beams, dim=-1)
        source = torch.div(picked, vocab, rounding_mode="floor")
        token = picked % vocab
        was_finished = finished.gather(1, source)
        finished = was_finished | torch.isin(token, stop)
        history = torch.cat((history.gather(1, source.unsqueeze(-1).expand(-1, -1, history.shape[-1])),
                             token.unsqueeze(-1)), dim=-1)
        if bool(finished[torch.isfinite(scores)].all()) or step == budget - 1:
            break

        # Reorder the rows (mask, cache or sequences) to follow the beams that were kept.
        flat = (source + offsets).view(rows)
        mask = torch.cat((mask.index_select(0, flat), torch.ones((rows, 1), dtype=mask.dtype, device=device)), dim=1)
        feed = token.view(rows, 1)
        if cached:
            output = model(feed, attention_mask=mask, past_key_values=_select_rows(past, flat), use_cache=True)
            past = output.past_key_values
        else:
            sequences = torch.cat((sequences.index_select(0, flat), feed), dim=1)
            output = model(sequences, attention_mask=mask)
        log_probs = torch.log_softmax(output.logits[:, -1].float(), dim=-1)

    found: list[list[Candidate]] = []
    stops = set(stop_ids)
    for prompt in range(count):
        candidates = []
        for beam in range(beams):
            score = float(scores[prompt, beam])
            if score == float("-inf"):
                continue
            tokens: list[int] = []
            for token in history[prompt, beam].tolist():
                tokens.append(token)
                if token in stops:
                    break
            candidates.append(Candidate(tokens, score, bool(finished[prompt, beam])))
        found.append(candidates)
    return found

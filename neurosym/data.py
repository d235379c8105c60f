"""Turn examples into token sequences and batches.

Layout: ``<bos> context <q> question <a> answer <eos>``. Contexts longer than the
model's window lose their earliest tokens (the question always stays), and each
such cut is counted.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from neurosym.model import IGNORE_INDEX
from neurosym.tasks.bindings import mask_integers
from neurosym.tasks.example import Example
from neurosym.tokenizer import EXEC_CLOSE, EXEC_OPEN, PROGRAM, RESULT_END, SPECIAL_TOKENS, Tokenizer


@dataclass
class EncodedExample:
    """Token ids of one example; ``prompt_length`` tokens precede the answer.

    A packed story (:func:`pack_story`) also carries per-token ``positions``,
    ``branches`` (0 for the shared context, k for the k-th question) and ``labels``.
    """

    input_ids: list[int]
    prompt_length: int
    truncated: bool = False
    positions: list[int] | None = None
    branches: list[int] | None = None
    labels: list[int] | None = None
    entity_targets: list[int] | None = None  # codebook row per token for slot supervision
    memory: Any = None  # sentences written to episodic memory (neurosym.memory_data.MemoryTrace)


def encode_prompt(
    example: Example, tokenizer: Tokenizer, max_length: int, mask_numbers: bool = False
) -> tuple[list[int], bool]:
    """Encode ``<bos> context <q> question <a>``, cutting the context's start to fit ``max_length``.

    With ``mask_numbers`` the question's integers become ``$n1``, ``$n2``, … (see
    :func:`neurosym.tasks.bindings.mask_integers`).
    """
    context = tokenizer.encode(" ".join(sentence.text for sentence in example.context))
    question_text = mask_integers(example.question) if mask_numbers else example.question
    question = [tokenizer.question_id, *tokenizer.encode(question_text), tokenizer.answer_id]
    room = max_length - 1 - len(question)
    truncated = len(context) > room
    if truncated:
        context = context[len(context) - max(room, 0):] if room > 0 else []
    ids = [tokenizer.bos_id, *context, *question]
    return ids[-max_length:], truncated


def encode_example(
    example: Example, tokenizer: Tokenizer, max_length: int, mode: str = "neural"
) -> EncodedExample:
    """Encode prompt and target for one inference mode; the target always fits.

    - ``neural``: ``... <a> answer <eos>``;
    - ``program``: ``... <a>`` becomes ``... <prog> program <a>``;
    - ``tool``: ``... <a> <exec> program </exec> answer <ret> <eos>``. The executor's
      value is inserted after ``</exec>``, closed by ``<ret>``, so the model need not
      find where a long value ends.

    Program and tool prompts read the question with its integers masked. An example
    without a gold program is encoded as in neural mode.
    """
    answer = [*tokenizer.encode(example.answer), tokenizer.eos_id]
    # An empty program is a real target: a story sentence that states no facts.
    program = tokenizer.encode(example.program) if example.program is not None and mode != "neural" else None
    if program is None:
        target = answer
    elif mode == "program":
        target = [*program, tokenizer.answer_id]
    elif mode == "tool":
        target = [tokenizer.token_to_id[EXEC_OPEN], *program, tokenizer.token_to_id[EXEC_CLOSE],
                  *answer[:-1], tokenizer.token_to_id[RESULT_END], tokenizer.eos_id]
    else:
        raise ValueError(f"unknown inference mode {mode!r}; valid modes: neural, program, tool")
    prompt, truncated = encode_prompt(example, tokenizer, max_length - len(target), mask_numbers=program is not None)
    if program is not None and mode == "program":
        prompt[-1] = tokenizer.token_to_id[PROGRAM]  # <prog> takes the place of <a>
    return EncodedExample(prompt + target, len(prompt), truncated)


def collate_train(
    batch: Sequence[EncodedExample], pad_id: int, answer_loss_only: bool = True
) -> dict[str, torch.Tensor]:
    """Right-pad a batch; labels ignore padding, and the prompt when ``answer_loss_only``.

    When any item is a packed story, the batch also gets ``positions`` and the
    (B, T, T) ``attn_mask`` that keeps each question's branch apart from the others.
    """
    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    packed = any(item.branches is not None for item in batch)
    positions = torch.zeros((len(batch), width), dtype=torch.long)
    branches = torch.full((len(batch), width), -1, dtype=torch.long)  # -1 marks padding
    for row, item in enumerate(batch):
        ids = torch.tensor(item.input_ids, dtype=torch.long)
        length = len(ids)
        input_ids[row, :length] = ids
        if item.labels is not None:
            labels[row, :length] = torch.tensor(item.labels, dtype=torch.long)
        else:
            start = item.prompt_length if answer_loss_only else 1
            labels[row, start:length] = ids[start:]
        if packed:
            positions[row, :length] = torch.tensor(item.positions or list(range(length)), dtype=torch.long)
            branches[row, :length] = torch.tensor(item.branches or [0] * length, dtype=torch.long)
    extras = {}
    if any(item.entity_targets is not None for item in batch):
        targets = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        for row, item in enumerate(batch):
            if item.entity_targets is not None:
                targets[row, :len(item.entity_targets)] = torch.tensor(item.entity_targets, dtype=torch.long)
        extras["entity_targets"] = targets
    if any(item.memory is not None for item in batch):
        from neurosym.memory_data import collate_memory

        extras.update(collate_memory(batch, pad_id))
    if not packed:
        return {"input_ids": input_ids, "labels": labels, **extras}
    return {"input_ids": input_ids, "labels": labels, "positions": positions, "attn_mask": branch_mask(branches),
            **extras}


def drop_prompt_tokens(
    items: Sequence[EncodedExample], unk_id: int, keep_ids: frozenset[int], rate: float, rng: random.Random,
    prompt_end_id: int | None = None,
) -> list[EncodedExample]:
    """Replace prompt tokens by ``<unk>`` (``unk_id``) with probability ``rate``; return new items.

    A word-dropout augmentation for reading unseen wordings: the model learns to
    read a sentence even when some of its words are unknown, and to rely on the
    words that matter. A prompt token is kept when it is in ``keep_ids`` (see
    :func:`undroppable_ids`), when it is the first token, or when the item's
    target also contains it, such as the relation word "sister" that a fact
    copies. With ``prompt_end_id`` (the ``<prog>`` id, say) only items whose
    prompt ends with it change, so the neural layout of the same examples keeps
    the names and numbers that its answer depends on. Packed stories (items with
    their own ``labels``) are returned as they are, and no input item is changed.
    Slot targets and memory traces are not changed either.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"invalid prompt dropout rate {rate}; use a number from 0 up to, not including, 1")
    if rate == 0.0:
        return list(items)
    out = []
    for item in items:
        ends_elsewhere = prompt_end_id is not None and (
            item.prompt_length == 0 or item.input_ids[item.prompt_length - 1] != prompt_end_id)
        if item.labels is not None or ends_elsewhere:
            out.append(item)
            continue
        target = set(item.input_ids[item.prompt_length:])
        prompt = [unk_id if index > 0 and token not in keep_ids and token not in target and rng.random() < rate
                  else token for index, token in enumerate(item.input_ids[: item.prompt_length])]
        out.append(dataclasses.replace(item, input_ids=prompt + item.input_ids[item.prompt_length:]))
    return out


def undroppable_ids(tokenizer: Tokenizer) -> frozenset[int]:
    """Ids that :func:`drop_prompt_tokens` never replaces: layout tokens and references such as ``$e1``."""
    return frozenset(index for index, token in enumerate(tokenizer.vocab)
                     if token in SPECIAL_TOKENS or token.startswith("$"))


CORE_INPUTS = ("input_ids", "labels", "positions", "attn_mask", "attention_mask")


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """Map a collated batch to :meth:`TransformerPlus.forward` keyword arguments.

    Keys other than the core ones go to ``feature_inputs``, where optional features
    (slot supervision, memory episodes, ...) read them.
    """
    inputs = {key: batch[key] for key in CORE_INPUTS if key in batch}
    extras = {key: value for key, value in batch.items() if key not in CORE_INPUTS}
    if extras:
        inputs["feature_inputs"] = extras
    return inputs


def branch_mask(branches: torch.Tensor) -> torch.Tensor:
    """Return the (B, T, T) mask: query i sees key j <= i in the shared context or its own branch.

    ``branches`` is (B, T) with 0 for shared tokens, k > 0 for branch k and -1 for
    padding; a padding query sees only itself, which keeps softmax finite.
    """
    length = branches.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    key = branches.unsqueeze(1)  # (B, 1, T)
    query = branches.unsqueeze(2)  # (B, T, 1)
    allowed = causal & (key >= 0) & ((key == 0) | (key == query))
    return allowed | torch.eye(length, dtype=torch.bool)


def pack_story(
    examples: Sequence[Example], tokenizer: Tokenizer, max_length: int, answer_loss_only: bool = True
) -> EncodedExample | None:
    """Pack questions whose contexts extend one another into one sequence.

    Layout: ``<bos>``, the context up to the first question, that question's branch
    ``<q> question <a> answer <eos>``, the next context sentences, the next branch,
    and so on. A branch sees the shared context before it and itself; context
    tokens never see a branch; positions skip the branches. Each question is thus
    computed exactly as if it were encoded alone, while the shared context is
    computed once. Returns None when the contexts are not nested or the packed
    sequence would exceed ``max_length``.
    """
    ids, positions, branches, labels = [tokenizer.bos_id], [0], [0], [IGNORE_INDEX]
    shared: list[int] = []
    for number, example in enumerate(examples, start=1):
        context = tokenizer.encode(" ".join(sentence.text for sentence in example.context))
        if context[: len(shared)] != shared:
            return None
        new = context[len(shared):]
        start = len(shared) + 1
        ids += new
        positions += list(range(start, start + len(new)))
        branches += [0] * len(new)
        labels += [IGNORE_INDEX] * len(new)
        shared = context
        question = [tokenizer.question_id, *tokenizer.encode(example.question), tokenizer.answer_id]
        answer = [*tokenizer.encode(example.answer), tokenizer.eos_id]
        branch = question + answer
        base = len(shared) + 1
        ids += branch
        positions += list(range(base, base + len(branch)))
        branches += [number] * len(branch)
        if answer_loss_only:
            # The token before each answer token predicts it; labels are shifted in the model.
            labels += [IGNORE_INDEX] * len(question) + answer
        else:
            labels += branch
    if len(ids) > max_length or max(positions) >= max_length:
        return None
    return EncodedExample(ids, prompt_length=0, positions=positions, branches=branches, labels=labels)


def collate_prompts(prompts: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts for generation; the mask marks real tokens with 1."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


class MixtureSampler:
    """Draw training batches from several encoded tasks with given weights.

    The batch of step ``s`` depends only on ``(seed, s)``, so a resumed run sees the
    same batches as an uninterrupted one.
    """

    def __init__(self, datasets: dict[str, list[EncodedExample]], weights: dict[str, float], seed: int) -> None:
        empty = [name for name, data in datasets.items() if not data]
        if empty:
            raise ValueError(f"training data for {empty} is empty; check the task names and data directory")
        self.names = list(datasets)
        self.datasets = datasets
        self.weights = [float(weights.get(name, 1.0)) for name in self.names]
        self.seed = seed

    def batch(self, step: int, micro_step: int, batch_size: int) -> list[EncodedExample]:
        rng = random.Random(self.seed * 1_000_003 + step * 1009 + micro_step)
        chosen = rng.choices(self.names, weights=self.weights, k=batch_size)
        return [rng.choice(self.datasets[name]) for name in chosen]

"""Turn examples into token sequences and batches.

Layout: ``<bos> context <q> question <a> answer <eos>``. Contexts longer than the
model's window lose their earliest tokens (the question always stays), and each
such cut is counted.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neurosym.model import IGNORE_INDEX
from neurosym.tasks.bindings import mask_integers
from neurosym.tasks.example import Example
from neurosym.tokenizer import EXEC_CLOSE, EXEC_OPEN, PROGRAM, RESULT_END, Tokenizer


@dataclass
class EncodedExample:
    """Token ids of one example; ``prompt_length`` tokens precede the answer."""

    input_ids: list[int]
    prompt_length: int
    truncated: bool = False


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
    program = tokenizer.encode(example.program) if example.program and mode != "neural" else None
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
    """Right-pad a batch; labels ignore padding, and the prompt when ``answer_loss_only``."""
    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, item in enumerate(batch):
        ids = torch.tensor(item.input_ids, dtype=torch.long)
        input_ids[row, : len(ids)] = ids
        start = item.prompt_length if answer_loss_only else 1
        labels[row, start : len(ids)] = ids[start:]
    return {"input_ids": input_ids, "labels": labels}


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

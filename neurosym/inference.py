"""Inference modes: the model answers, writes a program, or calls a tool.

- ``neural``: greedy decoding after ``<a>`` is the answer.
- ``program``: the model writes a program after ``<prog>`` and stops at ``<a>``; the
  symbolic executor runs it with the question's numbers bound to ``$n1``, ``$n2``, …
  and its value is the answer. A story of facts is read one sentence at a time: the
  model writes each sentence's facts and then the question's query, and the pieces
  are assembled into one ``with-facts`` program (:mod:`neurosym.tasks.reading`).
- ``tool``: the model writes freely after ``<a>``; a call between ``<exec>`` and
  ``</exec>`` is run, its value and ``<ret>`` are inserted, and decoding goes on to
  ``<eos>``. The answer is the text after ``<a>`` without the call markup.

In program and tool modes the model reads the question with its integers masked
as ``$n1``, ``$n2``, … so that input length does not matter. A program that fails
to parse or run (or a tool answer without a call) falls back to the neural answer,
decoded from the unmasked prompt, and every fallback is counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from neurosym.beam import beam_candidates
from neurosym.data import collate_prompts, encode_prompt
from neurosym.errors import ConfigError
from neurosym.model import TransformerPlus
from neurosym.symbolic import ProgramError, SymbolicError, execute
from neurosym.tasks.bindings import input_bindings
from neurosym.tasks.example import Example
from neurosym.tasks.reading import (
    assemble_program,
    choose_reading,
    question_prompt,
    sentence_prompt,
    stated_genders,
)
from neurosym.tokenizer import EXEC_CLOSE, EXEC_OPEN, PROGRAM, RESULT_END, Tokenizer

logger = logging.getLogger(__name__)

Mode = Literal["neural", "program", "tool"]
MODES: tuple[str, ...] = get_args(Mode)
PROGRAM_BUDGET = 160  # tokens a written program may take
MIN_GENERATION_ROOM = 32  # tokens kept free after a cut prompt in program and tool modes


def prompt_room(max_seq_len: int, mode: str, answer_budget: int) -> int:
    """Return how many prompt tokens fit; a longer context loses its start.

    Neural mode keeps room for the whole answer budget. Program and tool modes keep
    at least MIN_GENERATION_ROOM tokens, and their decoding budgets shrink to what is left.
    """
    reserve = answer_budget if mode == "neural" else max(MIN_GENERATION_ROOM, answer_budget)
    return max(8, max_seq_len - reserve)


@dataclass
class Prediction:
    """One answer and how it was produced."""

    answer: str
    program: str | None = None
    fallback: bool = False  # the program failed and the neural answer was used
    error: str | None = None
    cost: float = 0.0  # log-probability given up against the most probable pieces (candidate decoding)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; valid modes: {', '.join(MODES)}")


def run_program(program_text: str, example: Example) -> tuple[str | None, str | None]:
    """Execute a model-written program; return (answer, None) or (None, error type)."""
    try:
        # Formatting is inside the guard: a program whose value has no answer form
        # (a bare (fact ...), say) fails like any other.
        return execute(program_text, bindings=input_bindings(example), record_trace=False).answer, None
    except (ProgramError, SymbolicError) as exc:
        return None, type(exc).__name__


class Predictor:
    """Batched greedy decoding for the three inference modes.

    With ``candidates`` above 1, program mode writes that many programs per prompt by
    beam search (:mod:`neurosym.beam`) and keeps the most probable one that runs. Read
    by sentence, it keeps for each sentence the most probable facts that agree with
    the facts before them and the stated genders (:func:`choose_reading`).

    With ``neural_confidence`` set, program mode also decodes the neural answer of
    every example and uses it in place of the program's answer when the model gives
    that answer at least this probability.
    """

    def __init__(
        self, model: TransformerPlus, tokenizer: Tokenizer, batch_size: int = 128, candidates: int = 1,
        neural_confidence: float | None = None,
    ) -> None:
        if candidates < 1:
            raise ConfigError(f"candidates must be at least 1, got {candidates}; use 1 for greedy decoding")
        if neural_confidence is not None and not 0.0 < neural_confidence <= 1.0:
            raise ConfigError(f"neural_confidence must be a probability in (0, 1], got {neural_confidence}")
        self.neural_confidence = neural_confidence
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.candidates = candidates
        self.device = next(model.parameters()).device
        self.program_id = tokenizer.token_to_id[PROGRAM]
        self.exec_open_id = tokenizer.token_to_id[EXEC_OPEN]
        self.exec_close_id = tokenizer.token_to_id[EXEC_CLOSE]
        self.result_end_id = tokenizer.token_to_id[RESULT_END]

    @torch.no_grad()
    def continue_batch(self, prompts: Sequence[list[int]], max_new: int, stop_ids: Sequence[int]) -> list[list[int]]:
        """Greedy-decode each prompt up to and including the first stop id (or ``max_new`` tokens)."""
        self.model.eval()
        outputs: list[list[int]] = [[] for _ in prompts]
        room = self.model.config.max_seq_len
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            cut = [prompts[i][-(room - 1):] for i in chunk]
            budget = min(max_new, room - max(len(p) for p in cut))
            if budget <= 0:
                continue
            batch = collate_prompts(cut, self.tokenizer.pad_id)
            generated = self.model.generate(
                batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device),
                max_new_tokens=budget, eos_id=list(stop_ids), pad_id=self.tokenizer.pad_id,
            )
            for row, index in enumerate(chunk):
                tokens = []
                for token in generated[row].tolist():
                    tokens.append(token)
                    if token in stop_ids:
                        break
                outputs[index] = tokens
        return outputs

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i != self.tokenizer.pad_id])

    def predict(
        self, examples: Sequence[Example], mode: str = "neural", answer_budget: int = 24, by_sentence: bool = False
    ) -> list[Prediction]:
        """Answer each example in ``mode``.

        With ``by_sentence`` program mode reads each story one sentence at a time
        (the layout of tasks whose ``reads_by_sentence`` is set; see
        :mod:`neurosym.tasks.reading`); it needs only the stories and questions.
        """
        check_mode(mode)
        room = prompt_room(self.model.config.max_seq_len, mode, answer_budget)
        if mode == "neural":
            return self._predict_neural(examples, room, answer_budget)
        if mode == "program" and by_sentence:
            predictions = self._predict_by_sentence(examples, room)
        else:
            masked = [encode_prompt(example, self.tokenizer, room, mask_numbers=True)[0] for example in examples]
            if mode == "program":
                predictions = self._predict_program(examples, masked)
            else:
                predictions = self._predict_tool(examples, masked, answer_budget)
        if mode == "program" and self.neural_confidence is not None:
            self._prefer_confident_neural(examples, predictions, room, answer_budget)
            return predictions
        fallback_rows = [i for i, p in enumerate(predictions) if p.fallback]
        if fallback_rows:
            neural = self._predict_neural([examples[i] for i in fallback_rows], room, answer_budget)
            for index, prediction in zip(fallback_rows, neural, strict=True):
                predictions[index].answer = prediction.answer
        return predictions

    def _prefer_confident_neural(self, examples, predictions, room, answer_budget) -> None:  # noqa: ANN001
        """Give each failed program, and each example whose neural answer is confident, the neural answer."""
        prompts = [encode_prompt(example, self.tokenizer, room)[0] for example in examples]
        eos = self.tokenizer.eos_id
        found = beam_candidates(self.model, prompts, 1, answer_budget, [eos], self.tokenizer.pad_id, self.batch_size)
        threshold = math.log(self.neural_confidence)
        for prediction, candidates in zip(predictions, found, strict=True):
            # One beam is greedy decoding, so this is the answer _predict_neural would give, with its score.
            best = candidates[0] if candidates else None
            answer = self._text(_strip_stop(best.tokens, eos)) if best is not None else ""
            if prediction.fallback:
                prediction.answer = answer
            elif best is not None and best.log_prob >= threshold and answer != prediction.answer:
                prediction.answer = answer
                prediction.error = "neural answer preferred"

    def _predict_neural(self, examples, room, answer_budget) -> list[Prediction]:  # noqa: ANN001
        prompts = [encode_prompt(example, self.tokenizer, room)[0] for example in examples]
        answers = self.continue_batch(prompts, answer_budget, [self.tokenizer.eos_id])
        return [Prediction(self._text(ids)) for ids in answers]

    def _write_programs(self, prompts: Sequence[list[int]]) -> list[str]:
        """Decode a program after each masked prompt, with ``<prog>`` in place of ``<a>``."""
        answer_id, eos = self.tokenizer.answer_id, self.tokenizer.eos_id
        program_prompts = [[*p[:-1], self.program_id] for p in prompts]
        programs = self.continue_batch(program_prompts, PROGRAM_BUDGET, [answer_id, eos])
        return [self._text(_strip_stop(ids, answer_id, eos)) for ids in programs]

    def _write_candidates(self, prompts: Sequence[list[int]]) -> list[list[tuple[str, float]]]:
        """Like :meth:`_write_programs`, but up to ``candidates`` distinct programs per prompt, best first.

        Each program comes with its log-probability (0.0 for greedy decoding, which does not score).
        """
        if self.candidates == 1:
            return [[(text, 0.0)] for text in self._write_programs(prompts)]
        answer_id, eos = self.tokenizer.answer_id, self.tokenizer.eos_id
        program_prompts = [[*p[:-1], self.program_id] for p in prompts]
        found = beam_candidates(self.model, program_prompts, self.candidates, PROGRAM_BUDGET, [answer_id, eos],
                                self.tokenizer.pad_id, self.batch_size)
        written = []
        for candidates in found:
            scored: dict[str, float] = {}
            for candidate in candidates:  # best first, so a text keeps its best score
                scored.setdefault(self._text(_strip_stop(candidate.tokens, answer_id, eos)), candidate.log_prob)
            written.append(list(scored.items()) or [("", 0.0)])
        return written

    def _predict_program(self, examples, prompts) -> list[Prediction]:  # noqa: ANN001
        predictions = []
        for example, options in zip(examples, self._write_candidates(prompts), strict=True):
            text = options[0][0]
            answer, error = run_program(text, example)
            for other, _ in options[1:]:
                if answer is not None:
                    break
                other_answer, _ = run_program(other, example)
                if other_answer is not None:
                    text, answer, error = other, other_answer, None
            predictions.append(Prediction(answer or "", program=text, fallback=answer is None, error=error))
        return predictions

    def _predict_by_sentence(self, examples, room) -> list[Prediction]:  # noqa: ANN001
        """Write each sentence's facts and the question's query, then run the assembled program."""
        items = [
            [*(sentence_prompt(example, index) for index in range(len(example.context))), question_prompt(example)]
            for example in examples
        ]
        prompts = [encode_prompt(item, self.tokenizer, room, mask_numbers=True)[0] for group in items for item in group]
        # Questions about one story share its sentences: write each distinct prompt once.
        distinct = {tuple(prompt): None for prompt in prompts}
        candidates = dict(zip(distinct, self._write_candidates([list(key) for key in distinct]), strict=True))
        written = iter(candidates[tuple(prompt)] for prompt in prompts)
        predictions = []
        for example, group in zip(examples, items, strict=True):
            options = [next(written) for _ in group]
            times = [sentence.time for sentence in example.context]
            references = [item.meta["references"] for item in group]
            genders = stated_genders(example)
            cost = 0.0
            if self.candidates > 1:
                texts = [[text for text, _ in scored] for scored in options]
                reading = choose_reading(texts[:-1], texts[-1], times, genders, references,
                                         bindings=input_bindings(example))
                outputs = [*reading.sentences, reading.query]
                cost = sum(scored[0][1] - scored[rank][1] for scored, rank in zip(options, reading.ranks, strict=True))
            else:
                outputs = [scored[0][0] for scored in options]
            try:
                text = assemble_program(outputs[:-1], times, outputs[-1], genders, references)
            except (ProgramError, SymbolicError) as exc:
                predictions.append(Prediction("", program=" | ".join(outputs), fallback=True, error=type(exc).__name__))
                continue
            answer, error = run_program(text, example)
            predictions.append(Prediction(answer or "", program=text, fallback=answer is None, error=error, cost=cost))
        return predictions

    def _predict_tool(self, examples, prompts, answer_budget) -> list[Prediction]:  # noqa: ANN001
        eos = self.tokenizer.eos_id
        first = self.continue_batch(prompts, PROGRAM_BUDGET, [self.exec_close_id, eos])
        predictions: list[Prediction] = []
        follow_prompts, follow_rows, prefixes = [], [], []
        for index, (example, ids) in enumerate(zip(examples, first, strict=True)):
            if not ids or ids[-1] != self.exec_close_id:
                # No call: the masked prompt cannot carry the answer's digits.
                predictions.append(Prediction("", fallback=True, error="no tool call"))
                continue
            call = ids[ids.index(self.exec_open_id) + 1 : -1] if self.exec_open_id in ids else ids[:-1]
            text = self._text(call)
            value, error = run_program(text, example)
            predictions.append(Prediction("", program=text, fallback=value is None, error=error))
            if value is not None:
                inserted = [*self.tokenizer.encode(value), self.result_end_id]
                follow_prompts.append([*prompts[index], *ids, *inserted])
                follow_rows.append(index)
                prefixes.append(inserted)
        if follow_rows:
            rest = self.continue_batch(follow_prompts, answer_budget, [eos])
            for index, inserted, ids in zip(follow_rows, prefixes, rest, strict=True):
                predictions[index].answer = self._text([*inserted, *ids])
        return predictions


def _strip_stop(ids: list[int], *stops: int) -> list[int]:
    return ids[:-1] if ids and ids[-1] in stops else ids

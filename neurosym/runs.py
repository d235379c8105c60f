"""Glue between tasks, tokenizer, model, trainer and evaluation for one run.

Used by the command line and usable from Python::

    from neurosym.runs import TaskSpec, train_run
    result = train_run([TaskSpec("episodic.location")], out_dir="runs/demo", steps=100)
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from neurosym.checkpoint import (
    load_config,
    load_pretrained,
    load_run_info,
    load_tokenizer,
    resolve_checkpoint_dir,
)
from neurosym.config import preset
from neurosym.data import EncodedExample, MixtureSampler, encode_example, pack_story
from neurosym.device import resolve_device
from neurosym.errors import TaskError
from neurosym.evaluation import SuiteReport, TaskReport, evaluate
from neurosym.inference import check_mode
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tasks.reading import MAX_REFERENCES, SENTENCE_ITEM, reading_items
from neurosym.tasks.registry import get_task
from neurosym.tokenizer import Tokenizer
from neurosym.training import TrainConfig, Trainer

logger = logging.getLogger(__name__)


@dataclass
class TaskSpec:
    """A task in a run: its name, sampling weight, difficulty overrides and data folder."""

    name: str
    weight: float = 1.0
    difficulty: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    train_examples: int | None = None  # None: the task's default size (all of a file)

    @classmethod
    def parse(cls, text: str, data_dir: str | None = None) -> TaskSpec:
        """Parse ``name`` or ``name:weight`` (for example ``arithmetic.add:2``)."""
        name, _, weight = text.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError as exc:
            raise TaskError(f"invalid task weight in {text!r}; write NAME or NAME:WEIGHT, e.g. babi.qa1:2") from exc
        if value <= 0:
            raise TaskError(f"task weight must be positive in {text!r}")
        get_task(name)  # unknown names fail here, before any work
        return cls(name=name, weight=value, data_dir=data_dir)

    def examples(
        self, split: str, n: int | None = None, seed: int = 0, notes: list[str] | None = None, **overrides: Any
    ) -> list[Example]:
        """Return the examples of ``split``; the task's remarks about its data go to ``notes``."""
        task = get_task(self.name)
        examples = task.examples(split, n=n, seed=seed, data_dir=self.data_dir, **{**self.difficulty, **overrides})
        if notes is not None:
            notes.extend(note for note in task.notes if note not in notes)
        return examples


@dataclass
class RunResult:
    out_dir: Path
    history: list[dict[str, Any]]
    report: SuiteReport | None


def _reads_by_sentence(name: str) -> bool:
    try:
        return get_task(name).reads_by_sentence
    except TaskError:  # a caller's own label rather than a task name
        return False


def build_tokenizer(train_sets: dict[str, list[Example]]) -> Tokenizer:
    """Build the word vocabulary of the training texts and programs.

    Tasks read by sentence also get every entity reference ``$e1`` ... ``$e16`` (see
    :mod:`neurosym.tasks.reading`), so a test sentence that names more people than any
    training sentence still has a token for each.
    """
    texts = []
    if any(_reads_by_sentence(name) for name in train_sets):
        texts.append(" ".join(f"$e{number}" for number in range(1, MAX_REFERENCES + 1)))
    for examples in train_sets.values():
        for example in examples:
            texts.extend(sentence.text for sentence in example.context)
            texts.append(example.question)
            texts.append(example.answer)
            if example.program:
                texts.append(example.program)
    return Tokenizer.build(texts)


def nested_groups(examples: list[Example]) -> list[list[Example]]:
    """Split examples into runs of consecutive ones whose contexts extend the previous one's."""
    groups: list[list[Example]] = []
    for example in examples:
        previous = groups[-1][-1] if groups else None
        if previous is not None and example.context[: len(previous.context)] == previous.context:
            groups[-1].append(example)
        else:
            groups.append([example])
    return groups


def encode_all(
    examples: list[Example], tokenizer: Tokenizer, max_length: int, mode: str = "neural", pack: bool = False,
    answer_loss_only: bool = True, model_config: Any = None, by_sentence: bool = False, fallback: bool = True,
) -> list[EncodedExample]:
    """Encode examples for training; program and tool modes add each example's neural layout too.

    The neural layout is what a failed program falls back to, so the model learns both.
    ``fallback=False`` leaves it out.
    With ``by_sentence`` (the task's ``reads_by_sentence``) program mode turns an example
    whose facts map onto its sentences into one item per sentence plus one for the
    question (:func:`neurosym.tasks.reading.reading_items`).
    With ``pack`` (neural mode), questions about one story share one sequence
    (:func:`neurosym.data.pack_story`); a story too long to pack is encoded per question.
    """
    if model_config is not None and model_config.memory is not None:
        from neurosym.memory_data import encode_memory_example

        return [encode_memory_example(example, tokenizer, model_config, mode) for example in examples]
    if pack and mode == "neural":
        encoded = []
        for group in nested_groups(examples):
            packed = pack_story(group, tokenizer, max_length, answer_loss_only) if len(group) > 1 else None
            if packed is not None:
                encoded.append(packed)
            else:
                encoded += [encode_example(example, tokenizer, max_length) for example in group]
        return encoded
    if mode == "program" and by_sentence:
        # Stories of facts are read one sentence at a time (neurosym.tasks.reading).
        # Questions about one story repeat its sentences: each sentence of a story is
        # trained once, and every question keeps its own item.
        items: dict[object, Example] = {}
        for story, group in enumerate(nested_groups(examples)):
            for example in group:
                for position, item in enumerate(_reading_or_whole(example)):
                    sentence = item.meta.get("reading") == SENTENCE_ITEM
                    items.setdefault((story, position) if sentence else id(item), item)
        encoded = [encode_example(item, tokenizer, max_length, mode) for item in items.values()]
    else:
        encoded = [encode_example(example, tokenizer, max_length, mode) for example in examples]
    if mode != "neural" and fallback:
        encoded += [encode_example(e, tokenizer, max_length, "neural") for e in examples if e.program]
    return encoded


def _reading_or_whole(example: Example) -> list[Example]:
    """Return the example's reading items, or the example itself when it has none."""
    try:
        return reading_items(example)
    except ValueError:  # no with-facts program, or facts that do not map onto sentences
        return [example]


def make_validator(
    tokenizer: Tokenizer, valid_sets: dict[str, list[Example]], mode: str = "neural"
):  # noqa: ANN201 - returns a Validator
    def validate(model: TransformerPlus) -> dict[str, float]:
        metrics: dict[str, float] = {}
        accuracies = []
        for name, examples in valid_sets.items():
            report = evaluate(model, tokenizer, get_task(name), examples, "valid", mode=mode)
            metrics[f"valid/{name}/accuracy"] = report.accuracy
            accuracies.append(report.accuracy)
        metrics["valid/accuracy"] = sum(accuracies) / len(accuracies)
        return metrics

    return validate


def train_run(
    specs: list[TaskSpec],
    out_dir: str | os.PathLike[str],
    model_preset: str = "tiny",
    model_overrides: dict[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    steps: int | None = None,
    valid_examples: int = 500,
    resume: bool = False,
    evaluate_after: bool = False,
    mode: str = "neural",
    pack: bool = False,
    stop_at: int | None = None,
    fallback: bool = True,
) -> RunResult:
    """Train one model on a weighted mix of tasks; optionally evaluate it afterwards.

    ``mode`` sets the training layout (see :func:`neurosym.data.encode_example`).
    ``stop_at`` ends training at that step without changing the schedule (resume later).
    ``fallback=False`` trains program and tool modes without the neural layout (see :func:`encode_all`).
    ``evaluate_after`` reports neural mode, and the training mode beside it when that differs.
    Under torchrun only rank 0 evaluates afterwards; the other ranks return no report.
    """
    check_mode(mode)
    config = train_config or TrainConfig()
    if steps is not None:
        config.steps = steps
    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)

    data_notes: list[str] = []
    train_sets = {s.name: s.examples("train", n=s.train_examples, seed=config.seed, notes=data_notes) for s in specs}
    valid_sets = {s.name: s.examples("valid", n=valid_examples, seed=config.seed) for s in specs}
    for name, examples in train_sets.items():
        logger.info("%s: %d training and %d validation examples", name, len(examples), len(valid_sets[name]))

    if resume and (out_dir / "last").is_dir():
        tokenizer = load_tokenizer(out_dir / "last")
        model_config = load_config(out_dir / "last")
    else:
        tokenizer = build_tokenizer(train_sets)
        model_config = preset(model_preset, len(tokenizer), **(model_overrides or {}))
    model = TransformerPlus(model_config)
    encoded = {
        name: encode_all(examples, tokenizer, model_config.max_seq_len, mode, pack, config.answer_loss_only,
                         model_config=model_config, by_sentence=get_task(name).reads_by_sentence,
                         fallback=fallback)
        for name, examples in train_sets.items()
    }
    if model_config.slots is not None:
        from neurosym.binding import prepare_slot_supervision

        prepare_slot_supervision(model_config, tokenizer, train_sets, encoded)
    if pack:
        packed = sum(item.branches is not None for items in encoded.values() for item in items)
        logger.info("packed %d stories; %d sequences in all", packed, sum(len(v) for v in encoded.values()))
    cut = sum(item.truncated for items in encoded.values() for item in items)
    if cut:
        logger.warning("%d training contexts were cut to fit max_seq_len=%d", cut, model_config.max_seq_len)
    sampler = MixtureSampler(encoded, {s.name: s.weight for s in specs}, seed=config.seed)

    run_info = {
        "tasks": [asdict(s) for s in specs],
        "preset": model_preset,
        "mode": mode,
        "pack": pack,
        "notes": data_notes,  # e.g. a training file that was replaced by another
        "parameters": model.num_parameters(),
    }
    trainer = Trainer(model, tokenizer, sampler, config, out_dir=out_dir,
                      validator=make_validator(tokenizer, valid_sets, mode), run_info=run_info)
    if resume and (out_dir / "last").is_dir():
        trainer.resume(out_dir / "last")
    history = trainer.train(stop_at=stop_at)
    evaluate_after = evaluate_after and trainer.dist.is_main
    # A program or tool model also learned the neural layout, so report both side by side.
    eval_modes = ["neural", mode] if mode != "neural" else ["neural"]
    report = evaluate_checkpoint(out_dir, progress=config.progress, modes=eval_modes) if evaluate_after else None
    if report is not None:
        report.write(out_dir)
    return RunResult(out_dir=out_dir, history=history, report=report)


def eval_plan(specs: list[TaskSpec]) -> list[tuple[TaskSpec, str, str, dict[str, Any]]]:
    """Return (spec, label, split, difficulty overrides) for each evaluation split of each task."""
    plan = []
    for spec in specs:
        task = get_task(spec.name)
        for label, (split, overrides) in task.eval_splits.items():
            plan.append((spec, label, split, overrides))
    return plan


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    specs: list[TaskSpec] | None = None,
    n: int | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 128,
    progress: bool = False,
    modes: list[str] | None = None,
    features: dict[str, Any] | None = None,
    candidates: int = 1,
    neural_confidence: float | None = None,
) -> SuiteReport:
    """Evaluate a checkpoint on every evaluation split of ``specs`` (default: its training tasks).

    ``modes`` lists the inference modes to report side by side on the same items
    (default: the mode the checkpoint was trained in). ``features`` switches optional
    features on for this evaluation only (see :func:`neurosym.knn.with_features`).
    ``candidates`` above 1 makes program mode choose among that many beam-search
    programs, and ``neural_confidence`` lets it use confident neural answers (see
    :class:`neurosym.inference.Predictor`).
    """
    directory = resolve_checkpoint_dir(checkpoint)
    model = load_pretrained(directory).to(resolve_device(device))
    if features:
        from neurosym.knn import with_features

        model = with_features(model, features)
    tokenizer = load_tokenizer(directory)
    run_info = load_run_info(directory)
    modes = modes or [run_info.get("mode", "neural")]
    for mode in modes:
        check_mode(mode)
    if specs is None:
        stored = run_info.get("tasks")
        if not stored:
            raise TaskError(f"{directory} records no training tasks; pass --task NAME")
        specs = [TaskSpec(**record) for record in stored]
    reports: list[TaskReport] = []
    for spec, label, split, overrides in eval_plan(specs):
        task = get_task(spec.name)
        examples = task.examples(split, n=n, seed=seed, data_dir=spec.data_dir, **{**spec.difficulty, **overrides})
        training_notes = [note for note in run_info.get("notes", []) if note.startswith(f"{spec.name}:")]
        for mode in modes:
            report = evaluate(model, tokenizer, task, examples, split=label, batch_size=batch_size,
                              mode=mode, progress=progress, candidates=candidates,
                              neural_confidence=neural_confidence)
            if model.config.slots is not None:
                from neurosym.binding import binding_metrics

                report.binding = binding_metrics(model, tokenizer, examples)
            report.notes = [*training_notes, *(n for n in report.notes if n not in training_notes)]
            reports.append(report)
    enabled = {name: asdict(getattr(model.config, name)) for name in model.config.enabled_features()}
    return SuiteReport(reports=reports, checkpoint=str(directory), features=enabled)

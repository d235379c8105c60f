"""Program and tool modes on a tiny model trained for a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurosym.checkpoint import load_pretrained, load_tokenizer
from neurosym.data import encode_example
from neurosym.evaluation import evaluate
from neurosym.inference import Predictor, run_program
from neurosym.runs import TaskSpec, train_run
from neurosym.tasks import Example, get_task
from neurosym.training import TrainConfig

MICRO = {"d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 256}


def _train(out: Path, mode: str) -> Path:
    spec = TaskSpec("arithmetic.add", train_examples=512)
    config = TrainConfig(steps=80, batch_size=16, lr=3e-3, warmup_steps=5, eval_every=60, precision="fp32",
                         device="cpu", progress=False)
    train_run([spec], out, model_overrides=MICRO, train_config=config, valid_examples=16, mode=mode)
    return out


@pytest.fixture(scope="module")
def program_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("program"), "program")


@pytest.fixture(scope="module")
def tool_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("tool"), "tool")


def _forty_digit_examples() -> list[Example]:
    return get_task("arithmetic.add").examples("test", n=32, min_digits=40, max_digits=40)


def test_program_mode_exact_at_forty_digits(program_run: Path) -> None:
    model, tokenizer = load_pretrained(program_run / "last"), load_tokenizer(program_run / "last")
    report = evaluate(model, tokenizer, get_task("arithmetic.add"), _forty_digit_examples(), mode="program")
    assert report.accuracy == 1.0
    assert report.fallbacks == 0


def test_tool_mode_exact_at_forty_digits(tool_run: Path) -> None:
    model, tokenizer = load_pretrained(tool_run / "last"), load_tokenizer(tool_run / "last")
    report = evaluate(model, tokenizer, get_task("arithmetic.add"), _forty_digit_examples(), mode="tool")
    assert report.accuracy == 1.0
    assert report.programs == 32


def test_failed_program_falls_back_and_is_counted(program_run: Path) -> None:
    model, tokenizer = load_pretrained(program_run / "last"), load_tokenizer(program_run / "last")
    # No numbers in the question, so $n1 and $n2 are unbound and the program fails.
    example = Example(context=[], question="what is + ?", answer="0")
    prediction = Predictor(model, tokenizer).predict([example], mode="program")[0]
    assert prediction.fallback
    assert prediction.error is not None


def test_run_program_rejects_python_text() -> None:
    answer, error = run_program("__import__('os').system('true')", Example([], "q", "a"))
    assert answer is None
    assert error == "ProgramSyntaxError"


def test_program_layout_puts_program_before_answer(program_run: Path) -> None:
    tokenizer = load_tokenizer(program_run / "last")
    example = Example(context=[], question="what is 2 + 3 ?", answer="5", program="(add $n1 $n2)")
    encoded = encode_example(example, tokenizer, 64, mode="program")
    text = tokenizer.decode(encoded.input_ids, skip_special=False)
    assert text.endswith("<q> what is $n1 + $n2 ? <prog> ( add $n1 $n2 ) <a>")


def test_run_program_rejects_value_without_answer_form() -> None:
    answer, error = run_program("(with-facts (fact a father b) (fact b gender male))", Example([], "q", "a"))
    assert answer is None
    assert error == "ProgramValidationError"

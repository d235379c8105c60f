"""Choosing among candidate readings: gender consistency and runnable programs (real executor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurosym.checkpoint import load_pretrained, load_tokenizer
from neurosym.errors import ConfigError
from neurosym.evaluation import evaluate
from neurosym.inference import Predictor
from neurosym.runs import TaskSpec, train_run
from neurosym.tasks import get_task
from neurosym.tasks.reading import choose_reading, facts_consistent
from neurosym.training import TrainConfig

BOB_MALE = ["(fact Bob gender male)"]


def test_facts_consistent_rejects_relation_against_stated_gender() -> None:
    assert not facts_consistent(["(fact Ann sister Bob)"], [1], BOB_MALE)


def test_facts_consistent_accepts_relation_matching_stated_gender() -> None:
    assert facts_consistent(["(fact Ann brother Bob)"], [1], BOB_MALE)


def test_facts_consistent_rejects_disagreeing_facts() -> None:
    assert not facts_consistent(["(fact Ann brother Bob)", "(fact Cid sister Bob)"], [1, 2])


def test_facts_consistent_accepts_sentences_without_facts() -> None:
    assert facts_consistent(["", ""], [1, 2], BOB_MALE)


def test_facts_consistent_rejects_a_malformed_piece() -> None:
    assert not facts_consistent(["(fact Ann sister)"], [1])


def test_facts_consistent_resolves_references() -> None:
    references = [{"Ann": "e1", "Bob": "e2"}]
    assert not facts_consistent(["(fact $e1 sister $e2)"], [1], BOB_MALE, references)


def test_choose_reading_keeps_most_probable_consistent_candidates() -> None:
    reading = choose_reading([["(fact Ann brother Bob)", "(fact Bob brother Ann)"]], ["(relation Ann Bob)"], [1],
                             BOB_MALE)
    assert reading.ranks == [0, 0]


def test_choose_reading_skips_gender_contradicting_candidate() -> None:
    reading = choose_reading([["(fact Ann sister Bob)", "(fact Ann brother Bob)"]], ["(relation Ann Bob)"], [1],
                             BOB_MALE)
    assert reading.sentences == ["(fact Ann brother Bob)"]


def test_choose_reading_skips_contradiction_with_an_earlier_sentence() -> None:
    reading = choose_reading([["(fact Ann brother Bob)"], ["(fact Cid sister Bob)", "(fact Cid brother Bob)"]],
                             ["(relation Ann Cid)"], [1, 2])
    assert reading.ranks == [0, 1, 0]


def test_choose_reading_resolves_references_per_sentence() -> None:
    references = [{"Ann": "e1", "Bob": "e2"}, {"Bob": "e1", "Ann": "e2"}]
    reading = choose_reading([["(fact $e1 sister $e2)", "(fact $e1 brother $e2)"]], ["(relation $e2 $e1)"], [1],
                             BOB_MALE, references)
    assert reading.ranks == [1, 0]


def test_choose_reading_tries_next_query_when_program_fails() -> None:
    reading = choose_reading([["(fact Ann brother Bob)"]], ["(relation Ann Zed)", "(relation Ann Bob)"], [1])
    assert reading.ranks == [0, 1]


def test_choose_reading_repairs_unrunnable_program() -> None:
    # The top candidate of the second sentence leaves Cid unconnected to Ann, so the query cannot run.
    reading = choose_reading([["(fact Ann sister Bea)"], ["(fact Cid brother Dan)", "(fact Bea brother Cid)"]],
                             ["(relation Ann Cid)"], [1, 2])
    assert reading.ranks == [0, 1, 0]


def test_choose_reading_marks_a_program_that_never_runs() -> None:
    reading = choose_reading([["(fact Ann sister Bob)"]], ["(relation Ann Bob)"], [1], BOB_MALE)
    assert not reading.runs


def test_choose_reading_falls_back_to_first_candidates() -> None:
    reading = choose_reading([["(fact Ann sister Bob)", "(fact Ann aunt Bob)"]], ["(relation Ann Bob)"], [1],
                             BOB_MALE)
    assert reading.ranks == [0, 0]


def test_choose_reading_stops_repairs_at_the_limit() -> None:
    reading = choose_reading([["(fact Ann sister Bea)"], ["(fact Cid brother Dan)", "(fact Bea brother Cid)"]],
                             ["(relation Ann Cid)"], [1, 2], max_repairs=0)
    assert not reading.runs


def test_choose_reading_rejects_a_sentence_without_candidates() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_reading([[]], ["(relation Ann Bob)"], [1])


@pytest.fixture(scope="module")
def kinship_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kinship-choice")
    config = TrainConfig(steps=300, batch_size=32, lr=3e-3, warmup_steps=10, eval_every=1000, precision="fp32",
                         device="cpu", progress=False)
    train_run([TaskSpec("relational.kinship", train_examples=2000)], out,
              model_overrides={"d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 256},
              train_config=config, valid_examples=16, mode="program")
    return out / "last"


def test_candidate_reading_answers_longer_chains(kinship_checkpoint: Path) -> None:
    model, tokenizer = load_pretrained(kinship_checkpoint), load_tokenizer(kinship_checkpoint)
    task = get_task("relational.kinship")
    examples = task.examples("test", n=30, seed=7, min_chain=6, max_chain=6)
    report = evaluate(model, tokenizer, task, examples, mode="program", candidates=3)
    assert report.accuracy >= 0.9


def test_neural_confidence_near_zero_always_uses_neural_answer(kinship_checkpoint: Path) -> None:
    model, tokenizer = load_pretrained(kinship_checkpoint), load_tokenizer(kinship_checkpoint)
    examples = get_task("relational.kinship").examples("test", n=12, seed=8, min_chain=5, max_chain=5)
    neural = Predictor(model, tokenizer).predict(examples, mode="neural")
    gated = Predictor(model, tokenizer, candidates=2, neural_confidence=1e-9).predict(
        examples, mode="program", by_sentence=True)
    assert [p.answer for p in gated] == [p.answer for p in neural]


def test_neural_confidence_of_one_keeps_program_answers(kinship_checkpoint: Path) -> None:
    model, tokenizer = load_pretrained(kinship_checkpoint), load_tokenizer(kinship_checkpoint)
    examples = get_task("relational.kinship").examples("test", n=12, seed=8, min_chain=5, max_chain=5)
    plain = Predictor(model, tokenizer, candidates=2).predict(examples, mode="program", by_sentence=True)
    gated = Predictor(model, tokenizer, candidates=2, neural_confidence=1.0).predict(
        examples, mode="program", by_sentence=True)
    assert [p.answer for p in gated] == [p.answer for p in plain]


@pytest.mark.parametrize("confidence", [0.0, 1.5])
def test_predictor_rejects_invalid_neural_confidence(kinship_checkpoint: Path, confidence: float) -> None:
    model, tokenizer = load_pretrained(kinship_checkpoint), load_tokenizer(kinship_checkpoint)
    with pytest.raises(ConfigError, match="neural_confidence must be a probability"):
        Predictor(model, tokenizer, neural_confidence=confidence)

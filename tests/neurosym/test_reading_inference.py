"""Program mode that reads stories one sentence at a time, on a tiny model trained briefly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurosym.checkpoint import load_pretrained, load_tokenizer
from neurosym.evaluation import evaluate
from neurosym.inference import Predictor
from neurosym.runs import TaskSpec, train_run
from neurosym.tasks import Example, Sentence, get_task
from neurosym.training import TrainConfig

MICRO = {"d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 256}


@pytest.fixture(scope="module")
def kinship_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kinship")
    spec = TaskSpec("relational.kinship", train_examples=2000)
    config = TrainConfig(steps=400, batch_size=32, lr=3e-3, warmup_steps=10, eval_every=1000, precision="fp32",
                         device="cpu", progress=False)
    train_run([spec], out, model_overrides=MICRO, train_config=config, valid_examples=16, mode="program")
    return out


def test_sentence_reading_generalises_to_longer_chains(kinship_run: Path) -> None:
    model, tokenizer = load_pretrained(kinship_run / "last"), load_tokenizer(kinship_run / "last")
    task = get_task("relational.kinship")
    examples = task.examples("test", n=40, seed=5, min_chain=8, max_chain=8)
    report = evaluate(model, tokenizer, task, examples, mode="program")
    assert report.accuracy >= 0.9


def test_sentence_reading_writes_one_with_facts_program(kinship_run: Path) -> None:
    model, tokenizer = load_pretrained(kinship_run / "last"), load_tokenizer(kinship_run / "last")
    example = get_task("relational.kinship").examples("test", n=1, seed=5, min_chain=6, max_chain=6)[0]
    prediction = Predictor(model, tokenizer).predict([example], mode="program", by_sentence=True)[0]
    timed_facts = re.findall(r"\(fact \S+ \S+ \S+ \d+\)", prediction.program)
    assert len(timed_facts) == 6


def test_sentence_reading_needs_no_gold_program(kinship_run: Path) -> None:
    model, tokenizer = load_pretrained(kinship_run / "last"), load_tokenizer(kinship_run / "last")
    gold = get_task("relational.kinship").examples("test", n=1, seed=5)[0]
    # The inputs only: story, question, the names in it and their genders; no program or facts.
    bare = Example(context=gold.context, question=gold.question, answer=gold.answer, entities=gold.entities,
                   meta={"genders": gold.meta["genders"]})
    prediction = Predictor(model, tokenizer).predict([bare], mode="program", by_sentence=True)[0]
    assert prediction.answer == gold.answer


def test_sentence_reading_without_facts_falls_back(kinship_run: Path) -> None:
    model, tokenizer = load_pretrained(kinship_run / "last"), load_tokenizer(kinship_run / "last")
    example = Example(context=[Sentence("nothing happened .", 0)], question="how is Amy related to Ben ?",
                      answer="sister")
    prediction = Predictor(model, tokenizer).predict([example], mode="program", by_sentence=True)[0]
    assert prediction.fallback

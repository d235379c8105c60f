"""The published reference table (neurosym.references) and how suite reports print it."""

from __future__ import annotations

import json

import pytest

from neurosym.errors import ConfigError
from neurosym.references import CHECKS, REFERENCES, ChainAccuracy, Reference, references_for
from neurosym.suite_report import SuiteResult, SuiteRow, to_markdown


def _reference(**overrides) -> Reference:
    fields = {"model": "m", "benchmark": "babi", "setting": "1k joint", "mean_error": 1.0,
              "failed_tasks": 0, "citation": "c", "check": "paper"}
    return Reference(**{**fields, **overrides})


@pytest.mark.parametrize("overrides", [
    {"benchmark": "squad"},
    {"check": "remembered"},
    {"mean_error": 101.0},
    {"failed_tasks": 21},
    {"accuracy": (ChainAccuracy(5, 1.5),)},
    {"accuracy": (ChainAccuracy(6, 0.9), ChainAccuracy(5, 0.9))},
])
def test_reference_rejects_invalid_entry(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        _reference(**overrides)


def test_references_use_known_checks() -> None:
    assert {ref.check for ref in REFERENCES} <= set(CHECKS)


def test_references_all_have_remarks() -> None:
    assert [ref.model for ref in REFERENCES if not ref.remark] == []


def test_unchecked_references_carry_no_numbers() -> None:
    numbered = [ref.model for ref in REFERENCES if ref.check == "unchecked"
                and (ref.mean_error is not None or ref.failed_tasks is not None or ref.accuracy)]
    assert numbered == []


def test_babi_references_give_both_numbers() -> None:
    missing = [ref.model for ref in references_for("babi") if ref.mean_error is None or ref.failed_tasks is None]
    assert missing == []


def test_clutrr_accuracies_cover_chains_5_to_10() -> None:
    lengths = {ref.model: [p.length for p in ref.accuracy] for ref in references_for("clutrr") if ref.accuracy}
    assert lengths == {"NCRL": [5, 6, 7, 8, 9, 10], "R5": [5, 6, 7, 8, 9, 10]}


def test_reference_to_dict_is_json() -> None:
    ncrl = next(ref for ref in REFERENCES if ref.model == "NCRL")
    data = json.loads(json.dumps(ncrl.to_dict()))
    assert data["accuracy"][0] == {"length": 5, "accuracy": 1.0, "std": 0.01}


def _rows(task: str, split: str, babi_set: str | None) -> list[SuiteRow]:
    return [SuiteRow(variant="base", checkpoint="seed0", mode="neural", task=task, split=split, n=10,
                     correct=5, babi_set=babi_set)]


def test_clutrr_markdown_prints_chain_accuracies() -> None:
    text = to_markdown(SuiteResult(suite="clutrr", rows=_rows("clutrr", "test_7", None),
                                   checkpoints={"base": ["seed0"]}), [])
    assert "- NCRL, train on chains of 2-4, test on 5-10. Test accuracy" in text
    assert "5: 100% ± 1, 6: 99% ± 1, 7: 98% ± 2" in text


def test_clutrr_markdown_keeps_untranscribed_baselines() -> None:
    text = to_markdown(SuiteResult(suite="clutrr", rows=_rows("clutrr", "test_7", None),
                                   checkpoints={"base": ["seed0"]}), [])
    assert "(the paper's accuracies are not transcribed" in text


def test_babi_markdown_prints_mean_failed_count() -> None:
    text = to_markdown(SuiteResult(suite="babi", rows=_rows("babi.qa1", "test", "1k"),
                                   checkpoints={"base": ["seed0"]}), [])
    assert "| DNC, mean of 20 runs | 10k joint | 16.7% | 11.2 |" in text

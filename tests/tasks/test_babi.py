from __future__ import annotations

from pathlib import Path

import pytest

from neurosym.errors import DataError
from neurosym.tasks import get_task
from neurosym.tasks.babi import TASK_FILE_STEMS, parse_babi_file


def _count_lines(path: Path) -> tuple[int, int]:
    """Count stories (lines with ID 1) and questions (lines with a tab) directly."""
    stories = questions = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.split(" ", 1)[0] == "1":
            stories += 1
        if "\t" in line:
            questions += 1
    return stories, questions


@pytest.mark.parametrize("number", sorted(TASK_FILE_STEMS))
def test_parser_counts_match_1k_test_files(babi_dir: Path, number: int) -> None:
    path = babi_dir / "en" / f"{TASK_FILE_STEMS[number]}_test.txt"
    expected_stories, expected_questions = _count_lines(path)
    stories = parse_babi_file(path)
    assert len(stories) == expected_stories
    assert sum(len(s.examples) for s in stories) == expected_questions


def test_parser_counts_match_10k_train_file(babi_dir: Path) -> None:
    path = babi_dir / "en-10k" / f"{TASK_FILE_STEMS[1]}_train.txt"
    stories = parse_babi_file(path)
    assert sum(len(s.examples) for s in stories) == 10000
    assert len(stories) == _count_lines(path)[0]


def test_first_qa1_example_fields(babi_dir: Path) -> None:
    examples = get_task("babi.qa1").examples("train", data_dir=babi_dir / "en")
    first = examples[0]
    assert [s.time for s in first.context] == [1, 2]
    assert first.question == "Where is Mary?"
    assert first.answer == "bathroom"
    assert first.meta["supporting"] == [1]
    assert first.facts[0] == ("Mary", "location", "bathroom", 1)


def test_context_excludes_earlier_questions(babi_dir: Path) -> None:
    examples = get_task("babi.qa1").examples("test", data_dir=babi_dir / "en")
    second = examples[1]
    assert all("?" not in sentence.text for sentence in second.context)


def test_list_answer_is_comma_joined(babi_dir: Path) -> None:
    examples = get_task("babi.qa8").examples("test", data_dir=babi_dir / "en")
    assert any("," in example.answer for example in examples)


def test_valid_and_train_splits_are_disjoint_and_cover(babi_dir: Path) -> None:
    task = get_task("babi.qa1")
    train = task.examples("train", data_dir=babi_dir / "en", seed=3)
    valid = task.examples("valid", data_dir=babi_dir / "en", seed=3)
    assert len(train) + len(valid) == 1000
    valid_stories = {e.meta["story"] for e in valid}
    assert not valid_stories & {e.meta["story"] for e in train}


def test_valid_split_reproducible_from_seed(babi_dir: Path) -> None:
    task = get_task("babi.qa2")
    first = task.examples("valid", data_dir=babi_dir / "en", seed=5)
    second = task.examples("valid", data_dir=babi_dir / "en", seed=5)
    assert [e.to_dict() for e in first] == [e.to_dict() for e in second]


def test_data_root_finds_variant_folder(babi_dir: Path) -> None:
    examples = get_task("babi.qa1").examples("test", data_dir=babi_dir)
    assert len(examples) == 1000


def test_missing_10k_qa3_falls_back_with_note(babi_dir: Path) -> None:
    task = get_task("babi.qa3")
    examples = task.examples("train", data_dir=babi_dir)
    assert len(examples) == 900
    assert "1k file" in task.notes[0]


def test_missing_data_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        get_task("babi.qa1").examples("test", data_dir=tmp_path / "absent")


def test_folder_without_files_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        get_task("babi.qa1").examples("test", data_dir=tmp_path)


def test_no_data_dir_names_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEUROSYM_DATA", raising=False)
    with pytest.raises(DataError, match="NEUROSYM_DATA"):
        get_task("babi.qa1").examples("test")


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / f"{TASK_FILE_STEMS[1]}_test.txt"
    path.write_text("1 Mary went home.\nnot a numbered line\n", encoding="utf-8")
    with pytest.raises(DataError, match=r":2: expected 'ID text'"):
        parse_babi_file(path)


def test_story_not_starting_at_one_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("2 Mary went home.\n", encoding="utf-8")
    with pytest.raises(DataError, match="must start at ID 1"):
        parse_babi_file(path)


def test_non_utf8_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"1 Mary \xff\xfe went.\n")
    with pytest.raises(DataError, match="not UTF-8"):
        parse_babi_file(path)


def test_file_without_questions_raises(tmp_path: Path) -> None:
    (tmp_path / f"{TASK_FILE_STEMS[1]}_test.txt").write_text("1 Mary went home.\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no questions"):
        get_task("babi.qa1").examples("test", data_dir=tmp_path)

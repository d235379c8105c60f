"""The clutrr loader on the public CSV files and on broken copies made here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from neurosym.cli import main
from neurosym.errors import DataError, TaskError
from neurosym.symbolic import execute
from neurosym.tasks import get_task
from neurosym.tasks.bindings import input_bindings
from neurosym.tasks.clutrr import FileAudit, audit, read_clutrr_csv

DATASET = "data_db9b8f04"
TEST_TASKS = [f"1.{length}" for length in range(2, 11)]
# Share of rows per test file whose gold program reproduces the target, measured on
# data_db9b8f04 with kinship.CLUTRR_COMPOSITION; the floors sit just below.
MIN_AGREEMENT = {"1.2": 1.0, "1.3": 0.95, "1.4": 0.87, "1.5": 0.98, "1.6": 0.99,
                 "1.7": 0.99, "1.8": 0.99, "1.9": 0.96, "1.10": 0.97}
HEADER = ["", "id", "story", "query", "text_query", "target", "text_target", "clean_story",
          "proof_state", "f_comb", "task_name", "story_edges", "edge_types", "query_edge",
          "genders", "syn_story", "node_mapping", "task_split"]
GOOD_ROW = {
    "story": "[Amy]'s father, [Bob], took her fishing. [Bob]'s mother [Cora] baked a pie.",
    "query": "('Amy', 'Cora')",
    "target": "grandmother",
    "task_name": "task_1.2",
    "story_edges": "[(0, 1), (1, 2)]",
    "edge_types": "['father', 'mother']",
    "genders": "Amy:female,Bob:male,Cora:female",
}


def _count_csv_rows(path: Path) -> int:
    csv.field_size_limit(1 << 24)
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _write_csv(folder: Path, name: str, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in header})
    return path


@pytest.fixture(scope="module")
def clutrr_tests(clutrr_dir: Path) -> dict[str, list]:
    task = get_task("clutrr")
    return {name: task.examples("test", data_dir=clutrr_dir, clutrr_task=name) for name in TEST_TASKS}


@pytest.mark.parametrize("name", TEST_TASKS)
def test_clutrr_row_count_matches_csv(clutrr_dir: Path, clutrr_tests: dict, name: str) -> None:
    expected = _count_csv_rows(clutrr_dir / DATASET / f"{name}_test.csv")
    assert len(clutrr_tests[name]) == expected


@pytest.mark.parametrize("name", TEST_TASKS)
def test_clutrr_program_agreement_rate(clutrr_tests: dict, name: str) -> None:
    examples = clutrr_tests[name]
    rate = sum(example.meta["program_agrees"] for example in examples) / len(examples)
    print(f"{name}_test.csv: {rate:.3f} of {len(examples)} gold programs reproduce the target")
    assert rate >= MIN_AGREEMENT[name]


@pytest.mark.parametrize("name", TEST_TASKS)
def test_clutrr_programs_give_answers(clutrr_tests: dict, name: str) -> None:
    for example in clutrr_tests[name]:
        if example.program is None:
            continue
        assert execute(example.program, bindings=input_bindings(example)).answer == example.answer


@pytest.mark.parametrize("name", TEST_TASKS)
def test_clutrr_chain_length_matches_task(clutrr_tests: dict, name: str) -> None:
    lengths = {example.meta["chain_length"] for example in clutrr_tests[name]}
    assert lengths == {int(name.split(".")[1])}


def test_clutrr_eval_splits_name_test_files() -> None:
    splits = get_task("clutrr").eval_splits
    assert [splits[f"test_{k}"] for k in range(5, 11)] == [("test", {"clutrr_task": f"1.{k}"}) for k in range(5, 11)]


def test_clutrr_example_fields(clutrr_tests: dict) -> None:
    example = clutrr_tests["1.2"][0]
    assert example.question == "how is Michael related to Clarence ?"
    assert example.answer == "grandson"
    assert "[" not in example.context[0].text
    assert [fact.relation for fact in example.facts] == ["granddaughter", "brother"]


def test_clutrr_train_and_valid_partition(clutrr_dir: Path) -> None:
    task = get_task("clutrr")
    train = task.examples("train", data_dir=clutrr_dir, drop_worded_against=False)
    valid = task.examples("valid", data_dir=clutrr_dir, drop_worded_against=False)
    train_file = next((clutrr_dir / DATASET).glob("*_train.csv"))
    assert len(train) + len(valid) == _count_csv_rows(train_file)
    assert not {e.meta["row"] for e in train} & {e.meta["row"] for e in valid}
    agreement = sum(e.meta["program_agrees"] for e in train + valid) / (len(train) + len(valid))
    print(f"{train_file.name}: {agreement:.3f} of gold programs reproduce the target")
    assert agreement >= 0.98


def test_clutrr_valid_split_reproducible(tmp_path: Path) -> None:
    folder = tmp_path / DATASET
    _write_csv(folder, "1.2_train.csv", [GOOD_ROW] * 30)
    task = get_task("clutrr")
    first = [e.meta["row"] for e in task.examples("valid", data_dir=tmp_path, seed=4)]
    second = [e.meta["row"] for e in task.examples("valid", data_dir=tmp_path, seed=4)]
    assert first == second
    assert len(first) == 3


def test_clutrr_small_file_parses(tmp_path: Path) -> None:
    path = _write_csv(tmp_path, "1.2_test.csv", [GOOD_ROW])
    example = read_clutrr_csv(path)[0]
    assert example.program == (
        "(with-facts (fact Amy father Bob) (fact Bob mother Cora) (fact Amy gender female) "
        "(fact Bob gender male) (fact Cora gender female) (relation Amy Cora))"
    )
    assert [fact.time for fact in example.facts] == [0, 1]
    assert example.meta["program_agrees"] is True


def test_clutrr_missing_column_rejected(tmp_path: Path) -> None:
    header = [column for column in HEADER if column != "edge_types"]
    path = _write_csv(tmp_path, "1.2_test.csv", [GOOD_ROW], header)
    with pytest.raises(DataError, match=r"1\.2_test\.csv lacks column\(s\) edge_types"):
        read_clutrr_csv(path)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("genders", "Amy:female,Bob:robot,Cora:female", "genders entry"),
        ("story_edges", "[(0, 1), (1, 9)]", "names person 9"),
        ("story_edges", "[(0, 1)", "was never closed|unexpected EOF"),
        ("query", "('Amy', 'Zed')", "query name 'Zed'"),
        ("edge_types", "['father', 'mother', 'son']", "edge_types has 3"),
    ],
)
def test_clutrr_bad_row_rejected(tmp_path: Path, column: str, value: str, message: str) -> None:
    path = _write_csv(tmp_path, "1.2_test.csv", [GOOD_ROW, {**GOOD_ROW, column: value}])
    with pytest.raises(DataError, match=message) as info:
        read_clutrr_csv(path)
    assert "row 2" in str(info.value)
    assert "1.2_test.csv" in str(info.value)


def test_clutrr_unknown_task_file_rejected(clutrr_dir: Path) -> None:
    with pytest.raises(DataError, match="tasks with test files here: 1.2, 1.3"):
        get_task("clutrr").examples("test", data_dir=clutrr_dir, clutrr_task="7.7")


def test_clutrr_malformed_task_knob_rejected(clutrr_dir: Path) -> None:
    with pytest.raises(TaskError, match="clutrr_task='five'"):
        get_task("clutrr").examples("test", data_dir=clutrr_dir, clutrr_task="five")


def test_clutrr_missing_dataset_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data set 'data_db9b8f04' not found"):
        get_task("clutrr").examples("test", data_dir=tmp_path)


def test_clutrr_needs_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEUROSYM_DATA", raising=False)
    with pytest.raises(DataError, match="--data-dir"):
        get_task("clutrr").examples("test")


def test_clutrr_edge_turned_to_match_wording(tmp_path: Path) -> None:
    row = {**GOOD_ROW, "story": "[Bob] took his daughter [Amy] fishing. [Bob]'s mother [Cora] baked a pie."}
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [row]))[0]
    assert example.facts[0][:3] == ("Bob", "daughter", "Amy")


def test_clutrr_turned_edge_keeps_answer(tmp_path: Path) -> None:
    row = {**GOOD_ROW, "story": "[Bob] took his daughter [Amy] fishing. [Bob]'s mother [Cora] baked a pie."}
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [row]))[0]
    assert example.meta["program_agrees"] is True


def test_clutrr_fact_timed_by_sentence_pair(tmp_path: Path) -> None:
    row = {**GOOD_ROW, "story": "[Amy] went fishing with her father. His name is [Bob]. [Bob]'s mother [Cora] baked a pie."}
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [row]))[0]
    assert example.facts[0].time == 1


# Dan is Bob's son in the edges, but the first sentence calls Dan Bob's father.
SWAPPED_ROW = {
    **GOOD_ROW,
    "story": "[Bob]'s father, [Dan], took him fishing. [Bob]'s mother [Cora] baked a pie.",
    "query": "('Dan', 'Cora')",
    "genders": "Dan:male,Bob:male,Cora:female",
}


def test_clutrr_swapped_template_counted_as_worded_against(tmp_path: Path) -> None:
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [SWAPPED_ROW]))[0]
    assert example.meta["worded_against"] == 1


def test_clutrr_swapped_template_text_disagrees(tmp_path: Path) -> None:
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [SWAPPED_ROW]))[0]
    assert example.meta["program_agrees"] is True
    assert example.meta["text_agrees"] is False


def test_clutrr_faithful_row_not_worded_against(tmp_path: Path) -> None:
    example = read_clutrr_csv(_write_csv(tmp_path, "1.2_test.csv", [GOOD_ROW]))[0]
    assert example.meta["worded_against"] == 0
    assert example.meta["text_agrees"] is True


def test_clutrr_train_split_drops_worded_against_rows(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_train.csv", [GOOD_ROW] * 20 + [SWAPPED_ROW] * 20)
    train = get_task("clutrr").examples("train", data_dir=tmp_path)
    assert {e.meta["worded_against"] for e in train} == {0}


def test_clutrr_train_keeps_swapped_when_asked(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_train.csv", [GOOD_ROW] * 20 + [SWAPPED_ROW] * 20)
    task = get_task("clutrr")
    both = [*task.examples("train", data_dir=tmp_path, drop_worded_against=False),
            *task.examples("valid", data_dir=tmp_path, drop_worded_against=False)]
    assert len(both) == 40


def test_clutrr_test_split_keeps_worded_against_rows(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_test.csv", [GOOD_ROW, SWAPPED_ROW])
    assert len(get_task("clutrr").examples("test", data_dir=tmp_path)) == 2


def test_clutrr_drop_worded_against_knob_must_be_bool(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_train.csv", [GOOD_ROW] * 20)
    with pytest.raises(TaskError, match="drop_worded_against"):
        get_task("clutrr").examples("train", data_dir=tmp_path, drop_worded_against="yes")


def test_clutrr_audit_counts_each_file(tmp_path: Path) -> None:
    folder = tmp_path / DATASET
    _write_csv(folder, "1.2_train.csv", [GOOD_ROW] * 3 + [SWAPPED_ROW])
    _write_csv(folder, "1.2_test.csv", [GOOD_ROW, SWAPPED_ROW])
    assert audit(folder) == [FileAudit("1.2_train.csv", 4, 4, 1, 3), FileAudit("1.2_test.csv", 2, 2, 1, 1)]


def test_data_audit_cli_prints_a_row_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / DATASET
    _write_csv(folder, "1.2_train.csv", [GOOD_ROW] * 3 + [SWAPPED_ROW])
    _write_csv(folder, "1.2_test.csv", [GOOD_ROW, SWAPPED_ROW])
    assert main(["data", "audit", "clutrr", "--data-dir", str(tmp_path)]) == 0
    assert "1.2_test.csv" in capsys.readouterr().out


def test_data_audit_cli_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "audit", "clutrr", "--data-dir", str(tmp_path)]) == 2
    assert "point --data-dir at the folder" in capsys.readouterr().err


def test_clutrr_valid_split_same_with_and_without_dropping(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_train.csv", [GOOD_ROW] * 20 + [SWAPPED_ROW] * 20)
    task = get_task("clutrr")
    all_rows = {e.meta["row"] for e in task.examples("valid", data_dir=tmp_path, drop_worded_against=False)}
    dropped = {e.meta["row"] for e in task.examples("valid", data_dir=tmp_path)}
    assert dropped <= all_rows


def test_clutrr_knob_checked_on_test_split(tmp_path: Path) -> None:
    _write_csv(tmp_path / DATASET, "1.2_test.csv", [GOOD_ROW])
    with pytest.raises(TaskError, match="drop_worded_against"):
        get_task("clutrr").examples("test", data_dir=tmp_path, drop_worded_against="yes")


def test_clutrr_real_train_has_no_swaps(clutrr_dir: Path) -> None:
    train = get_task("clutrr").examples("train", data_dir=clutrr_dir)
    assert not any(e.meta["worded_against"] for e in train)

"""Command-line error paths and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurosym.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--task", "episodic.location", "--steps", "4", "--eval-every", "2",
                 "--train-examples", "64", "--batch-size", "8", "--precision", "fp32", "--out", str(out)])
    assert code == 0
    return out


def test_unknown_task_exits_2(capsys) -> None:
    assert main(["generate", "no.such.task"]) == 2
    assert "unknown task 'no.such.task'" in capsys.readouterr().err


def test_missing_data_dir_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["train", "--task", "babi.qa1", "--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_unreadable_examples_file_exits_2(tmp_path: Path, capsys) -> None:
    babi = tmp_path / "babi"
    babi.mkdir()
    (babi / "qa1_single-supporting-fact_test.txt").write_bytes(b"1 \xff\xfe\n")
    assert main(["generate", "babi.qa1", "--split", "test", "--data-dir", str(babi)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_error_is_one_line(capsys) -> None:
    main(["generate", "no.such.task"])
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unknown_knob_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["train", "--task", "arithmetic.add", "--set", "colour=3", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "colour" in capsys.readouterr().err


def test_generate_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "ex.jsonl"
    assert main(["generate", "arithmetic.add", "-n", "5", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5


def test_generate_knob_reaches_task(capsys) -> None:
    assert main(["generate", "arithmetic.add", "-n", "1", "--set", "min_digits=9", "--set", "max_digits=9"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["question"].split()[2]) == 9


def test_train_writes_checkpoints(trained_run: Path) -> None:
    assert (trained_run / "best" / "config.json").is_file()
    assert (trained_run / "last" / "tokenizer.json").is_file()


def test_eval_writes_reports(trained_run: Path, tmp_path: Path, capsys) -> None:
    code = main(["eval", "--checkpoint", str(trained_run), "-n", "8", "--out", str(tmp_path)])
    assert code == 0
    assert "episodic.location" in capsys.readouterr().out
    assert (tmp_path / "eval.json").is_file()
    assert (tmp_path / "eval.md").is_file()


def test_eval_of_other_config_checkpoint_exits_2(trained_run: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (broken / name).write_bytes((trained_run / "best" / name).read_bytes())
    config = json.loads((trained_run / "best" / "config.json").read_text())
    config["n_layers"] += 1
    (broken / "config.json").write_text(json.dumps(config))
    assert main(["eval", "--checkpoint", str(broken), "--task", "episodic.location", "-n", "4"]) == 2
    assert "missing tensors" in capsys.readouterr().err


def test_eval_of_missing_checkpoint_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_qa3_fallback_note_reaches_eval_report(babi_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa3"
    code = main(["train", "--task", "babi.qa3", "--data-dir", str(babi_dir), "--steps", "2", "--eval-every", "2",
                 "--train-examples", "32", "--batch-size", "4", "--precision", "fp32", "--out", str(out)])
    assert code == 0
    assert main(["eval", "--checkpoint", str(out), "-n", "4", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert "trained on the 1k file" in report["reports"][0]["notes"][0]


def test_existing_run_folder_is_not_overwritten(trained_run: Path, capsys) -> None:
    assert main(["train", "--task", "episodic.location", "--steps", "2", "--out", str(trained_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_resume_of_missing_run_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--task", "episodic.location", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_resume_with_other_task_exits_2(trained_run: Path, capsys) -> None:
    assert main(["train", "--task", "arithmetic.add", "--out", str(trained_run), "--resume"]) == 2
    assert "was trained on ['episodic.location']" in capsys.readouterr().err


def test_string_knob_keeps_its_text(capsys) -> None:
    from neurosym.tasks import get_task

    assert get_task("clutrr").parse_knob("clutrr_task", "1.10") == "1.10"


@pytest.mark.parametrize(("text", "expected"), [("False", False), ("yes", True), ("0", False)])
def test_boolean_knob_parses_words(text: str, expected: bool) -> None:
    from neurosym.tasks import get_task

    assert get_task("relational.kinship").parse_knob("shuffle", text) is expected


def test_boolean_knob_rejects_other_text(capsys) -> None:
    assert main(["generate", "relational.kinship", "--set", "shuffle=maybe"]) == 2
    assert "must be a bool" in capsys.readouterr().err


def test_generate_accepts_eval_split_label(capsys) -> None:
    assert main(["generate", "arithmetic.add", "-n", "1", "--split", "test_40"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["question"].split()[2]) == 40


def test_zero_count_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "exec", "-n", "0"])
    assert exit_info.value.code == 2


def test_exec_reports_invalid_utf8_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.prog"
    path.write_bytes(b"(add 1 \xff\xfe)")
    assert main(["exec", "--file", str(path)]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_exec_reads_deep_nesting_from_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "deep.prog"
    path.write_text("(" * 100_000 + ")" * 100_000)
    assert main(["exec", "--file", str(path)]) == 2
    assert "Limits.max_" in capsys.readouterr().err


def test_bad_output_path_is_one_line_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["generate", "arithmetic.add", "-n", "1", "--out", str(blocker / "x.jsonl")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_train_unknown_feature_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--task", "episodic.location", "--feature", "wings", "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2


def test_train_feature_with_bad_layer_exits_2(tmp_path: Path, capsys) -> None:
    args = ["train", "--task", "episodic.location", "--feature", 'slots={"layers": [9]}', "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert "slots.layers has indices [9]" in capsys.readouterr().err


def test_closed_output_pipe_is_not_an_error() -> None:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "neurosym", "generate", "episodic.location", "-n", "2000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "error" not in stderr

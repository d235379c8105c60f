"""Suite reports (`eval --suite`), run comparison (`eval --compare`) and run files (`train --config`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurosym.checkpoint import load_run_info
from neurosym.cli import main
from neurosym.runs import TaskSpec
from neurosym.suite_report import SuiteResult, SuiteRow, parse_checkpoint, split_axes
from neurosym.suites import suite_tasks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--steps", "3", "--eval-every", "3", "--log-every", "1", "--train-examples", "32",
        "--valid-examples", "4", "--batch-size", "4", "--precision", "fp32", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite") / "run"
    assert main(["train", "--task", "arithmetic.add", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def core_report(tiny_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["eval", "--suite", "core", "--checkpoint", f"tiny={tiny_run}", "-n", "2",
                 "--device", "cpu", "--out", str(out)]) == 0
    return out


def test_core_report_writes_markdown_and_json(core_report: Path) -> None:
    assert (core_report / "report.md").is_file()
    assert (core_report / "report.json").is_file()


def test_core_report_markdown_lists_every_task(core_report: Path) -> None:
    text = (core_report / "report.md").read_text()
    missing = [task for task in suite_tasks("core") if f"| {task} |" not in text]
    assert missing == []


def test_core_report_json_lists_every_task(core_report: Path) -> None:
    rows = json.loads((core_report / "report.json").read_text())["rows"]
    assert sorted({row["task"] for row in rows}) == sorted(suite_tasks("core"))


def test_core_report_plots_are_png_files(core_report: Path) -> None:
    images = sorted(core_report.glob("*.png"))
    assert (core_report / "variants.png") in images
    assert (core_report / "ood_arithmetic.add_max_digits.png") in images
    assert all(image.read_bytes()[:8] == PNG_MAGIC for image in images)


def test_core_report_markdown_links_every_plot(core_report: Path) -> None:
    text = (core_report / "report.md").read_text()
    assert all(f"]({image.name})" in text for image in core_report.glob("*.png"))


def test_split_axes_give_digit_counts() -> None:
    axes = split_axes(TaskSpec("arithmetic.add"))
    assert [axes[label]["max_digits"] for label in ("test", "test_ood", "test_10", "test_20", "test_40")] == [
        3, 5, 10, 20, 40]


def test_split_axes_give_clutrr_chain_length() -> None:
    axes = split_axes(TaskSpec("clutrr"))
    assert axes["test_7"] == {"chain length": 7}


def _babi_rows(checkpoint: str, errors: dict[str, int]) -> list[SuiteRow]:
    return [SuiteRow(variant="base", checkpoint=checkpoint, mode="neural", task=task, split="test", n=100,
                     correct=100 - wrong, babi_set="1k") for task, wrong in errors.items()]


def test_babi_summary_averages_seeds() -> None:
    rows = _babi_rows("seed0", {"babi.qa1": 0, "babi.qa2": 10}) + _babi_rows("seed1", {"babi.qa1": 2, "babi.qa2": 20})
    summary = SuiteResult(suite="babi", rows=rows, checkpoints={}).babi_summaries()[0]
    assert summary["mean_error"]["mean"] == pytest.approx(0.08)
    assert summary["failed_tasks"]["mean"] == 1.0
    assert summary["task_error"]["babi.qa2"]["std"] == pytest.approx(0.0707107, rel=1e-5)


def test_babi_markdown_carries_references() -> None:
    from neurosym.suite_report import to_markdown

    rows = _babi_rows("seed0", {"babi.qa1": 0, "babi.qa2": 10})
    text = to_markdown(SuiteResult(suite="babi", rows=rows, checkpoints={"base": ["seed0"]}), [])
    assert "| Universal Transformer with ACT | 1k joint | 7.78% | 5 |" in text


def test_parse_checkpoint_reads_label() -> None:
    assert parse_checkpoint("slots=runs/a") == ("slots", "runs/a")


def test_parse_checkpoint_labels_bare_path_by_run() -> None:
    assert parse_checkpoint("runs/a/best") == ("a", "runs/a/best")


def test_compare_writes_table_of_both_runs(tiny_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert main(["train", "--task", "arithmetic.add", *TINY, "--lr", "3e-3", "--out", str(other)]) == 0
    assert main(["eval", "--compare", str(tiny_run), str(other), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| run |" in text and "| other |" in text
    assert (tmp_path / "cmp" / "compare_loss.png").read_bytes()[:8] == PNG_MAGIC


def test_compare_gives_zero_loss_difference_to_itself(tiny_run: Path, tmp_path: Path) -> None:
    assert main(["eval", "--compare", str(tiny_run), str(tiny_run), "--out", str(tmp_path / "cmp")]) == 0
    summaries = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [s["loss_max_relative_difference"] for s in summaries] == [0.0, 0.0]


def test_compare_of_corrupt_log_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n')
    assert main(["eval", "--compare", str(tmp_path), "--out", str(tmp_path / "cmp")]) == 2
    assert "metrics.jsonl:2 is not valid JSON" in capsys.readouterr().err


def test_eval_suite_without_checkpoint_exits_2(capsys) -> None:
    assert main(["eval", "--suite", "core"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_config_file_sets_train_options(tmp_path: Path) -> None:
    config = {"task": ["arithmetic.add"], "steps": 2, "eval_every": 2, "train-examples": 16, "valid_examples": 4,
              "batch_size": 4, "precision": "fp32", "device": "cpu", "out": str(tmp_path / "run"),
              "feature": {}, "set": {"max_digits": 2}}
    (tmp_path / "run.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "run.json"), "--steps", "1"]) == 0
    written = json.loads((tmp_path / "run" / "train_args.json").read_text())
    assert written["steps"] == 1
    assert written["set"] == {"max_digits": "2"}
    assert load_run_info(tmp_path / "run" / "last")["tasks"][0]["difficulty"] == {"max_digits": 2}


def test_config_file_round_trips(tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert main(["train", "--task", "arithmetic.add", *TINY, "--set", "max_digits=2", "--out", str(first)]) == 0
    config = json.loads((first / "train_args.json").read_text())
    config["out"] = str(tmp_path / "second")
    (tmp_path / "again.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "again.json")]) == 0
    first_log = (first / "metrics.jsonl").read_text().splitlines()[0]
    second_log = (tmp_path / "second" / "metrics.jsonl").read_text().splitlines()[0]
    assert json.loads(first_log)["loss"] == json.loads(second_log)["loss"]


def test_config_file_unknown_key_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"task": ["arithmetic.add"], "stpes": 3, "lr_max": 1}))
    assert main(["train", "--config", str(tmp_path / "run.json"), "--out", str(tmp_path / "run")]) == 2
    assert "unknown key(s) ['lr_max', 'stpes']" in capsys.readouterr().err


def test_config_file_missing_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--config", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_command_line_task_replaces_config_tasks(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"task": ["arithmetic.sub"], **{"out": str(tmp_path / "r")}}))
    assert main(["train", "--config", str(tmp_path / "run.json"), "--task", "arithmetic.add", *TINY]) == 0
    assert [t["name"] for t in load_run_info(tmp_path / "r" / "last")["tasks"]] == ["arithmetic.add"]


def test_train_without_task_or_suite_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    assert "--suite" in capsys.readouterr().err


def test_babi_suite_with_1k_set_trains_on_en_files(babi_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "babi"
    assert main(["train", "--suite", "babi", "--babi-set", "1k", "--data-dir", str(babi_dir), "--steps", "1",
                 "--eval-every", "1", "--train-examples", "8", "--valid-examples", "1", "--batch-size", "4",
                 "--precision", "fp32", "--device", "cpu", "--out", str(out)]) == 0
    tasks = load_run_info(out / "last")["tasks"]
    assert [t["name"] for t in tasks] == suite_tasks("babi")
    assert {t["difficulty"]["variant"] for t in tasks} == {"en"}


def test_config_tokens_render_flags_and_lists() -> None:
    from neurosym.cli import build_parser
    from neurosym.runconfig import config_tokens, subparser

    train = subparser(build_parser(), "train")
    tokens = config_tokens({"pack": True, "eval": False, "features": {"slots": {"layers": [1]}}, "lr": 0.002}, train)
    assert tokens == ["--pack", "--feature", 'slots={"layers": [1]}', "--lr", "0.002"]


def test_config_equals_form_is_expanded(tmp_path: Path) -> None:
    from neurosym.cli import build_parser
    from neurosym.runconfig import expand_config

    (tmp_path / "run.json").write_text(json.dumps({"steps": 7}))
    argv = expand_config(["-v", "train", f"--config={tmp_path / 'run.json'}", "--out", "x"], build_parser())
    assert argv == ["-v", "train", "--steps", "7", "--out", "x"]


def test_config_rejects_list_for_scalar_option(tmp_path: Path, capsys) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"steps": [1, 2]}))
    assert main(["train", "--config", str(tmp_path / "run.json")]) == 2
    assert "key 'steps'" in capsys.readouterr().err

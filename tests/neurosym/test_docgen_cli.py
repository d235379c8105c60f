"""The committed command-line reference docs/cli.md matches the parser."""

from __future__ import annotations

from pathlib import Path

from neurosym.cli import build_parser
from neurosym.docgen import DEFAULT_PATH, main, render_cli_reference


def test_cli_reference_is_up_to_date() -> None:
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == render_cli_reference(), "docs/cli.md is stale; run python -m neurosym.docgen"


def test_cli_reference_lists_every_train_option() -> None:
    text = render_cli_reference()
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    options = [o for a in train._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    assert [o for o in options if f"`{o}`" not in text] == []


def test_cli_reference_lists_nested_commands() -> None:
    text = render_cli_reference()
    assert "`neurosym bench memory`" in text
    assert "`neurosym data fetch`" in text


def test_docgen_check_reports_stale_file(tmp_path: Path, capsys) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text("# old\n")
    assert main(["--out", str(stale), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err

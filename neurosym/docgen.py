"""Generate the command-line reference ``docs/cli.md`` from the argparse parser.

Run ``python -m neurosym.docgen`` after changing an option to rewrite the page, or
``python -m neurosym.docgen --check`` to exit with status 1 when the page is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

HEADER = """# Command-line reference

Generated from the parser by `python -m neurosym.docgen`; do not edit by hand. A test
fails when this page and the parser differ. Every user error prints one line to
stderr and exits with status 2.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """Return name -> (one-line help, parser) for the subcommands of ``parser``."""
    found: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for action in parser._actions:  # argparse exposes subparsers only through this private list
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found[name] = (helps.get(name, ""), sub)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        return "{" + ",".join(str(choice) for choice in action.choices) + "}"
    if action.metavar:
        return str(action.metavar)
    return action.dest.upper() if action.option_strings else action.dest


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(f"`{option}`" for option in action.option_strings) or f"`{action.dest}`"
        value = _value(action)
        help_text = action.help or ""
        repeatable = isinstance(action, argparse._AppendAction) and "repeatable" not in help_text
        repeat = " (repeatable)" if repeatable else ""
        required = " (required)" if action.required and action.option_strings else ""
        rows.append(f"| {name} | {_cell(f'`{value}`') if value else ''} | {_cell(help_text + repeat + required)} |")
    if not rows:
        return []
    return ["| option | value | description |", "|---|---|---|", *rows]


def _section(path: str, help_text: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = ["", f"{'#' * level} `{path}`", ""]
    if help_text:
        lines += [help_text[0].upper() + help_text[1:] + ".", ""]
    lines += _options_table(parser)
    for name, (sub_help, sub) in _subcommands(parser).items():
        lines += _section(f"{path} {name}", sub_help, sub, min(level + 1, 4))
    return lines


def render_cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Return the Markdown reference of every ``neurosym`` subcommand and option."""
    if parser is None:
        from neurosym.cli import build_parser

        parser = build_parser()
    lines = [HEADER.rstrip("\n"), "", "## Commands", ""]
    commands = _subcommands(parser)
    lines += [f"- [`neurosym {name}`](#neurosym-{name}): {help_text}" for name, (help_text, _) in commands.items()]
    lines += ["", "## Global options", "", *_options_table(parser)]
    for name, (help_text, sub) in commands.items():
        lines += _section(f"neurosym {name}", help_text, sub, 2)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurosym.docgen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"file to write (default {DEFAULT_PATH})")
    parser.add_argument("--check", action="store_true", help="exit with status 1 if the file differs, write nothing")
    args = parser.parse_args(argv)
    text = render_cli_reference()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date; run python -m neurosym.docgen", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

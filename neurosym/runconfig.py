"""Run configuration files for ``neurosym train --config run.json``.

A run file is a JSON object whose keys are the long option names of ``neurosym train``
(``batch-size`` or ``batch_size``; the repeatable options also under their plural
names ``tasks``, ``features`` and ``knobs``). It expands into command-line tokens
placed before the ones typed, so a flag on the command line overrides the file. A
repeatable option given on the command line replaces the file's list instead of
adding to it. Unknown keys raise :class:`ConfigError` naming them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurosym.errors import ConfigError

CONFIG_FLAG = "--config"

# Names a run file may use for repeatable options besides their option names.
_ALIASES = {"tasks": "task", "features": "feature", "knobs": "set"}


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Return the parser of subcommand ``command``."""
    for action in parser._actions:  # argparse keeps subparsers only in this private list
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    raise KeyError(command)


def expand_config(argv: Sequence[str], parser: argparse.ArgumentParser, command: str = "train") -> list[str]:
    """Replace ``--config FILE`` after ``command`` in ``argv`` with the file's options as tokens."""
    argv = list(argv)
    position = next((i for i, token in enumerate(argv) if not token.startswith("-")), None)
    if position is None or argv[position] != command:
        return argv
    head, rest = argv[: position + 1], argv[position + 1 :]
    paths: list[str] = []
    kept: list[str] = []
    tokens = iter(rest)
    for token in tokens:
        if token == CONFIG_FLAG:
            value = next(tokens, None)
            if value is None:
                raise ConfigError(f"{CONFIG_FLAG} needs a file name, e.g. {CONFIG_FLAG} run.json")
            paths.append(value)
        elif token.startswith(CONFIG_FLAG + "="):
            paths.append(token.split("=", 1)[1])
        else:
            kept.append(token)
    if not paths:
        return argv
    if len(paths) > 1:
        raise ConfigError(f"{CONFIG_FLAG} was given {len(paths)} times; pass one run file")
    options = load_config_file(paths[0])
    return head + config_tokens(options, subparser(parser, command), paths[0], typed=kept) + kept


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a run file: a JSON object of option names and values."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"run file {path} not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"run file {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"run file {path} must hold a JSON object of option names, got {type(data).__name__}")
    return data


def _options_by_key(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Map every long option name (without dashes) of ``parser`` to its action."""
    actions = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", CONFIG_FLAG):
                actions[option[2:]] = action
    return actions


def config_keys(parser: argparse.ArgumentParser) -> list[str]:
    """Return the keys a run file for ``parser`` may use."""
    return sorted(_options_by_key(parser))


def config_tokens(
    options: dict[str, Any], parser: argparse.ArgumentParser, source: str = "run file", typed: Sequence[str] = ()
) -> list[str]:
    """Turn run-file ``options`` into command-line tokens for ``parser``.

    Repeatable options whose flag appears in ``typed`` (the tokens on the command line)
    are left out, so the command line replaces their list.
    """
    actions = _options_by_key(parser)
    resolved = {}
    unknown = []
    for key, value in options.items():
        name = _ALIASES.get(key.replace("_", "-"), key.replace("_", "-"))
        if name not in actions:
            unknown.append(key)
        else:
            resolved[name] = value
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)} in {source}; valid keys: {', '.join(config_keys(parser))}"
        )
    typed_flags = {token.split("=", 1)[0] for token in typed if token.startswith("--")}
    tokens: list[str] = []
    for name, value in resolved.items():
        flag = f"--{name}"
        action = actions[name]
        if isinstance(action, argparse._AppendAction):
            if flag not in typed_flags:
                tokens += [token for item in _list_items(name, value, source) for token in (flag, item)]
        elif isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"key {name!r} in {source} must be true or false, got {value!r}")
            tokens += [flag] if value else []
        elif value is not None:
            if isinstance(value, (dict, list, bool)):
                raise ConfigError(f"key {name!r} in {source} must be a number or a string, got {value!r}")
            tokens += [flag, str(value)]
    return tokens


def _list_items(name: str, value: Any, source: str) -> list[str]:
    """Render a repeatable option's value: a list of strings, or an object of NAME: VALUE pairs."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    if isinstance(value, dict):
        return [f"{key}={_scalar_text(item)}" for key, item in value.items()]
    raise ConfigError(
        f"key {name!r} in {source} must be a string, a list of strings or an object, got {value!r}"
    )


def _scalar_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def args_to_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Return the run-file form of parsed ``args``, which ``--config`` reads back to the same run."""
    config: dict[str, Any] = {}
    for name, action in _options_by_key(parser).items():
        value = getattr(args, action.dest, None)
        if value is None or value == [] or value is False:
            continue
        if isinstance(action, argparse._AppendAction) and value and isinstance(value[0], tuple):
            value = {key: item for key, item in value}
        config[name] = value
    return config

"""The program language: S-expression text to a typed AST and back.

Grammar (ASCII outside string literals; tokens are separated by whitespace or
parentheses)::

    program   := expr
    expr      := atom | call
    call      := "(" OPERATION expr* ")"
    atom      := INTEGER | RATIONAL | SYMBOL | STRING | REFERENCE
    INTEGER   := -?[0-9]+                      e.g. 42, -12, any number of digits
    RATIONAL  := -?[0-9]+/[0-9]+               e.g. 3/4, -6/8 (stored reduced: -3/4)
    SYMBOL    := [A-Za-z_][A-Za-z0-9_-]*       e.g. x, alice, father-in-law
               | one or more of + - * / ^ % = < > !   e.g. +, <=, !=
    STRING    := "..." with \\" and \\\\ as the only escapes
    REFERENCE := $[A-Za-z_][A-Za-z0-9_]*       e.g. $a, $n1; bound by execute(bindings=...)

``OPERATION`` is a symbol that names an entry of ``OPERATIONS`` (see
``neurosym.symbolic.operations``). A rational whose denominator divides its
numerator is an integer (``4/2`` parses to ``2``), so every number has one node type.

:func:`parse` is iterative, so input of any nesting depth fails with
:class:`LimitExceededError` at the first level past ``Limits.max_depth`` instead of
exhausting the Python stack. :func:`to_text` prints the canonical form (single
spaces, reduced rationals, no sign on positive numbers), and
``parse(to_text(node)) == node`` holds for every valid node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from neurosym.symbolic.errors import LimitExceededError, ProgramSyntaxError, ProgramValidationError
from neurosym.symbolic.limits import Limits
from neurosym.symbolic.operations import OPERATIONS, check_arity, lookup_operation


@dataclass(frozen=True, slots=True)
class Number:
    """An exact number: an ``int``, or a reduced ``Fraction`` whose denominator is not 1."""

    value: int | Fraction
    offset: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Symbol:
    """An identifier: an entity name, a relation name or an algebraic variable."""

    name: str
    offset: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class String:
    """A double-quoted string literal."""

    value: str
    offset: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Reference:
    """A ``$name`` placeholder whose value comes from the ``bindings`` given to execute."""

    name: str
    offset: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """An operation applied to argument nodes."""

    op: str
    args: tuple[Node, ...]
    offset: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return to_text(self)


Node = Number | Symbol | String | Reference | Call

_SYMBOL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*|[-+*/^%=<>!]+", re.ASCII)
_REFERENCE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_ATOM_END = r"(?=[\s()]|\Z)"
_TOKEN_RE = re.compile(
    r"\s*(?:"
    r"(?P<open>\()"
    r"|(?P<close>\))"
    rf"|(?P<number>-?[0-9]+(?:/[0-9]+)?){_ATOM_END}"
    rf"|(?P<reference>\$[A-Za-z_][A-Za-z0-9_]*){_ATOM_END}"
    rf'|(?P<string>"(?:[^"\\]|\\["\\])*"){_ATOM_END}'
    rf"|(?P<symbol>[A-Za-z_][A-Za-z0-9_\-]*|[-+*/^%=<>!]+){_ATOM_END}"
    r"|(?P<invalid>[^\s()]+)"
    r")",
    re.ASCII,
)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_DEFAULT_LIMITS = Limits()


def decode_program(program: str | bytes) -> str:
    """Return program text, decoding ``bytes`` as strict UTF-8."""
    if isinstance(program, str):
        return program
    if isinstance(program, (bytes, bytearray, memoryview)):
        try:
            return bytes(program).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProgramSyntaxError(
                f"program bytes are not valid UTF-8: byte {bytes(program)[error.start]:#04x} "
                f"at offset {error.start}; send UTF-8 text",
                error.start,
            ) from None
    raise ProgramSyntaxError(
        f"program must be str or bytes, got {type(program).__name__}; pass the program text"
    )


def parse(program: str | bytes, limits: Limits = _DEFAULT_LIMITS) -> Node:
    """Parse program text into an AST and validate operation names and arities.

    Raises:
        ProgramSyntaxError: the text is not UTF-8 or not the grammar; names the offset.
        ProgramValidationError: unknown operation or wrong number of arguments.
        LimitExceededError: too many characters, nodes, nesting levels or digits.
    """
    text = decode_program(program)
    if len(text) > limits.max_program_chars:
        raise LimitExceededError(
            f"program has {len(text)} characters, more than Limits.max_program_chars="
            f"{limits.max_program_chars}; shorten it or raise the limit",
            "max_program_chars",
            limits.max_program_chars,
            len(text),
        )
    max_depth = limits.max_depth
    max_nodes = limits.max_nodes
    max_digits = limits.max_integer_digits
    # Each open call is a frame [op, offset, args]; op is None until its name is read.
    stack: list[list] = []
    root: Node | None = None
    node_count = 0
    expect_op = False
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        if kind is None:  # trailing whitespace
            continue
        offset = match.start(kind)
        token = match.group(kind)
        if expect_op:
            if kind != "symbol":
                raise _syntax_error_after_open(kind, token, offset)
            lookup_operation(token, offset)
            stack[-1][0] = token
            expect_op = False
            continue
        if kind == "open":
            if len(stack) >= max_depth:
                raise LimitExceededError(
                    f"nesting depth exceeds Limits.max_depth={max_depth} at offset {offset}; "
                    "flatten the program or raise the limit",
                    "max_depth",
                    max_depth,
                    len(stack) + 1,
                    offset,
                )
            stack.append([None, offset, []])
            expect_op = True
            continue
        if kind == "close":
            if not stack:
                raise ProgramSyntaxError(
                    f"unbalanced parentheses: ')' at offset {offset} closes nothing; "
                    "remove it or add the matching '('",
                    offset,
                )
            op, start, args = stack.pop()
            check_arity(op, len(args), start)
            node: Node = Call(op, tuple(args), start)
        elif kind == "number":
            node = Number(_parse_number(token, offset, max_digits), offset)
        elif kind == "symbol":
            node = Symbol(token, offset)
        elif kind == "reference":
            node = Reference(token[1:], offset)
        elif kind == "string":
            node = String(_ESCAPE_RE.sub(r"\1", token[1:-1]), offset)
        else:
            raise _invalid_token_error(token, offset)
        node_count += 1
        if node_count > max_nodes:
            raise LimitExceededError(
                f"program has more than Limits.max_nodes={max_nodes} nodes (offset {offset}); "
                "shorten it or raise the limit",
                "max_nodes",
                max_nodes,
                node_count,
                offset,
            )
        if stack:
            stack[-1][2].append(node)
        elif root is None:
            root = node
        else:
            raise ProgramSyntaxError(
                f"extra expression at offset {node.offset} after the end of the program; "
                "a program is exactly one expression, so wrap several in one call",
                node.offset,
            )
    if expect_op:
        raise ProgramSyntaxError(
            f"unbalanced parentheses: '(' at offset {stack[-1][1]} has no operation name "
            "and is never closed",
            stack[-1][1],
        )
    if stack:
        raise ProgramSyntaxError(
            f"unbalanced parentheses: {len(stack)} '(' not closed; the innermost opens at "
            f"offset {stack[-1][1]} ({stack[-1][0]}); add the missing ')'",
            stack[-1][1],
        )
    if root is None:
        raise ProgramSyntaxError("program is empty; write one expression such as (add 1 2)", 0)
    return root


def _parse_number(token: str, offset: int, max_digits: int) -> int | Fraction:
    numerator, _, denominator = token.partition("/")
    digits = max(len(numerator.lstrip("-")), len(denominator))
    if digits > max_digits:
        raise LimitExceededError(
            f"number at offset {offset} has {digits} digits, more than "
            f"Limits.max_integer_digits={max_digits}",
            "max_integer_digits",
            max_digits,
            digits,
            offset,
        )
    if not denominator:
        return int(numerator)
    if int(denominator) == 0:
        raise ProgramSyntaxError(
            f"rational {token!r} at offset {offset} has a zero denominator", offset
        )
    value = Fraction(int(numerator), int(denominator))
    return value.numerator if value.denominator == 1 else value


def _syntax_error_after_open(kind: str, token: str, offset: int) -> ProgramSyntaxError:
    if kind == "close":
        return ProgramSyntaxError(
            f"empty call '()' at offset {offset - 1}; a call starts with an operation name",
            offset,
        )
    if kind == "invalid":
        return _invalid_token_error(token, offset)
    return ProgramSyntaxError(
        f"expected an operation name after '(' but found {token!r} at offset {offset}; "
        "write (OPERATION ARGUMENT ...)",
        offset,
    )


def _invalid_token_error(token: str, offset: int) -> ProgramSyntaxError:
    preview = token if len(token) <= 40 else token[:37] + "..."
    return ProgramSyntaxError(
        f"invalid token {preview!r} at offset {offset}; expected '(', ')', a number such as "
        '-12 or 3/4, a symbol, a "string" or a $reference',
        offset,
    )


def to_text(node: Node) -> str:
    """Print a node in canonical program text; iterative, so any depth prints."""
    parts: list[str] = []
    pending: list[Node | str] = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        item_type = type(item)
        if item_type is Call:
            parts.append("(" + item.op)
            pending.append(")")
            for arg in reversed(item.args):
                pending.append(arg)
                pending.append(" ")
        elif item_type is Number:
            value = item.value
            if type(value) is int:
                parts.append(str(value))
            else:
                parts.append(f"{value.numerator}/{value.denominator}")
        elif item_type is Symbol:
            parts.append(item.name)
        elif item_type is Reference:
            parts.append("$" + item.name)
        elif item_type is String:
            parts.append('"' + item.value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            raise ProgramValidationError(
                f"cannot print {item!r}: expected a Number, Symbol, String, Reference or Call"
            )
    return "".join(parts)


@dataclass(frozen=True)
class ProgramStats:
    """Size of a validated AST."""

    nodes: int
    depth: int


def validate(node: Node, limits: Limits = _DEFAULT_LIMITS) -> ProgramStats:
    """Check an AST built in Python against the grammar, the registry and the limits.

    :func:`parse` already applies these checks to text; call this on hand-built nodes.
    The walk is iterative and stops at the first level past ``limits.max_depth``.
    """
    nodes = 0
    deepest = 0
    pending: list[tuple[Node, int]] = [(node, 0)]
    while pending:
        item, depth = pending.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise LimitExceededError(
                f"program has more than Limits.max_nodes={limits.max_nodes} nodes",
                "max_nodes",
                limits.max_nodes,
                nodes,
            )
        item_type = type(item)
        offset = getattr(item, "offset", -1)
        if item_type is Call:
            depth += 1
            if depth > limits.max_depth:
                raise LimitExceededError(
                    f"nesting depth exceeds Limits.max_depth={limits.max_depth}",
                    "max_depth",
                    limits.max_depth,
                    depth,
                )
            deepest = max(deepest, depth)
            if not isinstance(item.args, tuple):
                raise ProgramValidationError(
                    f"Call {item.op!r} has args of type {type(item.args).__name__}; use a tuple"
                )
            if not isinstance(item.op, str):
                raise ProgramValidationError(f"Call op must be a str, got {item.op!r}")
            lookup_operation(item.op, offset)
            check_arity(item.op, len(item.args), offset)
            pending.extend((arg, depth) for arg in item.args)
        elif item_type is Number:
            _validate_number(item.value, limits)
        elif item_type is Symbol:
            if not isinstance(item.name, str) or _SYMBOL_RE.fullmatch(item.name) is None:
                raise ProgramValidationError(
                    f"invalid symbol name {item.name!r}; a symbol matches "
                    f"{_SYMBOL_RE.pattern}"
                )
        elif item_type is Reference:
            if not isinstance(item.name, str) or _REFERENCE_NAME_RE.fullmatch(item.name) is None:
                raise ProgramValidationError(
                    f"invalid reference name {item.name!r}; write the name without '$', "
                    "as letters, digits and underscores"
                )
        elif item_type is String:
            if not isinstance(item.value, str):
                raise ProgramValidationError(f"String value must be a str, got {item.value!r}")
        else:
            raise ProgramValidationError(
                f"invalid AST node {item!r}; expected a Number, Symbol, String, Reference or Call"
            )
    return ProgramStats(nodes=nodes, depth=deepest)


def _validate_number(value: object, limits: Limits) -> None:
    if type(value) is int:
        parts = (value,)
    elif type(value) is Fraction and value.denominator != 1:
        parts = (value.numerator, value.denominator)
    else:
        raise ProgramValidationError(
            f"invalid Number value {value!r}; use an int or a Fraction whose denominator "
            "is not 1"
        )
    bound = limits.integer_bound
    for part in parts:
        if abs(part) >= bound:
            raise LimitExceededError(
                f"number {value} has more than Limits.max_integer_digits="
                f"{limits.max_integer_digits} digits",
                "max_integer_digits",
                limits.max_integer_digits,
                _estimate_digits(part),
            )


def _estimate_digits(value: int) -> int:
    # Exact digit counts need str(), which Python refuses past 4300 digits.
    return int(abs(value).bit_length() * 0.30103) + 1


__all__ = [
    "OPERATIONS",
    "Call",
    "Node",
    "Number",
    "ProgramStats",
    "Reference",
    "String",
    "Symbol",
    "decode_program",
    "parse",
    "to_text",
    "validate",
]

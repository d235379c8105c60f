"""Helpers that write gold programs stating a story's facts with ``with-facts``.

``facts_program([Fact("Alice", "father", "Bob", 0)], "(relation Alice Bob)")`` is
``(with-facts (fact Alice father Bob) (relation Alice Bob))``. Facts are written in
the order given, without their times, because the executor only needs their order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from neurosym.tasks.example import Fact

_SYMBOL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*", re.ASCII)


def atom(name: str) -> str:
    """Write ``name`` as a program symbol, or as a quoted string when it is not a valid symbol."""
    if _SYMBOL_RE.fullmatch(name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def facts_program(facts: Iterable[Fact], body: str) -> str:
    """Write ``(with-facts (fact S R O) ... BODY)`` for ``facts`` and the query ``body``."""
    stated = " ".join(f"(fact {atom(f.subject)} {atom(f.relation)} {atom(f.object)})" for f in facts)
    return f"(with-facts {stated} {body})"

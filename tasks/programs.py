"""Helpers that write gold programs stating a story's facts with ``with-facts``.

``facts_program([Fact("Alice", "father", "Bob", 0)], "(relation Alice Bob)")`` is
``(with-facts (fact Alice father Bob) (relation Alice Bob))``. Facts are written in
the order given, without their times unless asked, because most queries only need
their order.
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


def fact_form(fact: Fact, with_time: bool = False) -> str:
    """Write one fact as ``(fact S R O)``, or ``(fact S R O TIME)`` with ``with_time``."""
    time = f" {fact.time}" if with_time else ""
    obj = str(fact.object) if isinstance(fact.object, int) else atom(fact.object)
    return f"(fact {atom(fact.subject)} {atom(fact.relation)} {obj}{time})"


def facts_program(facts: Iterable[Fact], body: str, with_times: bool = False) -> str:
    """Write ``(with-facts (fact S R O) ... BODY)`` for ``facts`` and the query ``body``.

    With ``with_times`` each fact keeps its time, for queries such as ``at`` that
    compare times; without, the executor times facts by their order.
    """
    stated = " ".join(fact_form(fact, with_times) for fact in facts)
    return f"(with-facts {stated} {body})"

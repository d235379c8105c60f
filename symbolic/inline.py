"""Facts stated inside a program: ``(fact S R O [TIME])`` and ``(with-facts FACT ... BODY)``.

A model that reads a story can write the story's facts and the question as one
program, so nothing outside the program text is needed to run it::

    (with-facts (fact alice father bob) (fact bob mother carol) (relation alice carol))

``with-facts`` builds a fresh :class:`KnowledgeGraph` from its facts, with CLUTRR's
kinship composition rules (``kinship.CLUTRR_COMPOSITION``), and evaluates its last
argument, BODY, against that graph. Inside BODY the graph and memory given to
``execute`` are hidden, so graph and fact queries (``relation``, ``path``, ``latest``,
comparatives, ...) see the stated facts only. A ``fact`` without TIME gets its
position among the facts (0, 1, ...) as its time. At most ``Limits.max_facts`` facts.
"""

from __future__ import annotations

from typing import NamedTuple

from neurosym.symbolic import kinship
from neurosym.symbolic.arithmetic import require_str, wrong_type
from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import GraphError, LimitExceededError, ProgramValidationError
from neurosym.symbolic.graph import KnowledgeGraph


class StatedFact(NamedTuple):
    """The value of a ``fact`` call; ``time`` is None when the program gave none."""

    subject: str
    relation: str
    object: str | int
    time: int | None


def fact(run: RunContext, args: list) -> StatedFact:
    subject = require_str("fact", args, 0)
    relation = require_str("fact", args, 1)
    value = args[2]
    if type(value) is not str and type(value) is not int:
        raise wrong_type("fact", 2, "a symbol, string or integer", value)
    time = None
    if len(args) == 4:
        time = args[3]
        if type(time) is not int:
            raise wrong_type("fact", 3, "an integer time", time)
    return StatedFact(subject, relation, value, time)


def with_facts(run: RunContext, args: list) -> object:
    # The executor passes the last argument unevaluated (Operation.defers_last).
    *stated, body = args
    maximum = run.limits.max_facts
    if len(stated) > maximum:
        raise LimitExceededError(
            f"with-facts states {len(stated)} facts, more than Limits.max_facts={maximum}; "
            "state fewer facts or raise the limit",
            "max_facts",
            maximum,
            len(stated),
        )
    graph = KnowledgeGraph(rules=kinship.CLUTRR_COMPOSITION)
    for index, item in enumerate(stated):
        if type(item) is not StatedFact:
            raise wrong_type("with-facts", index, "a (fact SUBJECT RELATION OBJECT) call", item)
        time = index if item.time is None else item.time
        try:
            graph.add_fact(item.subject, item.relation, item.object, time)
        except GraphError as error:
            raise ProgramValidationError(
                f"with-facts: fact {index + 1} ({item.subject} {item.relation} {item.object}) "
                f"is invalid: {error}"
            ) from None

    from neurosym.symbolic.executor import evaluate_node
    from neurosym.symbolic.operations import VALUE

    saved = run.graph, run.memory
    run.graph, run.memory = graph, None
    try:
        return evaluate_node(body, VALUE, run)
    finally:
        run.graph, run.memory = saved

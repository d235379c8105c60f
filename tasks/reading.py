"""Reading a story one sentence at a time: the program-mode layout for stories of facts.

A gold program ``(with-facts FACT ... QUERY)`` grows with the story, so a model
trained to write it whole for four-sentence stories stops after about four facts on a
ten-sentence one. Reading by sentence removes that limit. The model writes the facts
of one sentence at a time, seeing the sentence before it for pronouns such as "His
name is Michael.". Then it writes the query for the question, and the program is
assembled from those pieces. Nothing the model writes grows with the story.

An example reads by sentence when its program is ``(with-facts ... QUERY)``, its
sentences have distinct times and each of its facts carries the time of a sentence.
:func:`reading_items` turns it into one item per sentence plus one for the
question, each an :class:`Example` whose ``program`` is what the model should write:

- a sentence item reads ``<bos> previous sentence <q> sentence <prog>`` and writes
  the sentence's facts without times, ``(fact Mary location kitchen)``, or nothing;
- the question item reads ``<bos> <q> question <prog>`` and writes the query.

:func:`assemble_program` puts the written pieces back together, giving each fact the
time of its sentence::

    >>> assemble_program(["(fact Mary location kitchen)", ""], [1, 3], "(latest location Mary)")
    '(with-facts (fact Mary location kitchen 1) (latest location Mary))'

Names are read by reference, like numbers: each entity of ``example.entities`` that
the story or question names becomes a reference such as ``$e7`` in every text the
model reads and in every program it writes, and the executor binds ``$e7`` back to
the name (:func:`entity_references`). A name the tokenizer never saw in training
would otherwise be ``<unk>`` and could not be copied into a fact. The reference
numbers are drawn from ``1..MAX_REFERENCES`` per example (seeded by the example's
text), so every reference token occurs in training even when a test story names
more people than any training story. Genders listed in ``meta["genders"]`` (CLUTRR
gives them) are stated by :func:`stated_genders`, since a masked name no longer
shows its gender.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence

from neurosym.symbolic import (
    Call,
    Node,
    Number,
    ProgramSyntaxError,
    ProgramValidationError,
    Reference,
    Symbol,
    parse,
    to_text,
)
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import atom

SENTENCE_ITEM = "sentence"
QUESTION_ITEM = "question"
MAX_REFERENCES = 32  # entity references $e1 .. $e32; more entities keep their names
GENDERS = ("male", "female")


def entity_references(example: Example) -> dict[str, str]:
    """Map each entity the story or question names to a reference name (``e1`` ... ``e32``).

    The numbers are a random draw without repetition, seeded by the example's text,
    so the same example always gets the same references.
    """
    text = " ".join([*(sentence.text for sentence in example.context), example.question])
    named = [name for name in example.entities if name and _mention(name).search(text)]
    named = list(dict.fromkeys(named))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    numbers = random.Random(int.from_bytes(digest[:8], "big")).sample(range(1, MAX_REFERENCES + 1),
                                                                      min(len(named), MAX_REFERENCES))
    return {name: f"e{number}" for name, number in zip(named, numbers, strict=False)}


def _mention(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w$]){re.escape(name)}(?!\w)")


def mask_entities(text: str, references: Mapping[str, str]) -> str:
    """Write each named entity of ``text`` as its reference, ``$e7``; longer names first."""
    for name in sorted(references, key=len, reverse=True):
        text = _mention(name).sub(f"${references[name]}", text)
    return text


def _refer(node: Node, references: Mapping[str, str]) -> Node:
    """Replace entity symbols in a program by their references."""
    if isinstance(node, Symbol) and node.name in references:
        return Reference(references[node.name])
    if isinstance(node, Call):
        return Call(node.op, tuple(_refer(arg, references) for arg in node.args))
    return node


def _fact_piece(fact: Fact, references: Mapping[str, str]) -> str:
    def name(value: str | int) -> str:
        if isinstance(value, str) and value in references:
            return f"${references[value]}"
        return str(value) if isinstance(value, int) else atom(value)

    return f"(fact {name(fact.subject)} {atom(fact.relation)} {name(fact.object)})"


def stated_genders(example: Example, references: Mapping[str, str]) -> list[str]:
    """Return ``(fact $e7 gender female)`` for each entity whose gender ``meta["genders"]`` lists."""
    genders = example.meta.get("genders") or {}
    pieces = []
    for name, gender in genders.items():
        if gender in GENDERS and name in references:
            pieces.append(f"(fact ${references[name]} gender {gender})")
    return pieces


def query_of(program: str | None) -> str | None:
    """Return QUERY of a ``(with-facts ... QUERY)`` program in canonical text, else None."""
    if not program or not program.startswith("(with-facts"):
        return None
    try:
        node = parse(program)
    except (ProgramSyntaxError, ProgramValidationError):
        return None
    if not isinstance(node, Call) or node.op != "with-facts":
        return None
    return to_text(node.args[-1])


def sentence_facts(example: Example) -> list[list[Fact]] | None:
    """Group the example's facts by the sentence whose time they carry; None if they do not map."""
    times = [sentence.time for sentence in example.context]
    if not times or len(set(times)) != len(times):
        return None
    position = {time: index for index, time in enumerate(times)}
    grouped: list[list[Fact]] = [[] for _ in times]
    for fact in example.facts:
        index = position.get(fact.time)
        if index is None:
            return None
        grouped[index].append(fact)
    return grouped


def can_read_by_sentence(example: Example) -> bool:
    """True when the example's gold program and facts give reading items (see the module docs)."""
    return bool(example.facts) and query_of(example.program) is not None and sentence_facts(example) is not None


def sentence_prompt(example: Example, index: int, references: Mapping[str, str] | None = None) -> Example:
    """Return the prompt item for the facts of sentence ``index`` (no program), with names masked."""
    references = references or {}
    previous = example.context[index - 1 : index] if index > 0 else []
    return Example(
        context=[Sentence(mask_entities(sentence.text, references), sentence.time) for sentence in previous],
        question=mask_entities(example.context[index].text, references),
        answer="",
        meta={**example.meta, "reading": SENTENCE_ITEM},
    )


def question_prompt(example: Example, references: Mapping[str, str] | None = None) -> Example:
    """Return the prompt item for the query of the question (no program), with names masked."""
    return Example(context=[], question=mask_entities(example.question, references or {}), answer=example.answer,
                   meta={**example.meta, "reading": QUESTION_ITEM})


def reading_items(example: Example) -> list[Example]:
    """Return the sentence items and the question item of an example that reads by sentence.

    Raises:
        ValueError: the example does not read by sentence (see :func:`can_read_by_sentence`).
    """
    grouped = sentence_facts(example)
    query = query_of(example.program)
    if not example.facts or grouped is None or query is None:
        raise ValueError(
            "example does not read by sentence: it needs a (with-facts ... QUERY) program and "
            "facts that each carry the time of one sentence"
        )
    references = entity_references(example)
    items = []
    for index, facts in enumerate(grouped):
        item = sentence_prompt(example, index, references)
        item.program = " ".join(_fact_piece(fact, references) for fact in facts if fact.relation != "gender")
        items.append(item)
    item = question_prompt(example, references)
    item.program = to_text(_refer(parse(query), references))
    items.append(item)
    return items


def assemble_program(
    sentence_programs: Sequence[str], times: Sequence[int], query: str, extra_facts: Sequence[str] = ()
) -> str:
    """Join the facts written per sentence and the query into one ``with-facts`` program.

    Each piece must be zero or more ``(fact S R O)`` calls; the fact gets its
    sentence's time. ``extra_facts`` (such as :func:`stated_genders`) go after them.
    A malformed piece raises the executor's ProgramSyntaxError or
    ProgramValidationError, so the caller treats it like any program that fails.
    """
    if len(sentence_programs) != len(times):
        raise ValueError(f"{len(sentence_programs)} sentence programs for {len(times)} sentence times")
    stated: list[str] = []
    for index, (text, time) in enumerate(zip(sentence_programs, times, strict=True)):
        if not text.strip():
            continue
        node = parse(f"(list {text})")
        for call in node.args:
            if not isinstance(call, Call) or call.op != "fact" or len(call.args) != 3:
                raise ProgramValidationError(
                    f"sentence {index + 1}: expected (fact SUBJECT RELATION OBJECT) calls, got {to_text(call)}"
                )
            stated.append(to_text(Call(call.op, (*call.args, Number(time)))))
    if not stated:
        raise ProgramValidationError("no facts were written for any sentence; with-facts needs at least one")
    return f"(with-facts {' '.join([*stated, *extra_facts])} {query})"

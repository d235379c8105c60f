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

Names are read by reference, like numbers: the entities of ``example.entities`` that
an item's text names become ``$e1``, ``$e2``, ... in order of first mention (the
sentence's own names before those of the sentence before it), in the
text the model reads and in the facts it writes (:func:`item_references`). The
assembler writes the names back. So the model copies "the second name of the
sentence" instead of a name that the tokenizer may never have seen (it would be
``<unk>``), and the references it needs are the same few in every story. Genders
listed in ``meta["genders"]`` (CLUTRR gives them) are stated by
:func:`stated_genders`, since a masked name no longer shows its gender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from neurosym.symbolic import (
    Call,
    Node,
    Number,
    ProgramError,
    ProgramSyntaxError,
    ProgramValidationError,
    Reference,
    Symbol,
    SymbolicError,
    execute,
    parse,
    to_text,
)
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import atom

SENTENCE_ITEM = "sentence"
QUESTION_ITEM = "question"
MAX_REFERENCES = 16  # references $e1 ... $e16 per item. Further entities keep their names.
GENDERS = ("male", "female")
_ENTITY_REFERENCE = re.compile(r"e[0-9]+")  # $n1, $n2 ... stay for the question's numbers


def item_references(texts: Sequence[str], entities: Sequence[str]) -> dict[str, str]:
    """Map the entities that ``texts`` name to ``e1``, ``e2``, ... in order of first mention.

    At most MAX_REFERENCES entities get a reference; any further ones keep their names.
    """
    text = " ".join(texts)
    first: dict[str, int] = {}
    for name in entities:
        match = _mention(name).search(text) if name else None
        if match is not None and name not in first:
            first[name] = match.start()
    ordered = sorted(first, key=lambda name: (first[name], -len(name)))[:MAX_REFERENCES]
    return {name: f"e{number}" for number, name in enumerate(ordered, start=1)}


def _mention(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w$]){re.escape(name)}(?!\w)")


def mask_entities(text: str, references: Mapping[str, str]) -> str:
    """Write each named entity of ``text`` as its reference, ``$e2``; longer names first."""
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


def _resolve(node: Node, names: Mapping[str, str], where: str) -> Node:
    """Replace entity references by the names they stand for; an unknown one is invalid."""
    if isinstance(node, Reference) and _ENTITY_REFERENCE.fullmatch(node.name):
        if node.name not in names:
            raise ProgramValidationError(
                f"{where}: ${node.name} names no entity of the text it was written for "
                f"(known: {', '.join('$' + ref for ref in names) or 'none'})"
            )
        return parse(atom(names[node.name]))
    if isinstance(node, Call):
        return Call(node.op, tuple(_resolve(arg, names, where) for arg in node.args))
    return node


def _fact_piece(fact: Fact, references: Mapping[str, str]) -> str:
    def name(value: str | int) -> str:
        if isinstance(value, str) and value in references:
            return f"${references[value]}"
        return str(value) if isinstance(value, int) else atom(value)

    return f"(fact {name(fact.subject)} {atom(fact.relation)} {name(fact.object)})"


def stated_genders(example: Example) -> list[str]:
    """Return ``(fact NAME gender female)`` for each entity whose gender ``meta["genders"]`` lists."""
    genders = example.meta.get("genders") or {}
    return [f"(fact {atom(name)} gender {gender})" for name, gender in genders.items() if gender in GENDERS]


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


def sentence_prompt(example: Example, index: int) -> Example:
    """Return the prompt item for the facts of sentence ``index`` (no program), with names masked.

    ``meta["references"]`` maps the names of the item's text to their references.
    """
    previous = example.context[index - 1 : index] if index > 0 else []
    # The sentence's own names come first, so its facts mostly read $e1, $e2 whatever came before.
    references = item_references([example.context[index].text, *(s.text for s in previous)], example.entities)
    return Example(
        context=[Sentence(mask_entities(sentence.text, references), sentence.time) for sentence in previous],
        question=mask_entities(example.context[index].text, references),
        answer="",
        meta={**example.meta, "reading": SENTENCE_ITEM, "references": references},
    )


def question_prompt(example: Example) -> Example:
    """Return the prompt item for the query of the question (no program), with names masked."""
    references = item_references([example.question], example.entities)
    return Example(context=[], question=mask_entities(example.question, references), answer=example.answer,
                   meta={**example.meta, "reading": QUESTION_ITEM, "references": references})


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
    items = []
    for index, facts in enumerate(grouped):
        item = sentence_prompt(example, index)
        item.program = " ".join(_fact_piece(fact, item.meta["references"]) for fact in facts)
        items.append(item)
    item = question_prompt(example)
    item.program = to_text(_refer(parse(query), item.meta["references"]))
    items.append(item)
    return items


def assemble_program(
    sentence_programs: Sequence[str],
    times: Sequence[int],
    query: str,
    extra_facts: Sequence[str] = (),
    references: Sequence[Mapping[str, str]] | None = None,
) -> str:
    """Join the facts written per sentence and the query into one ``with-facts`` program.

    Each piece must be zero or more ``(fact S R O)`` calls; the fact gets its
    sentence's time. ``extra_facts`` (such as :func:`stated_genders`) go after them.
    ``references`` contains each item's ``meta["references"]`` (the sentences', then the
    question's), and every ``$e2`` a piece wrote becomes the name it stands for there.
    A malformed piece or an unknown reference raises the executor's ProgramSyntaxError
    or ProgramValidationError, so the caller treats it like any program that fails.
    """
    if references is not None and len(references) != len(sentence_programs) + 1:
        raise ValueError(f"{len(references)} reference maps for {len(sentence_programs)} sentences and a query")
    names = [{ref: name for name, ref in mapping.items()} for mapping in references or []]
    if len(sentence_programs) != len(times):
        raise ValueError(f"{len(sentence_programs)} sentence programs for {len(times)} sentence times")
    stated: list[str] = []
    for index, (text, time) in enumerate(zip(sentence_programs, times, strict=True)):
        if not text.strip():
            continue
        node = parse(f"(list {text})")
        if names:
            node = _resolve(node, names[index], f"sentence {index + 1}")
        for call in node.args:
            if not isinstance(call, Call) or call.op != "fact" or len(call.args) != 3:
                raise ProgramValidationError(
                    f"sentence {index + 1}: expected (fact SUBJECT RELATION OBJECT) calls, got {to_text(call)}"
                )
            stated.append(to_text(Call(call.op, (*call.args, Number(time)))))
    if not stated:
        raise ProgramValidationError("no facts were written for any sentence; with-facts needs at least one")
    if names:
        query = to_text(_resolve(parse(query), names[-1], "query"))
    return f"(with-facts {' '.join([*stated, *extra_facts])} {query})"


def _runs(program: str, bindings: Mapping[str, object] | None = None) -> bool:
    """Return True when the executor runs ``program`` and formats its value without an error."""
    try:
        execute(program, bindings=bindings, record_trace=False).answer  # noqa: B018 - formatting may fail too
    except (ProgramError, SymbolicError):
        return False
    return True


def facts_consistent(
    sentence_programs: Sequence[str],
    times: Sequence[int],
    extra_facts: Sequence[str] = (),
    references: Sequence[Mapping[str, str]] | None = None,
) -> bool:
    """True when the facts written so far parse and load into one graph with ``extra_facts``.

    The executor's graph rejects a fact whose relation implies a gender that
    contradicts a stated one (``(fact A sister B)`` with B stated male), so this is
    the check that a reading agrees with what the dataset states. ``references``
    holds the reference maps of the sentences only (no query). Sentences with no
    facts yet are trivially consistent.
    """
    if not any(text.strip() for text in sentence_programs):
        return True
    try:
        program = assemble_program(sentence_programs, times, "0", extra_facts,
                                   None if references is None else [*references, {}])
    except (ProgramError, SymbolicError):
        return False
    return _runs(program)


class Reading(NamedTuple):
    """The pieces :func:`choose_reading` picked and the rank of each among its candidates."""

    sentences: list[str]
    query: str
    ranks: list[int]  # per sentence, then the query; 0 is the most probable candidate
    runs: bool  # the assembled program ran


def choose_reading(
    sentence_candidates: Sequence[Sequence[str]],
    query_candidates: Sequence[str],
    times: Sequence[int],
    extra_facts: Sequence[str] = (),
    references: Sequence[Mapping[str, str]] | None = None,
    max_repairs: int = 64,
    bindings: Mapping[str, object] | None = None,
) -> Reading:
    """Pick one candidate per sentence and a query.

    Each list of candidates is ordered best first (by the model's log-probability).
    Sentence by sentence, the first candidate whose facts are consistent with the
    facts already chosen and ``extra_facts`` (:func:`facts_consistent`) is taken, or
    the first candidate when none is. Then the first query candidate whose assembled
    program runs is taken. If none runs, the choice of one sentence at a time is
    changed to another of its candidates, higher ranks first, and the first program
    that runs wins. At most ``max_repairs`` such programs are tried. Failing all that, the first consistent choices are
    returned with ``runs`` False. ``bindings`` are the question's numbers
    (``$n1``, ...) that a query may use.
    """
    if len(sentence_candidates) != len(times):
        raise ValueError(f"{len(sentence_candidates)} candidate lists for {len(times)} sentence times")
    if not query_candidates or any(not options for options in sentence_candidates):
        raise ValueError("every sentence and the query need at least one candidate")
    sentence_refs = list(references[:-1]) if references is not None else None
    chosen: list[str] = []
    for index, options in enumerate(sentence_candidates):
        refs = sentence_refs[: index + 1] if sentence_refs is not None else None
        pick = next((text for text in options
                     if facts_consistent([*chosen, text], times[: index + 1], extra_facts, refs)), options[0])
        chosen.append(pick)

    def runnable(programs: list[str], query: str) -> bool:
        try:
            program = assemble_program(programs, times, query, extra_facts, references)
        except (ProgramError, SymbolicError):
            return False
        return _runs(program, bindings)

    def reading(programs: list[str], query_rank: int, runs: bool) -> Reading:
        ranks = [list(options).index(text) for options, text in zip(sentence_candidates, programs, strict=True)]
        return Reading(programs, query_candidates[query_rank], [*ranks, query_rank], runs)

    for rank, query in enumerate(query_candidates):
        if runnable(chosen, query):
            return reading(chosen, rank, True)
    tries = 0
    depth = max(len(options) for options in sentence_candidates)
    for rank in range(depth):
        for index, options in enumerate(sentence_candidates):
            if rank >= len(options) or options[rank] == chosen[index]:
                continue
            tries += 1
            if tries > max_repairs:
                return reading(chosen, 0, False)
            changed = [*chosen[:index], options[rank], *chosen[index + 1 :]]
            if runnable(changed, query_candidates[0]):
                return reading(changed, 0, True)
    return reading(chosen, 0, False)

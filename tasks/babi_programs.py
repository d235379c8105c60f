"""Gold programs for the bAbI tasks: each sentence's facts and each question's query.

bAbI ships stories, questions and answers, but no programs. This module writes
them with one pattern per sentence form of the 20 tasks' generators, so program mode
can be trained on bAbI like on the generated tasks. At test time the model reads
the text itself, so these patterns only make its training targets. A sentence or
question that matches no pattern leaves its example without a program. Such an
example trains and is answered in neural mode, and the loader logs how many there are.

Facts use the relations of :mod:`neurosym.symbolic.stories` and
:func:`neurosym.symbolic.queries.locate`:

>>> sentence_triples("Mary got the football there.", [])
[('football', 'held_by', 'Mary')]
>>> question_query("Where is the football?")
'(locate football)'

Pronouns (he, she, they) name the people of the sentence before, as bAbI's
coreference tasks use them. The program mode reader sees that sentence too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Triple = tuple[str, str, str]

_MOVE_VERB = r"(?:moved|went back|went|journeyed|travelled)"
_ADVERB = r"(?:(?:Afterwards|Then|After that|Following that) )?"
_PERIOD = r"(Yesterday|This morning|This afternoon|This evening)"
_PERIOD_AFTER = r"(yesterday|this morning|this afternoon|this evening)"
_ACTOR = r"(\w+(?: and \w+)?)"
_THING = r"([a-z]+(?: [a-z]+)*?)"
_GET = r"(?:got|grabbed|took|picked up)"
_DROP = r"(?:dropped|discarded|left|put down)"
_GIVE = r"(?:gave|handed|passed)"
_DIRECTION = r"(north|south|east|west)"
_GRID = {"to the left of": "left", "to the right of": "right", "above": "above", "below": "below"}
_GRID_WORDS = r"(to the left of|to the right of|above|below)"
FEELINGS = {"hungry": "kitchen", "thirsty": "kitchen", "tired": "bedroom", "bored": "garden"}
_SINGULAR = {"mice": "mouse", "wolves": "wolf", "cats": "cat", "sheep": "sheep", "lions": "lion",
             "swans": "swan", "frogs": "frog", "rhinos": "rhino"}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
PRONOUNS = {"he", "she", "they", "He", "She", "They"}
PERIOD_RELATIONS = {"yesterday": "yesterday", "this morning": "morning", "this afternoon": "afternoon",
                    "this evening": "evening"}


def _name(phrase: str) -> str:
    """Write a noun phrase as one symbol: ``box of chocolates`` -> ``box_of_chocolates``."""
    return phrase.strip().replace(" ", "_")


def _actors(phrase: str, previous: Sequence[str]) -> list[str] | None:
    """Return the people a subject phrase names, resolving pronouns to ``previous``."""
    words = phrase.split(" and ")
    if len(words) == 1 and words[0] in PRONOUNS:
        return list(previous) or None
    return words


def _strip_adverb(text: str) -> str:
    return re.sub(rf"^{_ADVERB}", "", text)


def sentence_triples(text: str, previous: Sequence[str]) -> list[Triple] | None:
    """Return the facts of one bAbI sentence as (subject, relation, object), or None if unknown.

    ``previous`` lists the people of the sentence before, whom a pronoun names.
    """
    text = text.strip()
    period = None
    match = re.fullmatch(rf"{_PERIOD} (.*)", text)
    if match:
        period, text = match.group(1).lower(), match.group(2)
        text = text[0].upper() + text[1:]
    match = re.fullmatch(rf"(.*) {_PERIOD_AFTER}\.", text)
    if match:
        period, text = match.group(2), match.group(1) + "."
    body = _strip_adverb(text)

    match = re.fullmatch(rf"{_ACTOR} {_MOVE_VERB} to the (\w+)\.", body)
    if match:
        people = _actors(match.group(1), previous)
        if people is None:
            return None
        relation = PERIOD_RELATIONS[period] if period else "location"
        return [(person, relation, match.group(2)) for person in people]
    if period:
        return None
    if match := re.fullmatch(rf"(\w+) {_GET} the (\w+)(?: there)?\.", body):
        return [(match.group(2), "held_by", match.group(1))]
    if match := re.fullmatch(rf"(\w+) {_DROP} the (\w+)(?: there)?\.", body):
        return [(match.group(2), "dropped_by", match.group(1))]
    if match := re.fullmatch(rf"(\w+) {_GIVE} the (\w+) to (\w+)\.", body):
        return [(match.group(2), "given_by", match.group(1)), (match.group(2), "given_to", match.group(3))]
    if match := re.fullmatch(rf"The (\w+) is {_DIRECTION} of the (\w+)\.", body):
        # "The office is north of the kitchen": north of the kitchen is the office.
        return [(match.group(3), match.group(2), match.group(1))]
    if match := re.fullmatch(r"(\w+) is in the (\w+)\.", body):
        return [(match.group(1), "location", match.group(2))]
    if match := re.fullmatch(r"(\w+) is (?:not|no longer) in the (\w+)\.", body):
        return [(match.group(1), "not_location", match.group(2))]
    if match := re.fullmatch(r"(\w+) is either in the (\w+) or the (\w+)\.", body):
        return [(match.group(1), "maybe_location", match.group(2)), (match.group(1), "maybe_location", match.group(3))]
    if match := re.fullmatch(r"(\w+) are afraid of (\w+)\.", body):
        kind, feared = match.group(1).lower(), match.group(2).lower()
        if kind not in _SINGULAR or feared not in _SINGULAR:
            return None
        return [(_SINGULAR[kind], "afraid_of", _SINGULAR[feared])]
    if match := re.fullmatch(r"(\w+) is an? (\w+)\.", body):
        return [(match.group(1), "is_a", match.group(2))]
    if match := re.fullmatch(r"(\w+) is (\w+)\.", body):
        person, state = match.groups()
        if state in FEELINGS:
            return [(person, "feels", state), (person, "will_go", FEELINGS[state])]
        return [(person, "color", state)]
    if match := re.fullmatch(rf"The {_THING} is {_GRID_WORDS} the {_THING}\.", body):
        return [(_name(match.group(1)), _GRID[match.group(2)], _name(match.group(3)))]
    if match := re.fullmatch(rf"The {_THING} is bigger than the {_THING}\.", body):
        return [(_name(match.group(1)), "bigger", _name(match.group(2)))]
    if match := re.fullmatch(rf"The {_THING} fits inside the {_THING}\.", body):
        return [(_name(match.group(1)), "smaller", _name(match.group(2)))]
    return None


def question_query(text: str) -> str | None:
    """Return the query program for a bAbI question, or None when no pattern matches."""
    text = text.strip()
    patterns: list[tuple[str, str]] = [
        (r"Where is the (\w+)\?", "(locate {0})"),
        (r"Where is (\w+)\?", "(locate {0})"),
        (r"Where was the (\w+) before the (\w+)\?", "(place-before {0} {1})"),
        (r"Where was (\w+) before the (\w+)\?", "(place-before {0} {1})"),
        (rf"What is {_DIRECTION} of the (\w+)\?", "(neighbor {0} {1})"),
        (rf"What is the (\w+) {_DIRECTION} of\?", "(neighbor {opposite1} {0})"),
        (r"Who gave the (\w+)\?", "(latest given_by {0})"),
        (r"Who received the (\w+)\?", "(latest given_to {0})"),
        (r"What did (\w+) give to (\w+)\?", "(common given_by {0} given_to {1})"),
        (r"Who did (\w+) give the (\w+) to\?", "(same-time {1} given_by {0} given_to)"),
        (r"Who gave the (\w+) to (\w+)\?", "(same-time {0} given_to {1} given_by)"),
        (r"Is (\w+) in the (\w+)\?", "(is-in {0} {1})"),
        (r"How many objects is (\w+) carrying\?", "(spell (size (carried {0})))"),
        (r"What is (\w+) carrying\?", "(if-empty (carried {0}) nothing)"),
        (r"What is (\w+) afraid of\?", "(latest afraid_of (latest is_a {0}))"),
        (r"What color is (\w+)\?", "(induce color {0})"),
        (r"Does the (.+) fit in the (.+)\?", "(smaller {0} {1})"),
        (r"Is the (.+) bigger than the (.+)\?", "(bigger {0} {1})"),
        (rf"Is the (.+) {_GRID_WORDS} the (.+)\?", "({1} {0} {2})"),
        (r"How do you go from the (\w+) to the (\w+)\?", "(initials (directions {0} {1}))"),
        (r"Where will (\w+) go\?", "(latest will_go {0})"),
        (r"Why did (\w+) (?:go to|get) the (\w+)\?", "(latest feels {0})"),
    ]
    for pattern, template in patterns:
        match = re.fullmatch(pattern, text)
        if match:
            groups = [_GRID.get(group, _name(group)) for group in match.groups()]
            opposite = {f"opposite{index}": OPPOSITE.get(group, group) for index, group in enumerate(groups)}
            return template.format(*groups, **opposite)
    return None


def story_facts(texts: Sequence[str], entities: Sequence[str]) -> list[list[Triple]] | None:
    """Return each sentence's facts, or None when some sentence matches no pattern."""
    facts: list[list[Triple]] = []
    previous: list[str] = []
    for text in texts:
        triples = sentence_triples(text, previous)
        if triples is None:
            return None
        facts.append(triples)
        people = [word for word in re.findall(r"\b[A-Z][a-z]+\b", text) if word in entities]
        if people:
            previous = people
    return facts

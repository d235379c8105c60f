"""``relational.kinship``: CLUTRR-style stories of family relations.

A chain of ``min_chain..max_chain`` kinship relations joins the two people of the question:
each person of the chain is a new family member whose relation to the previous one
is a parent, child, sibling or spouse, with a gender. Every relation becomes one
sentence, from templates that vary the wording ("Alice's father is Bob.", "Bob went
shopping with his mother Carol.", "Bob has a daughter named Alice."). The question
is how the last person is related to the first. ``facts`` holds the chain's
relations as each sentence words them ("Kate is the mother of Tina." states (Tina,
mother, Kate)), ``meta["genders"]`` everyone's gender, and the gold program states
both and asks the executor (``with-facts`` and ``relation``, with CLUTRR's
composition rules), which gives the answer. Chains whose relations the
rules cannot compose are drawn again. With ``shuffle`` the sentences come in a
random order, and so do the program's facts, which follow the sentences. A sample
with ``min_chain=max_chain=3``::

       0  Xena read a story to her son Ian.
       1  Rita has a husband named Paul.
       2  Paul has a brother named Ian.
       Q  how is Rita related to Xena ?
       A  daughter-in-law
       P  (with-facts (fact Xena son Ian) (fact Rita husband Paul) (fact Paul brother Ian)
           (fact Xena gender female) ... (relation Xena Rita))
"""

from __future__ import annotations

import random
import re
from typing import Any

from neurosym.errors import TaskError
from neurosym.symbolic import ProgramError, execute
from neurosym.symbolic.kinship import (
    FEMALE,
    GENDERED_NAME,
    MALE,
    gender_of,
    inverse,
    is_kinship,
    neutral,
)
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import facts_program
from neurosym.tasks.registry import GeneratorTask, register_task

MALE_NAMES = ["Adam", "Ben", "Carl", "Dan", "Eric", "Frank", "George", "Harold", "Ian", "Jack",
              "Kevin", "Leo", "Mark", "Nick", "Oscar", "Paul", "Quinn", "Ray", "Sam", "Tom",
              "Victor", "Walter", "Xavier", "Yusuf", "Zack"]
FEMALE_NAMES = ["Amy", "Beth", "Clara", "Diana", "Emma", "Fiona", "Grace", "Helen", "Irene", "Julia",
                "Kate", "Laura", "Mary", "Nora", "Olga", "Paula", "Rita", "Sara", "Tina", "Uma",
                "Vera", "Wendy", "Xena", "Yara", "Zoe"]
MAX_CHAIN = 20
MAX_ATTEMPTS = 1000

# Sentence templates: {a} is the fact's subject, {b} its object, {rel} the relation
# ("b is a's rel"), {inv} the inverse relation ("a is b's inv"), {his} a's possessive.
GENERIC_TEMPLATES = ["{a}'s {rel} is {b}.", "{b} is {a}'s {rel}.", "{b} is the {rel} of {a}.",
                     "{b} has a {inv} named {a}."]
TEMPLATES: dict[str, list[str]] = {
    "parent": ["{a} went shopping with {his} {rel} {b}.", "{a} called {his} {rel} {b} on the phone."],
    "child": ["{a} took {his} {rel} {b} to the park.", "{a} read a story to {his} {rel} {b}."],
    "sibling": ["{a} went hiking with {his} {rel} {b}.", "{a} and {his} {rel} {b} played cards."],
    "spouse": ["{a} and {his} {rel} {b} went out for dinner.", "{a} bought flowers for {his} {rel} {b}."],
}


def _next_relation(rng: random.Random, previous: str | None) -> str:
    """Draw the neutral relation of the next step of the chain."""
    choices = ["parent", "child", "sibling", "spouse"]
    if previous == "spouse":
        choices.remove("spouse")  # a spouse's spouse is the person we started from
    if previous == "child":
        choices.remove("parent")  # a child's parent is the person we started from or a spouse
    return rng.choice(choices)


def _draw_chain(rng: random.Random, length: int) -> tuple[list[Fact], dict[str, str]]:
    """Draw people and the chain of facts that joins them, in chain order."""
    pools = {MALE: rng.sample(MALE_NAMES, len(MALE_NAMES)), FEMALE: rng.sample(FEMALE_NAMES, len(FEMALE_NAMES))}
    gender = rng.choice([MALE, FEMALE])
    person = pools[gender].pop()
    genders = {person: gender}
    facts: list[Fact] = []
    previous = None
    for time in range(length):
        relation = _next_relation(rng, previous)
        if relation == "spouse":
            new_gender = FEMALE if genders[person] == MALE else MALE
        else:
            new_gender = rng.choice([MALE, FEMALE])
        new_person = pools[new_gender].pop()
        genders[new_person] = new_gender
        facts.append(Fact(person, GENDERED_NAME[(relation, new_gender)], new_person, time))
        person, previous = new_person, relation
    return facts, genders


def render_fact(rng: random.Random, fact: Fact, genders: dict[str, str]) -> str:
    """Write one kinship fact as a sentence, from a randomly chosen template."""
    subject_gender = genders[fact.subject]
    neutral = next(name for (name, _), gendered in GENDERED_NAME.items() if gendered == fact.relation)
    template = rng.choice([*GENERIC_TEMPLATES, *TEMPLATES[neutral]])
    return template.format(
        a=fact.subject,
        b=fact.object,
        rel=fact.relation,
        inv=inverse(fact.relation, subject_gender),
        his="his" if subject_gender == MALE else "her",
    )


def as_worded(fact: Fact, sentence: str, genders: dict[str, str], previous: str = "") -> Fact:
    """Turn a gold edge around when its sentence names the inverse relation instead.

    A chain's edges point along the query, whatever the wording: "Wayne took his
    daughter Lorraine" may be stored as (Lorraine, father, Wayne). Written the way the
    sentence words it, (Wayne, daughter, Lorraine) states the same relation once
    everyone's gender is known, so the program's result does not change. A model that
    writes facts from sentences then learns one direction per wording. Words such as
    "mom" and plurals such as "daughters" count (``WORD_FORMS``). When the sentence
    names neither relation, the ``previous`` sentence decides ("Kim went out with her
    son. His name is Tom.").
    """
    if not is_kinship(fact.relation):
        return fact
    turned_relation = inverse(fact.relation, genders.get(fact.subject))
    turned = Fact(fact.object, turned_relation, fact.subject, fact.time)
    names_relation = _names_word(sentence, fact.relation)
    names_inverse = _names_word(sentence, turned_relation)
    if previous and not names_relation and not names_inverse:
        return as_worded(fact, previous, genders)
    if names_relation and names_inverse:
        # The same word fits both ways ("Clara has a sister named Zoe"). Then the person
        # whose relative the sentence names is the subject ("Ray's brother", "sister Zoe").
        return turned if _owner(sentence, turned) and not _owner(sentence, fact) else fact
    return turned if names_inverse else fact


def worded_against(fact: Fact, sentence: str, genders: dict[str, str]) -> bool:
    """True when ``sentence`` words ``fact`` with its two people the other way round.

    CLUTRR's crowd-written templates sometimes swap their placeholders: a row whose
    edge states that Hugh's son is Brandon can read "Brandon took his son Hugh out". The
    sentence then makes the fact's object the owner of the relation ("Hugh's son",
    "his son Hugh" read as (Hugh, son, ...)) and never its subject. Siblings and
    spouses of the relation word's gender are not counted, since "Ray and his
    brother Tom" is true both ways when Ray is male.
    """
    if not is_kinship(fact.relation) or not isinstance(fact.object, str):
        return False
    swapped = Fact(fact.object, fact.relation, fact.subject, fact.time)
    if not _owner(sentence, swapped) or _owner(sentence, fact):
        return False
    relation = neutral(fact.relation)
    symmetric = inverse(relation) == relation
    return not (symmetric and gender_of(fact.relation) in (None, genders.get(fact.subject)))


# Other words that stories use for a relation; each word may also take a plural "s".
WORD_FORMS = {
    "mother": ("mother", "mom", "mum", "mommy", "mama"),
    "father": ("father", "dad", "daddy", "papa"),
    "grandmother": ("grandmother", "grandma", "granny"),
    "grandfather": ("grandfather", "grandpa", "grandad", "granddad"),
}


def _word(relation: str) -> str:
    """Return a regex that matches the relation's words, singular or plural."""
    forms = WORD_FORMS.get(relation, (relation,))
    return rf"(?:{'|'.join(re.escape(form) for form in forms)})s?"


def _owner(sentence: str, fact: Fact) -> bool:
    """True when the sentence reads "SUBJECT's ... RELATION" or "RELATION (named) OBJECT"."""
    word = _word(fact.relation)
    # Hyphens count as part of a word: "brother-in-law" is not "brother", "step-son" not "son".
    possessive = rf"\b{re.escape(fact.subject)}'s\s+(?:\w+\s+)?{word}(?![\w-])"
    named = rf"(?<![\w-]){word},?\s+(?:named\s+)?{re.escape(str(fact.object))}\b"
    flags = re.IGNORECASE
    return re.search(possessive, sentence, flags) is not None or re.search(named, sentence, flags) is not None


def _names_word(sentence: str, word: str) -> bool:
    # "sister" must not match inside "sister-in-law", nor "son" inside "grandson".
    return re.search(rf"(?<![\w-]){_word(word)}(?![\w-])", sentence, re.IGNORECASE) is not None


def kinship_question(source: str, target: str) -> str:
    """Return the question "how is TARGET related to SOURCE ?" (target is source's <answer>)."""
    return f"how is {target} related to {source} ?"


@register_task("relational.kinship")
class KinshipTask(GeneratorTask):
    """Relation of the last person of a chain of family relations to the first."""

    description = (
        "CLUTRR-style family stories: a chain of min_chain..max_chain relations "
        "(OOD splits: chains of 5 to 10)"
    )
    difficulty = {"min_chain": 2, "max_chain": 4, "shuffle": True}
    reads_by_sentence = True
    eval_splits = {
        "test": ("test", {}),
        **{f"test_{length}": ("test", {"min_chain": length, "max_chain": length}) for length in range(5, 11)},
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        min_chain, max_chain = knobs["min_chain"], knobs["max_chain"]
        if not (isinstance(min_chain, int) and isinstance(max_chain, int)) or not (
            1 <= min_chain <= max_chain <= MAX_CHAIN
        ):
            raise TaskError(
                f"need integers 1 <= min_chain <= max_chain <= {MAX_CHAIN}, got "
                f"min_chain={min_chain!r}, max_chain={max_chain!r}"
            )
        rng = random.Random(seed)
        return [self._one(rng, split, knobs) for _ in range(n)]

    def _one(self, rng: random.Random, split: str, knobs: dict[str, Any]) -> Example:
        length = rng.randint(knobs["min_chain"], knobs["max_chain"])
        for _ in range(MAX_ATTEMPTS):
            chain, genders = _draw_chain(rng, length)
            order = list(range(length))
            if knobs["shuffle"]:
                rng.shuffle(order)
            facts = [chain[index]._replace(time=time) for time, index in enumerate(order)]
            source, target = chain[0].subject, chain[-1].object
            context = [Sentence(render_fact(rng, fact, genders), fact.time) for fact in facts]
            facts = [as_worded(fact, sentence.text, genders) for fact, sentence in zip(facts, context, strict=True)]
            stated = [Fact(name, "gender", gender, 0) for name, gender in genders.items()]
            program = facts_program([*facts, *stated], f"(relation {source} {target})")
            try:
                answer = execute(program, record_trace=False).answer
            except ProgramError:
                continue  # the rules do not compose this chain, so draw another one
            return Example(
                context=context,
                question=kinship_question(source, target),
                answer=answer,
                program=program,
                facts=facts,
                entities=[chain[0].subject, *(fact.object for fact in chain)],
                meta={"task": self.name, "split": split, "chain_length": length, "genders": genders, **knobs},
            )
        raise TaskError(f"no composable kinship chain of length {length} in {MAX_ATTEMPTS} draws")

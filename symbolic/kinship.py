"""Kinship relations and their composition rules, stored as data.

Relation names follow CLUTRR's vocabulary (father, mother, son, daughter, brother,
sister, husband, wife, grandfather, grandmother, grandson, granddaughter, uncle,
aunt, nephew, niece and the four in-laws) plus brother-in-law and sister-in-law.
Each gendered name is a gender-neutral base relation plus the gender of the person
it names: ``father`` is ``(parent, male)``. The neutral names are parent, child,
sibling, spouse, grandparent, grandchild, pibling (uncle or aunt), nibling (nephew or
niece), parent-in-law, child-in-law and sibling-in-law.

A fact ``(alice, father, bob)`` reads "Alice's father is Bob". Composition reads the
same way: ``compose("father", "mother")`` is the mother of the father,
``grandmother``. The rules in ``COMPOSITION`` are written on neutral names because
the gender of a result is the gender of the last person on the path, which the
second relation names. The rules assume the two ends of a path are different people
(true on a shortest path), so a child's parent is a spouse and a parent's child is
a sibling. Half-siblings and step-relations are not modelled: a father's wife is a
mother and a spouse's child is a child.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from neurosym.symbolic.errors import CompositionError, ProgramValidationError

MALE = "male"
FEMALE = "female"
GENDERS = (MALE, FEMALE)

# gendered name -> (neutral name, gender of the person it names)
GENDERED: dict[str, tuple[str, str]] = {
    "father": ("parent", MALE),
    "mother": ("parent", FEMALE),
    "son": ("child", MALE),
    "daughter": ("child", FEMALE),
    "brother": ("sibling", MALE),
    "sister": ("sibling", FEMALE),
    "husband": ("spouse", MALE),
    "wife": ("spouse", FEMALE),
    "grandfather": ("grandparent", MALE),
    "grandmother": ("grandparent", FEMALE),
    "grandson": ("grandchild", MALE),
    "granddaughter": ("grandchild", FEMALE),
    "uncle": ("pibling", MALE),
    "aunt": ("pibling", FEMALE),
    "nephew": ("nibling", MALE),
    "niece": ("nibling", FEMALE),
    "father-in-law": ("parent-in-law", MALE),
    "mother-in-law": ("parent-in-law", FEMALE),
    "son-in-law": ("child-in-law", MALE),
    "daughter-in-law": ("child-in-law", FEMALE),
    "brother-in-law": ("sibling-in-law", MALE),
    "sister-in-law": ("sibling-in-law", FEMALE),
}

# (neutral name, gender) -> gendered name
GENDERED_NAME: dict[tuple[str, str], str] = {value: key for key, value in GENDERED.items()}

NEUTRAL: frozenset[str] = frozenset(neutral for neutral, _ in GENDERED.values())

# If B is A's r, then A is B's INVERSE[r].
INVERSE: dict[str, str] = {
    "parent": "child",
    "child": "parent",
    "sibling": "sibling",
    "spouse": "spouse",
    "grandparent": "grandchild",
    "grandchild": "grandparent",
    "pibling": "nibling",
    "nibling": "pibling",
    "parent-in-law": "child-in-law",
    "child-in-law": "parent-in-law",
    "sibling-in-law": "sibling-in-law",
}

# (r1, r2) -> r: the r2 of someone's r1 is their r.
COMPOSITION: dict[tuple[str, str], str] = {
    ("parent", "parent"): "grandparent",
    ("parent", "sibling"): "pibling",
    ("parent", "child"): "sibling",
    ("parent", "spouse"): "parent",
    ("child", "child"): "grandchild",
    ("child", "parent"): "spouse",
    ("child", "sibling"): "child",
    ("child", "spouse"): "child-in-law",
    ("sibling", "parent"): "parent",
    ("sibling", "child"): "nibling",
    ("sibling", "sibling"): "sibling",
    ("sibling", "spouse"): "sibling-in-law",
    ("sibling", "grandparent"): "grandparent",
    ("sibling", "pibling"): "pibling",
    ("spouse", "parent"): "parent-in-law",
    ("spouse", "child"): "child",
    ("spouse", "sibling"): "sibling-in-law",
    ("spouse", "grandchild"): "grandchild",
    ("spouse", "child-in-law"): "child-in-law",
    ("grandparent", "spouse"): "grandparent",
    ("grandchild", "sibling"): "grandchild",
    ("pibling", "spouse"): "pibling",
    ("nibling", "sibling"): "nibling",
    ("child-in-law", "child"): "grandchild",
    ("parent-in-law", "spouse"): "parent-in-law",
}

# CLUTRR's conventions: its generator resolves ambiguous compositions towards the
# speaker's own family. A child's grandparent is taken to be one's parent, not a
# parent-in-law, and a child's uncle or aunt is taken to be one's sibling. It never
# composes a child's parent. The five rules after those two were read off the
# compositions that failed on CLUTRR's training file (data_db9b8f04,
# 1.2,1.3,1.4_train.csv). Each has the result that CLUTRR's targets imply there. An
# uncle's sibling is an uncle or aunt, and so is a grandparent's child. An uncle's
# parent is a grandparent, a grandchild's aunt is a child, and a sibling-in-law's
# child is a nephew or niece. With all of them the programs give
# CLUTRR's target on 98.9% of that training file's rows.
CLUTRR_COMPOSITION: dict[tuple[str, str], str] = {
    **{pair: result for pair, result in COMPOSITION.items() if pair != ("child", "parent")},
    ("child", "grandparent"): "parent",
    ("child", "pibling"): "sibling",
    ("pibling", "sibling"): "pibling",
    ("grandparent", "child"): "pibling",
    ("pibling", "parent"): "grandparent",
    ("grandchild", "pibling"): "child",
    ("sibling-in-law", "child"): "nibling",
}


def is_kinship(relation: str) -> bool:
    """Return True when ``relation`` is a gendered or neutral kinship name."""
    return relation in GENDERED or relation in NEUTRAL


def neutral(relation: str) -> str:
    """Return the gender-neutral form of a kinship relation."""
    if relation in NEUTRAL:
        return relation
    try:
        return GENDERED[relation][0]
    except KeyError:
        raise ProgramValidationError(
            f"{relation!r} is not a kinship relation; use one of "
            f"{', '.join(sorted([*GENDERED, *NEUTRAL]))}"
        ) from None


def gender_of(relation: str) -> str | None:
    """Return the gender a gendered relation implies for the person it names, else None."""
    entry = GENDERED.get(relation)
    return entry[1] if entry else None


def with_gender(relation: str, gender: str | None) -> str:
    """Return the gendered name of ``relation`` for ``gender``, or its neutral name."""
    base = neutral(relation)
    if gender is None:
        return base
    return GENDERED_NAME.get((base, gender), base)


def inverse(relation: str, gender: str | None = None) -> str:
    """Return A's relation to B given B's relation to A, gendered by A's ``gender``."""
    return with_gender(INVERSE[neutral(relation)], gender)


Rules = Mapping[tuple[str, str], str]


def compose_pair(first: str, second: str, rules: Rules = COMPOSITION) -> str:
    """Return the ``second`` of someone's ``first``, gendered like ``second``.

    ``compose_pair("father", "mother") == "grandmother"``.

    Raises:
        CompositionError: no rule composes the pair.
    """
    result = rules.get((neutral(first), neutral(second)))
    if result is None:
        raise CompositionError(
            f"no kinship rule composes {first!r} followed by {second!r} "
            f"(the {second} of someone's {first}); add a rule to kinship.COMPOSITION",
            first,
            second,
        )
    return with_gender(result, gender_of(second))


def compose(relations: Sequence[str], rules: Rules = COMPOSITION) -> str:
    """Compose a chain of relations, the first one applied first, into one neutral name.

    Tries the left-to-right fold, then every other bracketing, because a rule table
    without an intermediate result (a great-grandparent, say) may still compose the
    chain in another order. ``rules`` is ``COMPOSITION`` or ``CLUTRR_COMPOSITION``
    or another table of neutral names.

    Raises:
        CompositionError: no bracketing composes; names the first pair that failed
            in the left-to-right fold.
    """
    names = [neutral(relation) for relation in relations]
    if not names:
        raise ProgramValidationError("compose needs at least one relation")
    result = names[0]
    failed: tuple[str, str] | None = None
    for name in names[1:]:
        step = rules.get((result, name))
        if step is None:
            failed = (result, name)
            break
        result = step
    if failed is None:
        return result
    # Interval dynamic programming: best[i][j] composes names[i..j] in some bracketing.
    count = len(names)
    best: list[list[str | None]] = [[None] * count for _ in range(count)]
    for index, name in enumerate(names):
        best[index][index] = name
    for width in range(1, count):
        for start in range(count - width):
            end = start + width
            for split in range(start, end):
                left, right = best[start][split], best[split + 1][end]
                if left is not None and right is not None:
                    combined = rules.get((left, right))
                    if combined is not None:
                        best[start][end] = combined
                        break
    if best[0][count - 1] is not None:
        return best[0][count - 1]
    first, second = failed
    raise CompositionError(
        f"no kinship rule composes {first!r} followed by {second!r} in the chain "
        f"{' -> '.join(relations)}; add a rule to kinship.COMPOSITION",
        first,
        second,
    )

"""A knowledge graph of entities and timestamped relations, queried by programs.

:class:`KnowledgeGraph` stores each fact ``(subject, relation, object, time)`` as an
edge ``subject -> object`` of a networkx ``MultiDiGraph`` (an object that is an int,
such as an age, is kept in the fact index but is not a node). It implements
``FactSource``, answers kinship questions by composing relations along a shortest
path (rules in :mod:`neurosym.symbolic.kinship`), finds paths, and derives
comparisons such as "taller" from chains of stated facts.

Reading of facts: ``(alice, father, bob)`` is "Alice's father is Bob";
``(garden, north, kitchen)`` is "north of the garden is the kitchen", so walking that
edge forwards is a step north; ``(alice, taller, bob)`` is "Alice is taller than Bob".
"""

from __future__ import annotations

import bisect
import difflib
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import networkx as nx

from neurosym.symbolic import kinship
from neurosym.symbolic.errors import (
    GraphError,
    ProgramRuntimeError,
    UnknownEntityError,
)
from neurosym.symbolic.facts import Fact

# "A is <word> than B" <-> "B is <opposite> than A"
COMPARATIVES: dict[str, str] = {
    "taller": "shorter",
    "shorter": "taller",
    "older": "younger",
    "younger": "older",
    "bigger": "smaller",
    "smaller": "bigger",
    "heavier": "lighter",
    "lighter": "heavier",
    "faster": "slower",
    "slower": "faster",
    "richer": "poorer",
    "poorer": "richer",
}

# Walking an edge backwards is a step in the inverse direction.
INVERSE_DIRECTIONS: dict[str, str] = {
    "north": "south",
    "south": "north",
    "east": "west",
    "west": "east",
    "up": "down",
    "down": "up",
}

_INFINITY = float("inf")
GENDER = "gender"  # the relation of a fact that states its subject's gender


class KnowledgeGraph:
    """Entities, their genders and timestamped relation facts.

    ``graph`` is the underlying ``networkx.MultiDiGraph``: node attribute ``gender``
    (``"male"``, ``"female"`` or absent), edge attributes ``relation`` and ``time``,
    and the edge key is the fact's insertion number. Treat it as read-only, because
    the fact index is kept beside it.

    ``rules`` is the kinship composition table: ``kinship.COMPOSITION`` by default, or
    ``kinship.CLUTRR_COMPOSITION`` to reproduce CLUTRR's targets.
    """

    def __init__(self, rules: kinship.Rules = kinship.COMPOSITION) -> None:
        self.rules = rules
        self.graph = nx.MultiDiGraph()
        self._facts: list[Fact] = []
        # (subject, relation) -> sorted [(time, insertion number, fact)]
        self._by_key: dict[tuple[str, str], list[tuple[int, int, Fact]]] = {}
        # entity -> sorted [(time, insertion number, fact)] where it is subject or object
        self._by_entity: dict[str, list[tuple[int, int, Fact]]] = {}

    @classmethod
    def from_facts(
        cls,
        facts: Iterable[tuple[str, str, str | int, int]],
        genders: Mapping[str, str] | None = None,
        rules: kinship.Rules = kinship.COMPOSITION,
    ) -> KnowledgeGraph:
        """Build a graph from ``(subject, relation, object, time)`` tuples and genders."""
        graph = cls(rules)
        for name, gender in (genders or {}).items():
            graph.add_entity(name, gender)
        for index, fact in enumerate(facts):
            if len(fact) != 4:
                raise GraphError(
                    f"fact {index} is {fact!r}; write (subject, relation, object, time)"
                )
            graph.add_fact(*fact)
        return graph

    def __len__(self) -> int:
        return len(self._facts)

    def __contains__(self, entity: object) -> bool:
        return entity in self.graph

    @property
    def facts(self) -> list[Fact]:
        """Every fact in insertion order."""
        return list(self._facts)

    @property
    def entities(self) -> list[str]:
        """Every entity, in the order first seen."""
        return list(self.graph.nodes)

    def add_entity(self, name: str, gender: str | None = None) -> None:
        """Add an entity, optionally with its gender (``"male"`` or ``"female"``)."""
        _require_name("entity", name)
        if name not in self.graph:
            self.graph.add_node(name)
        if gender is not None:
            self.set_gender(name, gender)

    def set_gender(self, name: str, gender: str) -> None:
        """Set an entity's gender; raises GraphError if it contradicts a known one."""
        if gender not in kinship.GENDERS:
            raise GraphError(f"gender of {name!r} must be 'male' or 'female', got {gender!r}")
        if name not in self.graph:
            self.add_entity(name)
        known = self.graph.nodes[name].get("gender")
        if known is not None and known != gender:
            raise GraphError(
                f"{name!r} is already {known}, so it cannot be set to {gender}; "
                "check the facts that name it"
            )
        self.graph.nodes[name]["gender"] = gender

    def gender(self, name: str) -> str | None:
        """Return an entity's gender, or None when unknown."""
        self._require_entity(name)
        return self.graph.nodes[name].get("gender")

    def add_fact(self, subject: str, relation: str, object: str | int, time: int = 0) -> Fact:
        """Add a fact; a gendered kinship relation also sets the object's gender.

        The relation ``gender`` with the object ``male`` or ``female`` sets the
        subject's gender and adds no edge.

        Raises:
            GraphError: a name is empty or not a str, the object is neither a str nor
                an int, the time is not an int, or an implied gender contradicts a
                known one.
        """
        _require_name("subject", subject)
        _require_name("relation", relation)
        if isinstance(object, str):
            _require_name("object", object)
        elif type(object) is not int:
            raise GraphError(
                f"object of fact ({subject!r}, {relation!r}, {object!r}) must be a str or "
                f"an int, got {type(object).__name__}"
            )
        if type(time) is not int:
            raise GraphError(
                f"time of fact ({subject!r}, {relation!r}, {object!r}) must be an int, "
                f"got {time!r}"
            )
        fact = Fact(subject, relation, object, time)
        number = len(self._facts)
        self.add_entity(subject)
        if relation == GENDER:
            # (S, gender, male) states S's gender. It relates no two entities, so it adds no edge.
            self.set_gender(subject, object)
        elif isinstance(object, str):
            self.add_entity(object)
            implied = kinship.gender_of(relation)
            if implied is not None:
                self.set_gender(object, implied)
            self.graph.add_edge(subject, object, key=number, relation=relation, time=time)
        self._facts.append(fact)
        entry = (time, number, fact)
        bisect.insort(self._by_key.setdefault((subject, relation), []), entry)
        bisect.insort(self._by_entity.setdefault(subject, []), entry)
        if isinstance(object, str) and object != subject and relation != GENDER:
            bisect.insort(self._by_entity.setdefault(object, []), entry)
        return fact

    # FactSource

    def latest(self, subject: str, relation: str, as_of: int | None = None) -> Fact | None:
        """Return the newest ``relation`` fact about ``subject`` at or before ``as_of``.

        Among facts with the same time the one added last wins. Returns None when no
        fact matches.
        """
        entries = self._by_key.get((subject, relation))
        if not entries:
            return None
        if as_of is None:
            return entries[-1][2]
        position = bisect.bisect_right(entries, (as_of, _INFINITY))
        return entries[position - 1][2] if position else None

    def facts_about(self, entity: str) -> list[Fact]:
        """Return every fact naming ``entity`` as subject or object, oldest first."""
        return [entry[2] for entry in self._by_entity.get(entity, ())]

    # Queries

    def kinship(self, source: str, target: str) -> str:
        """Return how ``target`` is related to ``source`` ("carol is alice's grandmother").

        Relations are composed along a shortest path of kinship facts, walked in
        either direction (a backwards step uses the inverse relation). The result is
        gendered by ``target``'s gender when known, otherwise neutral ("grandparent").

        Raises:
            UnknownEntityError: an entity is not in the graph.
            ProgramRuntimeError: source equals target, or no kinship path joins them.
            CompositionError: no rule composes two relations on the path.
        """
        self._require_entity(source)
        self._require_entity(target)
        if source == target:
            raise ProgramRuntimeError(f"relation of {source!r} to itself is undefined")
        steps = self._shortest_path(source, target, self._kinship_steps)
        if steps is None:
            raise ProgramRuntimeError(
                f"no chain of kinship facts connects {source!r} and {target!r}"
            )
        labels = [label for _, label in steps]
        result = labels[0] if len(labels) == 1 else kinship.compose(labels, self.rules)
        return kinship.with_gender(result, self.graph.nodes[target].get("gender"))

    def path(self, source: str, target: str, relations: Iterable[str] | None = None) -> list[str]:
        """Return the entities on a shortest path from ``source`` to ``target``.

        Edges are walked in either direction. ``relations`` restricts the walk to
        edges with those relation names; by default every relation counts.

        Raises:
            UnknownEntityError: an entity is not in the graph.
            ProgramRuntimeError: no path exists.
        """
        steps = self._path_steps(source, target, relations)
        return [source, *(entity for entity, _ in steps)]

    def directions(
        self, source: str, target: str, relations: Iterable[str] | None = None
    ) -> list[str]:
        """Return the relation names along a shortest path, one per step.

        A step along an edge gives its relation; a step against it gives the inverse
        from ``INVERSE_DIRECTIONS`` or ``COMPARATIVES``.

        Raises:
            ProgramRuntimeError: no path exists, or a backward step's relation has no
                inverse.
        """
        steps = self._path_steps(source, target, relations)
        names: list[str] = []
        for _, (relation, forward) in steps:
            if forward:
                names.append(relation)
                continue
            opposite = INVERSE_DIRECTIONS.get(relation) or COMPARATIVES.get(relation)
            if opposite is None:
                raise ProgramRuntimeError(
                    f"the path from {source!r} to {target!r} walks a {relation!r} edge "
                    "backwards, and that relation has no inverse; add the inverse fact"
                )
            names.append(opposite)
        return names

    def reachable(
        self, source: str, target: str, relations: Iterable[str] | None = None
    ) -> bool:
        """Return True when a path joins the entities (edges walked either way)."""
        self._require_entity(source)
        self._require_entity(target)
        allowed = None if relations is None else frozenset(relations)
        steps = self._shortest_path(source, target, self._plain_steps(allowed))
        return steps is not None

    def objects(self, subject: str, relation: str) -> list[str | int]:
        """Return the distinct objects of ``subject``'s ``relation`` facts, sorted.

        For a kinship relation, facts stated the other way round also count:
        ``objects(bob, "son")`` finds Alice from ``(alice, father, bob)`` when Alice is
        male.
        """
        self._require_entity(subject)
        found: set[str | int] = {entry[2].object for entry in self._by_key.get((subject, relation), ())}
        if kinship.is_kinship(relation):
            target_relation = kinship.neutral(relation)
            target_gender = kinship.gender_of(relation)
            for neighbour, label in self._kinship_steps(subject):
                if label != target_relation:
                    continue
                if target_gender is None or self.graph.nodes[neighbour].get("gender") == target_gender:
                    found.add(neighbour)
        return sorted(found, key=lambda value: (type(value).__name__, value))

    def compare(self, word: str, first: str, second: str) -> bool:
        """Return whether ``first`` is ``word`` than ``second`` ("taller"), from the facts.

        ``(a, taller, b)`` and ``(b, shorter, a)`` both state that a is taller than b,
        and chains of them are followed transitively.

        Raises:
            UnknownEntityError: an entity is not in the graph.
            ProgramRuntimeError: ``word`` is not in ``COMPARATIVES``, or the facts imply
                neither order.
        """
        opposite = COMPARATIVES.get(word)
        if opposite is None:
            raise ProgramRuntimeError(
                f"{word!r} is not a comparative; use one of {', '.join(sorted(COMPARATIVES))}"
            )
        self._require_entity(first)
        self._require_entity(second)
        if first == second:
            return False

        def more(entity: str) -> Iterable[tuple[str, object]]:
            # Entities that ``entity`` is <word> than.
            for _, neighbour, data in self.graph.out_edges(entity, data=True):
                if data["relation"] == word:
                    yield neighbour, None
            for neighbour, _, data in self.graph.in_edges(entity, data=True):
                if data["relation"] == opposite:
                    yield neighbour, None

        if self._shortest_path(first, second, more) is not None:
            return True
        if self._shortest_path(second, first, more) is not None:
            return False
        raise ProgramRuntimeError(
            f"the facts do not say whether {first!r} is {word} than {second!r}"
        )

    # Helpers

    def _require_entity(self, name: object) -> None:
        if isinstance(name, str) and name in self.graph:
            return
        close = difflib.get_close_matches(str(name), [str(n) for n in self.graph.nodes], n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownEntityError(f"unknown entity {name!r}: the graph has no such entity{hint}")

    def _kinship_steps(self, entity: str) -> Iterable[tuple[str, str]]:
        # Neighbours through kinship edges, labelled with "neighbour is entity's <label>".
        for _, neighbour, data in self.graph.out_edges(entity, data=True):
            relation = data["relation"]
            if kinship.is_kinship(relation):
                yield neighbour, kinship.neutral(relation)
        for neighbour, _, data in self.graph.in_edges(entity, data=True):
            relation = data["relation"]
            if kinship.is_kinship(relation):
                yield neighbour, kinship.INVERSE[kinship.neutral(relation)]

    def _plain_steps(
        self, allowed: frozenset[str] | None
    ) -> Callable[[str], Iterable[tuple[str, tuple[str, bool]]]]:
        def steps(entity: str) -> Iterable[tuple[str, tuple[str, bool]]]:
            for _, neighbour, data in self.graph.out_edges(entity, data=True):
                if allowed is None or data["relation"] in allowed:
                    yield neighbour, (data["relation"], True)
            for neighbour, _, data in self.graph.in_edges(entity, data=True):
                if allowed is None or data["relation"] in allowed:
                    yield neighbour, (data["relation"], False)

        return steps

    def _path_steps(
        self, source: str, target: str, relations: Iterable[str] | None
    ) -> list[tuple[str, tuple[str, bool]]]:
        self._require_entity(source)
        self._require_entity(target)
        allowed = None if relations is None else frozenset(relations)
        steps = self._shortest_path(source, target, self._plain_steps(allowed))
        if steps is None:
            restriction = "" if allowed is None else f" using {', '.join(sorted(allowed))}"
            raise ProgramRuntimeError(f"no path from {source!r} to {target!r}{restriction}")
        return steps

    @staticmethod
    def _shortest_path(
        source: str, target: str, neighbours: Callable[[str], Iterable[tuple[str, object]]]
    ) -> list[tuple[str, object]] | None:
        # Breadth-first search; returns [(entity, label), ...] from source (excluded)
        # to target, or None. Neighbours are visited in insertion order, so ties
        # between shortest paths break the same way on every run.
        if source == target:
            return []
        parents: dict[str, tuple[str, object]] = {source: (source, None)}
        queue = deque([source])
        while queue:
            entity = queue.popleft()
            for neighbour, label in neighbours(entity):
                if neighbour in parents:
                    continue
                parents[neighbour] = (entity, label)
                if neighbour == target:
                    steps: list[tuple[str, object]] = []
                    current = target
                    while current != source:
                        previous, step_label = parents[current]
                        steps.append((current, step_label))
                        current = previous
                    steps.reverse()
                    return steps
                queue.append(neighbour)
        return None


def _require_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise GraphError(f"{kind} must be a non-empty str, got {name!r}")

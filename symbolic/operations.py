"""The operation registry: every operation a program may call, in one table.

Each :class:`Operation` states its arity, how its arguments are evaluated and one
implementation per evaluation mode. The executor dispatches through ``OPERATIONS``
only, and the parser validates names and arities against it.

Evaluation modes
----------------
Arguments are evaluated in one of three modes:

- ``value``: numbers are exact ``int``/``Fraction``, a symbol is its name (``str``),
  and operations compute values.
- ``algebra``: a symbol is a sympy variable and the arithmetic operations build sympy
  expressions, so ``(+ (* 2 x) 3)`` is ``2*x + 3``. ``=`` builds an equation and ``and``
  collects equations. ``solve``, ``simplify``, ``expand``, ``factor`` and ``evaluate``
  read their expression arguments in this mode.
- ``constraint``: a symbol is a z3 integer variable, and arithmetic, comparison and
  logic operations build z3 formulas. ``satisfy``, ``check``, ``entails``, ``find``,
  ``argmax``, ``argmin`` and ``order`` read their constraints in this mode.

An arithmetic operation evaluates its arguments in the mode of its caller. Other
operations fix the mode of each argument, and when one of them (``latest``, say)
appears inside an algebraic expression or a constraint, its value is converted to a
sympy or z3 number.

Operations
----------
========================================  ===========  ==================================
call                                      modes        result
========================================  ===========  ==================================
``(add N N ...)``  alias ``+``            all          sum
``(sub N N)``  alias ``-``                all          difference
``(mul N N ...)``  alias ``*``            all          product
``(div N N)``  alias ``/``                value, alg.  exact quotient (int or Fraction)
``(mod N N)``  alias ``%``                value        remainder with the divisor's sign
``(pow N INT)``  alias ``^``              value, alg.  power; exponent bounded by Limits
``(neg N)`` ``(abs N)``                   all          negation, absolute value
``(min N ...)`` ``(max N ...)``           value, con.  smallest, largest argument
``(lt A B)`` ``<``, ``(le A B)`` ``<=``,  value, con.  comparison (boolean)
``(gt A B)`` ``>``, ``(ge A B)`` ``>=``
``(eq A B)`` ``=``, ``(ne A B)`` ``!=``   all          equality; an equation in algebra
``(and B B ...)`` ``(or B B ...)``        all; or:    conjunction (algebra: equation list),
``(not B)`` ``(implies B B)`` ``=>``      value, con.  disjunction, negation, implication
``(distinct A A ...)``                    value, con.  all arguments differ
``(list A ...)``                          value        a list of the arguments
``(solve EQUATION VAR ...)``              -            solutions (see ``algebra``)
``(simplify E)`` ``(expand E)``           -            transformed sympy expression
``(factor E)``
``(evaluate E (= VAR VALUE) ...)``        -            E with values substituted
``(domain LOW HIGH VAR ...)``             constraint   LOW <= VAR <= HIGH for each VAR
``(satisfy C ...)``                       -            one model: {variable: int}
``(check C ...)``                         -            yes when satisfiable, else no
``(entails C ... CONCLUSION)``            -            yes when every model satisfies it
``(find VAR C ...)``                      -            VAR's value, unique over models
``(argmax C ...)`` ``(argmin C ...)``     -            variable largest (smallest) in
                                                       every model
``(relation A B)``                        -            kinship: B is A's <relation>
``(path A B REL ...)``                    -            entities on a shortest path
``(directions A B REL ...)``              -            relation names along that path
``(reachable A B REL ...)``               -            yes when a path exists
``(objects REL A)`` ``(count REL A)``     -            objects of A's REL facts, count
``(taller A B)``, ``(older A B)``, ...    -            comparison derived from facts
``(latest REL S)``                        -            object of S's newest REL fact
``(at REL S TIME)``                       -            newest REL fact at or before TIME
``(history REL S)``                       -            objects of S's REL facts in time
                                                       order
``(fact S REL O [TIME])``                 -            a stated fact, for with-facts
``(with-facts FACT ... BODY)``            -            BODY run against a graph of the
                                                       stated facts (see ``inline``)
``(order C ...)``                         -            variables from largest to
                                                       smallest, the same in every model
========================================  ===========  ==================================

``N`` is a number, ``B`` a boolean, ``VAR`` a symbol, ``REL`` a relation name and ``A``,
``B``, ``S`` entity names. The comparative operations come from
``graph.COMPARATIVES`` (taller/shorter, older/younger, bigger/smaller, ...).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from neurosym.symbolic import arithmetic, inline, queries, stories
from neurosym.symbolic.errors import ProgramValidationError
from neurosym.symbolic.graph import COMPARATIVES

VALUE = 0
ALGEBRA = 1
CONSTRAINT = 2
INHERIT = -1
MODE_NAMES = ("value", "algebra", "constraint")

Implementation = Callable[..., object]


class _Lazy:
    """An implementation imported on first call, so sympy and z3 load only when used."""

    __slots__ = ("module", "attribute", "function")

    def __init__(self, module: str, attribute: str) -> None:
        self.module = module
        self.attribute = attribute
        self.function: Implementation | None = None

    def __call__(self, run: object, args: list) -> object:
        function = self.function
        if function is None:
            module = importlib.import_module(f"neurosym.symbolic.{self.module}")
            function = self.function = getattr(module, self.attribute)
        return function(run, args)


def _algebra(attribute: str) -> _Lazy:
    return _Lazy("algebra", attribute)


def _constraint(attribute: str) -> _Lazy:
    return _Lazy("constraints", attribute)


@dataclass(frozen=True)
class Operation:
    """One operation of the program language.

    Attributes:
        name: canonical name; ``aliases`` are other names for the same operation.
        signature: the call written with argument placeholders, for docs and errors.
        summary: one line on what it returns.
        min_args, max_args: arity; ``max_args`` None means any number.
        arg_modes: evaluation mode of each argument position (``VALUE``, ``ALGEBRA``,
            ``CONSTRAINT`` or ``INHERIT`` for the caller's mode); the last entry
            repeats for further arguments.
        implementations: one implementation per mode (value, algebra, constraint),
            or None where the operation does not exist in that mode.
        defers_last: the executor passes the last argument to the implementation
            as an unevaluated AST node, so the operation decides how to run it
            (``with-facts`` runs its body against the graph it builds).
    """

    name: str
    signature: str
    summary: str
    min_args: int
    max_args: int | None
    arg_modes: tuple[int, ...]
    implementations: tuple[Implementation | None, Implementation | None, Implementation | None]
    aliases: tuple[str, ...] = ()
    defers_last: bool = False

    def mode_of(self, index: int, caller_mode: int) -> int:
        """Return the evaluation mode of argument ``index`` when called in ``caller_mode``."""
        modes = self.arg_modes
        mode = modes[index] if index < len(modes) else modes[-1]
        return caller_mode if mode == INHERIT else mode

    @property
    def inherits_mode(self) -> bool:
        """True when some argument is evaluated in the caller's mode."""
        return INHERIT in self.arg_modes


def _operation(
    name: str,
    signature: str,
    summary: str,
    arity: tuple[int, int | None],
    modes: tuple[int, ...] = (INHERIT,),
    value: Implementation | None = None,
    algebra: Implementation | None = None,
    constraint: Implementation | None = None,
    aliases: tuple[str, ...] = (),
    defers_last: bool = False,
) -> Operation:
    return Operation(
        name=name,
        signature=signature,
        summary=summary,
        min_args=arity[0],
        max_args=arity[1],
        arg_modes=modes,
        implementations=(value, algebra, constraint),
        aliases=aliases,
        defers_last=defers_last,
    )


_ARITHMETIC = [
    _operation("add", "(add N N ...)", "sum", (2, None), value=arithmetic.add,
               algebra=_algebra("add"), constraint=_constraint("add"), aliases=("+",)),
    _operation("sub", "(sub N N)", "difference", (2, 2), value=arithmetic.sub,
               algebra=_algebra("sub"), constraint=_constraint("sub"), aliases=("-",)),
    _operation("mul", "(mul N N ...)", "product", (2, None), value=arithmetic.mul,
               algebra=_algebra("mul"), constraint=_constraint("mul"), aliases=("*",)),
    _operation("div", "(div N N)", "exact quotient", (2, 2), value=arithmetic.div,
               algebra=_algebra("div"), aliases=("/",)),
    _operation("mod", "(mod N N)", "remainder with the divisor's sign", (2, 2),
               value=arithmetic.mod, aliases=("%",)),
    _operation("pow", "(pow N INT)", "power", (2, 2), value=arithmetic.power,
               algebra=_algebra("power"), aliases=("^",)),
    _operation("neg", "(neg N)", "negation", (1, 1), value=arithmetic.neg,
               algebra=_algebra("neg"), constraint=_constraint("neg")),
    _operation("abs", "(abs N)", "absolute value", (1, 1), value=arithmetic.absolute,
               algebra=_algebra("absolute"), constraint=_constraint("absolute")),
    _operation("min", "(min N ...)", "smallest argument", (1, None), value=arithmetic.minimum,
               constraint=_constraint("minimum")),
    _operation("max", "(max N ...)", "largest argument", (1, None), value=arithmetic.maximum,
               constraint=_constraint("maximum")),
]

_LOGIC = [
    _operation("lt", "(lt N N)", "first < second", (2, 2), value=arithmetic.less,
               constraint=_constraint("less"), aliases=("<",)),
    _operation("le", "(le N N)", "first <= second", (2, 2), value=arithmetic.less_equal,
               constraint=_constraint("less_equal"), aliases=("<=",)),
    _operation("gt", "(gt N N)", "first > second", (2, 2), value=arithmetic.greater,
               constraint=_constraint("greater"), aliases=(">",)),
    _operation("ge", "(ge N N)", "first >= second", (2, 2), value=arithmetic.greater_equal,
               constraint=_constraint("greater_equal"), aliases=(">=",)),
    _operation("eq", "(eq A B)", "equality; an equation in algebra", (2, 2),
               value=arithmetic.equal, algebra=_algebra("equation"),
               constraint=_constraint("equal"), aliases=("=",)),
    _operation("ne", "(ne A B)", "inequality", (2, 2), value=arithmetic.not_equal,
               constraint=_constraint("not_equal"), aliases=("!=",)),
    _operation("and", "(and B B ...)", "conjunction; a list of equations in algebra",
               (1, None), value=arithmetic.logical_and, algebra=_algebra("conjunction"),
               constraint=_constraint("logical_and")),
    _operation("or", "(or B B ...)", "disjunction", (1, None), value=arithmetic.logical_or,
               constraint=_constraint("logical_or")),
    _operation("not", "(not B)", "negation", (1, 1), value=arithmetic.logical_not,
               constraint=_constraint("logical_not")),
    _operation("implies", "(implies B B)", "implication", (2, 2), value=arithmetic.implies,
               constraint=_constraint("implies"), aliases=("=>",)),
    _operation("distinct", "(distinct A A ...)", "all arguments differ", (1, None),
               value=arithmetic.distinct, constraint=_constraint("distinct")),
    _operation("list", "(list A ...)", "list of the arguments", (0, None),
               modes=(VALUE,), value=arithmetic.make_list),
]

_ALGEBRA = [
    _operation("solve", "(solve EQUATION VAR ...)", "solutions for the variables", (2, None),
               modes=(ALGEBRA, VALUE), value=_algebra("solve")),
    _operation("simplify", "(simplify E)", "simplified expression", (1, 1),
               modes=(ALGEBRA,), value=_algebra("simplify")),
    _operation("expand", "(expand E)", "expanded expression", (1, 1),
               modes=(ALGEBRA,), value=_algebra("expand")),
    _operation("factor", "(factor E)", "factored expression", (1, 1),
               modes=(ALGEBRA,), value=_algebra("factor")),
    _operation("evaluate", "(evaluate E (= VAR VALUE) ...)", "E with values substituted",
               (1, None), modes=(ALGEBRA,), value=_algebra("evaluate")),
]

_CONSTRAINTS = [
    _operation("domain", "(domain LOW HIGH VAR ...)", "LOW <= VAR <= HIGH for each VAR",
               (3, None), modes=(CONSTRAINT,), constraint=_constraint("domain")),
    _operation("satisfy", "(satisfy C ...)", "one model as {variable: int}", (1, None),
               modes=(CONSTRAINT,), value=_constraint("satisfy")),
    _operation("check", "(check C ...)", "yes when satisfiable, no when unsatisfiable",
               (1, None), modes=(CONSTRAINT,), value=_constraint("check")),
    _operation("entails", "(entails C ... CONCLUSION)", "yes when every model satisfies "
               "the conclusion", (2, None), modes=(CONSTRAINT,), value=_constraint("entails")),
    _operation("find", "(find VAR C ...)", "the variable's value, unique over all models",
               (2, None), modes=(VALUE, CONSTRAINT), value=_constraint("find")),
    _operation("argmax", "(argmax C ...)", "the variable largest in every model", (1, None),
               modes=(CONSTRAINT,), value=_constraint("argmax")),
    _operation("argmin", "(argmin C ...)", "the variable smallest in every model", (1, None),
               modes=(CONSTRAINT,), value=_constraint("argmin")),
    _operation("order", "(order C ...)", "the variables from largest to smallest, the same "
               "in every model", (1, None), modes=(CONSTRAINT,), value=_constraint("order")),
]

_QUERIES = [
    _operation("relation", "(relation A B)", "kinship relation: B is A's <relation>", (2, 2),
               modes=(VALUE,), value=queries.relation),
    _operation("path", "(path A B REL ...)", "entities on a shortest path from A to B",
               (2, None), modes=(VALUE,), value=queries.path),
    _operation("directions", "(directions A B REL ...)", "relation names along a shortest "
               "path", (2, None), modes=(VALUE,), value=queries.directions),
    _operation("reachable", "(reachable A B REL ...)", "yes when a path from A to B exists",
               (2, None), modes=(VALUE,), value=queries.reachable),
    _operation("objects", "(objects REL A)", "sorted objects of A's REL facts", (2, 2),
               modes=(VALUE,), value=queries.objects),
    _operation("count", "(count REL A)", "number of objects of A's REL facts", (2, 2),
               modes=(VALUE,), value=queries.count),
    _operation("latest", "(latest REL S)", "object of S's newest REL fact", (2, 2),
               modes=(VALUE,), value=queries.latest),
    _operation("at", "(at REL S TIME)", "object of S's newest REL fact at or before TIME",
               (3, 3), modes=(VALUE,), value=queries.at),
    _operation("locate", "(locate S [TIME])", "S's place (now or at TIME) from its newest location, "
               "held_by or dropped_by fact", (1, 2), modes=(VALUE,),
               value=queries.locate),
    _operation("history", "(history REL S)", "objects of S's REL facts in time order", (2, 2),
               modes=(VALUE,), value=queries.history),
    _operation("fact", "(fact S REL O [TIME])", "a stated fact for with-facts", (3, 4),
               modes=(VALUE,), value=inline.fact),
    _operation("with-facts", "(with-facts FACT ... BODY)", "BODY evaluated against a graph "
               "of the stated facts", (2, None), modes=(VALUE,), value=inline.with_facts,
               defers_last=True),
]

_STORIES = [
    _operation("subject", "(subject REL O)", "subject of the newest REL fact whose object is O", (2, 2),
               modes=(VALUE,), value=stories.subject_of),
    _operation("common", "(common R1 V1 R2 V2)", "S of the newest time with facts (S R1 V1) and "
               "(S R2 V2)", (4, 4), modes=(VALUE,), value=stories.common),
    _operation("same-time", "(same-time S R1 V1 R2)", "S's R2 at the newest time S's R1 was V1", (4, 4),
               modes=(VALUE,), value=stories.same_time),
    _operation("place-before", "(place-before S P)", "where S was before it last came to P", (2, 2),
               modes=(VALUE,), value=stories.place_before),
    _operation("is-in", "(is-in S P)", "yes, no or maybe: is S in P now", (2, 2),
               modes=(VALUE,), value=stories.is_in),
    _operation("carried", "(carried P)", "what P carries now, in the order P first got each thing", (1, 1),
               modes=(VALUE,), value=stories.carried),
    _operation("neighbor", "(neighbor DIR A)", "the place DIR of A (north, south, east, west, up, down)",
               (2, 2), modes=(VALUE,), value=stories.neighbor),
    _operation("size", "(size LIST)", "number of items", (1, 1), modes=(VALUE,), value=stories.size),
    _operation("spell", "(spell N)", "N as a counting word (none, one, ... ten)", (1, 1),
               modes=(VALUE,), value=stories.spell),
    _operation("if-empty", "(if-empty LIST WORD)", "LIST, or WORD when it is empty", (2, 2),
               modes=(VALUE,), value=stories.if_empty),
    _operation("initials", "(initials LIST)", "first letter of each name", (1, 1),
               modes=(VALUE,), value=stories.initials),
    _operation("induce", "(induce REL S)", "S's REL, else the REL of the member of S's kind named last",
               (2, 2), modes=(VALUE,), value=stories.induce),
    *(
        _operation(word, f"({word} A B)", f"yes when the grid facts place A {word} of B", (2, 2),
                   modes=(VALUE,), value=stories.grid_relation(word))
        for word in stories.GRID_STEPS
    ),
]

_COMPARATIVES = [
    _operation(word, f"({word} A B)", f"yes when the facts imply A is {word} than B", (2, 2),
               modes=(VALUE,), value=queries.comparative(word))
    for word in sorted(COMPARATIVES)
]


def _build_registry() -> dict[str, Operation]:
    registry: dict[str, Operation] = {}
    for operation in [*_ARITHMETIC, *_LOGIC, *_ALGEBRA, *_CONSTRAINTS, *_QUERIES, *_STORIES,
                      *_COMPARATIVES]:
        for name in (operation.name, *operation.aliases):
            if name in registry:
                raise RuntimeError(f"operation name {name!r} is registered twice")
            registry[name] = operation
    return registry


OPERATIONS: dict[str, Operation] = _build_registry()
"""Every operation by name and alias; aliases map to the same Operation."""


def lookup_operation(name: str, offset: int | None = None) -> Operation:
    """Return the operation called ``name``, or raise listing the closest names."""
    operation = OPERATIONS.get(name)
    if operation is not None:
        return operation
    close = difflib.get_close_matches(name, OPERATIONS, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    where = f" at offset {offset}" if offset is not None and offset >= 0 else ""
    raise ProgramValidationError(
        f"unknown operation {name!r}{where}{hint} The operations are listed in "
        "neurosym.symbolic.OPERATIONS.",
        offset,
    )


def check_arity(name: str, count: int, offset: int | None = None) -> None:
    """Raise unless operation ``name`` accepts ``count`` arguments."""
    operation = OPERATIONS[name]
    if operation.min_args <= count and (operation.max_args is None or count <= operation.max_args):
        return
    if operation.max_args is None:
        expected = f"at least {operation.min_args}"
    elif operation.min_args == operation.max_args:
        expected = str(operation.min_args)
    else:
        expected = f"{operation.min_args} to {operation.max_args}"
    where = f" at offset {offset}" if offset is not None and offset >= 0 else ""
    raise ProgramValidationError(
        f"{name}{where} takes {expected} argument{'s' if expected != '1' else ''}, got {count}; "
        f"write {operation.signature}",
        offset,
    )

"""Generated tasks with gold programs: every program runs to the example's answer."""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

import pytest

from neurosym.errors import TaskError
from neurosym.symbolic import execute, format_value, parse
from neurosym.tasks import get_task
from neurosym.tasks.bindings import find_integers, input_bindings

PROGRAM_TASKS = {
    "arithmetic.add": 300,
    "arithmetic.sub": 300,
    "arithmetic.mul": 300,
    "arithmetic.expr": 300,
    "algebra.linear": 200,
    "relational.kinship": 300,
    "episodic.location": 300,
    "relational.graph": 300,
    "constraints.ordering": 150,
}
OOD_SAMPLE = 20


def _assert_programs_answer(examples) -> None:  # noqa: ANN001
    for example in examples:
        assert example.program is not None, example.render()
        parse(example.program)
        value = execute(example.program, bindings=input_bindings(example), record_trace=False).value
        assert format_value(value) == example.answer, example.render()


@pytest.mark.parametrize(("name", "count"), PROGRAM_TASKS.items())
def test_gold_programs_give_answers(name: str, count: int) -> None:
    _assert_programs_answer(get_task(name).examples("train", n=count, seed=3))


@pytest.mark.parametrize("name", PROGRAM_TASKS)
def test_eval_split_programs_give_answers(name: str) -> None:
    task = get_task(name)
    for split, overrides in task.eval_splits.values():
        _assert_programs_answer(task.examples(split, n=OOD_SAMPLE, seed=1, **overrides))


@pytest.mark.parametrize("name", PROGRAM_TASKS)
def test_generation_reproducible_from_seed(name: str) -> None:
    task = get_task(name)
    first = [example.to_dict() for example in task.examples("test", n=15, seed=7)]
    second = [example.to_dict() for example in task.examples("test", n=15, seed=7)]
    assert first == second


@pytest.mark.parametrize("name", PROGRAM_TASKS)
def test_generation_depends_on_seed(name: str) -> None:
    task = get_task(name)
    first = [example.to_dict() for example in task.examples("test", n=15, seed=7)]
    second = [example.to_dict() for example in task.examples("test", n=15, seed=8)]
    assert first != second


@pytest.mark.parametrize("name", ["arithmetic.add", "arithmetic.sub", "arithmetic.mul"])
def test_binary_arithmetic_programs_use_references(name: str) -> None:
    programs = {example.program for example in get_task(name).examples("train", n=50)}
    assert len(programs) == 1
    assert re.fullmatch(r"\((add|sub|mul) \$n1 \$n2\)", programs.pop())


@pytest.mark.parametrize("name", ["arithmetic.add", "arithmetic.sub", "arithmetic.mul"])
@pytest.mark.parametrize("digits", [10, 20, 40])
def test_binary_arithmetic_digit_splits(name: str, digits: int) -> None:
    task = get_task(name)
    split, overrides = task.eval_splits[f"test_{digits}"]
    examples = task.examples(split, n=20, **overrides)
    lengths = {len(str(abs(number))) for example in examples for number in find_integers(example.question)}
    assert lengths == {digits}


def test_add_keeps_default_knobs_and_splits() -> None:
    task = get_task("arithmetic.add")
    assert task.difficulty == {"min_digits": 1, "max_digits": 3}
    assert task.eval_splits["test_ood"] == ("test", {"min_digits": 4, "max_digits": 5})


def test_sub_question_text() -> None:
    example = get_task("arithmetic.sub").examples("train", n=1)[0]
    assert re.fullmatch(r"what is \d+ - \d+ \?", example.question)


def test_expr_operand_count_knob() -> None:
    examples = get_task("arithmetic.expr").examples("test", n=40, min_operands=5, max_operands=5)
    assert {len(find_integers(example.question)) for example in examples} == {5}


def test_expr_program_mirrors_parentheses() -> None:
    examples = get_task("arithmetic.expr").examples("train", n=300, seed=2)
    nested_right = [e for e in examples if re.search(r"[-+*] \(", e.question)]
    assert nested_right
    for example in nested_right:
        references = re.findall(r"\$n\d+", example.program)
        assert references == [f"$n{i}" for i in range(1, len(references) + 1)]


def test_expr_ood_split_has_more_operands() -> None:
    task = get_task("arithmetic.expr")
    split, overrides = task.eval_splits["test_long"]
    train = task.examples("train", n=50)
    ood = task.examples(split, n=50, **overrides)
    assert max(len(find_integers(e.question)) for e in train) < min(len(find_integers(e.question)) for e in ood)


def test_expr_rejects_one_operand() -> None:
    with pytest.raises(TaskError, match="min_operands"):
        get_task("arithmetic.expr").examples("test", n=1, min_operands=1)


def test_mul_rejects_oversized_digits() -> None:
    with pytest.raises(TaskError, match="max_digits=600"):
        get_task("arithmetic.mul").examples("test", n=1, min_digits=1, max_digits=600)


def _evaluate_side(node: ast.expr, variable: str, value: Fraction) -> Fraction:
    """Evaluate +, -, * over integers and the variable, exactly and without eval."""
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    if isinstance(node, ast.Name) and node.id == variable:
        return value
    if isinstance(node, ast.BinOp):
        left = _evaluate_side(node.left, variable, value)
        right = _evaluate_side(node.right, variable, value)
        operations = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
        return operations[type(node.op)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate_side(node.operand, variable, value)
    raise AssertionError(f"unexpected syntax {ast.dump(node)}")


def _solution_checks(example) -> bool:  # noqa: ANN001
    """Substitute the answer into the equation with exact arithmetic, independent of sympy."""
    equation, variable = example.question.removeprefix("solve ").rsplit(" for ", 1)
    left, right = equation.split(" = ")
    value = Fraction(example.answer)
    left_value = _evaluate_side(ast.parse(left, mode="eval").body, variable, value)
    right_value = _evaluate_side(ast.parse(right, mode="eval").body, variable, value)
    return left_value == right_value


def test_linear_answers_solve_equation() -> None:
    for example in get_task("algebra.linear").examples("train", n=100, seed=5):
        assert _solution_checks(example), example.render()


def test_linear_integer_solutions_knob() -> None:
    examples = get_task("algebra.linear").examples("train", n=50, integer_solutions=1.0)
    assert all("/" not in example.answer for example in examples)


def test_linear_ood_has_longer_coefficients() -> None:
    task = get_task("algebra.linear")
    split, overrides = task.eval_splits["test_ood"]
    examples = task.examples(split, n=30, **overrides)
    assert min(len(str(abs(n))) for e in examples for n in find_integers(e.question)[:2]) >= 3


def test_kinship_chain_length_knob() -> None:
    examples = get_task("relational.kinship").examples("test", n=30, min_chain=3, max_chain=3)
    assert {len(example.facts) for example in examples} == {3}
    assert {len(example.context) for example in examples} == {3}


@pytest.mark.parametrize("length", range(5, 11))
def test_kinship_eval_splits_chain_lengths(length: int) -> None:
    task = get_task("relational.kinship")
    split, overrides = task.eval_splits[f"test_{length}"]
    examples = task.examples(split, n=5, **overrides)
    assert {example.meta["chain_length"] for example in examples} == {length}


def test_kinship_facts_form_chain_to_query() -> None:
    for example in get_task("relational.kinship").examples("train", n=100, shuffle=False):
        source, target = re.fullmatch(r"how is (\w+) related to (\w+) \?", example.question).group(2, 1)
        # Facts follow each sentence's wording, so walk them in either direction.
        person = source
        for fact in example.facts:
            assert person in (fact.subject, fact.object)
            person = fact.object if fact.subject == person else fact.subject
        assert person == target


def test_kinship_facts_follow_wording() -> None:
    for example in get_task("relational.kinship").examples("train", n=100):
        for sentence, fact in zip(example.context, example.facts, strict=True):
            assert fact.relation in sentence.text


def test_kinship_answers_vary() -> None:
    answers = Counter(example.answer for example in get_task("relational.kinship").examples("train", n=300))
    assert len(answers) >= 15


def test_kinship_sentence_names_both_people() -> None:
    for example in get_task("relational.kinship").examples("train", n=100):
        for sentence, fact in zip(example.context, example.facts, strict=True):
            assert fact.subject in sentence.text
            assert fact.object in sentence.text


def test_graph_directions_reach_goal() -> None:
    examples = get_task("relational.graph").examples("train", n=200, path_questions=0.0, reachable_questions=0.0)
    steps = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
    for example in examples:
        start, goal = re.fullmatch(r"how do you go from the (\w+) to the (\w+) \?", example.question).groups()
        x, y = example.meta["coordinates"][start]
        for direction in example.answer.split(","):
            x, y = x + steps[direction][0], y + steps[direction][1]
        assert [x, y] == example.meta["coordinates"][goal], example.render()


def test_graph_reachability_has_both_answers() -> None:
    examples = get_task("relational.graph").examples("train", n=100, reachable_questions=1.0, path_questions=0.0)
    assert {example.answer for example in examples} == {"yes", "no"}


def test_graph_ood_maps_are_larger() -> None:
    task = get_task("relational.graph")
    split, overrides = task.eval_splits["test_ood"]
    train_max = max(len(e.context) for e in task.examples("train", n=50))
    ood_min = min(len(e.context) for e in task.examples(split, n=50, **overrides))
    assert train_max < ood_min


def test_graph_places_knob() -> None:
    examples = get_task("relational.graph").examples("test", n=20, min_places=8, max_places=8)
    assert {len(example.entities) for example in examples} == {8}


def test_ordering_answers_match_hidden_ranking() -> None:
    for example in get_task("constraints.ordering").examples("train", n=100):
        ranking = example.meta["ranking"]
        expected = {"order": ",".join(ranking), "largest": ranking[0], "smallest": ranking[-1]}
        assert example.answer == expected[example.meta["question_kind"]], example.render()


def test_ordering_ood_has_more_people() -> None:
    task = get_task("constraints.ordering")
    split, overrides = task.eval_splits["test_ood"]
    train_max = max(e.meta["people"] for e in task.examples("train", n=30))
    ood_min = min(e.meta["people"] for e in task.examples(split, n=30, **overrides))
    assert train_max < ood_min


def test_ordering_rejects_negative_extra_comparisons() -> None:
    with pytest.raises(TaskError, match="extra_comparisons"):
        get_task("constraints.ordering").examples("test", n=1, extra_comparisons=-1)


@pytest.mark.parametrize("name", PROGRAM_TASKS)
def test_examples_round_trip_json(name: str) -> None:
    from neurosym.tasks import Example

    for example in get_task(name).examples("test", n=5):
        assert Example.from_dict(example.to_dict()) == example

"""Throughput of parsing and running small arithmetic programs."""

from __future__ import annotations

import random
import time

from neurosym.symbolic.executor import execute
from neurosym.symbolic.language import parse

_BINARY = ("add", "sub", "mul", "div", "mod", "min", "max", "+", "-", "*")
_UNARY = ("neg", "abs")


def random_arithmetic_program(rng: random.Random, depth: int = 2, digits: int = 6) -> str:
    """Return a random arithmetic program of at most ``depth`` nested calls."""
    if depth == 0 or rng.random() < 0.3:
        if rng.random() < 0.1:
            return f"{rng.randint(-99, 99)}/{rng.randint(1, 99)}"
        return str(rng.randint(-(10**digits), 10**digits))
    if rng.random() < 0.15:
        return f"({rng.choice(_UNARY)} {random_arithmetic_program(rng, depth - 1, digits)})"
    left = random_arithmetic_program(rng, depth - 1, digits)
    right = random_arithmetic_program(rng, depth - 1, digits)
    op = rng.choice(_BINARY)
    if op in ("div", "mod"):
        right = str(rng.randint(1, 10**digits))
    return f"({op} {left} {right})"


def benchmark_executor(n: int = 20000, seed: int = 0) -> dict[str, float | int]:
    """Parse and run ``n`` random arithmetic programs; return the throughput.

    Program generation is not timed. Returns ``programs``, ``seconds`` (parse and
    run, measured with ``time.perf_counter`` in this process on one core),
    ``programs_per_second``, ``parse_seconds`` (parsing alone, measured in a separate
    pass) and ``mean_chars``.
    """
    if type(n) is not int or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = random.Random(seed)
    programs = [random_arithmetic_program(rng) for _ in range(n)]

    start = time.perf_counter()
    for program in programs:
        parse(program)
    parse_seconds = time.perf_counter() - start

    start = time.perf_counter()
    for program in programs:
        execute(program)
    seconds = time.perf_counter() - start
    return {
        "programs": n,
        "seconds": seconds,
        "programs_per_second": n / seconds,
        "parse_seconds": parse_seconds,
        "mean_chars": sum(map(len, programs)) / n,
    }

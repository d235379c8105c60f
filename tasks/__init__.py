"""Reasoning tasks: generators, loaders for public benchmarks, and scoring.

This package never imports torch.
"""

from neurosym.tasks.example import Example, Fact, Sentence, iter_jsonl, read_jsonl, write_jsonl
from neurosym.tasks.registry import (
    SPLITS,
    GeneratorTask,
    Task,
    get_task,
    list_tasks,
    normalize_answer,
    register_task,
)

__all__ = [
    "SPLITS",
    "Example",
    "Fact",
    "GeneratorTask",
    "Sentence",
    "Task",
    "get_task",
    "iter_jsonl",
    "list_tasks",
    "normalize_answer",
    "read_jsonl",
    "register_task",
    "write_jsonl",
]

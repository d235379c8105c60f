from __future__ import annotations

import subprocess
import sys

import pytest

from neurosym.errors import TaskError
from neurosym.tasks import get_task, list_tasks


def test_list_contains_foundation_tasks() -> None:
    names = list_tasks()
    for name in ("arithmetic.add", "episodic.location", "babi.qa1", "babi.qa20"):
        assert name in names


def test_unknown_task_suggests_close_name() -> None:
    with pytest.raises(TaskError, match="Did you mean arithmetic.add"):
        get_task("arithmetic.ad")


def test_unknown_knob_lists_valid_knobs() -> None:
    with pytest.raises(TaskError, match="valid knobs: max_digits, min_digits"):
        get_task("arithmetic.add").examples("train", n=1, digits=3)


def test_unknown_split_raises() -> None:
    with pytest.raises(TaskError, match="valid splits"):
        get_task("arithmetic.add").examples("dev", n=1)


@pytest.mark.parametrize("module", ["neurosym.tasks", "neurosym.symbolic", "neurosym.memory"])
def test_torch_free_package_imports_without_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

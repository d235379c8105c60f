"""Every ```python block of docs/*.md and the READMEs runs as written.

Each page runs in its own Python process from the repository root; its blocks run in
order in one fresh namespace, so a later block may use names an earlier one defined.
A failure names the page, the block number and the block's first line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*REPO_ROOT.glob("docs/*.md"), REPO_ROOT / "README.md", REPO_ROOT / "README.zh-CN.md"])
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGE_TIMEOUT_S = 120  # a page's examples should take a few seconds; this bounds a hung one

RUNNER = """
import json, sys, traceback
page, blocks = json.load(sys.stdin)
namespace = {"__name__": "__docs__"}
for number, code in enumerate(blocks, start=1):
    try:
        exec(compile(code, f"{page} python block {number}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED BLOCK {number}", file=sys.stderr)
        sys.exit(1)
"""


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8")) if page.is_file() else []


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


def run_blocks(name: str, blocks: list[str]) -> tuple[int | None, str]:
    """Run ``blocks`` in order in one fresh process; return the failed block number (or None) and stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([name, blocks]), text=True,
                            capture_output=True, cwd=REPO_ROOT, env=env, timeout=PAGE_TIMEOUT_S)
    if result.returncode == 0:
        return None, result.stderr
    match = re.search(r"FAILED BLOCK (\d+)", result.stderr)
    return (int(match.group(1)) if match else 0), result.stderr


def test_docs_have_python_examples() -> None:
    assert len(PAGES_WITH_CODE) >= 3


def test_block_pattern_finds_fenced_python() -> None:
    text = "intro\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n"
    assert BLOCK.findall(text) == ["x = 1\n", "y = x\n"]


@pytest.mark.docs
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.name)
def test_docs_page_examples_run(page: Path) -> None:
    blocks = python_blocks(page)
    relative = str(page.relative_to(REPO_ROOT))
    number, stderr = run_blocks(relative, blocks)
    if number is not None:
        first_line = blocks[number - 1].splitlines()[0] if number else "?"
        pytest.fail(f"{relative}: python block {number} ({first_line!r}) failed:\n{stderr[-3000:]}")


def test_runner_names_failing_block() -> None:
    number, stderr = run_blocks("page.md", ["x = 1\n", "assert x == 2, 'x is not 2'\n"])
    assert number == 2
    assert "x is not 2" in stderr


def test_runner_shares_names_between_blocks() -> None:
    number, _ = run_blocks("page.md", ["x = 1\n", "assert x == 1\n"])
    assert number is None

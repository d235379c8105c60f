"""The built wheel carries all four packages under the neurosym name."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out)],
        check=True, capture_output=True,
    )
    return next(out.glob("neurosym-*.whl"))


@pytest.mark.parametrize("package", ["neurosym", "neurosym/symbolic", "neurosym/memory", "neurosym/tasks",
                                     "neurosym/layers"])
def test_wheel_contains_package(wheel: Path, package: str) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{package}/__init__.py" in names


def test_wheel_has_no_top_level_generic_names(wheel: Path) -> None:
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert not tops & {"memory", "tasks", "symbolic", "tests"}


def test_wheel_declares_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "neurosym = neurosym.cli:main" in archive.read(entry_points).decode()


def test_wheel_imports_all_packages(wheel: Path, tmp_path: Path) -> None:
    code = (
        "import neurosym, neurosym.symbolic, neurosym.memory, neurosym.tasks, neurosym.model;"
        "print(neurosym.__file__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin"}, check=True)
    assert result.stdout.strip().startswith(str(wheel))

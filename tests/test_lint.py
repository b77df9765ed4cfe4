"""ruff (lint and format, configured in pyproject.toml [tool.ruff]) passes on the repository.

`test_clean_files_stay_clean` holds the files already linted and formatted to it; add a
file to `CLEAN` once it passes. `test_whole_repository` checks everything (generated
notebooks excluded); it runs when the environment variable MI_TUTORIAL_LINT_ALL is set,
until the whole repository has been formatted once (`ruff format .` then `ruff check --fix .`);
then delete its skipif, and `CLEAN` with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CLEAN = [
    "mi_tutorial/__init__.py",
    "mi_tutorial/course/__init__.py",
    "mi_tutorial/data/tinyworld_world.py",
    "mi_tutorial/protocol.py",
    "mi_tutorial/toy_models.py",
    "mi_tutorial/checks/_keys/induction.py",
    "mi_tutorial/checks/_keys/patching.py",
    "mi_tutorial/checks/_keys/sae.py",
    "mi_tutorial/checks/_keys/steering.py",
    "mi_tutorial/checks/_keys/superposition.py",
    "tests/test_answer_keys.py",
    "tests/test_course_command.py",
    "tests/test_layers.py",
    "tests/test_lint.py",
]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401  (installed by the [dev] extra)
    except ImportError:
        pytest.skip('ruff is not installed: pip install -e ".[dev]"')
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def _assert_passes(*args: str) -> None:
    result = _ruff(*args)
    assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout[-6000:]}{result.stderr}"


def test_clean_files_stay_clean():
    paths = [path for path in CLEAN if (ROOT / path).exists()]
    _assert_passes("check", "--output-format", "concise", *paths)
    _assert_passes("format", "--check", "--diff", *paths)


@pytest.mark.skipif(
    not os.environ.get("MI_TUTORIAL_LINT_ALL"),
    reason="until the repository is formatted once: set MI_TUTORIAL_LINT_ALL=1 to run it",
)
@pytest.mark.parametrize(
    "command", [("check", "--output-format", "concise", "."), ("format", "--check", ".")]
)
def test_whole_repository(command):
    _assert_passes(*command)


def test_the_configuration_is_the_projects():
    """The settings above come from pyproject.toml (not ruff's defaults)."""
    result = _ruff("check", "--show-settings", "mi_tutorial/protocol.py")
    assert "line_length = 100" in result.stdout.replace("line-length", "line_length")

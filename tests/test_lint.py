"""ruff (lint and format, configured in pyproject.toml [tool.ruff]) passes on the repository.

`test_whole_repository` lints every Python file (generated notebooks excluded) and checks the
formatting of all but what pyproject.toml's [tool.ruff.format] excludes. To fix a failure:
`ruff format .` then `ruff check --fix .`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize(
    "command", [("check", "--output-format", "concise", "."), ("format", "--check", "--diff", ".")]
)
def test_whole_repository(command):
    """Lint everything, and the formatting of everything but what [tool.ruff.format] excludes
    (the chapter sources and four files to split first: see pyproject.toml)."""
    _assert_passes(*command)


def test_the_configuration_is_the_projects():
    """The settings above come from pyproject.toml (not ruff's defaults)."""
    result = _ruff("check", "--show-settings", "mi_tutorial/protocol.py")
    assert "line_length = 100" in result.stdout.replace("line-length", "line_length")

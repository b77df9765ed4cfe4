"""`.ci/run` behaves like a newcomer's clean machine, and the README promises the Python
versions that it tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci" / "run"


def _run_ci_with(
    tmp_path: Path, *, mi_tutorial_on_path: bool, importable: bool
) -> subprocess.CompletedProcess:
    """.ci/run, copied into an empty folder, with a fake `python3` first on PATH: it says
    whether `import mi_tutorial` works, and stops the run with 3 at anything else."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI, tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(
        "#!/bin/sh\n"
        'case "$*" in *"import mi_tutorial"*) '
        + ("echo /usr/lib/python3/mi_tutorial/__init__.py; exit 0" if importable else "exit 1")
        + ";; esac\necho REACHED >&2\nexit 3\n"
    )
    if mi_tutorial_on_path:
        (bin_dir / "mi-tutorial").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "on_path, importable", [(True, False), (False, True)], ids=["script-on-path", "importable"]
)
def test_ci_refuses_a_machine_where_mi_tutorial_is_already_installed(tmp_path, on_path, importable):
    result = _run_ci_with(tmp_path, mi_tutorial_on_path=on_path, importable=importable)
    assert (
        result.returncode == 1 and "FAIL" in result.stderr and "clean machine" in result.stderr
    ), result.stderr
    assert "REACHED" not in result.stderr  # it stopped before creating anything


def test_ci_goes_on_on_a_clean_machine(tmp_path):
    result = _run_ci_with(tmp_path, mi_tutorial_on_path=False, importable=False)
    assert result.returncode == 3 and "REACHED" in result.stderr, result.stderr


def test_the_promised_python_versions_are_the_tested_ones():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"  # tomllib in the tests, the local torch wheel: 3.11 is the floor
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11 or newer" in readme and "3.10" not in readme
    assert "on 3.12" in readme
    ci = CI.read_text()
    assert re.search(r"versions/3\.12\*/bin/python", ci) and "tests/test_torch_free.py" in ci

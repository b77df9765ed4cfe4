"""The course's tooling without torch: the notebook build, the grader's report protocol and
the command line's argument handling.

`.ci/run` runs this file, with the torch-free tests of tests/test_cli.py and
tests/test_grading.py, a second time under Python 3.12 in an environment without torch
(torch for 3.12 is only the multi-GB CUDA build there), so these parts are tested on 3.11
and 3.12; the rest of the course on 3.11.
"""

from __future__ import annotations

import subprocess
import sys

from mi_tutorial.course import build

TORCH_FREE = (
    "mi_tutorial.protocol",
    "mi_tutorial.course.build",
    "mi_tutorial.course.grading",
    "mi_tutorial.course.cli",
)


def test_the_tooling_imports_without_torch():
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in TORCH_FREE)
        + "mi_tutorial.course.cli.make_parser().parse_args(['check', 'x.ipynb', '--jobs', '2'])\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('torch', 'transformer_lens'))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_committed_notebooks_are_what_this_python_builds():
    result = build.build(check=True)
    assert result.ok, f"run `mi-tutorial build`: {result.stale + result.kept}"

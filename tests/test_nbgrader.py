"""The generated notebooks work as an nbgrader course, with nbgrader itself (the [instructor] extra).

The README's test command installs `.[dev,instructor]`, so CI runs these; they skip only
where nbgrader is not installed at all. nbgrader runs as the instructor would run it, in a
course folder written by `mi-tutorial assign --nbgrader`, with its sqlite gradebook there.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mi_tutorial.course import assign, build, cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("nbgrader") is None,
        reason="nbgrader is not installed: pip install -e '.[dev,instructor]'",
    ),
]

SOURCE = """# %% [markdown]
# # Chapter 99 — A test chapter
#
# **Time budget:** 20 minutes
#
# **You will be able to**
# - double a number;
# - halve one.

# %%
from types import SimpleNamespace


def _check_equal(fn, arg, expected):
    got = fn(arg)
    assert got == expected, f"f({arg}) should be {expected}, got {got}"
    print("passed")


checks = SimpleNamespace(
    ch99=SimpleNamespace(
        check_double=lambda fn: _check_equal(fn, 2, 4),
        check_halve=lambda fn: _check_equal(fn, 4, 2),
    )
)

# %% [markdown]
# ### Exercise 99.1 — double

# %%
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


checks.ch99.check_double(double)

# %% [markdown]
# ### Exercise 99.2 — halve

# %%
def halve(x):
    ### BEGIN SOLUTION
    return x // 2
    ### END SOLUTION


# halving rounds down
checks.ch99.check_halve(halve)

# %% [markdown]
# ## Summary
"""


def nbgrader(course: Path, *args: str) -> str:
    """Run `nbgrader ARGS` in the course folder, as an instructor with the venv activated."""
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        [os.path.join(bin_dir, "nbgrader"), *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


def cells_as_graded(nb) -> list:
    """What makes two notebooks the same assignment: cells, sources, nbgrader's own fields."""
    keys = ("grade", "grade_id", "locked", "points", "solution")
    return [
        (
            c.cell_type,
            c.source,
            {k: v for k, v in c.metadata.get("nbgrader", {}).items() if k in keys},
        )
        for c in nb.cells
    ]


def test_generate_then_autograde_full_marks_for_the_solution_zero_for_the_untouched(tmp_path):
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "solutions" / "99_test.py").write_text(SOURCE)
    (chapter,) = build.find_chapters(root)
    assign.write_assignment([chapter], tmp_path / "out", nbgrader=True, name="ch99")
    course = tmp_path / "out" / "nbgrader"

    nbgrader(course, "generate_assignment", "ch99")
    student = nbformat.read(course / "release" / "ch99" / "99_test.ipynb", as_version=4)
    assert cells_as_graded(student) == cells_as_graded(build.build_notebook(chapter, "exercises"))
    assert (course / "release" / "ch99" / "README.md").exists()

    for name, notebook in (("perfect", course / "source"), ("untouched", course / "release")):
        (course / "submitted" / name / "ch99").mkdir(parents=True)
        shutil.copy(notebook / "ch99" / "99_test.ipynb", course / "submitted" / name / "ch99")
    nbgrader(course, "autograde", "ch99", "--create")
    nbgrader(course, "export")
    with open(course / "grades.csv", newline="") as file:
        scores = {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(file)
        }
    assert scores == {"perfect": (2.0, 2.0), "untouched": (0.0, 2.0)}


def test_nbgrader_turns_the_assign_source_into_exactly_chapters(tmp_path):
    """For chapter 01: `assign --nbgrader`, then `generate_assignment`, gives chapters/01_….ipynb."""
    chapter = next(c for c in build.find_chapters() if c.number == "01")
    out = tmp_path / "week1"
    assert cli.main(["assign", "01", "--out", str(out), "--nbgrader"]) == 0
    course = out / "nbgrader"
    # The solution notebook itself as an nbgrader source too, as an instructor might take it.
    shutil.copy(chapter.solution_notebook, course / "source" / "ch01" / "as_solution.ipynb")

    nbgrader(course, "generate_assignment", "ch01")
    release = course / "release" / "ch01"
    exercises = nbformat.read(chapter.exercise_notebook, as_version=4)
    from_assign = nbformat.read(release / chapter.exercise_notebook.name, as_version=4)
    assert cells_as_graded(from_assign) == cells_as_graded(exercises)
    assert cells_as_graded(from_assign) == cells_as_graded(
        nbformat.read(out / "handout" / chapter.exercise_notebook.name, as_version=4)
    )

    # From the solution notebook: the same cells with stubs in the same places; only the first
    # two cells (the "generated from" note and the Colab badge) name the solutions file.
    from_solution = nbformat.read(release / "as_solution.ipynb", as_version=4)
    assert cells_as_graded(from_solution)[2:] == cells_as_graded(exercises)[2:]


@pytest.mark.slow
def test_a_real_chapter_autogrades_full_marks_for_the_solution_zero_for_the_untouched(tmp_path):
    """The same, on chapter 04 (the quickest to run): one point per exercise, all or nothing."""
    chapter = next(c for c in build.find_chapters() if c.number == "04")
    name = f"ch{chapter.number}"
    assign.write_assignment([chapter], tmp_path / "out", nbgrader=True, name=name)
    course = tmp_path / "out" / "nbgrader"
    nbgrader(course, "generate_assignment", name)
    for student, folder in (("perfect", "source"), ("untouched", "release")):
        (course / "submitted" / student / name).mkdir(parents=True)
        shutil.copy(
            course / folder / name / chapter.solution_notebook.name,
            course / "submitted" / student / name,
        )
    nbgrader(course, "autograde", name, "--create")
    nbgrader(course, "export")
    with open(course / "grades.csv", newline="") as file:
        scores = {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(file)
        }
    exercises = chapter.info()["exercises"]
    assert exercises >= 8
    assert scores == {"perfect": (exercises, exercises), "untouched": (0.0, exercises)}

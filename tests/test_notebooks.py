"""The one-source notebook scheme: generation, staleness, and never losing anyone's work."""

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from mi_tutorial.course import build

SOURCE = '''# %% [markdown]
# # Chapter 99 — A test chapter
#
# **Time budget:** 20 minutes
#
# **You will be able to**
# - double a number, even one
#   that is long;
# - halve one.
#
# More prose.

# %%
import math

# %% [markdown]
# ### Exercise 99.1 — double

# %%
def double(x):
    """Twice x."""
    if x is None:
        ### BEGIN SOLUTION
        return 0
        ### END SOLUTION
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


print(double(2))

# %% tags=["solution-only"]
print("only in the solutions")

# %% [markdown] tags=["solution-only"]
# A remark for instructors.
'''


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "99_test.py").write_text(SOURCE)
    return tmp_path


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def test_build_writes_both_notebooks_with_header_and_stubs(course):
    result = build.build(course)
    solution, exercise = (
        course / "solutions" / "99_test.ipynb",
        course / "chapters" / "99_test.ipynb",
    )
    assert result.written == [solution, exercise]

    for path, kind in ((solution, "solutions"), (exercise, "exercises")):
        first = _cells(path)[0]
        assert first.cell_type == "markdown"
        assert "Generated from `solutions/99_test.py` by `mi-tutorial build`" in first.source
        assert f"({kind})" in first.source

    exercise_code = "\n".join(c.source for c in _cells(exercise))
    assert "return 2 * x" not in exercise_code and "BEGIN SOLUTION" not in exercise_code
    # each block becomes one stub at the block's own indentation
    assert (
        "    if x is None:\n        raise NotImplementedError()\n    raise NotImplementedError()"
        in exercise_code
    )
    assert "only in the solutions" not in exercise_code
    assert "A remark for instructors" not in "\n".join(c.source for c in _cells(exercise))

    solution_cells = _cells(solution)
    assert any("### BEGIN SOLUTION" in c.source for c in solution_cells)
    assert any("only in the solutions" in c.source for c in solution_cells)
    for path in (solution, exercise):  # the same nbgrader metadata in both, on the same cell
        (marked,) = [c for c in _cells(path) if "nbgrader" in c.metadata]
        assert marked.metadata["nbgrader"]["solution"] is True and "def double" in marked.source
        assert marked.metadata["nbgrader"]["grade_id"] == "ch99-ex99_1-solution"


def test_generated_notebooks_have_no_outputs_and_are_reproducible(course):
    build.build(course)
    path = course / "solutions" / "99_test.ipynb"
    first = path.read_text()
    assert all(not c.get("outputs") for c in json.loads(first)["cells"])
    path.unlink()
    build.build(course)
    assert path.read_text() == first


def test_check_names_stale_files_and_changes_nothing(course):
    assert build.build(course, check=True).stale  # nothing generated yet
    assert not (course / "chapters").exists()
    build.build(course)
    assert build.build(course, check=True).ok
    source = course / "solutions" / "99_test.py"
    source.write_text(source.read_text().replace("Twice x.", "Two times x."))
    result = build.build(course, check=True)
    assert sorted(p.name for p in result.stale) == ["99_test.ipynb", "99_test.ipynb"]
    assert "Twice x." in (course / "chapters" / "99_test.ipynb").read_text()


def test_a_learners_edits_are_never_overwritten(course):
    build.build(course)
    exercise = course / "chapters" / "99_test.ipynb"
    nb = nbformat.read(exercise, as_version=4)
    stub_cell = next(c for c in nb.cells if "raise NotImplementedError()" in c.source)
    stub_cell.source = stub_cell.source.replace("raise NotImplementedError()", "return x + x", 1)
    nbformat.write(nb, exercise)
    mine = exercise.read_text()

    source = course / "solutions" / "99_test.py"
    source.write_text(source.read_text().replace("Twice x.", "Two times x."))
    result = build.build(course)
    assert result.kept == [exercise] and exercise.read_text() == mine

    result = build.build(course, force=True)
    assert len(result.backups) == 1 and result.backups[0].read_text() == mine
    assert "Two times x." in exercise.read_text()


def test_running_a_notebook_does_not_count_as_editing_it(course):
    build.build(course)
    exercise = course / "chapters" / "99_test.ipynb"
    nb = nbformat.read(exercise, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    code.execution_count = 1
    nbformat.write(nb, exercise)
    ran = exercise.read_text()
    result = build.build(course)  # same source: keep the outputs, write nothing
    assert result.written == [] and exercise.read_text() == ran


@pytest.mark.parametrize(
    "broken, says",
    [
        ("    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("    ### END SOLUTION\n", "without a ### BEGIN SOLUTION"),
    ],
)
def test_unbalanced_delimiters_are_a_clear_error(course, broken, says):
    (course / "solutions" / "98_broken.py").write_text(f"# %%\ndef f():\n{broken}")
    with pytest.raises(build.BuildError, match=says) as error:
        build.build(course)
    assert "98_broken.py, cell 1" in str(error.value)


def test_chapter_info_reads_title_budget_exercises_and_objectives(course):
    (chapter,) = build.find_chapters(course)
    info = chapter.info()
    assert info == {
        "number": "99",
        "title": "Chapter 99 — A test chapter",
        "time_budget": "20 minutes",
        "exercises": 1,
        "objectives": ["double a number, even one that is long;", "halve one."],
        "solution_notebook": False,
    }


# --- Colab --------------------------------------------------------------------------------


def test_both_notebooks_open_with_a_colab_badge_and_setup_cell(course):
    build.build(course)
    for path, kind in (
        (course / "solutions" / "99_test.ipynb", "solutions"),
        (course / "chapters" / "99_test.ipynb", "chapters"),
    ):
        header, badge, setup = _cells(path)[:3]
        assert "Generated from" in header.source
        url = f"{build.REPOSITORY_URL.removeprefix('https://github.com/')}/blob/{build.REPOSITORY_BRANCH}"
        assert badge.cell_type == "markdown"
        assert (
            f"(https://colab.research.google.com/github/{url}/{kind}/99_test.ipynb)" in badge.source
        )
        assert f"[![Open In Colab]({build.COLAB_BADGE_IMAGE})]" in badge.source
        assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source
        assert "sys.path" not in setup.source and "chdir" not in setup.source


def _setup_cell(course) -> str:
    build.build(course)
    return _cells(course / "chapters" / "99_test.ipynb")[2].source


def test_the_colab_setup_cell_does_nothing_outside_colab(course, monkeypatch):
    def no_subprocess(*args, **kwargs):
        raise AssertionError("outside Colab the setup cell must not run anything")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace: dict = {}
    exec(_setup_cell(course), namespace)
    assert set(namespace) - {"__builtins__"} == {"sys"}


def test_on_colab_the_setup_cell_pip_installs_the_package_without_extras(course, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setitem(sys.modules, "google.colab", object())
    exec(_setup_cell(course), {})
    ((args, kwargs),) = calls
    spec = f"mi-tutorial @ git+{build.REPOSITORY_URL}@{build.REPOSITORY_BRANCH}"
    assert args == ([sys.executable, "-m", "pip", "install", "--quiet", spec],) and kwargs == {
        "check": True
    }
    project = tomllib.loads((build.COURSE_ROOT / "pyproject.toml").read_text())["project"]
    assert (
        spec.split(" @ ")[0] == project["name"] == build.PACKAGE_NAME
    )  # the right package, no [extras]
    assert build.REPOSITORY_URL.startswith("https://github.com/")


def test_the_repository_url_is_set_in_one_place_only():
    package = build.COURSE_ROOT / "mi_tutorial"
    holders = [p.name for p in package.rglob("*.py") if build.REPOSITORY_URL in p.read_text()]
    assert holders == ["build.py"]
    assert (package / "course" / "build.py").read_text().count(build.REPOSITORY_URL) == 1


# --- check calls in their own graded cell ---------------------------------------------------

GRADED_SOURCE = """# %% [markdown]
# # Chapter 98 — Graded
# **Time budget:** 5 minutes

# %%
import math

# %% [markdown]
# ### Exercise 98.1 — double

# %%
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


# the check takes a second
checks.ch98.check_double(double)
checks.ch98.check_double_again(
    double,
    cases=3,
)

# %% [markdown]
# ### Exercise 98.2 — triple, in two cells

# %%
def triple(x):
    ### BEGIN SOLUTION
    return 3 * x
    ### END SOLUTION


checks.ch98.check_triple(triple)

# %%
### BEGIN SOLUTION
value = triple(2)
### END SOLUTION
checks.ch98.check_value(value)
"""


def test_check_calls_that_end_a_solution_cell_get_their_own_graded_cell(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "98_graded.py").write_text(GRADED_SOURCE)
    (chapter,) = build.find_chapters(tmp_path)
    for kind in ("solutions", "exercises"):
        cells = build.build_notebook(chapter, kind).cells
        code = [c for c in cells if c.cell_type == "code"][
            2:
        ]  # after the Colab setup and `import math`
        assert [c.metadata["nbgrader"]["grade_id"] for c in code] == [
            "ch98-ex98_1-solution",
            "ch98-ex98_1-check",
            "ch98-ex98_2-solution",
            "ch98-ex98_2-check",
            "ch98-ex98_2-solution-2",
            "ch98-ex98_2-check-2",
        ]
        assert code[0].source.endswith(
            "### END SOLUTION" if kind == "solutions" else "raise NotImplementedError()"
        )
        assert code[1].source == (
            "# the check takes a second\n"
            "checks.ch98.check_double(double)\n"
            "checks.ch98.check_double_again(\n    double,\n    cases=3,\n)"
        )
        assert code[5].source == "checks.ch98.check_value(value)"
        assert code[4].source == (
            "### BEGIN SOLUTION\nvalue = triple(2)\n### END SOLUTION"
            if kind == "solutions"
            else "raise NotImplementedError()"
        )
        for solution, check in zip(code[::2], code[1::2]):
            assert solution.metadata["nbgrader"] == {
                "grade": False,
                "grade_id": solution.metadata["nbgrader"]["grade_id"],
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
            assert check.metadata["nbgrader"] == {
                "grade": True,
                "grade_id": check.metadata["nbgrader"]["grade_id"],
                "locked": True,
                "points": 1,
                "schema_version": 3,
                "solution": False,
                "task": False,
            }
    nbgrader_source = build.build_notebook(chapter, "nbgrader")
    exercises = build.build_notebook(chapter, "exercises")
    assert nbgrader_source.cells[0].source == exercises.cells[0].source  # looks like the exercises…
    assert "return 2 * x" in nbgrader_source.cells[6].source  # …with the solutions in
    assert [c.id for c in nbgrader_source.cells] == [c.id for c in exercises.cells]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("x = 1\nchecks.ch01.check_x(x)", ("x = 1", "checks.ch01.check_x(x)")),
        (
            "checks.ch01.check_x(x)\nprint(x)",
            ("checks.ch01.check_x(x)\nprint(x)", ""),
        ),  # not at the end
        ("x = 1\nchecks_x(x)", ("x = 1\nchecks_x(x)", "")),  # not the checks module
        ("x = 1\nchecks(x)", ("x = 1\nchecks(x)", "")),
        (
            "%time x = 1\nchecks.ch01.check_x(x)",
            ("%time x = 1\nchecks.ch01.check_x(x)", ""),
        ),  # a magic: left whole
        (
            "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n# why\nchecks.ch01.check_x(x)",
            ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "# why\nchecks.ch01.check_x(x)"),
        ),
    ],
)
def test_split_check_calls(code, expected):
    assert build.split_check_calls(code) == expected


# --- the real course ------------------------------------------------------------------------


def test_course_notebooks_are_up_to_date():
    result = build.build(check=True)
    assert result.ok, f"stale generated notebooks, run `mi-tutorial build`: {result.stale}"


@pytest.mark.parametrize("chapter", build.find_chapters(), ids=lambda c: c.stem)
def test_every_exercise_has_a_solution_and_a_graded_check(chapter):
    """One heading and one solution cell per exercise, and right under it a graded check cell."""
    nb = build.build_notebook(chapter, "solutions")
    headings = [
        c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("### Exercise")
    ]
    solution_cells = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and build.BEGIN_SOLUTION in c.source
    ]
    assert len(headings) == len(solution_cells) >= 1
    for i in solution_cells:
        check = nb.cells[i + 1]
        assert f"checks.ch{chapter.number}.check_" in check.source, (
            f"{chapter.source.name}: the solution cell\n{nb.cells[i].source[:300]}\n"
            "does not end with its check call (`checks.chNN.check_…(…)`), so it gets no graded cell."
        )
        assert check.metadata["nbgrader"]["grade"] is True
    info = chapter.info()
    assert info["time_budget"] != "?" and info["exercises"] == len(headings)
    assert any(c.source.startswith("## Summary") or "\n## Summary" in c.source for c in nb.cells)
    assert any("## Questions" in c.source for c in nb.cells)


def test_the_course_copy_is_untouched_by_a_build_in_a_copy(tmp_path):
    """Building a copy of the course regenerates byte-identical notebooks (no hidden state)."""
    for folder in ("solutions", "chapters"):
        shutil.copytree(build.COURSE_ROOT / folder, tmp_path / folder)
    before = {p.name: p.read_text() for p in (tmp_path / "chapters").glob("*.ipynb")}
    for p in list((tmp_path / "solutions").glob("*.ipynb")) + list(
        (tmp_path / "chapters").glob("*.ipynb")
    ):
        p.unlink()
    build.build(tmp_path)
    assert {p.name: p.read_text() for p in (tmp_path / "chapters").glob("*.ipynb")} == before

"""The one-source notebook scheme: generation, staleness, and never losing anyone's work."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from mi_tutorial import notebooks

SOURCE = '''# %% [markdown]
# # Chapter 99 — A test chapter
#
# **Time budget:** 20 minutes

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
    result = notebooks.build(course)
    solution, exercise = course / "solutions" / "99_test.ipynb", course / "chapters" / "99_test.ipynb"
    assert result.written == [solution, exercise]

    for path, kind in ((solution, "solutions"), (exercise, "exercises")):
        first = _cells(path)[0]
        assert first.cell_type == "markdown"
        assert "Generated from `solutions/99_test.py` by `mi-tutorial build`" in first.source
        assert f"({kind})" in first.source

    exercise_code = "\n".join(c.source for c in _cells(exercise))
    assert "return 2 * x" not in exercise_code and "BEGIN SOLUTION" not in exercise_code
    # each block becomes one stub at the block's own indentation
    assert "    if x is None:\n        raise NotImplementedError()\n    raise NotImplementedError()" in exercise_code
    assert "only in the solutions" not in exercise_code
    assert "A remark for instructors" not in "\n".join(c.source for c in _cells(exercise))

    solution_cells = _cells(solution)
    assert any("### BEGIN SOLUTION" in c.source for c in solution_cells)
    assert any("only in the solutions" in c.source for c in solution_cells)
    graded = [c for c in solution_cells if "nbgrader" in c.metadata]
    assert len(graded) == 1 and graded[0].metadata["nbgrader"]["solution"] is True


def test_generated_notebooks_have_no_outputs_and_are_reproducible(course):
    notebooks.build(course)
    path = course / "solutions" / "99_test.ipynb"
    first = path.read_text()
    assert all(not c.get("outputs") for c in json.loads(first)["cells"])
    path.unlink()
    notebooks.build(course)
    assert path.read_text() == first


def test_check_names_stale_files_and_changes_nothing(course):
    assert notebooks.build(course, check=True).stale  # nothing generated yet
    assert not (course / "chapters").exists()
    notebooks.build(course)
    assert notebooks.build(course, check=True).ok
    source = course / "solutions" / "99_test.py"
    source.write_text(source.read_text().replace("Twice x.", "Two times x."))
    result = notebooks.build(course, check=True)
    assert sorted(p.name for p in result.stale) == ["99_test.ipynb", "99_test.ipynb"]
    assert "Twice x." in (course / "chapters" / "99_test.ipynb").read_text()


def test_a_learners_edits_are_never_overwritten(course):
    notebooks.build(course)
    exercise = course / "chapters" / "99_test.ipynb"
    nb = nbformat.read(exercise, as_version=4)
    stub_cell = next(c for c in nb.cells if "raise NotImplementedError()" in c.source)
    stub_cell.source = stub_cell.source.replace("raise NotImplementedError()", "return x + x", 1)
    nbformat.write(nb, exercise)
    mine = exercise.read_text()

    source = course / "solutions" / "99_test.py"
    source.write_text(source.read_text().replace("Twice x.", "Two times x."))
    result = notebooks.build(course)
    assert result.kept == [exercise] and exercise.read_text() == mine

    result = notebooks.build(course, force=True)
    assert len(result.backups) == 1 and result.backups[0].read_text() == mine
    assert "Two times x." in exercise.read_text()


def test_running_a_notebook_does_not_count_as_editing_it(course):
    notebooks.build(course)
    exercise = course / "chapters" / "99_test.ipynb"
    nb = nbformat.read(exercise, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    code.execution_count = 1
    nbformat.write(nb, exercise)
    ran = exercise.read_text()
    result = notebooks.build(course)  # same source: keep the outputs, write nothing
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
    with pytest.raises(notebooks.BuildError, match=says) as error:
        notebooks.build(course)
    assert "98_broken.py, cell 1" in str(error.value)


def test_chapter_info_reads_title_budget_and_exercises(course):
    (chapter,) = notebooks.find_chapters(course)
    info = chapter.info()
    assert info == {
        "number": "99",
        "title": "Chapter 99 — A test chapter",
        "time_budget": "20 minutes",
        "exercises": 1,
        "solution_notebook": False,
    }


# --- the real course ------------------------------------------------------------------------


def test_course_notebooks_are_up_to_date():
    result = notebooks.build(check=True)
    assert result.ok, f"stale generated notebooks, run `mi-tutorial build`: {result.stale}"


@pytest.mark.parametrize("chapter", notebooks.find_chapters(), ids=lambda c: c.stem)
def test_every_exercise_has_a_solution_and_a_check(chapter):
    """One heading, one solution cell, at least one check call per exercise."""
    nb = notebooks.build_notebook(chapter, "solutions")
    headings = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("### Exercise")]
    solution_cells = [c for c in nb.cells if c.cell_type == "code" and notebooks.BEGIN_SOLUTION in c.source]
    assert len(headings) == len(solution_cells) >= 1
    for cell in solution_cells:
        assert f"checks.ch{chapter.number}.check_" in cell.source, cell.source[:200]
    info = chapter.info()
    assert info["time_budget"] != "?" and info["exercises"] == len(headings)
    assert any(c.source.startswith("## Summary") or "\n## Summary" in c.source for c in nb.cells)
    assert any("## Questions" in c.source for c in nb.cells)


def test_the_course_copy_is_untouched_by_a_build_in_a_copy(tmp_path):
    """Building a copy of the course regenerates byte-identical notebooks (no hidden state)."""
    for folder in ("solutions", "chapters"):
        shutil.copytree(notebooks.COURSE_ROOT / folder, tmp_path / folder)
    before = {p.name: p.read_text() for p in (tmp_path / "chapters").glob("*.ipynb")}
    for p in list((tmp_path / "solutions").glob("*.ipynb")) + list((tmp_path / "chapters").glob("*.ipynb")):
        p.unlink()
    notebooks.build(tmp_path)
    assert {p.name: p.read_text() for p in (tmp_path / "chapters").glob("*.ipynb")} == before

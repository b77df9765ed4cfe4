"""`mi-tutorial assign`: the handout folder, the student README, and never writing over files.

nbgrader itself running on the result is in tests/test_nbgrader.py.
"""

from __future__ import annotations

import nbformat
import pytest

from mi_tutorial.course import assign, build, cli

CHAPTER = next(c for c in build.find_chapters() if c.number == "01")


def test_handout_holds_the_exercise_notebooks_and_a_student_readme(tmp_path, capsys):
    out = tmp_path / "week1"
    assert cli.main(["assign", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "01_transformer_from_scratch.ipynb",
        "README.md",
    ]
    handed_out = nbformat.read(out / "01_transformer_from_scratch.ipynb", as_version=4)
    assert handed_out.cells == build.build_notebook(CHAPTER, "exercises").cells
    assert "BEGIN SOLUTION" not in (out / "01_transformer_from_scratch.ipynb").read_text()

    readme = (out / "README.md").read_text()
    info = CHAPTER.info()
    assert info["objectives"], "chapter 01 lists what the learner will be able to do"
    for text in (info["title"], info["time_budget"], *info["objectives"]):
        assert text in readme
    assert "mi-tutorial check 01_transformer_from_scratch.ipynb" in readme  # how to self-check
    assert "## Submit" in readme and "nbgrader" not in readme
    assert "Hand out" in capsys.readouterr().out


def test_with_nbgrader_the_solutions_stay_out_of_the_handout(tmp_path):
    out = tmp_path / "week1"
    assert (
        cli.main(["assign", "01", "--out", str(out), "--nbgrader", "--assignment", "week-1"]) == 0
    )
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "handout/01_transformer_from_scratch.ipynb",
        "handout/README.md",
        "nbgrader/nbgrader_config.py",
        "nbgrader/source/week-1/01_transformer_from_scratch.ipynb",
        "nbgrader/source/week-1/README.md",
    ]
    assert (
        "BEGIN SOLUTION" not in (out / "handout" / "01_transformer_from_scratch.ipynb").read_text()
    )
    assert (
        "BEGIN SOLUTION"
        in (
            out / "nbgrader" / "source" / "week-1" / "01_transformer_from_scratch.ipynb"
        ).read_text()
    )
    assert (
        'code_stub = {"python": "raise NotImplementedError()"}'
        in (out / "nbgrader" / "nbgrader_config.py").read_text()
    )
    assert "nbgrader" in (out / "handout" / "README.md").read_text()


@pytest.mark.parametrize("existing", ["a file in it", "a file instead"])
def test_it_never_writes_into_a_non_empty_folder(tmp_path, capsys, existing):
    out = tmp_path / "week1"
    if existing == "a file in it":
        out.mkdir()
        (out / "mine.txt").write_text("my notes")
    else:
        out.write_text("a file")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli.main(["assign", "01", "--out", str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_an_empty_folder_is_fine(tmp_path):
    assert cli.main(["assign", "01", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").exists()


def test_unknown_chapters_and_bad_names_are_clear_errors(tmp_path, capsys):
    assert cli.main(["assign", "77", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "No chapter '77'" in err and "01 (01_transformer_from_scratch)" in err
    assert cli.main(["assign", "01", "--out", str(tmp_path / "b"), "--assignment", "week 1"]) == 2
    assert "may hold only letters" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_chapters_are_named_by_number_or_stem_and_default_names_follow():
    chapters = assign.select_chapters(["01_transformer_from_scratch", "1", "01"])
    assert chapters == [CHAPTER] and assign.default_name(chapters) == "ch01"

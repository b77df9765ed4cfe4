"""`mi-tutorial check` on a real chapter: its solution passes everything, its exercises nothing.

One solution run and one exercise run (chapter 01), the rest of `check` is tested fast on
crafted notebooks in tests/test_grading.py.
"""

from __future__ import annotations

import json

import pytest

from mi_tutorial.course import build, cli, grading

pytestmark = pytest.mark.slow
CHAPTER = next(c for c in build.find_chapters() if c.number == "01")


def test_the_solution_notebook_passes_every_exercise(checked_solution):
    report = checked_solution(CHAPTER)
    assert len(report.exercises) == CHAPTER.info()["exercises"]
    not_passed = [
        (e.exercise, e.status, e.message) for e in report.exercises if e.status != grading.PASSED
    ]
    assert report.ok and not not_passed, not_passed
    assert not report.notes, (
        report.notes
    )  # no cell of the solution fails, inside an exercise or not


def test_the_exercise_notebook_is_all_not_attempted_and_untouched(tmp_path, capsys):
    path = CHAPTER.exercise_notebook
    before = path.read_bytes()
    out_json = tmp_path / "results.json"
    assert cli.main(["check", str(path), "--json", str(out_json)]) == 1
    assert path.read_bytes() == before
    (entry,) = json.loads(out_json.read_text())
    statuses = {e["exercise"]: e["status"] for e in entry["exercises"]}
    assert len(statuses) == CHAPTER.info()["exercises"]
    assert set(statuses.values()) == {grading.NOT_ATTEMPTED}, statuses
    out = capsys.readouterr().out
    assert f"{len(statuses)} not attempted — not all exercises passed" in out

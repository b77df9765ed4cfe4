"""`mi-tutorial check` on crafted notebooks, one per way a learner's notebook can go wrong.

The crafted notebooks are tiny and use a stand-in check that reports through the same
file the course's checks write to (`grading.REPORT_ENV`), so each runs in a few seconds;
importing the real checks costs ~12 s per kernel (TransformerLens). The course's own
checks are run end to end on chapter 01 in tests/test_check_chapters.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from mi_tutorial.course import cli, grading
from mi_tutorial.course.grading import ERROR, FAILED, NOT_ATTEMPTED, NOT_CHECKED, NOT_RUN, PASSED

pytestmark = pytest.mark.slow  # each notebook starts a kernel

SETUP = '''\
from mi_tutorial.protocol import write_report as _report


def check(exercise, fn, arg, expected):
    """A stand-in for a course check: fn(arg) should equal expected."""
    try:
        got = fn(arg)
    except NotImplementedError:
        _report(exercise, "not attempted", "still raises NotImplementedError")
        raise AssertionError(f"{exercise}: not attempted")
    if got != expected:
        _report(exercise, "failed", f"f({arg!r}) should be {expected!r}, got {got!r}")
        raise AssertionError(f"{exercise}: wrong")
    _report(exercise, "passed", f"✓ {exercise} passed")
'''


def exercise(number: str, code: str, check_call: str | None) -> list:
    cells = [
        nbformat.v4.new_markdown_cell(f"### Exercise {number} — ex {number}\nDo it."),
        nbformat.v4.new_code_cell(code),
    ]
    if check_call:
        cells.append(nbformat.v4.new_code_cell(check_call))
    return cells


def write_notebook(path: Path, *parts: list) -> Path:
    cells = [
        nbformat.v4.new_markdown_cell("# A crafted notebook"),
        nbformat.v4.new_code_cell(SETUP),
    ]
    for part in parts:
        cells += part
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def passing(number: str) -> list:
    name = "f" + number.replace(".", "_")
    return exercise(
        number, f"def {name}(x):\n    return 2 * x", f'check("Exercise {number}", {name}, 2, 4)'
    )


def by_number(report: grading.NotebookReport) -> dict[str, grading.ExerciseResult]:
    return {e.exercise: e for e in report.exercises}


def test_every_recoverable_failure_is_reported_and_the_rest_still_runs(tmp_path):
    path = write_notebook(
        tmp_path / "mixed.ipynb",
        passing("9.1"),
        exercise(
            "9.2", "def f2(x):\n    return x + 1", 'check("Exercise 9.2", f2, 2, 4)'
        ),  # 3, not 4
        exercise(
            "9.3", "def f3(x):\n    raise NotImplementedError()", 'check("Exercise 9.3", f3, 2, 4)'
        ),
        # the learner's cell fails before defining f4, so the check cell fails too (NameError)
        exercise(
            "9.4", "undefined_name\ndef f4(x):\n    return 2 * x", 'check("Exercise 9.4", f4, 2, 4)'
        ),
        exercise(
            "9.5", "while True:\n    pass", None
        ),  # an endless loop: interrupted, the kernel lives on
        exercise("9.6", "import sys\nsys.exit(3)", None),  # SystemExit: IPython catches it
        exercise("9.7", "def f7(x):\n    return 2 * x", None),  # the check call was deleted
        exercise("9.8", "result = 1 +", None),  # a SyntaxError
        [
            nbformat.v4.new_markdown_cell("Prose."),
            nbformat.v4.new_code_cell("1 / 0"),
        ],  # outside any exercise
        passing("9.9"),
    )
    before = path.read_bytes(), path.stat().st_mtime_ns
    report = grading.check_notebook(path, timeout=6)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before, (
        "check must never write the learner's file"
    )

    got = by_number(report)
    assert [e.exercise for e in report.exercises] == [f"9.{i}" for i in range(1, 10)]
    assert got["9.1"].status == PASSED and "✓ Exercise 9.1 passed" in got["9.1"].message
    assert got["9.2"].status == FAILED and "should be 4, got 3" in got["9.2"].message
    assert got["9.3"].status == NOT_ATTEMPTED
    assert (
        got["9.4"].status == ERROR
        and "NameError" in got["9.4"].message
        and "undefined_name" in got["9.4"].message
    )
    assert got["9.5"].status == ERROR and "longer than 6 s" in got["9.5"].message
    assert got["9.6"].status == ERROR and "SystemExit" in got["9.6"].message
    assert got["9.7"].status == NOT_CHECKED and "check call" in got["9.7"].message
    assert got["9.8"].status == ERROR and "SyntaxError" in got["9.8"].message
    assert got["9.9"].status == PASSED  # everything above did not stop the run
    assert any("ZeroDivisionError" in note and "1 / 0" in note for note in report.notes)
    assert not report.ok

    table = grading.format_report(report)
    assert "should be 4, got 3" in table and "not attempted" in table
    assert "2 passed, 1 failed, 1 not attempted, 4 error, 1 not checked" in table


def test_a_stub_that_raises_in_the_cell_itself_is_not_attempted(tmp_path):
    """The stub raising at the top level of the cell, before any check ran."""
    path = write_notebook(
        tmp_path / "stub.ipynb",
        exercise(
            "9.1", "raise NotImplementedError()\nf1 = None", 'check("Exercise 9.1", f1, 2, 4)'
        ),
    )
    (result,) = grading.check_notebook(path, timeout=10).exercises
    assert result.status == NOT_ATTEMPTED


def test_all_passed_is_exit_code_0_and_json_has_the_same_results(tmp_path, capsys):
    path = write_notebook(tmp_path / "good.ipynb", passing("9.1"), passing("9.2"))
    out_json = tmp_path / "results.json"
    assert cli.main(["check", str(path), "--json", str(out_json), "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert "2 passed — all exercises passed" in out
    (entry,) = json.loads(out_json.read_text())
    assert entry["ok"] is True and entry["notebook"] == str(path)
    assert [(e["exercise"], e["status"]) for e in entry["exercises"]] == [
        ("9.1", PASSED),
        ("9.2", PASSED),
    ]


def test_a_folder_of_submissions_with_fatal_ones_is_contained(tmp_path, capsys):
    """Kernel death, exit(), and a hang that ignores the interrupt: each ends only its own run."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    hang = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    write_notebook(folder / "a_good.ipynb", passing("9.1"), passing("9.2"))
    write_notebook(
        folder / "b_dies.ipynb",
        passing("9.1"),
        exercise("9.2", "import os\nos._exit(1)", None),
        passing("9.3"),
    )
    write_notebook(
        folder / "c_exits.ipynb", passing("9.1"), exercise("9.2", "exit()", None), passing("9.3")
    )
    write_notebook(
        folder / "d_hangs.ipynb", passing("9.1"), exercise("9.2", hang, None), passing("9.3")
    )
    (folder / "e_broken.ipynb").write_text("{not json")
    js = tmp_path / "results.json"

    code = cli.main(["check", str(folder), "--jobs", "3", "--timeout", "8", "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 1
    results = {Path(r["notebook"]).name: r for r in json.loads(js.read_text())}
    assert list(results) == [
        "a_good.ipynb",
        "b_dies.ipynb",
        "c_exits.ipynb",
        "d_hangs.ipynb",
        "e_broken.ipynb",
    ]
    assert results["a_good.ipynb"]["ok"]
    for name, says in (
        ("b_dies.ipynb", "kernel died"),
        ("c_exits.ipynb", "exit()"),
        ("d_hangs.ipynb", "longer than 8 s"),
    ):
        statuses = [(e["exercise"], e["status"]) for e in results[name]["exercises"]]
        assert statuses == [("9.1", PASSED), ("9.2", ERROR), ("9.3", NOT_RUN)], (name, statuses)
        assert says in results[name]["exercises"][1]["message"], results[name]
        assert results[name]["notes"] and "stopped early" in results[name]["notes"][0]
    assert "could not read it as a notebook" in results["e_broken.ipynb"]["notes"][0]
    assert "1 of 5 notebooks: every exercise passed." in out


def test_a_notebook_without_exercises_is_not_a_pass(tmp_path):
    path = write_notebook(tmp_path / "none.ipynb")
    report = grading.check_notebook(path)
    assert not report.ok and "no exercises found" in report.notes[0]


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path / "missing.ipynb")]) == 2
    assert "No such file or folder" in capsys.readouterr().err
    assert cli.main(["check", str(tmp_path)]) == 2
    assert "No .ipynb files" in capsys.readouterr().err


def test_exercise_cells_follow_the_headings():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("setup"),
            nbformat.v4.new_markdown_cell("### Exercise 2.1 — induction_score\nDifficulty 3/5"),
            nbformat.v4.new_markdown_cell("More words about it, before any code."),
            nbformat.v4.new_code_cell("solution"),
            nbformat.v4.new_code_cell("check"),
            nbformat.v4.new_markdown_cell("Prose: the exercise is over."),
            nbformat.v4.new_code_cell("demo"),
            nbformat.v4.new_markdown_cell("### Exercise 2.10: the last one"),
            nbformat.v4.new_code_cell("solution"),
        ]
    )
    assert grading.exercise_cells(nb) == [
        ("2.1", "induction_score", [3, 4]),
        ("2.10", "the last one", [8]),
    ]


def test_the_checks_and_the_grader_agree_on_the_report_format(tmp_path, monkeypatch):
    """A real `Check` writes what `check_notebook` reads (the crafted notebooks above fake it)."""
    from mi_tutorial.checks import Check, CheckFailed

    report = tmp_path / "report.jsonl"
    monkeypatch.setenv(grading.REPORT_ENV, str(report))
    Check("Exercise 9.1 — a").passed()

    def stub():
        raise NotImplementedError()

    with pytest.raises(CheckFailed):
        Check("Exercise 9.2 — b").call(stub, case="c")
    with pytest.raises(CheckFailed):
        Check("Exercise 9.3 — c").fail("wrong")
    results = grading._read_reports(report)
    assert {k: v["status"] for k, v in results.items()} == {
        "9.1": PASSED,
        "9.2": NOT_ATTEMPTED,
        "9.3": FAILED,
    }

    monkeypatch.delenv(grading.REPORT_ENV)
    os.remove(report)
    Check("Exercise 9.1 — a").passed()  # a learner in Jupyter: nothing written
    assert not report.exists()


def test_a_cell_that_timed_out_or_exited_is_reported_in_its_own_exercise(tmp_path, capfd):
    """The learner's cell leaves the stub in place and then loops forever (or calls
    sys.exit()): the check that runs after it reports "not attempted", but what happened is
    the cell's timeout or exit, and that is what the exercise's row must say."""
    path = write_notebook(
        tmp_path / "stopped.ipynb",
        exercise(
            "9.1",
            "def f1(x):\n    raise NotImplementedError()\nwhile True:\n    pass",
            'check("Exercise 9.1", f1, 2, 4)',
        ),
        exercise(
            "9.2",
            "def f2(x):\n    raise NotImplementedError()\nimport sys\nsys.exit(3)",
            'check("Exercise 9.2", f2, 2, 4)',
        ),
        exercise(
            "9.3",
            "def f3(x):\n    return 2 * x\nwhile True:\n    pass",
            'check("Exercise 9.3", f3, 2, 4)',
        ),
        passing("9.4"),
    )
    report = grading.check_notebook(path, timeout=8)
    got = by_number(report)
    assert got["9.1"].status == ERROR and "longer than 8 s" in got["9.1"].message, got["9.1"]
    assert got["9.2"].status == ERROR and "sys.exit(3)" in got["9.2"].message, got["9.2"]
    # the check passed, but the row still says the cell was interrupted
    assert got["9.3"].status == PASSED and "longer than 8 s" in got["9.3"].message, got["9.3"]
    assert got["9.4"].status == PASSED
    assert "longer than 8 s" in grading.format_report(report)
    captured = capfd.readouterr()  # the kernel writes to this process's stderr
    assert "without encryption" not in captured.err + captured.out  # its TCP warning is noise

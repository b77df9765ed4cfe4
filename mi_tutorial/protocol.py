"""What the checks, the notebook builder and the grader share; torch-free, standard library only.

- The check report: when `mi-tutorial check` runs a notebook headless, the environment
  variable `REPORT_ENV` names a JSON-lines file; every check appends one record
  {"exercise", "status", "message"} to it (`write_report`), status one of `PASSED`,
  `FAILED`, `NOT_ATTEMPTED`, and the grader reads them back (`read_reports`). Without the
  variable (a learner in Jupyter) nothing is written.
- The exercise heading, `### Exercise N.M — title` (`EXERCISE_HEADING`: group 1 the
  number, group 2 the title).
- A check call, `checks.chNN.check_x(...)` as a statement of its own (`is_check_call`,
  `without_check_calls`).

Kept apart, with no third-party import, so that a learner's notebook, which imports the
checks, does not also import the grader and its dependencies, and the other way round.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

REPORT_ENV = "MI_TUTORIAL_CHECK_REPORT"  # names the JSON-lines file checks append to
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"

EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+\.\d+)\b[\s—–:.-]*(.*)$", re.MULTILINE)
_EXERCISE_NUMBER = re.compile(r"Exercise\s+(\d+\.\d+)")


def write_report(exercise: str, status: str, message: str) -> None:
    """Append one result to the file `mi-tutorial check` named, if it named one."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    record = {"exercise": exercise, "status": status, "message": message}
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
    except OSError:  # reporting must never break the learner's check
        pass


def read_reports(path: Path) -> dict[str, dict]:
    """The last record each check wrote, by exercise number ("1.3") or, without one, full name."""
    results: dict[str, dict] = {}
    if not path.exists():
        return results
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        number = _EXERCISE_NUMBER.search(str(record.get("exercise", "")))
        results[number.group(1) if number else str(record.get("exercise"))] = record
    return results


def is_check_call(statement: ast.stmt) -> bool:
    """`checks.ch01.check_x(...)` as a statement of its own."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    func = statement.value.func
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id == "checks" and func is not statement.value.func


def without_check_calls(code: str) -> str:
    """`code` with its top-level check calls (all their lines) removed; unchanged if it is
    not plain Python (an IPython magic)."""
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        return code
    drop = set()
    for statement in statements:
        if is_check_call(statement):
            drop.update(range(statement.lineno - 1, statement.end_lineno))
    return "\n".join(line for i, line in enumerate(code.splitlines()) if i not in drop)

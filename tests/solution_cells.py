"""Run a chapter's own solution code inside a test: as written, with one mistake, or as a stub.

The tests never copy solution code (a copy drifts from the chapter). They read
`solutions/NN_topic.py` and execute its cells into a namespace:

- the setup cells: every code cell before the first exercise (imports, `cfg`);
- the exercise cells: every code cell holding `### BEGIN SOLUTION`, in order, with the
  check calls (`checks.chNN.check_x(...)` statements) left out, so nothing is checked while building.

A mutant is the solution with a few text edits, `(old, new)`; each `old` must occur
exactly once in the exercise cells, so a mutant cannot silently become a no-op (or hit
the wrong line) when the solution changes.
"""

from __future__ import annotations

import functools
import hashlib
import linecache
from collections.abc import Sequence

import jupytext

from mi_tutorial.course.build import BEGIN_SOLUTION, COURSE_ROOT, strip_solutions
from mi_tutorial.protocol import without_check_calls

SOLUTIONS_DIR = COURSE_ROOT / "solutions"


class MutantMismatch(LookupError):
    """A mutant's edit no longer matches the solution text exactly once."""


@functools.cache
def _cells(stem: str) -> tuple[str, tuple[str, ...]]:
    """(setup code, exercise cells' code) of `solutions/<stem>.py`."""
    path = SOLUTIONS_DIR / f"{stem}.py"
    code_cells = [
        c.source for c in jupytext.read(path, fmt="py:percent").cells if c.cell_type == "code"
    ]
    first = next((i for i, source in enumerate(code_cells) if BEGIN_SOLUTION in source), None)
    if first is None:
        raise ValueError(f"{path.name}: no code cell holds {BEGIN_SOLUTION!r}")
    setup = "\n\n".join(code_cells[:first])
    exercises = tuple(source for source in code_cells if BEGIN_SOLUTION in source)
    return setup, exercises


@functools.cache
def _setup_namespace(stem: str) -> dict:
    """The namespace after the setup cells; built once (importing torch and TL costs seconds)."""
    namespace: dict = {"__name__": f"solutions_{stem}"}
    exec(compile(_cells(stem)[0], f"<{stem} setup>", "exec"), namespace)
    return namespace


_without_check_calls = without_check_calls  # mi_tutorial.protocol's: what build leaves out too


def _apply(code: str, edits: Sequence[tuple[str, str]], stem: str) -> str:
    for old, new in edits:
        count = code.count(old)
        if count != 1:
            raise MutantMismatch(
                f"the mutant no longer matches the solution in solutions/{stem}.py: {old!r} occurs "
                f"{count} times in its exercise cells (it must occur exactly once). Update the mutant."
            )
        code = code.replace(old, new)
    return code


def _run(stem: str, code: str, label: str) -> dict:
    namespace = dict(_setup_namespace(stem))  # a shallow copy: each build gets its own names
    # Like IPython with a cell: a filename in <angle brackets> (the checks call that "your
    # notebook cell"), its text registered with linecache so a traceback can quote the line.
    filename = f"<{stem} {label} {hashlib.sha1(code.encode()).hexdigest()[:8]}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    exec(compile(code, filename, "exec"), namespace)
    return namespace


@functools.cache
def _all_code_cells(stem: str) -> tuple[str, ...]:
    path = SOLUTIONS_DIR / f"{stem}.py"
    return tuple(
        c.source for c in jupytext.read(path, fmt="py:percent").cells if c.cell_type == "code"
    )


def code_cell(stem: str, containing: str) -> str:
    """The one code cell of the chapter, exercise or not, whose source contains `containing`
    (to run a cell that is not an exercise, e.g. one that needs the network, in a test)."""
    found = [source for source in _all_code_cells(stem) if containing in source]
    if len(found) != 1:
        raise LookupError(
            f"{len(found)} code cells of solutions/{stem}.py contain {containing!r}; the test expects exactly one."
        )
    return found[0]


def exercise_code(stem: str) -> str:
    """All exercise cells of the chapter, check calls removed, as one string."""
    return "\n\n".join(_without_check_calls(source) for source in _cells(stem)[1])


def solution_namespace(stem: str, edits: Sequence[tuple[str, str]] | None = None) -> dict:
    """Setup and exercise cells executed in order; `edits` turn the solution into a mutant."""
    code = _apply(exercise_code(stem), edits or (), stem)
    return _run(stem, code, "mutant" if edits else "solution")


def stub_namespace(stem: str) -> dict:
    """What the learner starts with: every solution block replaced by the stub that raises."""
    code = "\n\n".join(_without_check_calls(strip_solutions(source)) for source in _cells(stem)[1])
    return _run(stem, code, "exercises")

"""`mi-tutorial check`: run a copy of a learner's notebook headless and report each exercise.

The notebook is read, its outputs dropped, and its cells executed one by one in a fresh
kernel (nbclient), in the notebook's own folder, continuing past cells that fail. The file
itself is never written. How each exercise went comes from the checks themselves: while
the notebook runs, the environment variable `REPORT_ENV` names a JSON-lines
file, and every check appends {exercise, status, message} to it. The exercises, and the
code cells that belong to each, come from the `### Exercise N.M` headings: an exercise's
cells are the code cells after its heading, up to the next markdown cell.

An exercise ends up as one of:

- passed: its check said so;
- failed: its check said what is wrong (the message is the check's);
- not attempted: the learner's code still raises NotImplementedError (the stub);
- error: the exercise's own cells raised before the check could judge (a SyntaxError,
  a NameError…), ran past the time limit, or took the kernel down;
- not run: the kernel died or hung in an earlier cell, so nothing after it ran;
- not checked: its cells ran without an error, but no check reported (was the check
  call deleted?).

Containment: a cell that runs past `timeout` seconds is interrupted (KeyboardInterrupt)
and the next cells still run; a kernel that ignores the interrupt, dies (os._exit, a
segfault, `exit()`), or never starts ends that notebook's run, and the report still lists
every exercise. This contains mistakes, not malice: the code runs with your permissions.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from mi_tutorial.protocol import (
    EXERCISE_HEADING,
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    REPORT_ENV,
    read_reports,
)

# What the checks write is in mi_tutorial.protocol: the file they append to (REPORT_ENV)
# and the three results a check can give. The rest are this module's verdicts.
ERROR, NOT_RUN, NOT_CHECKED = "error", "not run", "not checked"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, ERROR, NOT_RUN, NOT_CHECKED)
# Seconds per cell, the same as nbgrader_config.py's (mi_tutorial/course/assign.py explains it).
DEFAULT_TIMEOUT = 180
PROBE_TIMEOUT = 20  # after an interrupt, how long the kernel has to show it is responsive again
_HEADING = EXERCISE_HEADING
_TIMED_OUT = "CellTimedOut"  # the ename nbclient reports for a cell we interrupted
_PROBE_TIMED_OUT = "ProbeTimedOut"


@dataclass
class ExerciseResult:
    exercise: str  # "1.3"
    title: str  # "The causal mask"
    status: str
    message: str = ""


@dataclass
class NotebookReport:
    notebook: str
    exercises: list[ExerciseResult]
    notes: list[str] = field(default_factory=list)  # what happened outside the exercises
    seconds: float = 0.0
    executed: nbformat.NotebookNode | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return bool(self.exercises) and all(e.status == PASSED for e in self.exercises)

    def counts(self) -> dict[str, int]:
        return {s: n for s in STATUSES if (n := sum(e.status == s for e in self.exercises))}

    def as_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "counts": self.counts(),
            "exercises": [asdict(e) for e in self.exercises],
            "notes": self.notes,
        }


@dataclass
class _Outcome:
    """How one code cell went: 'ok', 'error', 'timeout', 'died' or 'not run'."""

    state: str
    text: str = ""  # "NameError: name 'x' is not defined", or why it did not run
    ename: str = ""


def exercise_cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[int]]]:
    """(number, title, indices of its code cells) for each `### Exercise N.M` heading."""
    found: list[tuple[str, str, list[int]]] = []
    current = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            heading = _HEADING.search(cell.source)
            if heading:
                current = (heading.group(1), heading.group(2).strip(), [])
                found.append(current)
            elif current is not None and current[2]:
                current = None  # prose after the exercise's code: the exercise is over
        elif cell.cell_type == "code" and current is not None:
            current[2].append(index)
    return found


def _first_line(cell: nbformat.NotebookNode) -> str:
    line = next(
        (
            l.strip()
            for l in cell.source.splitlines()
            if l.strip() and not l.strip().startswith("#")
        ),
        "",
    )
    return line if len(line) <= 60 else line[:57] + "..."


def _run_cells(nb, folder: Path, env: dict, timeout: int) -> dict[int, _Outcome]:
    """Execute every code cell of `nb` in place; how each went, by cell index."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    outcomes: dict[int, _Outcome] = {}
    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply.get("content", {}) if execute_reply else {}

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",  # this Python: jupyter_client runs the kernel with sys.executable
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": _TIMED_OUT,
            "evalue": f"ran longer than {timeout:g} s",
            "traceback": [],
        },
        startup_timeout=120,
        resources={"metadata": {"path": str(folder)}},
        on_cell_executed=on_executed,
        # The kernel's own log goes to this terminal. At its default level it warns that
        # "Kernel is running over TCP without encryption": true of every local kernel (the
        # connection is to 127.0.0.1) and read by learners as something wrong. Errors still show.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]

    def stop(after: int, why: str) -> None:
        for i in code_cells:
            if i > after and i not in outcomes:
                outcomes[i] = _Outcome("not run", why)

    try:
        with client.setup_kernel(env=env):
            for index in code_cells:
                try:
                    client.execute_cell(nb.cells[index], index)
                except DeadKernelError:
                    outcomes[index] = _Outcome(
                        "died", "the kernel died while this cell ran (os._exit? out of memory?)"
                    )
                    stop(index, f"the kernel died in cell {index + 1}")
                    break
                reply = replies.pop(index, {})
                if reply.get("status") == "error" and reply.get("ename") == _TIMED_OUT:
                    outcomes[index] = _Outcome(
                        "timeout",
                        f"ran longer than {timeout:g} s and was interrupted (an endless loop?)",
                    )
                    if not _responsive(client, nb):
                        stop(index, f"the kernel stayed stuck after cell {index + 1} timed out")
                        break
                elif reply.get("status") == "error":
                    outcomes[index] = _error_outcome(
                        reply.get("ename", "Error"), str(reply.get("evalue", ""))
                    )
                elif any(p.get("source") == "ask_exit" for p in reply.get("payload", [])):
                    outcomes[index] = _Outcome(
                        "died", "this cell called exit() or quit(), which stops the kernel"
                    )
                    stop(index, f"cell {index + 1} stopped the kernel with exit()")
                    break
                else:
                    outcomes[index] = _Outcome("ok")
    except Exception as error:  # the kernel did not start, or went away between cells
        why = f"the kernel failed: {type(error).__name__}: {str(error).strip()[:200]}"
        stop(-1, why)
    return outcomes


def _error_outcome(ename: str, evalue: str) -> _Outcome:
    first = (evalue.strip().splitlines() or [""])[0][:300]
    if ename == "NotImplementedError" and not first:
        first = "it runs code still left as `raise NotImplementedError()`"
    if ename == "SystemExit":
        return _Outcome(
            "error", f"SystemExit: this cell called sys.exit({first}), which stops the cell", ename
        )
    return _Outcome("error", f"{ename}: {first}" if first else ename, ename)


def _responsive(client, nb) -> bool:
    """After an interrupt, does the kernel answer a trivial cell (within PROBE_TIMEOUT at most)?"""
    probe = nbformat.v4.new_code_cell("pass")
    saved = client.timeout, client.error_on_timeout
    client.timeout = min(client.timeout, PROBE_TIMEOUT)
    client.error_on_timeout = {"ename": _PROBE_TIMED_OUT, "evalue": "", "traceback": []}
    answered = {}
    hook = client.on_cell_executed
    client.on_cell_executed = lambda cell, cell_index, execute_reply: answered.update(
        execute_reply.get("content", {})
    )
    nb.cells.append(probe)  # nbclient stores the cell it ran at its index: give it one of its own
    try:
        client.execute_cell(probe, len(nb.cells) - 1)
    except Exception:
        return False
    finally:
        nb.cells.pop()
        client.timeout, client.error_on_timeout = saved
        client.on_cell_executed = hook
    return answered.get("ename") != _PROBE_TIMED_OUT


_read_reports = read_reports  # the last record each check wrote, by exercise number


def _judge(
    number: str, title: str, cells: list[int], outcomes: dict[int, _Outcome], reported: dict
) -> ExerciseResult:
    mine = [outcomes.get(i, _Outcome("not run", "")) for i in cells]
    # What stopped one of the exercise's own cells (an endless loop, exit(), sys.exit(), a
    # dead kernel) is what happened to it, whatever a check said afterwards about a stub or
    # a half-defined function: it is reported in this exercise's row, never hidden.
    stopped = next(
        (
            (cells[k], o)
            for state in ("died", "timeout", "exit")
            for k, o in enumerate(mine)
            if o.state == state or (state == "exit" and o.ename == "SystemExit")
        ),
        None,
    )
    record = reported.get(number)
    if stopped and not (record and record.get("status") == PASSED):
        index, outcome = stopped
        return ExerciseResult(number, title, ERROR, f"cell {index + 1}: {outcome.text}")
    if record:
        status = (
            record.get("status")
            if record.get("status") in (PASSED, FAILED, NOT_ATTEMPTED)
            else FAILED
        )
        message = str(record.get("message", ""))
        if stopped:
            message += f"\n(but cell {stopped[0] + 1}: {stopped[1].text})"
        return ExerciseResult(number, title, status, message)
    errors = [o for o in mine if o.state == "error"]
    if errors:
        if errors[0].ename == "NotImplementedError":
            return ExerciseResult(
                number, title, NOT_ATTEMPTED, "your code still raises NotImplementedError"
            )
        return ExerciseResult(number, title, ERROR, errors[0].text)
    if not cells:
        return ExerciseResult(
            number, title, NOT_CHECKED, "no code cell under this exercise's heading"
        )
    if all(o.state == "not run" for o in mine):
        return ExerciseResult(number, title, NOT_RUN, mine[0].text or "its cells did not run")
    return ExerciseResult(
        number,
        title,
        NOT_CHECKED,
        "its cells ran without an error, but no check reported: is the check call still there?",
    )


def check_notebook(path: Path | str, *, timeout: int = DEFAULT_TIMEOUT) -> NotebookReport:
    """Execute a copy of the notebook at `path` and report each exercise; the file is not
    touched."""
    path = Path(path)
    start = time.perf_counter()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:
        return NotebookReport(
            str(path), [], [f"could not read it as a notebook: {type(error).__name__}: {error}"]
        )
    exercises = exercise_cells(nb)
    if not exercises:
        return NotebookReport(
            str(path),
            [],
            [
                "no exercises found: no markdown cell has a `### Exercise N.M` heading. "
                "Is it one of the course's notebooks (chapters/NN_topic.ipynb)?"
            ],
        )
    for cell in nb.cells:  # run from a clean slate, as "Restart and run all" would
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    with tempfile.TemporaryDirectory(prefix="mi-tutorial-check-") as scratch:
        report_file = Path(scratch) / "checks.jsonl"
        env = {**os.environ, REPORT_ENV: str(report_file), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        outcomes = _run_cells(nb, path.resolve().parent, env, timeout)
        reported = _read_reports(report_file)

    results = [
        _judge(number, title, cells, outcomes, reported) for number, title, cells in exercises
    ]
    in_exercises = {i for _, _, cells in exercises for i in cells}
    notes = []
    stopped = next((o for o in outcomes.values() if o.state == "not run"), None)
    if stopped:
        notes.append(f"stopped early: {stopped.text}; the cells after it did not run")
    for index in sorted(outcomes):
        outcome = outcomes[index]
        if index not in in_exercises and outcome.state in ("error", "timeout", "died"):
            notes.append(f"cell {index + 1} (`{_first_line(nb.cells[index])}`): {outcome.text}")
    known = {r.exercise for r in results}
    for name, record in reported.items():  # a check whose exercise has no heading here
        if name not in known:
            results.append(
                ExerciseResult(
                    name, "", record.get("status", FAILED), str(record.get("message", ""))
                )
            )
    return NotebookReport(str(path), results, notes, time.perf_counter() - start, nb)


def find_notebooks(paths: list[Path]) -> list[Path]:
    """The notebooks named, with each folder replaced by the .ipynb files under it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def check_notebooks(paths: list[Path], *, timeout: int = DEFAULT_TIMEOUT, jobs: int = 1):
    """Check each notebook, `jobs` at a time; yields the reports in the order of `paths`."""
    if jobs <= 1:
        for path in paths:
            yield check_notebook(path, timeout=timeout)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each notebook gets its own kernel process
        futures = [pool.submit(check_notebook, path, timeout=timeout) for path in paths]
        for future in futures:
            yield future.result()


# --- the table ------------------------------------------------------------------------------

_SHOW_MESSAGE = (FAILED, ERROR, NOT_RUN, NOT_CHECKED)


def format_report(report: NotebookReport) -> str:
    lines = [
        f"{report.notebook}  ({len(report.exercises)} exercises, ran in {report.seconds:.1f} s)"
    ]
    if report.exercises:
        width = min(40, max([len("title")] + [len(e.title) for e in report.exercises]))
        lines.append(f"  {'exercise':<9} {'title':<{width}}  result")
        for e in report.exercises:
            title = e.title if len(e.title) <= width else e.title[: width - 1] + "…"
            lines.append(f"  {e.exercise:<9} {title:<{width}}  {e.status}")
            if e.status in _SHOW_MESSAGE and e.message:
                lines += [f"  {'':<9} {'':<{width}}    {m}" for m in e.message.splitlines()]
    lines += [f"  note: {note}" for note in report.notes]
    counts = report.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to report"
    verdict = "all exercises passed" if report.ok else "not all exercises passed"
    lines.append(f"  {summary} — {verdict}")
    return "\n".join(lines)

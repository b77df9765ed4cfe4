"""`mi-tutorial assign`: a handout folder for a class, and optionally an nbgrader course.

    mi-tutorial assign 01 02 --out week1
        week1/README.md                  for students: objectives, time budgets, how to
                                         self-check with `mi-tutorial check`, how to submit
        week1/NN_topic.ipynb             the exercise notebooks
    mi-tutorial assign 01 --out week1 --nbgrader
        week1/handout/…                  the same, to hand out
        week1/nbgrader/                  an nbgrader course folder, kept by the instructor:
          nbgrader_config.py             the course's stub, a per-cell timeout for autograde
          source/ch01/NN_topic.ipynb     the exercises with their solutions (nbgrader's source)
          source/ch01/README.md          so nbgrader's release/ALSO carries the README

Notebooks are generated afresh from `solutions/NN_topic.py` (never copied from
`chapters/`, which may hold the instructor's own attempts). The nbgrader source notebook
is the exercise notebook with the solutions left in: `nbgrader generate_assignment` turns
it into exactly `chapters/NN_topic.ipynb`. An existing non-empty folder is never written to.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from mi_tutorial.course import build

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # nbgrader uses it as a folder name and a database key
NBGRADER_CONFIG = """\
# An nbgrader course folder, written by `mi-tutorial assign --nbgrader`.
c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

# The course's own stub, so that `nbgrader generate_assignment` writes exactly the
# exercise notebooks of chapters/ (nbgrader's default stub adds a "# your code here" line).
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}

# Per cell, in seconds: nbgrader's default (30) is too short for the chapters' training
# cells, 600 lets one endless loop cost ten minutes per submission. The longest cell of the
# course (chapter 02's training) took 51 s on a busy two-core machine (load 13): 180 leaves
# over 3x room. A cell that runs longer is stopped and its check scores 0.
c.Execute.timeout = 180
"""


class AssignError(Exception):
    """A request `assign` refuses, with what to do instead."""


def select_chapters(wanted: list[str], root: Path = build.COURSE_ROOT) -> list[build.Chapter]:
    """The chapters named by number ("1", "01") or stem ("01_transformer_from_scratch")."""
    available = build.find_chapters(root)
    chosen: list[build.Chapter] = []
    for name in wanted:
        match = [
            c
            for c in available
            if name in (c.stem, c.number) or (name.isdigit() and int(name) == int(c.number))
        ]
        if not match:
            have = ", ".join(f"{c.number} ({c.stem})" for c in available) or "none"
            raise AssignError(f"No chapter {name!r}. The chapters are: {have}.")
        if match[0] not in chosen:
            chosen.append(match[0])
    return sorted(chosen, key=lambda c: c.number)


def default_name(chapters: list[build.Chapter]) -> str:
    """'ch01' for one chapter, 'ch01_02' for several."""
    return "ch" + "_".join(c.number for c in chapters)


def student_readme(chapters: list[build.Chapter], name: str, *, nbgrader: bool) -> str:
    infos = [c.info() for c in chapters]
    rows = "\n".join(
        f"| `{c.stem}.ipynb` | {i['title']} | {i['time_budget']} | {i['exercises']} |"
        for c, i in zip(chapters, infos)
    )
    objectives = []
    for info in infos:
        items = (
            "\n".join(f"- {o}" for o in info["objectives"]) or "- (see the notebook's introduction)"
        )
        objectives.append(f"### {info['title']}\n\n{items}")
    first = f"{chapters[0].stem}.ipynb"
    submit = (
        "This course grades with nbgrader: submit through the Assignments tab of your course's "
        "JupyterHub, or as your instructor says."
        if nbgrader
        else "Hand them in the way your instructor says (an upload on the course page, a shared folder…)."
    )
    return f"""# {name}: mechanistic interpretability exercises

These notebooks are from **mi-tutorial**, a hands-on course in mechanistic interpretability
that runs offline on a laptop CPU. Work through them in order.

| notebook | chapter | time budget | exercises |
|----------|---------|-------------|-----------|
{rows}

## What you will be able to do

{chr(10).join(objectives)}

## Set up

With Python 3.10 or newer, in this folder (Linux or macOS; on Windows use `py -m venv .venv`
and `.venv\\Scripts\\...`):

```bash
python3 -m venv .venv && .venv/bin/python -m pip install "{build.colab_install_spec()}"
.venv/bin/jupyter lab
```

On Google Colab instead: *File → Upload notebook*, pick the notebook; its first code cell
installs the course's package there.

## How the exercises work

Each exercise has a heading with its difficulty, importance and a time budget. Write your
code where it says `raise NotImplementedError()` and run the cell; the check in the cell
right under it prints one line when you are right, and otherwise says which case failed
and what is probably wrong.

## Check your work

```bash
.venv/bin/mi-tutorial check {first}
```

runs a copy of your notebook from top to bottom (your file is not changed) and prints a
table: each exercise passed, failed (with the check's message), not attempted, or raised an
error. It exits with 0 only when every exercise passed. Run it before you submit: it shows
what a fresh run of your notebook does, not what is left on your screen.

## Submit

Save, and hand in the notebook files themselves (`.ipynb`, with your code in them) under
their original names. Keep the check cells as they are: grading runs them. {submit}
"""


def write_assignment(
    chapters: list[build.Chapter], out: Path, *, nbgrader: bool, name: str
) -> list[Path]:
    """Write the handout (and the nbgrader course folder) into `out`; the files written."""
    if not chapters:
        raise AssignError("Name at least one chapter, e.g. `mi-tutorial assign 01 --out week1`.")
    if not _NAME.match(name):
        raise AssignError(
            f"The assignment name {name!r} may hold only letters, digits, '_' and '-'."
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AssignError(
            f"{out} already exists and is not empty; `assign` never writes over files. "
            "Choose a new folder for --out (or empty this one yourself)."
        )
    readme = student_readme(chapters, name, nbgrader=nbgrader)
    handout = out / "handout" if nbgrader else out
    files: dict[Path, str] = {handout / "README.md": readme}
    for chapter in chapters:
        files[handout / f"{chapter.stem}.ipynb"] = (
            nbformat.writes(build.build_notebook(chapter, "exercises")) + "\n"
        )
    if nbgrader:
        course = out / "nbgrader"
        files[course / "nbgrader_config.py"] = NBGRADER_CONFIG
        files[course / "source" / name / "README.md"] = readme
        for chapter in chapters:
            source = build.build_notebook(chapter, "nbgrader")
            files[course / "source" / name / f"{chapter.stem}.ipynb"] = (
                nbformat.writes(source) + "\n"
            )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def next_steps(out: Path, *, nbgrader: bool, name: str) -> str:
    if not nbgrader:
        return (
            f"\nHand out {out}: the notebooks and README.md. Students check their own work with "
            "`mi-tutorial check NOTEBOOK`."
        )
    return (
        f"\n{out / 'handout'}: what students get (nbgrader's release/ will hold the same).\n"
        f"{out / 'nbgrader'}: an nbgrader course folder WITH THE SOLUTIONS; never hand it out.\n"
        f"Next: cd {out / 'nbgrader'} && nbgrader generate_assignment {name}\n"
        "Then collect submissions and run `nbgrader autograde`: see docs/instructors.md."
    )

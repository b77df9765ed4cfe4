"""Build each chapter's notebooks from its one source, and tell when they are stale.

`solutions/NN_topic.py` (jupytext py:percent) is the only file a chapter author edits.
From it `mi-tutorial build` writes:

- `solutions/NN_topic.ipynb`: the full solutions. The `### BEGIN SOLUTION` /
  `### END SOLUTION` comments stay, and the cells holding them carry nbgrader metadata,
  so the same file is an nbgrader source notebook.
- `chapters/NN_topic.ipynb`: the exercises. Every solution block becomes
  `raise NotImplementedError()` at the block's indentation, and cells tagged
  `solution-only` are dropped.

Both start with the same three cells: a "generated from" note, an "Open in Colab" badge,
and a setup cell that installs the package on Colab and does nothing anywhere else.

The check calls that end a solution cell (`checks.ch01.check_layernorm(LayerNorm)`) go
into a cell of their own, right under it, marked as an nbgrader test cell (graded, locked,
1 point): `nbgrader autograde` scores a cell by whether it raises, so the check has to be
alone in its cell. The source keeps them together, where the author writes them.

A notebook someone has edited (its cells no longer match the hash recorded when it was
generated) is never overwritten: `build` skips it and says so, and `build --force` first
moves it aside to `NAME.bak-<time>.ipynb`.

`build --check` reports exactly what `build` would change, and names the command that
changes it: a notebook that is missing or generated from an older source is stale
(`mi-tutorial build`), one that is both stale and edited needs `mi-tutorial build --force`.
A notebook that was only run (outputs, execution counts, Jupyter's metadata), or edited
by a learner since it was generated from the current source, is up to date: the test
command passes on a learner's checkout. That committed notebooks carry no outputs is a
test of what git holds (tests/test_newcomer.py), not of the files on disk.
"""

from __future__ import annotations

import ast
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from mi_tutorial.protocol import EXERCISE_HEADING, is_check_call

COURSE_ROOT = Path(__file__).resolve().parents[2]

# The course's public repository: the Colab badge opens notebooks from it and the Colab
# setup cell pip-installs the package from it. PLACEHOLDER: the public address is not
# decided yet. This is the one place to change it (then run `mi-tutorial build`).
REPOSITORY_URL = "https://github.com/mi-tutorial/mi-tutorial"
REPOSITORY_BRANCH = "main"
PACKAGE_NAME = "mi-tutorial"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
SOLUTION_ONLY_TAG = "solution-only"
STUB = "raise NotImplementedError()"
_EXERCISE_HEADING = EXERCISE_HEADING
_OBJECTIVES = re.compile(
    r"will be able to\W*\n((?:[ \t]*[-*] .*\n?(?:[ \t]+[^-*\s].*\n?)*)+)", re.IGNORECASE
)
_TIME_BUDGET = re.compile(r"\*\*Time budget:\*\*\s*([^\n]+)")
_SOURCE_NAME = re.compile(r"^(\d\d)_([a-z0-9_]+)\.py$")


class BuildError(Exception):
    """A chapter source that cannot be turned into notebooks (with file and cell named)."""


@dataclass(frozen=True)
class Chapter:
    """One chapter, described by its source file `solutions/NN_topic.py`."""

    source: Path

    @property
    def root(self) -> Path:
        return self.source.parent.parent

    @property
    def stem(self) -> str:  # "01_transformer_from_scratch"
        return self.source.stem

    @property
    def number(self) -> str:  # "01"
        return self.stem[:2]

    @property
    def solution_notebook(self) -> Path:
        return self.source.with_suffix(".ipynb")

    @property
    def exercise_notebook(self) -> Path:
        return self.root / "chapters" / f"{self.stem}.ipynb"

    def text(self) -> str:
        return self.source.read_text(encoding="utf-8")

    def info(self) -> dict:
        """Title, time budget and exercise count, read from the source (for `mi-tutorial list`)."""
        cells = jupytext.reads(self.text(), fmt="py:percent").cells
        markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        title = next(
            (line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), self.stem
        )
        budget = _TIME_BUDGET.search(markdown)
        return {
            "number": self.number,
            "title": title,
            "time_budget": budget.group(1).strip() if budget else "?",
            "exercises": len(_EXERCISE_HEADING.findall(markdown)),
            "objectives": _objectives(markdown),
            "solution_notebook": self.solution_notebook.exists(),
        }


def _objectives(markdown: str) -> list[str]:
    """The bullets under "You will be able to" in a chapter's introduction, one line each."""
    found = _OBJECTIVES.search(markdown)
    if not found:
        return []
    items = re.split(r"^[ \t]*[-*] ", found.group(1), flags=re.MULTILINE)
    return [" ".join(item.split()) for item in items if item.strip()]


def find_chapters(root: Path = COURSE_ROOT) -> list[Chapter]:
    """Every `solutions/NN_topic.py` under the course root, in chapter order."""
    folder = Path(root) / "solutions"
    return [Chapter(p) for p in sorted(folder.glob("*.py")) if _SOURCE_NAME.match(p.name)]


# --- turning one source into two notebooks -------------------------------------------------


def strip_solutions(code: str, where: str = "a cell") -> str:
    """Replace each `### BEGIN SOLUTION` … `### END SOLUTION` block with a stub that raises."""
    out: list[str] = []
    inside = False
    for line in code.splitlines():
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if inside:
                raise BuildError(f"{where}: a second {BEGIN_SOLUTION} before {END_SOLUTION}.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + STUB)
        elif stripped == END_SOLUTION:
            if not inside:
                raise BuildError(f"{where}: {END_SOLUTION} without a {BEGIN_SOLUTION} before it.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise BuildError(f"{where}: {BEGIN_SOLUTION} is never closed by {END_SOLUTION}.")
    return "\n".join(out)


_is_check_call = is_check_call  # `checks.ch01.check_x(...)` as a statement of its own


def split_check_calls(code: str) -> tuple[str, str]:
    """(the code, the check calls that end it); the second is '' when it does not end with any.

    Comment lines right above the first check call go with it; the solution delimiters never do.
    A cell that is not plain Python (an IPython magic) is left whole.
    """
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        return code, ""
    first = None
    for statement in reversed(statements):
        if not _is_check_call(statement):
            break
        first = statement
    if first is None:
        return code, ""
    lines = code.splitlines()
    start = first.lineno - 1
    while (
        start > 0
        and lines[start - 1].lstrip().startswith("#")
        and lines[start - 1].strip()
        not in (
            BEGIN_SOLUTION,
            END_SOLUTION,
        )
    ):
        start -= 1
    return "\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip("\n")


def _nbgrader(grade_id: str, *, solution: bool) -> dict:
    """nbgrader's cell metadata: a solution cell, or a locked test cell worth 1 point."""
    metadata = {
        "grade": not solution,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if not solution:
        metadata["points"] = 1
    return metadata


def colab_url(path: str) -> str:
    """Colab's address for a notebook of the repository, e.g. 'chapters/01_x.ipynb'."""
    repository = REPOSITORY_URL.removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{repository}/blob/{REPOSITORY_BRANCH}/{path}"


def colab_install_spec() -> str:
    """What the Colab setup cell pip-installs: the package, from the repository (no extras)."""
    return f"{PACKAGE_NAME} @ git+{REPOSITORY_URL}@{REPOSITORY_BRANCH}"


def _colab_cells(notebook_path: str) -> list[nbformat.NotebookNode]:
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(notebook_path)})"
    )
    setup = nbformat.v4.new_code_cell(
        "# On Google Colab, install the course's package first. Anywhere else this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "--quiet", "{colab_install_spec()}"],\n'
        "        check=True,\n"
        "    )"
    )
    return [badge, setup]


def _content_hash(nb: nbformat.NotebookNode) -> str:
    """Hash of what a person can edit (cell types and sources), not outputs or metadata."""
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return h.hexdigest()


def _header_cell(chapter: Chapter, kind: str) -> nbformat.NotebookNode:
    source = chapter.source.relative_to(chapter.root).as_posix()
    solution = chapter.solution_notebook.relative_to(chapter.root).as_posix()
    note = {
        "solutions": "Edit that file, not this one.",
        "exercises": "This copy is yours to work in: `mi-tutorial build` never overwrites "
        f"a notebook you have edited. **The solutions are in `{solution}`** (in JupyterLab "
        f"opened by `mi-tutorial start`: the `solutions` folder of the file browser).",
    }[kind]
    return nbformat.v4.new_markdown_cell(
        f"*Generated from `{source}` by `mi-tutorial build` ({kind}). {note}*"
    )


def build_notebook(chapter: Chapter, kind: str) -> nbformat.NotebookNode:
    """The `solutions` or `exercises` notebook of a chapter, as it should be on disk.

    `nbgrader` gives the source notebook for an nbgrader course (`mi-tutorial assign
    --nbgrader`): the exercise notebook with the solutions left in, so that nbgrader's
    `generate_assignment` turns it into exactly the exercise notebook.
    """
    if kind not in ("solutions", "exercises", "nbgrader"):
        raise ValueError(f"kind must be 'solutions', 'exercises' or 'nbgrader', got {kind!r}")
    source_nb = jupytext.reads(chapter.text(), fmt="py:percent")
    looks_like = "solutions" if kind == "solutions" else "exercises"
    path = chapter.solution_notebook if kind == "solutions" else chapter.exercise_notebook
    cells = [
        _header_cell(chapter, looks_like),
        *_colab_cells(path.relative_to(chapter.root).as_posix()),
    ]
    grade_ids: set[str] = set()
    exercise = None  # the "N_M" of the last `### Exercise N.M` heading

    def grade_id(role: str, index: int) -> str:
        base = (
            f"ch{chapter.number}-"
            + (f"ex{exercise}" if exercise else f"cell{index + 1}")
            + f"-{role}"
        )
        name, n = base, 1
        while name in grade_ids:  # a second solution cell in the same exercise
            n += 1
            name = f"{base}-{n}"
        grade_ids.add(name)
        return name

    for index, cell in enumerate(source_nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown" and (heading := _EXERCISE_HEADING.search(cell.source)):
            exercise = heading.group(1).replace(".", "_")
        if looks_like == "exercises" and SOLUTION_ONLY_TAG in tags:
            continue
        has_solution = cell.cell_type == "code" and BEGIN_SOLUTION in cell.source
        where = f"{chapter.source.name}, cell {index + 1}"
        check_calls = ""
        if cell.cell_type == "code":
            code = cell.source
            if has_solution:
                code, check_calls = split_check_calls(code)
            stripped = strip_solutions(code, where)  # validates the delimiters in both kinds
            new = nbformat.v4.new_code_cell(stripped if kind == "exercises" else code)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source)
        if tags:
            new.metadata["tags"] = list(tags)
        if has_solution:
            new.metadata["nbgrader"] = _nbgrader(grade_id("solution", index), solution=True)
        cells.append(new)
        if check_calls:
            test = nbformat.v4.new_code_cell(check_calls)
            test.metadata["nbgrader"] = _nbgrader(grade_id("check", index), solution=False)
            cells.append(test)
    nb = nbformat.v4.new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):  # stable ids, so a rebuild of the same source is identical
        cell.id = f"{looks_like[:3]}-{i:03d}"
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "mi_tutorial": {
            "generated_from": chapter.source.relative_to(chapter.root).as_posix(),
            "kind": kind,
            "content_sha256": _content_hash(nb),
        },
    }
    return nb


# --- writing them, without ever losing somebody's work ---------------------------------------


def _generated_part(nb: nbformat.NotebookNode) -> list:
    """What the builder writes and Jupyter keeps: cell types, sources, tags, nbgrader
    metadata and the notebook's `mi_tutorial` metadata; not outputs, execution counts or
    the metadata Jupyter adds when a notebook is run."""
    cells = [
        (c.cell_type, c.source, c.metadata.get("tags", []), c.metadata.get("nbgrader"))
        for c in nb.cells
    ]
    return [cells, nb.metadata.get("mi_tutorial")]


def _edit_state(path: Path, expected: nbformat.NotebookNode) -> str:
    """'missing', 'ran' (what the builder writes is unchanged: only outputs and Jupyter's
    metadata differ), 'current-edited' (edited since it was generated from the current
    source), 'generated' (from an older source, not edited) or 'edited' (both)."""
    if not path.exists():
        return "missing"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: treat it as somebody's work, never as disposable
        return "edited"
    if _generated_part(nb) == _generated_part(expected):
        return "ran"
    recorded = nb.metadata.get("mi_tutorial", {}).get("content_sha256")
    if _content_hash(nb) == recorded:
        return "generated"
    current = recorded == expected.metadata["mi_tutorial"]["content_sha256"]
    return "current-edited" if current else "edited"


@dataclass
class BuildResult:
    written: list[Path]
    stale: list[Path]  # `mi-tutorial build` writes them (with `check`: would write them)
    kept: list[Path]  # stale but edited by someone, left alone: `mi-tutorial build --force`
    backups: list[Path]

    @property
    def ok(self) -> bool:
        return not self.stale and not self.kept


def build(
    root: Path | None = None, *, check: bool = False, force: bool = False, chapters=None
) -> BuildResult:
    """Generate every chapter's notebooks; with `check`, change nothing and report what
    `build` would write (`stale`) and what only `build --force` would (`kept`)."""
    result = BuildResult([], [], [], [])
    root = COURSE_ROOT if root is None else root
    for chapter in chapters if chapters is not None else find_chapters(root):
        for kind, path in (
            ("solutions", chapter.solution_notebook),
            ("exercises", chapter.exercise_notebook),
        ):
            notebook = build_notebook(chapter, kind)
            expected = nbformat.writes(notebook) + "\n"
            if path.exists() and path.read_text(encoding="utf-8") == expected:
                continue
            state = _edit_state(path, notebook)
            if state in ("ran", "current-edited"):
                continue  # run or edited since the current source: nothing new to write
            if check:
                (result.kept if state == "edited" else result.stale).append(path)
                continue
            if state == "edited":
                if not force:
                    result.kept.append(path)
                    continue
                backup = path.with_name(f"{path.stem}.bak-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
                path.rename(backup)
                result.backups.append(backup)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected, encoding="utf-8")
            result.written.append(path)
    return result

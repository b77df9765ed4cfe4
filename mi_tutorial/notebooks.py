"""Build each chapter's notebooks from its one source, and tell when they are stale.

`solutions/NN_topic.py` (jupytext py:percent) is the only file a chapter author edits.
From it `mi-tutorial build` writes:

- `solutions/NN_topic.ipynb`: the full solutions. The `### BEGIN SOLUTION` /
  `### END SOLUTION` comments stay, and the cells holding them carry nbgrader metadata,
  so the same file is an nbgrader source notebook.
- `chapters/NN_topic.ipynb`: the exercises. Every solution block becomes
  `raise NotImplementedError()` at the block's indentation, and cells tagged
  `solution-only` are dropped.

A notebook someone has edited (its cells no longer match the hash recorded when it was
generated) is never overwritten: `build` skips it and says so, and `build --force` first
moves it aside to `NAME.bak-<time>.ipynb`.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

COURSE_ROOT = Path(__file__).resolve().parent.parent
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
SOLUTION_ONLY_TAG = "solution-only"
STUB = "raise NotImplementedError()"
_EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+\.\d+)", re.MULTILINE)
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
        title = next((line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), self.stem)
        budget = _TIME_BUDGET.search(markdown)
        return {
            "number": self.number,
            "title": title,
            "time_budget": budget.group(1).strip() if budget else "?",
            "exercises": len(_EXERCISE_HEADING.findall(markdown)),
            "solution_notebook": self.solution_notebook.exists(),
        }


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


def _content_hash(nb: nbformat.NotebookNode) -> str:
    """Hash of what a person can edit (cell types and sources), not outputs or metadata."""
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return h.hexdigest()


def _header_cell(chapter: Chapter, kind: str) -> nbformat.NotebookNode:
    source = chapter.source.relative_to(chapter.root).as_posix()
    note = {
        "solutions": "Edit that file, not this one.",
        "exercises": "This copy is yours to work in: `mi-tutorial build` never overwrites "
        "a notebook you have edited.",
    }[kind]
    return nbformat.v4.new_markdown_cell(
        f"*Generated from `{source}` by `mi-tutorial build` ({kind}). {note}*"
    )


def build_notebook(chapter: Chapter, kind: str) -> nbformat.NotebookNode:
    """The `solutions` or `exercises` notebook of a chapter, as it should be on disk."""
    if kind not in ("solutions", "exercises"):
        raise ValueError(f"kind must be 'solutions' or 'exercises', got {kind!r}")
    source_nb = jupytext.reads(chapter.text(), fmt="py:percent")
    cells = [_header_cell(chapter, kind)]
    n_solution = 0
    for index, cell in enumerate(source_nb.cells):
        tags = cell.metadata.get("tags", [])
        if kind == "exercises" and SOLUTION_ONLY_TAG in tags:
            continue
        has_solution = cell.cell_type == "code" and BEGIN_SOLUTION in cell.source
        where = f"{chapter.source.name}, cell {index + 1}"
        if cell.cell_type == "code":
            source = strip_solutions(cell.source, where)  # validates the delimiters in both kinds
            new = nbformat.v4.new_code_cell(source if kind == "exercises" else cell.source)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source)
        if tags:
            new.metadata["tags"] = list(tags)
        if has_solution:
            n_solution += 1
            if kind == "solutions":
                new.metadata["nbgrader"] = {
                    "grade": False,
                    "grade_id": f"ch{chapter.number}-solution-{n_solution:02d}",
                    "locked": False,
                    "schema_version": 3,
                    "solution": True,
                    "task": False,
                }
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):  # stable ids, so a rebuild of the same source is identical
        cell.id = f"{kind[:3]}-{i:03d}"
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


def _edit_state(path: Path, expected_hash: str) -> str:
    """'missing', 'ran' (same cells, only outputs differ), 'generated' or 'edited'."""
    if not path.exists():
        return "missing"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: treat it as somebody's work, never as disposable
        return "edited"
    cells = _content_hash(nb)
    if cells != nb.metadata.get("mi_tutorial", {}).get("content_sha256"):
        return "edited"
    return "ran" if cells == expected_hash else "generated"


@dataclass
class BuildResult:
    written: list[Path]
    stale: list[Path]
    kept: list[Path]  # edited by someone, left alone
    backups: list[Path]

    @property
    def ok(self) -> bool:
        return not self.stale and not self.kept


def build(
    root: Path = COURSE_ROOT, *, check: bool = False, force: bool = False, chapters=None
) -> BuildResult:
    """Generate every chapter's notebooks; with `check`, only report the stale ones."""
    result = BuildResult([], [], [], [])
    for chapter in chapters if chapters is not None else find_chapters(root):
        for kind, path in (
            ("solutions", chapter.solution_notebook),
            ("exercises", chapter.exercise_notebook),
        ):
            notebook = build_notebook(chapter, kind)
            expected = nbformat.writes(notebook) + "\n"
            if path.exists() and path.read_text(encoding="utf-8") == expected:
                continue
            if check:  # CI: the committed file must be byte-identical (so no outputs either)
                result.stale.append(path)
                continue
            state = _edit_state(path, notebook.metadata["mi_tutorial"]["content_sha256"])
            if state == "ran":
                continue  # somebody ran it: keep their outputs, there is nothing new to write
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

"""`mi-tutorial site --out DIR`: the course's website, built by Sphinx from the executed notebooks.

The generator is Sphinx with MyST-NB and the Sphinx Book Theme (the stack of Jupyter
Book), chosen over MkDocs Material with mkdocs-jupyter because:

- MyST-NB renders notebooks that are already executed, as they are (`nb_execution_mode =
  "off"`): the site shows the outputs the tests produced, and executes nothing itself;
- the API reference comes from the library's docstrings with Sphinx's own autodoc (MkDocs
  needs mkdocstrings and its handlers besides);
- everything is served from the site: the theme ships its fonts and icons, the search
  index is a local script, and MathJax's files can be served from `_static/` (the pip
  package sphinx-mathjax-offline holds them; only the files a page can load are copied).

What is generated (in a staging copy of `docs/`, never in the repository):

- `chapters/NN_topic.ipynb`: each chapter's executed solution notebook, with its header
  cells (the "generated from" note, the Colab badge, the Colab setup cell) replaced by a
  line under the title that opens the *exercise* notebook in Colab or downloads it
  (progress bars, widgets whose state a run does not save, are left out); every
  exercise heading gets an "Exercise" box, its solution and check cells a tag that the
  stylesheet (`docs/_static/course.css`) labels. Plotly figures are drawn by the one
  plotly.js the site serves instead of the copy each notebook inlines into its first figure.
- `_generated/chapters.md`: the chapter table (title, time budget, exercises, the
  chapters it builds on, what the learner ends able to), read from the chapter sources by
  `mi_tutorial.course.build` (the same discovery as `mi-tutorial list`).
- `api/*.md`: one page per part of the library, with the modules found in the package.

Opened from disk (file://), a browser refuses the requests Sphinx's search makes to show a
summary under each result, so results show page titles only (`html_show_search_summary`).

Measured on the course's two-core machine (chapters 01 and 02 executed, every other page
built): the build after execution takes ~35 s wall, ~18 s CPU (Sphinx, autodoc importing
the library); the site is ~20 MB, of which plotly.js 4.6 MB, MathJax 3 MB, the theme 6 MB,
each circuitsvis view ~1.4 MB (its bundle is inlined in every view).

Executed notebooks come from `--executed DIR` (`NN_topic.ipynb`, e.g. written by the
tests' `checked_solution` fixture, which executes each solution notebook once per run);
without it, `site` executes every solution notebook itself with `mi-tutorial check`'s runner.
"""

from __future__ import annotations

import copy
import importlib.util
import pkgutil
import re
import shutil
import tempfile
import time
import warnings as python_warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from mi_tutorial.course import build
from mi_tutorial.protocol import EXERCISE_HEADING

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
EXERCISE_TAG, SOLUTION_TAG, CHECK_TAG = "exercise", "solution", "check"
# The MathJax files a page can load: the combined TeX-to-HTML component, its fonts, the
# TeX extensions it loads on demand (\require, autoload), the menu's lazy parts and the
# accessibility extensions it loads by default; not the speech engine (sre, 3.9 MB).
MATHJAX_FILES = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Sphinx colours its warnings
_MENTION = re.compile(r"\bchapters?\s+((?:\d{1,2}(?:\s*(?:,|and|or|&)\s*)?)+)", re.IGNORECASE)


class SiteError(Exception):
    """The site cannot be built (a missing executed notebook, a missing package, Sphinx's error)."""


@dataclass
class SiteResult:
    out: Path
    pages: list[Path]  # the HTML pages written (not the theme's files in _static/)
    seconds: float  # wall time of the build (staging and Sphinx; execution excluded)
    cpu_seconds: float
    execution_seconds: float = 0.0  # executing notebooks, when `site` did it itself
    warnings: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out.rglob("*") if p.is_file())


# --- the chapter table ---------------------------------------------------------------------


def builds_on(chapter: build.Chapter, numbers: set[str]) -> list[str]:
    """The earlier chapters a chapter's text refers to ("as in chapter 01", "chapters 2 and
    3"), in order: the chapters it builds on."""
    markdown = "\n".join(
        line.lstrip("# ") for line in chapter.text().splitlines() if line.startswith("#")
    )
    found = set()
    for mention in _MENTION.finditer(markdown):
        for number in re.findall(r"\d{1,2}", mention.group(1)):
            number = f"{int(number):02d}"
            if number in numbers and number < chapter.number:
                found.add(number)
    return sorted(found)


def chapter_table(chapters: list[build.Chapter]) -> str:
    """The landing page's chapter table and the list of what each chapter teaches (MyST)."""
    numbers = {c.number for c in chapters}
    rows = [
        "| NN | chapter | time budget | exercises | builds on |",
        "|----|---------|-------------|-----------|-----------|",
    ]
    teaches = []
    for chapter in chapters:
        info = chapter.info()
        link = f"{{doc}}`{_short_title(info['title'])} </chapters/{chapter.stem}>`"
        before = ", ".join(builds_on(chapter, numbers)) or "—"
        rows.append(
            f"| {chapter.number} | {link} | {info['time_budget']} | {info['exercises']} "
            f"| {before} |"
        )
        if info["objectives"]:
            items = "\n".join(f"  - {item}" for item in info["objectives"])
            teaches.append(f"- **{chapter.number} {_short_title(info['title'])}**\n{items}")
    return "\n".join(rows) + "\n\n## What each chapter teaches\n\n" + "\n".join(teaches) + "\n"


def _short_title(title: str) -> str:
    """'Chapter 02 — Induction heads' -> 'Induction heads'."""
    return re.sub(r"^Chapter\s+\d+\s*[—–:-]\s*", "", title)


# --- a chapter page from its executed notebook ------------------------------------------------


def _is_header_cell(cell) -> bool:
    """The cells `build` puts first: the "generated from" note, the badge, the Colab setup."""
    text = cell.source
    return (
        (cell.cell_type == "markdown" and text.startswith("*Generated from"))
        or build.COLAB_BADGE_IMAGE in text
        or (cell.cell_type == "code" and '"google.colab" in sys.modules' in text)
    )


def _plotly_html(figure: dict) -> str:
    """A figure's HTML without plotly.js (the site serves it once, as `_static/plotly.min.js`)."""
    import plotly.io as pio

    return pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        default_width="100%",
        default_height=525,
        validate=False,
    )


def _links_line(chapter: build.Chapter, download: str) -> str:
    exercises = chapter.exercise_notebook.relative_to(chapter.root).as_posix()
    return (
        f"**The exercise notebook:** [open it in Colab]({build.colab_url(exercises)}) · "
        f"{{download}}`download {chapter.exercise_notebook.name} <{download}>` · "
        "This page is the solution notebook, executed: every exercise is marked, its "
        "solution and its check follow it."
    )


def chapter_page(
    chapter: build.Chapter, executed: nbformat.NotebookNode, download: str
) -> nbformat.NotebookNode:
    """The chapter's page: its executed solution notebook, prepared for the site."""
    nb = copy.deepcopy(executed)
    nb.cells = [c for c in nb.cells if not _is_header_cell(c)]
    if not nb.cells or not nb.cells[0].source.startswith("# "):
        raise SiteError(f"{chapter.stem}: the executed notebook does not start with its title")
    title, _, rest = nb.cells[0].source.partition("\n")
    nb.cells[0].source = f"{title}\n\n{_links_line(chapter, download)}\n{rest}"
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and (found := EXERCISE_HEADING.search(cell.source)):
            heading = found.group(0)
            before, after = cell.source.split(heading, 1)
            cell.source = (
                f"{before}{heading}\n\n"
                f":::{{admonition}} Exercise {found.group(1)}: your turn\n:class: exercise\n"
                f"{after.strip()}\n\n"
                "*In the exercise notebook the code below is a stub; the solution is shown "
                "here.*\n:::\n"
            )
            tags.append(EXERCISE_TAG)
        elif cell.cell_type == "code" and grading.get("solution"):
            tags.append(SOLUTION_TAG)
        elif cell.cell_type == "code" and grading.get("grade"):
            tags.append(CHECK_TAG)
        if tags:
            cell.metadata["tags"] = tags
        if cell.cell_type == "code":  # a progress bar (tqdm's widget) has no saved state to show
            cell.outputs = [o for o in cell.outputs if WIDGET_MIME not in o.get("data", {})]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data and "text/html" in data:
                data["text/html"] = _plotly_html(data.pop(PLOTLY_MIME))
    nb.metadata.pop("widgets", None)  # MyST-NB would load the widget manager from a CDN
    return nb


# --- the API reference ---------------------------------------------------------------------


def _public_submodules(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    locations = spec.submodule_search_locations if spec else None
    return [
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(locations or [])
        if not info.name.startswith("_")
    ]


def _is_module_file(name: str) -> bool:
    """A plain module (models.py), not a package (data/, checks/, course/ have their own pages)."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is None


def api_pages() -> dict[str, str]:
    """{file name: MyST page} for the API reference: data, models, training, plotting, checks."""
    from mi_tutorial import checks

    own_page = {"train", "plotting", "protocol"}
    library = sorted(  # models.py first, then the rest in alphabetical order
        (
            name
            for name in _public_submodules("mi_tutorial")
            if name.rsplit(".", 1)[1] not in own_page and _is_module_file(name)
        ),
        key=lambda name: (name != "mi_tutorial.models", name),
    )
    groups = {
        "data": ("Data", ["mi_tutorial.data", *_public_submodules("mi_tutorial.data")]),
        "models": ("Models, metrics, SAEs and transcoders", library),
        "training": ("Training", ["mi_tutorial.train"]),
        "plotting": ("Plotting", ["mi_tutorial.plotting"]),
        "checks": (
            "Checks",
            ["mi_tutorial.checks", "mi_tutorial.checks._core"]
            + [f"mi_tutorial.checks.{name}" for name in checks.CHAPTERS],
        ),
    }
    pages = {}
    for name, (title, modules) in groups.items():
        body = [f"# {title}\n"]
        for module in modules:
            if importlib.util.find_spec(module) is None:
                continue
            # autodoc writes reStructuredText: it runs inside an eval-rst block
            body.append(
                f"## `{module}`\n\n```{{eval-rst}}\n.. automodule:: {module}\n   :members:\n```\n"
            )
        pages[f"{name}.md"] = "\n".join(body)
    toctree = "\n".join(groups)
    pages["index.md"] = (
        "# API reference\n\nThe library the chapters use, from its docstrings: what a chapter "
        "does *not* teach.\n\n```{toctree}\n:maxdepth: 1\n\n" + toctree + "\n```\n"
    )
    return pages


# --- staging and building --------------------------------------------------------------------


def _copy_offline_assets(static: Path) -> None:
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    mathjax_spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if not plotly_js.exists() or mathjax_spec is None:
        raise SiteError(
            "the site serves plotly.js and MathJax itself: it needs plotly and "
            'sphinx-mathjax-offline (pip install -e ".[site]")'
        )
    shutil.copy2(plotly_js, static / "plotly.min.js")
    mathjax = Path(mathjax_spec.origin).parent / "static" / "mathjax"
    for part in MATHJAX_FILES:
        source, target = mathjax / part, static / "mathjax" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.exists():
            shutil.copy2(source, target)


def _executed_notebooks(
    chapters: list[build.Chapter], executed: Path | None, timeout: int
) -> dict[str, nbformat.NotebookNode]:
    if executed is not None:
        missing = [c.stem for c in chapters if not (executed / f"{c.stem}.ipynb").exists()]
        if missing:
            raise SiteError(
                f"no executed notebook for {', '.join(missing)} in {executed} (expected "
                "NN_topic.ipynb there); leave out --executed to execute them here"
            )
        return {c.stem: nbformat.read(executed / f"{c.stem}.ipynb", as_version=4) for c in chapters}
    from mi_tutorial.course import grading

    notebooks = {}
    for chapter in chapters:
        print(f"executing {chapter.solution_notebook.name} …", flush=True)
        report = grading.check_notebook(chapter.solution_notebook, timeout=timeout)
        if report.executed is None or not report.ok:
            raise SiteError(f"{chapter.stem} did not run cleanly:\n{grading.format_report(report)}")
        notebooks[chapter.stem] = report.executed
    return notebooks


def stage(
    source: Path, chapters: list[build.Chapter], notebooks: dict[str, nbformat.NotebookNode]
) -> None:
    """Fill `source`, a new folder, with the Sphinx source of the site."""
    shutil.copytree(build.COURSE_ROOT / "docs", source, ignore=shutil.ignore_patterns("_build"))
    _copy_offline_assets(source / "_static")
    (source / "chapters").mkdir()
    (source / "_exercises").mkdir()
    for chapter in chapters:
        shutil.copy2(
            chapter.exercise_notebook, source / "_exercises" / chapter.exercise_notebook.name
        )
        page = chapter_page(
            chapter, notebooks[chapter.stem], f"../_exercises/{chapter.exercise_notebook.name}"
        )
        nbformat.write(page, source / "chapters" / f"{chapter.stem}.ipynb")
    (source / "_generated").mkdir()
    (source / "_generated" / "chapters.md").write_text(chapter_table(chapters), encoding="utf-8")
    shutil.copy2(build.COURSE_ROOT / "README.md", source / "_generated" / "README.md")
    (source / "api").mkdir(exist_ok=True)
    for name, text in api_pages().items():
        (source / "api" / name).write_text(text, encoding="utf-8")


def build_site(
    out: Path,
    *,
    executed: Path | None = None,
    chapters: list[build.Chapter] | None = None,
    timeout: int = 900,
) -> SiteResult:
    """Build the website into `out` (replaced); see the module's docstring."""
    try:
        from sphinx.application import Sphinx
    except ImportError as error:
        raise SiteError('the site needs Sphinx and MyST-NB: pip install -e ".[site]"') from error
    chapters = build.find_chapters() if chapters is None else chapters
    missing = [c.stem for c in chapters if not c.exercise_notebook.exists()]
    if missing:
        raise SiteError(f"no exercise notebook for {', '.join(missing)}: run `mi-tutorial build`")
    start = time.perf_counter()
    notebooks = _executed_notebooks(chapters, executed, timeout)
    execution = time.perf_counter() - start if executed is None else 0.0
    start, cpu = time.perf_counter(), time.process_time()
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="mi-tutorial-site-") as scratch:
        source = Path(scratch) / "source"
        stage(source, chapters, notebooks)
        warnings = _WarningLog()
        with python_warnings.catch_warnings():
            # Sphinx 9 announces its next API changes to the theme and MyST-NB; not ours to fix
            python_warnings.simplefilter("ignore", PendingDeprecationWarning)
            python_warnings.simplefilter("ignore", DeprecationWarning)
            try:
                app = _run_sphinx(Sphinx, source, out, Path(scratch) / "doctrees", warnings)
            except Exception as error:  # Sphinx's errors, a docstring that fails to import…
                raise SiteError(f"Sphinx failed: {type(error).__name__}: {error}") from error
        if app.statuscode:
            raise SiteError("Sphinx failed:\n" + "".join(warnings.lines))
    shutil.rmtree(out / ".doctrees", ignore_errors=True)
    (out / ".buildinfo").unlink(missing_ok=True)
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and friends as they are
    return SiteResult(
        out,
        sorted(p for p in out.rglob("*.html") if p.relative_to(out).parts[0] != "_static"),
        time.perf_counter() - start,
        time.process_time() - cpu,
        execution,
        [_ANSI.sub("", line).strip() for line in warnings.lines if line.strip()],
    )


def _run_sphinx(sphinx, source: Path, out: Path, doctrees: Path, warnings):
    app = sphinx(
        str(source),
        str(source),
        str(out),
        str(doctrees),
        "html",
        status=None,
        warning=warnings,
        freshenv=True,
        parallel=1,
    )
    app.build()
    return app


class _WarningLog:
    """Sphinx's warning stream, kept for the report."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass

"""The course's website (`mi-tutorial site`, mi_tutorial/course/site.py).

Fast tests: the chapter table comes from the chapter sources, a chapter page is the executed
notebook with its exercises marked and links to the exercise notebook, the command's
mistakes get clear messages, and the publishing workflow runs the README's command.

The slow test builds the whole site from the executions the other tests already made (the
`checked_solution` fixture executes each solution notebook once per run; executing one
again during the build fails the test), measures the build, and opens every page in
headless Chromium, offline (tests/chromium.py): no console error or failed load, every
figure drawn, search finds "induction head", every chapter reachable from the landing
page's navigation, one screenshot per page for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import chromium
import nbformat
import pytest
import yaml

from mi_tutorial.course import build, cli, grading, site

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
BUILD_SECONDS = 120  # the budget for the build after execution
# The slow tests build the site of every chapter; MI_TUTORIAL_SITE_CHAPTERS="01 02" builds
# only those (a quicker local run: each chapter is executed once first).
_ONLY = os.environ.get("MI_TUTORIAL_SITE_CHAPTERS", "").replace(",", " ").split()
CHAPTERS = [c for c in build.find_chapters() if not _ONLY or c.number in _ONLY]


def _marked(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {name} -->\n```bash\n(.+?)\n```\n<!-- /{name} -->", text, re.S)
    assert found, f"README.md has no {name} block"
    return found.group(1)


def _chapter(number: str) -> build.Chapter:
    return next(c for c in build.find_chapters() if c.number == number)


# --- fast ------------------------------------------------------------------------------------


def test_the_chapter_table_comes_from_the_chapter_sources():
    chapters = build.find_chapters()
    table = site.chapter_table(chapters)
    rows = [line for line in table.splitlines() if re.match(r"\| \d\d \|", line)]
    assert [row[2:4] for row in rows] == [c.number for c in chapters]
    for chapter, row in zip(chapters, rows):
        info = chapter.info()
        assert f"</chapters/{chapter.stem}>" in row
        assert f"| {info['time_budget']} | {info['exercises']} |" in row
        assert info["exercises"] > 0 and info["time_budget"] != "?"
        for objective in info["objectives"]:
            assert objective in table


def test_builds_on_reads_the_earlier_chapters_a_source_mentions(tmp_path):
    (tmp_path / "solutions").mkdir()
    source = tmp_path / "solutions" / "05_x.py"
    source.write_text(
        "# %% [markdown]\n# # Chapter 05 — x\n# As in chapter 01, and chapters 3 and 04;\n"
        "# chapter 07 comes later, chapter 12 does not exist.\n\n# %%\n# chapter 02 in code\n"
        "x = 'chapter 02'\n"
    )
    numbers = {"01", "02", "03", "04", "05", "07"}
    # "# chapter 02 in code" is a comment of a code cell: jupytext keeps it as code, yet it
    # starts with "#"; the reader takes it too, which is harmless (an earlier chapter named)
    assert site.builds_on(build.Chapter(source), numbers) == ["01", "02", "03", "04"]
    assert site.builds_on(_chapter("01"), {c.number for c in build.find_chapters()}) == []


def _fake_executed(chapter: build.Chapter) -> nbformat.NotebookNode:
    """The solution notebook as `build` writes it, with a plotly figure as output of the
    first solution cell (as mi_tutorial.plotting shows one: plotly.js inlined)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    nb = build.build_notebook(chapter, "solutions")
    figure = go.Figure(go.Bar(y=[1, 3, 2])).to_dict()
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    html = pio.to_html(figure, full_html=False, include_plotlyjs=True)
    bar = {"model_id": "b658", "version_major": 2, "version_minor": 0}
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", {site.WIDGET_MIME: bar, "text/plain": "train:   0%|    | 0/120"}
        ),
        nbformat.v4.new_output(
            "display_data", {site.PLOTLY_MIME: figure, "text/html": html, "text/plain": "fig"}
        ),
    ]
    return nb


def test_a_chapter_page_marks_exercises_and_links_the_exercise_notebook():
    chapter = _chapter("02")
    executed = _fake_executed(chapter)
    page = site.chapter_page(chapter, executed, "../_exercises/02_induction_heads.ipynb")

    assert not any(build.COLAB_BADGE_IMAGE in c.source for c in page.cells)  # no image offline
    assert not any("google.colab" in c.source for c in page.cells)
    first = page.cells[0].source
    assert first.startswith("# Chapter 02")
    assert build.colab_url("chapters/02_induction_heads.ipynb") in first
    assert "{download}`download 02_induction_heads.ipynb <../_exercises/02_" in first

    headings = [c for c in page.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(headings) == chapter.info()["exercises"]
    assert all(":class: exercise" in c.source for c in headings)
    assert "{admonition} Exercise 2.1: your turn" in headings[0].source
    solutions = [c for c in page.cells if "solution" in c.metadata.get("tags", [])]
    checks_ = [c for c in page.cells if "check" in c.metadata.get("tags", [])]
    assert len(solutions) >= len(headings) and len(checks_) >= len(headings)
    assert all("### BEGIN SOLUTION" in c.source for c in solutions)
    assert all("checks.ch02." in c.source for c in checks_)

    outputs = [o for c in page.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if site.WIDGET_MIME in o["data"]]  # tqdm's bar, stateless
    (figure,) = [o for o in outputs if "plotly-graph-div" in o["data"].get("text/html", "")]
    assert site.PLOTLY_MIME not in figure["data"]  # MyST-NB cannot show it
    assert "plotly.js v" not in figure["data"]["text/html"]  # the site serves it once
    assert "Plotly.newPlot" in figure["data"]["text/html"]
    assert executed.cells[0].source.startswith("*Generated from")  # the input is left as it was


def test_a_notebook_without_its_title_is_refused():
    chapter = _chapter("01")
    nb = build.build_notebook(chapter, "solutions")
    nb.cells = [c for c in nb.cells if not c.source.startswith("# Chapter")]
    with pytest.raises(site.SiteError, match="does not start with its title"):
        site.chapter_page(chapter, nb, "x.ipynb")


def test_the_api_reference_covers_the_library():
    pages = site.api_pages()
    assert {"data.md", "models.md", "training.md", "plotting.md", "checks.md"} < set(pages)
    text = "\n".join(pages.values())
    for module in ("mi_tutorial.data.tinyworld", "mi_tutorial.models", "mi_tutorial.train"):
        assert f".. automodule:: {module}\n" in text
    from mi_tutorial import checks

    for name in checks.CHAPTERS:
        assert f".. automodule:: mi_tutorial.checks.{name}\n" in pages["checks.md"]


def test_site_command_mistakes_get_clear_messages(tmp_path, capsys):
    assert cli.main(["site", "--out", str(tmp_path / "o"), "--chapters", "99"]) == 2
    assert "No chapter 99; the chapters are 01" in capsys.readouterr().err
    assert cli.main(["site", "--out", str(tmp_path / "o"), "--executed", str(tmp_path / "no")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    code = cli.main(
        [
            "site",
            "--out",
            str(tmp_path / "o"),
            "--executed",
            str(tmp_path / "empty"),
            "--chapters",
            "01",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "no executed notebook for 01_transformer_from_scratch" in err and "--executed" in err
    assert not (tmp_path / "o").exists()


def test_without_executed_notebooks_the_site_executes_them(monkeypatch):
    chapter = _chapter("01")
    ran = []

    def fake_check(path, *, timeout):
        ran.append(Path(path))
        nb = _fake_executed(chapter)
        results = [grading.ExerciseResult("1.1", "x", grading.PASSED, "")]
        return grading.NotebookReport(str(path), results, [], 1.0, nb)

    monkeypatch.setattr(grading, "check_notebook", fake_check)
    notebooks = site._executed_notebooks([chapter], None, timeout=60)
    assert ran == [chapter.solution_notebook] and list(notebooks) == [chapter.stem]

    def failing_check(path, *, timeout):
        results = [grading.ExerciseResult("1.1", "x", grading.FAILED, "wrong")]
        return grading.NotebookReport(str(path), results, [], 1.0, _fake_executed(chapter))

    monkeypatch.setattr(grading, "check_notebook", failing_check)
    with pytest.raises(site.SiteError, match="01_transformer_from_scratch did not run cleanly"):
        site._executed_notebooks([chapter], None, timeout=60)


def test_the_workflow_publishes_what_the_readme_command_builds():
    command = _marked("site-command")
    assert command.startswith(".venv/bin/mi-tutorial site --out ")
    args = cli.make_parser().parse_args(command.split()[1:])
    assert args.command == "site" and args.executed is None  # CI executes the notebooks itself

    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write"
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert command in runs, f"{WORKFLOW.name} does not run `{command}`"
    install = next(r for r in runs if "pip install -e" in r)
    assert '".[site]"' in install
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == str(args.out)
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])


# --- slow: the whole site, in a browser ------------------------------------------------------


@pytest.fixture(scope="module")
def built_site(checked_solution, tmp_path_factory):
    """The site, built from the tests' own executions: (the output folder, the build result)."""
    executed = tmp_path_factory.mktemp("executed")
    for chapter in CHAPTERS:
        report = checked_solution(chapter)
        assert report.executed is not None and report.ok, grading.format_report(report)
        nbformat.write(report.executed, executed / f"{chapter.stem}.ipynb")

    def no_execution(*args, **kwargs):
        raise AssertionError("the site build executed a notebook: it must use --executed's")

    out = tmp_path_factory.mktemp("site") / "site"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grading, "check_notebook", no_execution)
        wall, cpu = time.perf_counter(), time.process_time()
        result = site.build_site(out, executed=executed, chapters=CHAPTERS)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"\nsite: {len(result.pages)} pages, {result.size_bytes / 1e6:.1f} MB, built in "
        f"{wall:.0f} s wall, {cpu:.0f} s CPU (after execution)"
    )
    return out, result, cpu


def _figures(nb) -> tuple[int, int]:
    """(plotly figures, circuitsvis views) among a notebook's outputs."""
    html = [o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", [])]
    return (
        sum("plotly-graph-div" in h for h in html),
        sum("circuits-vis-" in h for h in html),
    )


@pytest.mark.slow
def test_each_chapter_page_shows_every_figure_of_its_notebook(built_site, checked_solution):
    out, _, _ = built_site
    for chapter in CHAPTERS:
        n_plotly, n_circuitsvis = _figures(checked_solution(chapter).executed)
        html = (out / "chapters" / f"{chapter.stem}.html").read_text()
        assert html.count('class="plotly-graph-div"') == n_plotly, chapter.stem
        assert len(re.findall(r'id="circuits-vis-[^"]*"', html)) == n_circuitsvis, chapter.stem
        assert n_plotly + n_circuitsvis > 0, f"{chapter.stem} shows no figure"


@pytest.mark.slow
def test_the_site_builds_within_budget_without_warnings(built_site):
    out, result, cpu = built_site
    # Sphinx's remarks on the library's docstrings (reST markup in them) are for their
    # authors, and the page still shows them; anything else is the site's own problem.
    own = [w for w in result.warnings if "docstring of " not in w]
    assert own == []
    assert cpu <= BUILD_SECONDS, f"the build took {cpu:.0f} s of CPU (budget {BUILD_SECONDS})"
    assert result.size_bytes < 100e6
    assert (out / "index.html").exists() and (out / "search.html").exists()
    for chapter in CHAPTERS:
        assert (out / "chapters" / f"{chapter.stem}.html").exists()
    for page in ("tinyworld", "instructors", "api/data", "api/models", "api/checks"):
        assert (out / f"{page}.html").exists(), page
    for page in ("data", "models", "training", "plotting", "checks"):
        html = (out / "api" / f"{page}.html").read_text()
        assert ".. py:" not in html and ".. automodule" not in html, f"api/{page}: raw rST"
        assert html.count('<dl class="py function">') >= 2, f"api/{page}: no functions"


_EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I
)


@pytest.mark.slow
def test_no_page_loads_anything_from_another_host(built_site):
    out, result, _ = built_site
    loading = {p.relative_to(out): _EXTERNAL.findall(p.read_text()) for p in result.pages}
    assert {page: found for page, found in loading.items() if found} == {}
    assert not any("fonts.googleapis" in p.read_text() for p in result.pages)
    index = (out / "index.html").read_text()
    assert 'src="_static/plotly.min.js' in index and (out / "_static" / "plotly.min.js").exists()
    assert (out / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (out / "searchindex.js").exists()


@pytest.mark.slow
def test_the_download_link_gives_the_exercise_notebook(built_site):
    out, _, _ = built_site
    from bs4 import BeautifulSoup

    for chapter in CHAPTERS:
        page = out / "chapters" / f"{chapter.stem}.html"
        dom = BeautifulSoup(page.read_text(), "html.parser")
        (link,) = [a for a in dom.select("a.download") if a.get("href", "").endswith(".ipynb")]
        target = (page.parent / link["href"]).resolve()
        assert target.read_bytes() == chapter.exercise_notebook.read_bytes()
        colab = build.colab_url(f"chapters/{chapter.exercise_notebook.name}")
        assert dom.select(f'a[href="{colab}"]'), f"{chapter.stem}: no Colab link"
        assert len(dom.select("div.admonition.exercise")) == chapter.info()["exercises"]


@pytest.fixture(scope="module")
def browsable(built_site, tmp_path_factory):
    """A copy of the site with the error recorder first in each page's <head>."""
    out, _, _ = built_site
    copy = tmp_path_factory.mktemp("browsable") / "site"
    shutil.copytree(out, copy)
    for page in copy.rglob("*.html"):
        text = page.read_text()
        page.write_text(text.replace("<head>", "<head>" + chromium.RECORDER, 1))
    return copy


def _pages(copy: Path) -> list[Path]:
    """Every page a reader can reach (not the theme's own HTML files under _static/)."""
    return sorted(p for p in copy.rglob("*.html") if p.relative_to(copy).parts[0] != "_static")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)
def test_every_page_opens_offline_and_draws_its_figures(browsable, tmp_path, screenshot_folder):
    problems = {}
    for page in _pages(browsable):
        name = page.relative_to(browsable).with_suffix("").as_posix()
        url = page.as_uri() + ("?q=induction+head" if name == "search" else "")
        dom, log = chromium.dump_dom(url, tmp_path / f"profile-{name.replace('/', '-')}")
        found = chromium.page_errors(dom, log) + chromium.undrawn_figures(dom)
        if dom.select(".math") and not dom.select("mjx-container"):
            found.append("maths on the page, but MathJax drew none")
        if found:
            problems[name] = found
        shot = screenshot_folder / f"site-{name.replace('/', '-')}.png"
        height = 9000 if name.startswith("chapters/") else 2000  # a chapter: exercises, figures
        result = chromium.run(
            url,
            tmp_path / f"shot-{name.replace('/', '-')}",
            f"--screenshot={shot}",
            f"--window-size=1280,{height}",
        )
        assert result.returncode == 0 and shot.stat().st_size > 10_000, result.stderr[-2000:]
    assert problems == {}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)
def test_search_finds_induction_head(browsable, tmp_path):
    page = browsable / "search.html"
    dom, log = chromium.dump_dom(page.as_uri() + "?q=induction+head", tmp_path / "profile")
    results = dom.select("#search-results ul.search li a")
    assert chromium.page_errors(dom, log) == []
    found = {a.get("href", "").split("?")[0].split("#")[0] for a in results}
    assert "chapters/02_induction_heads.html" in found, found


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)
def test_every_chapter_is_reachable_from_the_landing_page(browsable, tmp_path):
    dom, _ = chromium.dump_dom((browsable / "index.html").as_uri(), tmp_path / "profile")
    nav = dom.select("nav.bd-docs-nav a.reference.internal")
    linked = {a["href"].split("#")[0] for a in nav}
    for chapter in CHAPTERS:
        assert f"chapters/{chapter.stem}.html" in linked, f"{chapter.stem} not in the navigation"
    for page in ("tinyworld.html", "instructors.html", "api/index.html"):
        assert page in linked


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)
def test_maths_renders_offline_from_the_sites_own_mathjax(tmp_path, monkeypatch):
    """No chapter has maths yet: a page with some, in a site of one (unexecuted) chapter."""
    chapter = _chapter("01")
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(_fake_executed(chapter), executed / f"{chapter.stem}.ipynb")
    monkeypatch.setattr(site, "api_pages", lambda: {"index.md": "# API reference\n"})
    stage = site.stage

    def with_maths(source, *args):
        stage(source, *args)
        (source / "maths.md").write_text(
            "---\norphan: true\n---\n# Maths\n\nInline $\\boldsymbol{W}_{QK} x^2$ and\n\n"
            "$$\\mathrm{softmax}(x)_i = \\frac{e^{x_i}}{\\sum_j e^{x_j}}$$\n"
        )

    monkeypatch.setattr(site, "stage", with_maths)
    out = tmp_path / "site"
    site.build_site(out, executed=executed, chapters=[chapter])
    page = out / "maths.html"
    page.write_text(page.read_text().replace("<head>", "<head>" + chromium.RECORDER, 1))
    dom, log = chromium.dump_dom(page.as_uri(), tmp_path / "profile")
    assert chromium.page_errors(dom, log) == []
    assert len(dom.select("mjx-container")) == 2  # drawn: the inline and the display formula
    loaded = [s["src"] for s in dom.select("script[src]") if "mathjax" in s["src"]]
    assert loaded and all(not re.match(r"(https?:)?//", src) for src in loaded), loaded
    assert any("boldsymbol" in src for src in loaded)  # an extension, loaded from the site

"""Executed solution notebooks, exported to HTML, draw every figure in a real browser, offline.

Each chapter's solution notebook is executed (shared with tests/test_check_chapters.py),
exported with nbconvert, and opened in headless Chromium with name resolution turned off.
Every plotly figure must have drawn its SVG and every circuitsvis view its canvas, with
no console error, uncaught exception or failed load, except the Colab badge's image (it
lives on colab.research.google.com, so offline it shows its alt text). Chromium is driven
by its own command line (tests/chromium.py, shared with the website's test).

The export leaves out nbconvert's CDN scripts (require.js, MathJax, the widget manager),
which an offline page cannot load and the course's figures do not use. An error that
happens in the page is written into the DOM by a small recorder script at the top of
<head>, since Chromium's log does not say which console messages are errors.

Skipped where no Chromium is installed; `.ci/run` installs Debian's. One screenshot per
chapter (the figures only) goes to a temporary folder, printed at the end, for a person
to look at.
"""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path

import chromium
import nbformat
import pytest
from chromium import RECORDER

from mi_tutorial.course import build

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON),
]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
TEMPLATE = (
    "{%- extends 'lab/index.html.j2' -%}\n"
    "{%- block html_head_js_requirejs -%}" + RECORDER + "{%- endblock html_head_js_requirejs -%}\n"
    "{% block jupyter_widgets %}{% endblock jupyter_widgets %}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
)


def _export(nb: nbformat.NotebookNode, path: Path, *, exclude_input: bool = False) -> Path:
    from nbconvert import HTMLExporter

    templates = path.parent / "templates"
    (templates / "offline").mkdir(parents=True, exist_ok=True)
    (templates / "offline" / "index.html.j2").write_text(TEMPLATE)
    (templates / "offline" / "conf.json").write_text(
        json.dumps({"base_template": "lab", "mimetypes": {"text/html": True}})
    )
    exporter = HTMLExporter(
        template_name="offline",
        extra_template_basedirs=[str(templates)],
        embed_images=True,
        exclude_input=exclude_input,
    )
    html, _ = exporter.from_notebook_node(nb)
    path.write_text(html, encoding="utf-8")
    return path


def _chromium(page: Path, *extra: str):
    return chromium.run(page.as_uri(), page.parent / f"profile-{page.stem}", *extra)


def _figures_in_outputs(nb) -> tuple[int, int]:
    """(plotly figures, circuitsvis views) among the notebook's outputs."""
    plotly = circuitsvis = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            plotly += PLOTLY_MIME in data and "plotly-graph-div" in data.get("text/html", "")
            circuitsvis += "circuits-vis-" in data.get("text/html", "")
    return plotly, circuitsvis


def _figures_only(nb) -> nbformat.NotebookNode:
    """The cells whose outputs hold a figure, in order (the first carries plotly.js)."""
    copy = deepcopy(nb)
    copy.cells = [
        c for c in copy.cells if _figures_in_outputs(nbformat.v4.new_notebook(cells=[c])) != (0, 0)
    ]
    return copy


@pytest.mark.parametrize("chapter", build.find_chapters(), ids=lambda c: c.stem)
def test_every_figure_draws_offline_in_chromium(
    chapter, checked_solution, tmp_path, screenshot_folder
):
    report = checked_solution(chapter)
    assert report.executed is not None, report.notes
    n_plotly, n_circuitsvis = _figures_in_outputs(report.executed)

    page = _export(report.executed, tmp_path / "page.html")
    dom, log = chromium.dump_dom(page.as_uri(), tmp_path / "profile-page")
    plotly_divs = dom.select("div.plotly-graph-div")
    assert len(plotly_divs) == n_plotly, (
        f"{len(plotly_divs)} plotly figures in the page, {n_plotly} in the notebook"
    )
    assert len(dom.select('div[id^="circuits-vis-"]')) == n_circuitsvis
    assert chromium.undrawn_figures(dom) == []

    badge = f"failed to load {build.COLAB_BADGE_IMAGE}"
    errors = chromium.page_errors(dom, log)
    assert [e for e in errors if e != badge] == [], errors

    figures = _figures_only(report.executed)
    assert bool(figures.cells) == bool(n_plotly + n_circuitsvis)
    if figures.cells:
        height = min(700 * (n_plotly + n_circuitsvis) + 200, 12000)
        shot = screenshot_folder / f"{chapter.stem}.png"
        page = _export(figures, tmp_path / "figures.html", exclude_input=True)
        result = _chromium(page, f"--screenshot={shot}", f"--window-size=1200,{height}")
        assert result.returncode == 0 and shot.stat().st_size > 20_000, result.stderr[-2000:]

"""How `mi_tutorial.plotting` displays a figure in a Jupyter kernel, so that it draws offline
in JupyterLab (plotly's mimetype) and in an HTML export (self-contained HTML).

The kernel is faked here (fast); tests/test_browser.py opens real exported notebooks in Chromium.
"""

from __future__ import annotations

import plotly.io as pio
import pytest
import torch

from mi_tutorial import plotting

PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture
def kernel(monkeypatch):
    """A fake Jupyter kernel: what `display` received, and the current execution count."""
    state = {"shown": [], "count": 1}
    monkeypatch.setattr(plotting, "_in_jupyter_kernel", lambda: True)
    monkeypatch.setattr(plotting, "_execution_count", lambda: state["count"])
    monkeypatch.setattr(plotting, "_plotlyjs_sent", False)
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    monkeypatch.setattr(
        "IPython.display.display", lambda bundle, raw: state["shown"].append(bundle)
    )
    return state


def test_each_figure_carries_offline_html_and_plotlyjs_comes_once(kernel):
    plotting.line([1, 2, 3], title="first")
    plotting.imshow(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), title="second")
    first, second = kernel["shown"]
    for bundle in (first, second):
        assert PLOTLY_MIME in bundle and "plotly-graph-div" in bundle["text/html"]
        assert "<script src=" not in bundle["text/html"], (
            "no script from a CDN (MathJax…): it must draw offline"
        )
    assert (
        len(first["text/html"]) > 1_000_000 and "window.Plotly" in first["text/html"]
    )  # plotly.js inlined
    assert len(second["text/html"]) < 100_000  # …only into the first figure of the session


def test_a_cell_ending_with_a_plot_shows_it_once_and_later_cells_can_show_it_again(kernel):
    fig = plotting.line([1, 2, 3])
    fig._ipython_display_()  # Jupyter echoing the cell's value, in the same cell
    assert len(kernel["shown"]) == 1
    kernel["count"] += 1
    fig._ipython_display_()  # `fig` alone in a later cell
    assert len(kernel["shown"]) == 2 and "plotly-graph-div" in kernel["shown"][1]["text/html"]
    hidden = plotting.line([1, 2], show=False)
    assert len(kernel["shown"]) == 2
    hidden._ipython_display_()  # `plotting.line(..., show=False)` as a cell's value still draws
    assert len(kernel["shown"]) == 3


def test_other_environments_keep_plotlys_own_renderer(kernel, monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "colab")
    shown = []
    monkeypatch.setattr(plotting.go.Figure, "show", lambda self, *a, **k: shown.append(self))
    fig = plotting.line([1, 2, 3])
    assert shown == [fig] and kernel["shown"] == []

"""Plotly helpers with labelled axes, and attention views that render offline.

Introduced in chapter 01; every chapter uses them. Each function returns the figure (so a
test or a learner can inspect it) and shows it unless `show=False`.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence

import circuitsvis as cv
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

# What plotly picks by itself in a plain Jupyter kernel (plotly 6+, and plotly 5). Anywhere
# else (Colab, VS Code, a renderer the learner chose) plotly's own choice is kept.
_PLAIN_JUPYTER_RENDERERS = ("plotly_mimetype", "plotly_mimetype+notebook")
_plotlyjs_sent = False  # plotly.js goes into the first figure of a kernel session only


def _numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t


def _in_jupyter_kernel() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _show(fig: go.Figure) -> None:
    """Display `fig` so it draws in JupyterLab and in an HTML export of the notebook, offline.

    In a Jupyter kernel plotly sends only its JSON mimetype, which JupyterLab draws but an
    HTML export (nbconvert) shows as nothing. So each figure also carries HTML that draws it
    with no network: plotly.js (4.8 MB) inlined into the first figure of the session, like
    plotly's own `notebook` renderer does, and no MathJax script from a CDN.
    """
    global _plotlyjs_sent
    if not (_in_jupyter_kernel() and pio.renderers.default in _PLAIN_JUPYTER_RENDERERS):
        fig.show()
        return
    from IPython.display import display

    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())
    bundle["text/html"] = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=not _plotlyjs_sent,
        include_mathjax=False,
        default_width="100%",
        default_height=525,  # plotly's own notebook default
        validate=False,
    )
    _plotlyjs_sent = True
    display(bundle, raw=True)


def _execution_count() -> int | None:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return getattr(shell, "execution_count", None)


def _finish(fig: go.Figure, show: bool) -> go.Figure:
    shown_in = None
    if show:
        _show(fig)
        shown_in = _execution_count()
    # Jupyter displays a cell's last value: `fig` (or `plotting.imshow(..., show=False)`)
    # shows the same way as above, and a cell ending in `plotting.imshow(...)` does not show
    # its figure twice.
    fig._ipython_display_ = lambda: (
        None if shown_in is not None and _execution_count() == shown_in else _show(fig)
    )
    return fig


def imshow(
    values,
    *,
    x: Sequence | None = None,
    y: Sequence | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    color_label: str = "",
    diverging: bool = True,
    show: bool = True,
) -> go.Figure:
    """A heat map of a 2D tensor; diverging colours centred on 0 unless `diverging=False`.
    `color_label` titles the colour bar: what the colours measure, with its unit."""
    array = _numpy(values)
    if array.ndim != 2:
        raise ValueError(
            f"imshow wants a 2D tensor (rows, columns); got shape {tuple(array.shape)}."
        )
    fig = _heatmap(array, x, y, xlabel, ylabel, title, diverging, color_label, aspect="auto")
    return _finish(fig, show)


def _heatmap(
    array,
    x,
    y,
    xlabel: str,
    ylabel: str,
    title: str,
    diverging: bool,
    color_label: str = "",
    **options,
) -> go.Figure:
    """px.imshow with the course's labels, the colour bar titled `color_label`, and, if
    `diverging`, red-blue colours centred on 0."""
    scale = (
        {"color_continuous_scale": "RdBu", "color_continuous_midpoint": 0.0} if diverging else {}
    )
    return px.imshow(
        array,
        x=[str(v) for v in x] if x is not None else None,
        y=[str(v) for v in y] if y is not None else None,
        labels={"x": xlabel, "y": ylabel, "color": color_label or "value"},
        title=title,
        **scale,
        **options,
    )


def line(
    ys,
    *,
    x: Sequence | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    log_y: bool = False,
    show: bool = True,
) -> go.Figure:
    """One line, or several from a mapping {name: values}."""
    series = ys if isinstance(ys, Mapping) else {ylabel or "value": ys}
    fig = go.Figure()
    for name, values in series.items():
        values = _numpy(values)
        fig.add_trace(
            go.Scatter(
                x=x if x is not None else list(range(len(values))),
                y=values,
                name=name,
                mode="lines",
            )
        )
    fig.update_layout(
        title=title, xaxis_title=xlabel, yaxis_title=ylabel, showlegend=len(series) > 1
    )
    if log_y:
        fig.update_yaxes(type="log")
    return _finish(fig, show)


def scatter(
    x,
    y,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    text: Sequence[str] | None = None,
    show: bool = True,
) -> go.Figure:
    """A scatter plot; `text` labels each point on hover."""
    fig = px.scatter(
        x=_numpy(x), y=_numpy(y), hover_name=text, labels={"x": xlabel, "y": ylabel}, title=title
    )
    return _finish(fig, show)


class OfflineHTML:
    """A circuitsvis view that always renders from its inlined bundle.

    circuitsvis's own display first probes a CDN (a one-second wait per view offline);
    this shows the inlined copy straight away, so it renders the same with no network.
    """

    def __init__(self, view):
        self.html = view.local_src

    def _repr_html_(self) -> str:
        return f"<div>{self.html}</div>"  # own container: circuitsvis's div is self-closing


def attention_patterns(tokens: Sequence[str], pattern) -> OfflineHTML:
    """circuitsvis's attention-pattern view of one sequence: `pattern` is [head, q_pos, k_pos]."""
    pattern = _numpy(pattern)
    if pattern.ndim != 3 or pattern.shape[1] != len(tokens) or pattern.shape[2] != len(tokens):
        raise ValueError(
            f"attention_patterns wants pattern of shape [head, {len(tokens)}, {len(tokens)}] "
            f"for {len(tokens)} tokens; got {tuple(pattern.shape)}. "
            "For a cache from a batch, pass cache['pattern', layer][0]."
        )
    # circuitsvis inserts each token as HTML: escape it (or `<bos>` vanishes as an unknown
    # tag), and end it with a space (shown as a non-breaking one), so word-level tokens do not
    # run together ("giftsocklamp") and an empty token still has a place to point at.
    shown = [html.escape(str(token)) + " " for token in tokens]
    return OfflineHTML(cv.attention.attention_patterns(tokens=shown, attention=pattern))


# --- several small panels side by side (introduced in chapter 04) ----------------------------


def show(fig: go.Figure) -> go.Figure:
    """Display a figure you changed after a helper built it with `show=False` (a log axis,
    an extra trace), the same way the helpers display theirs."""
    return _finish(fig, True)


def _panel_titles(titles: Sequence[str] | None, n_panels: int, what: str) -> list[str]:
    if titles is None:
        return [str(i) for i in range(n_panels)]
    if len(titles) != n_panels:
        raise ValueError(f"{what}: {len(titles)} titles for {n_panels} panels.")
    return [str(t) for t in titles]


def imshow_grid(
    values,
    *,
    titles: Sequence[str] | None = None,
    x: Sequence | None = None,
    y: Sequence | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    color_label: str = "",
    diverging: bool = True,
    show: bool = True,
) -> go.Figure:
    """Heat maps of a 3D tensor [panel, rows, columns] side by side, on one colour scale
    (titled `color_label`: what the colours measure)."""
    array = _numpy(values)
    if array.ndim != 3:
        raise ValueError(
            f"imshow_grid wants a 3D tensor (panel, rows, columns); got shape {tuple(array.shape)}."
        )
    names = _panel_titles(titles, array.shape[0], "imshow_grid")
    fig = _heatmap(array, x, y, xlabel, ylabel, title, diverging, color_label, facet_col=0)
    fig.for_each_annotation(
        lambda a: a.update(text=names[int(a.text.split("=")[-1])])
    )  # "facet_col=3" -> title 3
    return _finish(fig, show)


def bars(
    values,
    *,
    color=None,
    titles: Sequence[str] | None = None,
    x: Sequence | None = None,
    xlabel: str = "",
    ylabel: str = "",
    color_label: str = "",
    title: str = "",
    show: bool = True,
) -> go.Figure:
    """Bar charts of a 2D tensor [panel, bar] side by side (or one, of a 1D tensor);
    `color`, of the same shape, colours each bar on one shared scale."""
    array = _numpy(values)
    array = array[None] if array.ndim == 1 else array
    colors = None if color is None else _numpy(color).reshape(array.shape)
    if array.ndim != 2:
        raise ValueError(
            f"bars wants a 1D or 2D tensor (panel, bar); got shape {tuple(array.shape)}."
        )
    names = _panel_titles(titles, array.shape[0], "bars")
    labels = [str(v) for v in x] if x is not None else [str(i) for i in range(array.shape[1])]
    fig = make_subplots(rows=1, cols=array.shape[0], shared_yaxes=True, subplot_titles=names)
    for i, row in enumerate(array):
        marker = {} if colors is None else {"color": colors[i], "coloraxis": "coloraxis"}
        fig.add_trace(go.Bar(x=labels, y=row, marker=marker, showlegend=False), row=1, col=i + 1)
    if colors is not None:
        fig.update_layout(
            coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": color_label}}}
        )
    fig.update_layout(title=title)
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text=ylabel, col=1)
    return _finish(fig, show)


def vectors_2d(
    vectors,
    *,
    titles: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    title: str = "",
    show: bool = True,
) -> go.Figure:
    """Arrows from the origin to 2D points: `vectors` is [panel, vector, 2] (or [vector, 2]).
    Vector k has the same colour and label in every panel; the axes are square and shared."""
    array = _numpy(vectors)
    array = array[None] if array.ndim == 2 else array
    if array.ndim != 3 or array.shape[-1] != 2:
        raise ValueError(
            f"vectors_2d wants a tensor of shape (panel, vector, 2); got {tuple(array.shape)}."
        )
    names = _panel_titles(titles, array.shape[0], "vectors_2d")
    tips = labels if labels is not None else [str(k) for k in range(array.shape[1])]
    palette = px.colors.qualitative.Plotly
    fig = make_subplots(rows=1, cols=array.shape[0], subplot_titles=names)
    for i, panel in enumerate(array):
        for k, (vx, vy) in enumerate(panel):
            fig.add_trace(
                go.Scatter(
                    x=[0, vx],
                    y=[0, vy],
                    mode="lines+markers+text",
                    text=["", tips[k]],
                    textposition="top center",
                    line={"color": palette[k % len(palette)]},
                    marker={"size": [0, 8]},
                    name=tips[k],
                    legendgroup=tips[k],
                    showlegend=i == 0,
                ),
                row=1,
                col=i + 1,
            )
    reach = 1.15 * max(float(abs(array).max()), 1e-6)
    fig.update_xaxes(range=[-reach, reach], zeroline=True)
    fig.update_yaxes(range=[-reach, reach], zeroline=True)
    for i in range(array.shape[0]):  # one unit is as long up as across: angles look like angles
        fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", scaleratio=1, row=1, col=i + 1)
    fig.update_layout(title=title, height=360, width=max(460, 280 * array.shape[0] + 160))
    return _finish(fig, show)

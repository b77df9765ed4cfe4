"""Issue 13, "a newcomer's first hour": the threads call every chapter makes, and the
figures' legibility (attention views' tokens, colour-bar titles)."""

from __future__ import annotations

import ast
import inspect

import pytest
import torch

from mi_tutorial import plotting, train
from mi_tutorial.course import build

CHAPTERS = build.find_chapters()


def _setup_cell(chapter: build.Chapter) -> str:
    """The chapter's first code cell of its own (after the generated header and Colab cells)."""
    import jupytext

    cells = jupytext.reads(chapter.text(), fmt="py:percent").cells
    return next(c.source for c in cells if c.cell_type == "code" and "import" in c.source)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_every_chapter_sets_its_threads_with_the_one_library_call(chapter):
    setup = _setup_cell(chapter)
    assert "train.use_one_thread()" in setup, (
        f"{chapter.source.name}: its setup cell must call train.use_one_thread()"
    )
    assert "set_num_threads" not in chapter.text(), (
        "the reason lives in train.use_one_thread, not in a copy"
    )


def test_use_one_thread_says_why_and_sets_one_thread():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        train.use_one_thread()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "busy" in inspect.getdoc(train.use_one_thread)


def test_attention_view_shows_every_token_legibly():
    tokens = ["<bos>", "gift", "sock", "a&b", ""]
    view = plotting.attention_patterns(tokens, torch.full((1, 5, 5), 0.2))
    # circuitsvis inserts token text as HTML: each must arrive escaped, and separated
    for shown in ("&lt;bos&gt; ", "gift ", "sock ", "a&amp;b ", '" "'):
        assert shown in view.html, shown
    assert '"<bos>' not in view.html


def _heatmap_calls(chapter: build.Chapter):
    for node in ast.walk(ast.parse(chapter.text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("imshow", "imshow_grid")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "plotting"
        ):
            yield node


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_every_heat_map_titles_its_colour_bar(chapter):
    for call in _heatmap_calls(chapter):
        label = next((k.value for k in call.keywords if k.arg == "color_label"), None)
        assert isinstance(label, ast.Constant) and label.value, (
            f"{chapter.source.name}, line {call.lineno}: give plotting.{call.func.attr} "
            "a color_label "
            "(what the colours measure, with its unit)"
        )


def test_the_colour_bar_carries_its_title():
    fig = plotting.imshow(torch.eye(3), color_label="loss increase (nats)", show=False)
    assert fig.layout.coloraxis.colorbar.title.text == "loss increase (nats)"
    grid = plotting.imshow_grid(torch.ones(2, 3, 3), color_label="attention", show=False)
    assert grid.layout.coloraxis.colorbar.title.text == "attention"

"""Fixtures shared by several test files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from check_harness import ChapterChecks

from mi_tutorial.course import build, grading


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests' models are tiny: they gain nothing from threads, and on a busy 2-core
    machine OpenMP's spin-waiting makes a 32x32 matmul ~1000x slower (8 ms instead of 9 us).
    Notebooks (nbval, `mi-tutorial check`) run in their own kernels and set their own."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def offline(monkeypatch):
    """Nothing under test may reach the hub: huggingface_hub reads the variable once, at
    import, so the imported constant is patched as well as the environment. Plotly must
    not try to open a browser either."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    import plotly.io

    monkeypatch.setattr(plotly.io.renderers, "default", "")


def pytest_generate_tests(metafunc):
    """A chapter's `ChapterChecks` tests run once per check (`check_name`) or per mutant."""
    cls = metafunc.cls
    if cls is None or not issubclass(cls, ChapterChecks):
        return
    if "check_name" in metafunc.fixturenames:
        metafunc.parametrize("check_name", cls.all_checks())
    if "mutant" in metafunc.fixturenames:
        metafunc.parametrize("mutant", cls.mutants, ids=[m.id for m in cls.mutants])


@pytest.fixture(scope="session")
def checked_solution():
    """`check_notebook` on a chapter's solution notebook, run at most once per test session.

    Executing a solution notebook takes a minute or more; the `mi-tutorial check` test and
    the browser test both need one, so they share it.
    """
    reports: dict[str, grading.NotebookReport] = {}

    def get(chapter: build.Chapter) -> grading.NotebookReport:
        if chapter.stem not in reports:
            reports[chapter.stem] = grading.check_notebook(chapter.solution_notebook, timeout=900)
        return reports[chapter.stem]

    return get


_SCREENSHOTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshot_folder(request) -> Path:
    """Where the browser test puts its screenshots: a folder that outlives the test run
    (pytest's own temporary folders get recycled); its path is printed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="mi-tutorial-screenshots-"))
    request.config.stash[_SCREENSHOTS] = folder
    return folder


def pytest_terminal_summary(terminalreporter, config):
    folder = config.stash.get(_SCREENSHOTS, None)
    if folder is None:
        return
    taken = sorted(p.name for p in folder.glob("*.png"))
    if not taken:
        folder.rmdir()
        return
    terminalreporter.write_sep("-", "browser screenshots, for a person to look at")
    terminalreporter.write_line(f"{folder}: {', '.join(taken)}")

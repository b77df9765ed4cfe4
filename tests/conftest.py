"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest

from mi_tutorial import grading, notebooks


@pytest.fixture(scope="session")
def checked_solution():
    """`check_notebook` on a chapter's solution notebook, run at most once per test session.

    Executing a solution notebook takes a minute or more; the `mi-tutorial check` test and
    the browser test both need one, so they share it.
    """
    reports: dict[str, grading.NotebookReport] = {}

    def get(chapter: notebooks.Chapter) -> grading.NotebookReport:
        if chapter.stem not in reports:
            reports[chapter.stem] = grading.check_notebook(chapter.solution_notebook, timeout=900)
        return reports[chapter.stem]

    return get

"""The tests every chapter's self-checks must pass, written once.

A chapter's test file subclasses `ChapterChecks` and fills in four things:

    class TestChapter01Checks(ChapterChecks):
        module = ch01                                   # mi_tutorial.checks.ch01
        stem = "01_transformer_from_scratch"            # solutions/<stem>.py
        check_args = {"check_layernorm": ["LayerNorm"], ...}   # in exercise order
        mutants = [Mutant("check_layernorm", [(old, new)], "ln-eps-outside-sqrt", hint="eps outside"), ...]

and pytest then proves, for that chapter: the solution passes every check with one line
naming its exercise; the untouched stubs are "not attempted"; every mutant (the solution
with one typical mistake edited in, see `solution_cells`) is rejected, with the message or
named mistake the mutant expects; every check has at least three mutants; every check
that names mistakes (`mistakes=`) has a mutant that triggers one. `conftest.py` gives
the `check_name` and `mutant` parameters their values from the subclass.
"""

from __future__ import annotations

import inspect
from collections import Counter
from types import ModuleType
from typing import NamedTuple

import pytest

import solution_cells
from mi_tutorial.checks import CheckFailed

MIN_MUTANTS = 3


class Mutant(NamedTuple):
    check: str
    edits: list[tuple[str, str]]
    id: str
    says: str | None = None  # a fragment the failure message must contain
    hint: str | None = None  # a fragment of the "Hint: your output matches what <mistake> gives" line


class ChapterChecks:
    """Subclass as `TestChapterNNChecks` (see the module docstring)."""

    module: ModuleType
    stem: str
    check_args: dict[str, list[str]]
    mutants: list[Mutant]

    @classmethod
    def all_checks(cls) -> list[str]:
        return sorted(name for name, _ in inspect.getmembers(cls.module, inspect.isfunction)
                      if name.startswith("check_"))

    def run_check(self, name: str, namespace: dict) -> None:
        getattr(self.module, name)(*(namespace[arg] for arg in self.check_args[name]))

    def test_every_check_has_its_arguments_listed(self):
        assert sorted(self.check_args) == self.all_checks()

    def test_every_check_has_at_least_three_mutants(self):
        counts = Counter(m.check for m in self.mutants)
        assert {name: counts[name] for name in self.all_checks() if counts[name] < MIN_MUTANTS} == {}
        assert set(counts) <= set(self.all_checks()), "a mutant names a check that does not exist"

    def test_mutant_ids_are_unique(self):
        ids = [m.id for m in self.mutants]
        assert len(ids) == len(set(ids))

    def test_solution_passes(self, check_name, capsys):
        namespace = solution_cells.solution_namespace(self.stem)
        capsys.readouterr()  # drop what the chapter's setup cells printed, if they ran just now
        self.run_check(check_name, namespace)
        out = capsys.readouterr().out
        chapter = int(self.stem[:2])
        number = list(self.check_args).index(check_name) + 1
        # One line, naming this exercise (not a copy-pasted neighbour's) and what it checked.
        assert out.count("\n") == 1 and out.startswith(f"✓ Exercise {chapter}.{number} — "), out
        assert "all checks passed" in out and all(arg in out for arg in self.check_args[check_name]), out

    def test_stub_is_not_attempted(self, check_name):
        with pytest.raises(CheckFailed) as failure:
            self.run_check(check_name, solution_cells.stub_namespace(self.stem))
        assert "not attempted" in str(failure.value) and "NotImplementedError" in str(failure.value)

    def test_mutant_is_rejected(self, mutant, capsys):
        namespace = solution_cells.solution_namespace(self.stem, mutant.edits)
        capsys.readouterr()
        with pytest.raises(CheckFailed) as failure:
            self.run_check(mutant.check, namespace)
        assert "✓" not in capsys.readouterr().out
        message = str(failure.value)
        if mutant.says:
            assert mutant.says in message, message
        if mutant.hint:
            named = [line for line in message.splitlines() if line.startswith("Hint: your output matches what")]
            assert named and mutant.hint in named[0], message

    def test_every_hinted_check_has_a_mutant_that_triggers_a_hint(self):
        """The `mistakes=` hints are not decorative: a mutant of each hinted check names its mistake."""
        hinted = {name for name in self.all_checks()
                  if "mistakes=" in inspect.getsource(getattr(self.module, name))}
        assert hinted - {m.check for m in self.mutants if m.hint} == set()

    def test_edit_that_no_longer_matches_is_an_error(self):
        with pytest.raises(solution_cells.MutantMismatch, match="no longer matches"):
            solution_cells.solution_namespace(self.stem, [("this text is not in the solution", "")])

"""The tests every chapter's self-checks must pass, written once.

A chapter's test file subclasses `ChapterChecks` and fills in four things:

    class TestChapter01Checks(ChapterChecks):
        module = ch01                                   # mi_tutorial.checks.ch01
        stem = "01_transformer_from_scratch"            # solutions/<stem>.py
        check_args = {"check_layernorm": ["LayerNorm"], ...}   # in exercise order
        mutants = [Mutant("check_layernorm", [(old, new)], "ln-eps", hint="eps outside"), ...]

and pytest then proves, for that chapter: the solution passes every check with one line
naming its exercise; the untouched stubs are "not attempted"; every mutant (the solution
with one typical mistake edited in, see `solution_cells`) is rejected, with the message or
named mistake the mutant expects; every check has at least three mutants; every check
that names mistakes (`mistakes=`) has a mutant that triggers one. `conftest.py` gives
the `check_name` and `mutant` parameters their values from the subclass.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import io
import random
import types
import typing
from collections import Counter
from types import ModuleType
from typing import Any, NamedTuple

import numpy
import pytest
import solution_cells
import torch

from mi_tutorial.checks import CheckFailed
from mi_tutorial.checks._core import fingerprint, recording

MIN_MUTANTS = 3
MIN_CASES = 3  # each check: at least three cases with different expected outputs


class Mutant(NamedTuple):
    check: str
    edits: list[tuple[str, str]]
    id: str
    says: str | None = None  # a fragment the failure message must contain
    hint: str | None = (
        None  # a fragment of the "Hint: your output matches what <mistake> gives" line
    )


# --- the classes of wrong answers the framework closes (issue 14), for every chapter -------------

# A failure message that says only this does not name the mistake.
GENERIC_SAYS = (
    "wrong shape",
    "wrong values",
    "dtype",
    "raised",
    "is None",
    "should be",
)
_RECORDED: dict[tuple[str, str], tuple[list, bool]] = {}


def conforms(value: Any, annotation: Any) -> bool:
    """Whether `value` is what `annotation` promises (the parts a check can get wrong: containers,
    element types, tensors and their jaxtyping dtype); anything it cannot judge conforms."""
    if annotation in (inspect.Parameter.empty, Any) or isinstance(
        annotation, (str, typing.TypeVar)
    ):
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return not args or (
            len(args) == len(value) and all(conforms(v, a) for v, a in zip(value, args))
        )
    if origin in (list, set, frozenset):
        return isinstance(value, origin) and (not args or all(conforms(v, args[0]) for v in value))
    if origin is dict or origin is collections.abc.Mapping:
        return isinstance(value, collections.abc.Mapping) and (
            not args or all(conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
        )
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return callable(value)
    if origin is type:
        return isinstance(value, type)
    if origin is not None:
        return (
            isinstance(origin, type) and isinstance(value, origin)
            if isinstance(origin, type)
            else True
        )
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is None or annotation is type(None):
        return value is None
    try:
        return isinstance(value, annotation)  # classes, jaxtyping's Float[Tensor, "..."]
    except TypeError:
        return True


def recorded_run(module: ModuleType, stem: str, name: str, args: list[str]) -> tuple[list, bool]:
    """(the Checks created, whether the global RNGs changed) for check `name` on the solution."""
    key = (module.__name__, name)
    if key not in _RECORDED:
        namespace = solution_cells.solution_namespace(stem)
        states = lambda: (
            torch.get_rng_state(),
            random.getstate(),
            numpy.random.get_state()[1].copy(),
        )
        before = states()
        with contextlib.redirect_stdout(io.StringIO()), recording() as checks:
            getattr(module, name)(*(namespace[arg] for arg in args))
        after = states()
        changed = not (
            torch.equal(before[0], after[0])
            and before[1] == after[1]
            and (before[2] == after[2]).all()
        )
        _RECORDED[key] = (checks, changed)
    return _RECORDED[key]


def parameter_gaps(checks: list) -> list[str]:
    """Each exercise parameter that does not take two values, one of them not its default."""
    gaps = []
    for check in checks:
        for name in check.exercises:
            calls = [c for c in check.calls if c.target == name or c.target.startswith(f"{name}.")]
            if not calls:
                gaps.append(f"{name}: never called through check.call or check.recorded")
            for target in dict.fromkeys(c.target for c in calls):
                mine = [c for c in calls if c.target == target]
                for p in list(mine[0].signature.parameters.values())[
                    int(target.endswith((".__init__", ".forward"))) :
                ]:
                    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                        continue
                    values = {fingerprint(c.arguments.get(p.name, p.default)) for c in mine}
                    if len(values) < 2:  # two distinct values: one of them is not the default
                        only = (
                            "only its default"
                            if p.default is not p.empty
                            and all(p.name not in c.arguments for c in mine)
                            else "one value"
                        )
                        gaps.append(f"{target}({p.name}): {only} in every case")
    return gaps


def annotation_gaps(checks: list) -> list[str]:
    gaps = []
    for check in checks:
        for call in check.calls:
            try:
                hints = typing.get_type_hints(call.function, include_extras=True)
            except Exception:  # noqa: BLE001, S112 - an annotation it cannot resolve is not judged
                continue
            for arg, value in call.arguments.items():
                if arg in hints and not conforms(value, hints[arg]):
                    gaps.append(
                        f"{call.target}({arg}): {type(value).__name__} {str(value)[:60]!r} is not "
                        f"{hints[arg]} (case {call.case})"
                    )
    return gaps


def names_the_mistake(mutant: Mutant) -> bool:
    """A mutant's expected message names its mistake: a named hint, or a check-specific message."""
    return (
        bool(mutant.hint) or bool(mutant.says) and not any(g in mutant.says for g in GENERIC_SAYS)
    )


def mutant_figures(cls: type[ChapterChecks]) -> dict[str, float]:
    """Mutants, and the share whose message names the mistake (the tests prove each is rejected)."""
    named = sum(names_the_mistake(m) for m in cls.mutants)
    return {
        "mutants": len(cls.mutants),
        "named": named,
        "share_named": named / max(1, len(cls.mutants)),
    }


class FrameworkRules:
    """Mixed into ChapterChecks: the rules of issue 14 for every check of a chapter."""

    def _run(self, name):
        return recorded_run(self.module, self.stem, name, self.check_args[name])

    def _unless_waived(self, name: str, rule: str, gaps: list[str]) -> None:
        reason = self.waive.get(f"{name}:{rule}")
        if gaps and reason:
            pytest.skip(f"waived ({reason}): {gaps}")
        assert gaps == [], f"{name}: {gaps}"

    def test_every_parameter_takes_two_values(self, check_name):
        self._unless_waived(check_name, "parameters", parameter_gaps(self._run(check_name)[0]))

    def test_three_cases_with_different_expected_outputs(self, check_name):
        checks = self._run(check_name)[0]
        distinct = {fp for check in checks for _, fp in check.expected}
        gaps = [] if len(distinct) >= MIN_CASES else [f"{len(distinct)} distinct expected outputs"]
        self._unless_waived(check_name, "cases", gaps)

    def test_arguments_match_the_annotations(self, check_name):
        self._unless_waived(check_name, "annotations", annotation_gaps(self._run(check_name)[0]))

    def test_check_leaves_the_global_rng_alone(self, check_name):
        changed = self._run(check_name)[1]
        self._unless_waived(
            check_name,
            "rng",
            ["the check changed torch's/random's/numpy's global RNG"] if changed else [],
        )

    def test_share_of_mutants_naming_their_mistake(self):
        figures = mutant_figures(type(self))
        assert figures["share_named"] >= self.min_named_share, figures


class ChapterChecks(FrameworkRules):
    """Subclass as `TestChapterNNChecks` (see the module docstring)."""

    module: ModuleType
    stem: str
    check_args: dict[str, list[str]]
    mutants: list[Mutant]
    # "check_x:rule" -> why a rule (parameters, cases, annotations, rng) does not hold yet:
    # that test is skipped, with the reason.
    waive: typing.ClassVar[dict[str, str]] = {}
    min_named_share: float = 0.9  # of the mutants, the share whose message names the mistake

    @classmethod
    def all_checks(cls) -> list[str]:
        return sorted(
            name
            for name, _ in inspect.getmembers(cls.module, inspect.isfunction)
            if name.startswith("check_")
        )

    def run_check(self, name: str, namespace: dict) -> None:
        getattr(self.module, name)(*(namespace[arg] for arg in self.check_args[name]))

    def test_every_check_has_its_arguments_listed(self):
        assert sorted(self.check_args) == self.all_checks()

    def test_every_check_has_at_least_three_mutants(self):
        counts = Counter(m.check for m in self.mutants)
        assert {
            name: counts[name] for name in self.all_checks() if counts[name] < MIN_MUTANTS
        } == {}
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
        assert "all checks passed" in out and all(
            arg in out for arg in self.check_args[check_name]
        ), out

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
            named = [
                line
                for line in message.splitlines()
                if line.startswith("Hint: your output matches what")
            ]
            assert named and mutant.hint in named[0], message

    def test_every_hinted_check_has_a_mutant_that_triggers_a_hint(self):
        """The `mistakes=` hints are not decorative: a mutant of each hinted check names its
        mistake."""
        hinted = {
            name
            for name in self.all_checks()
            if "mistakes=" in inspect.getsource(getattr(self.module, name))
        }
        assert hinted - {m.check for m in self.mutants if m.hint} == set()

    def test_edit_that_no_longer_matches_is_an_error(self):
        with pytest.raises(solution_cells.MutantMismatch, match="no longer matches"):
            solution_cells.solution_namespace(self.stem, [("this text is not in the solution", "")])

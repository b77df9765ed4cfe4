"""The machinery every chapter's checks share.

A check runs the learner's code on several cases and compares with a trusted answer
(TransformerLens itself where it computes the same thing, `mi_tutorial.checks._keys`
otherwise). It prints one line naming the exercise when everything matches, and raises
`CheckFailed` otherwise: which case, expected vs got, and the likely mistake. It never
shows a page of torch traceback: in Jupyter, `CheckFailed` renders as its message alone.

For `mi-tutorial check`, which runs a learner's notebook headless, every check also
appends its result to a JSON-lines file when the environment variable `REPORT_ENV` names
one: {"exercise", "status", "message"}, status one of `PASSED`, `FAILED`, `NOT_ATTEMPTED`
(the format is `mi_tutorial.protocol`'s). Without it (a learner in Jupyter) nothing is written.
"""

from __future__ import annotations

import json
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch

from mi_tutorial.protocol import FAILED, NOT_ATTEMPTED, PASSED, REPORT_ENV

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_NOT_LEARNER_CODE = (str(_PACKAGE_DIR), "site-packages", "dist-packages", sys.prefix, sys.base_prefix)



def _report(exercise: str, status: str, message: str) -> None:
    """Append one result to the file `mi-tutorial check` named, if it named one."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"exercise": exercise, "status": status, "message": message}) + "\n")
    except OSError:  # reporting must never break the learner's check
        pass


class CheckFailed(AssertionError):
    """A self-check found a problem; the message says what and what to try."""

    def __init__(self, exercise: str, message: str, status: str = FAILED):
        self.exercise = exercise
        self.message = message
        self.status = status  # FAILED, or NOT_ATTEMPTED when the learner's code is still the stub
        super().__init__(f"{exercise}: {message}")

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"✗ {self.exercise} — not yet right", *self.message.splitlines()]


def _learner_frame(exc: BaseException) -> str:
    """'file:line: code' of the deepest frame in the learner's own code, or ''."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not f.filename.startswith(_NOT_LEARNER_CODE)]
    if not mine:
        return ""
    f = mine[-1]
    where = "your notebook cell" if "ipykernel" in f.filename or f.filename.startswith("<") else f.filename
    return f"{where}, line {f.lineno}" + (f": {f.line}" if f.line else "")


def _summary(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r:.80}"


class Check:
    """One exercise's check. `check = Check("Exercise 1.1 — LayerNorm")`, then `check.*`."""

    def __init__(self, exercise: str):
        self.exercise = exercise

    def fail(self, message: str, *, case: str | None = None, hint: str | None = None) -> NoReturn:
        self._raise(message, case=case, hint=hint, status=FAILED)

    def _raise(self, message: str, *, case: str | None, hint: str | None, status: str) -> NoReturn:
        text = (f"Case: {case}\n" if case else "") + message
        if hint:
            text += f"\nHint: {hint}"
        _report(self.exercise, status, text)
        raise CheckFailed(self.exercise, text, status) from None

    def call(self, fn: Callable, *args, case: str, what: str = "your code", **kwargs) -> Any:
        """Run learner code; turn a stub or an exception into a short, clear failure."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            self._raise(
                f"not attempted yet: {what} still raises NotImplementedError. Replace the "
                "`raise NotImplementedError()` line with your code, re-run that cell, then this one.",
                case=case,
                hint=None,
                status=NOT_ATTEMPTED,
            )
        except CheckFailed:
            raise
        except Exception as exc:  # the learner's bug: show it briefly, not torch's internals
            where = _learner_frame(exc)
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            hint = None
            if isinstance(exc, RuntimeError) and ("size" in first_line or "shape" in first_line):
                hint = "a shape mismatch: print the .shape of each tensor on that line."
            self.fail(
                f"{what} raised {type(exc).__name__}: {first_line}"
                + (f"\n  at {where}" if where else ""),
                case=case,
                hint=hint,
            )

    def expect_class(self, obj: Any, base: type, name: str) -> None:
        """The learner passed their class itself (not an instance, not a function)."""
        if not (isinstance(obj, type) and issubclass(obj, base)):
            got = f"an instance of {type(obj).__name__}" if isinstance(obj, base) else _summary(obj)
            self.fail(f"pass the class `{name}` itself (a subclass of {base.__name__}); got {got}.")

    def expect_callable(self, obj: Any, name: str) -> None:
        if not callable(obj) or isinstance(obj, type):
            self.fail(f"pass your function `{name}` itself (without calling it); got {_summary(obj)}.")

    def expect_number(self, got: Any, *, case: str, what: str, hint: str | None = None) -> torch.Tensor:
        """A Python number or a one-element tensor, as a 0-d float tensor; anything else fails."""
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            return got.detach().reshape(()).float()
        if isinstance(got, numbers.Real) and not isinstance(got, bool):
            return torch.tensor(float(got))
        if got is None:
            self.fail(f"{what} is None: did you forget to `return` it?", case=case)
        shown = f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else f" {got!r:.80}"
        self.fail(f"{what} should be a single number, got {type(got).__name__}{shown}.", case=case, hint=hint)

    def compare(
        self,
        got: Any,
        expected: torch.Tensor,
        *,
        case: str,
        atol: float = 1e-4,
        rtol: float = 1e-4,
        what: str = "the output",
        mistakes: Mapping[str, torch.Tensor] | None = None,
        hint: str | None = None,
    ) -> None:
        """Fail unless `got` matches `expected`.

        `mistakes` maps a likely mistake ("the causal mask is missing") to what the output
        would be with that mistake; when `got` matches one, the hint names it.
        """
        if got is None:
            self.fail(f"{what} is None: did you forget to `return` it?", case=case)
        if not isinstance(got, torch.Tensor):
            self.fail(f"{what} should be a torch.Tensor, got {_summary(got)}.", case=case, hint=hint)
        if tuple(got.shape) != tuple(expected.shape):
            self.fail(
                f"{what}: wrong shape, expected {tuple(expected.shape)}, got {tuple(got.shape)}.",
                case=case,
                hint=hint,
            )
        if expected.is_floating_point() != got.is_floating_point():
            self.fail(f"{what}: dtype {got.dtype}, expected {expected.dtype}.", case=case, hint=hint)
        got = got.detach().to(expected.dtype)
        expected = expected.detach()
        if expected.is_floating_point():
            bad = torch.isnan(got) & ~torch.isnan(expected)
            if bad.any():
                index = tuple(bad.nonzero()[0].tolist())
                self.fail(
                    f"{what}: NaN (first at index {index}) where the expected value is a number.",
                    case=case,
                    hint=hint or "NaN comes from 0/0, sqrt of a negative, log(0) or inf - inf.",
                )
        if torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
            return
        diff = (got - expected).abs() if expected.is_floating_point() else (got != expected).to(torch.int)
        diff = torch.nan_to_num(diff, nan=float("inf"))
        index = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        flat_bad = (diff > atol + rtol * expected.abs()).flatten().nonzero() if expected.is_floating_point() else (diff.flatten() > 0).nonzero()
        first = flat_bad[0].item() if len(flat_bad) else 0
        count = len(flat_bad)
        message = (
            f"{what}: wrong values in {count} of {expected.numel()} entries "
            f"(max abs difference {diff.max().item():.4g} at index {index}).\n"
            f"  expected (first entries): {_head(expected)}\n"
            f"  got      (first entries): {_head(got)}\n"
            f"  first differing entry, flat index {first}: expected {expected.flatten()[first].item():.6g}, "
            f"got {got.flatten()[first].item():.6g}"
        )
        for mistake, wrong in (mistakes or {}).items():
            if tuple(wrong.shape) == tuple(got.shape) and torch.allclose(
                got, wrong.to(got.dtype), atol=atol, rtol=rtol
            ):
                self.fail(message, case=case, hint=f"your output matches what {mistake} gives.")
        self.fail(message, case=case, hint=hint)

    def passed(self, detail: str = "") -> None:
        line = f"✓ {self.exercise} — all checks passed{f' ({detail})' if detail else ''}."
        _report(self.exercise, PASSED, line)
        print(line)


def _head(t: torch.Tensor, n: int = 5) -> str:
    values = t.flatten()[:n].tolist()
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values) + ", …]"

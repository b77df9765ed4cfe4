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

The API a chapter's check uses (`check = Check("Exercise N.M — name")`):

- `check.expect_callable(fn, "fn")` / `check.expect_class(Cls, nn.Module, "Cls")`: the learner
  passed the right kind of thing; this also *registers* it as the exercise, so every later
  `check.call` of it (of the class, or of an instance's forward) is recorded.
- `check.call(fn, *args, case=..., what=..., mutates=(), **kwargs)`: runs learner code. A stub
  is "not attempted", an exception a short message at the learner's line. It runs inside
  `torch.random.fork_rng` (and with Python's and numpy's RNG states restored), so a check
  never moves the learner's random streams. Every tensor the
  arguments hold (inside lists, tuples, dicts, an ActivationCache, a module's parameters and
  buffers, a FactoredMatrix) is snapshotted first and compared after: an argument changed in
  place fails, naming the argument (unless its name is in `mutates`), and is restored first, so
  the check's own cached cases stay right for later checks. Calls of the exercise
  are recorded (`check.calls`): the harness proves every parameter takes two values.
- `check.recorded(fn)`: a wrapper that records calls made by someone else (a hook that
  TransformerLens calls), so those count too.
- `check.compare(got, expected, case=..., mistakes=..., dtype=False)`: values, shape, NaN, and
  the named mistake the output matches. `mistakes` is a dict or a function returning one,
  called only when the answer is wrong (some mistakes cost a sweep to compute). `dtype=True`
  demands exactly expected's dtype. Every expected output is recorded (`check.expected`):
  the harness proves three cases differ.
- `check.compare_gradients(got, expected, wrt={"x": x}, case=...)`: where training goes
  through the exercise, the gradients of a fixed random projection of the output with
  respect to each named leaf (one tensor shared by both, or a `(learner's, reference's)`
  pair) must match; a missing gradient says "detached / no_grad".
- `check.expect_type(got, float, ...)`, `check.expect_dtype(got, torch.float32, ...)`: exact
  type or dtype, and the message says the chapter needs exactly that.
- `check.expect_number(got, ...)`: a Python number or one-element tensor, as a 0-d tensor.
- `check.expect_sampled(run, expected=..., se=..., case=...)`: a sampled quantity:
  `run(generator)` must give the same answer for two generators seeded alike, a different one
  for another seed (so not a constant, not the global RNG), equal the reference's for the same
  generator when `reference=` is given, and lie within `z` standard errors of `expected`.
  `standard_error(samples)` is the estimator's standard error of a mean.
- `check.passed(detail="")`: prints the pass line; without `detail`, it counts the distinct
  cases the check compared ("N cases"): write no case counts by hand (`check.n_cases`).
- `random_bridge(config, seed, scale=..., norm_scale=...)`: a small native TransformerBridge
  with every weight random, booted inside `torch.random.fork_rng`, so the learner's global
  RNG is as it was.
- `recording()`: a context manager collecting every Check created inside it (the harness).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import torch

from mi_tutorial.protocol import FAILED, NOT_ATTEMPTED, PASSED, write_report

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_NOT_LEARNER_CODE = (
    str(_PACKAGE_DIR),
    "site-packages",
    "dist-packages",
    sys.prefix,
    sys.base_prefix,
)
_RECORDERS: list[list[Check]] = []


_report = write_report  # appends to the file REPORT_ENV names, if any (mi_tutorial.protocol)


class CheckFailed(AssertionError):
    """A self-check found a problem; the message says what and what to try."""

    def __init__(self, exercise: str, message: str, status: str = FAILED):
        self.exercise = exercise
        self.message = message
        self.status = status  # FAILED, or NOT_ATTEMPTED when the learner's code is still the stub
        super().__init__(f"{exercise}: {message}")

    def _render_traceback_(
        self,
    ) -> list[str]:  # IPython shows this instead of a traceback
        return [f"✗ {self.exercise} — not yet right", *self.message.splitlines()]


class Call(NamedTuple):
    """One recorded call of the exercise: which callable, its signature, the arguments given."""

    target: str  # "fn", "Cls.__init__" or "Cls.forward"
    function: Callable  # whose annotations the arguments must satisfy
    signature: inspect.Signature
    arguments: dict[str, Any]  # the parameters given explicitly, by name
    case: str | None


@contextlib.contextmanager
def recording() -> Iterator[list[Check]]:
    """Collect every Check created inside the block (what the harness inspects)."""
    checks: list[Check] = []
    _RECORDERS.append(checks)
    try:
        yield checks
    finally:
        _RECORDERS.remove(checks)


def _learner_frame(exc: BaseException) -> str:
    """'file:line: code' of the deepest frame in the learner's own code, or ''."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not f.filename.startswith(_NOT_LEARNER_CODE)]
    if not mine:
        return ""
    f = mine[-1]
    where = (
        "your notebook cell"
        if "ipykernel" in f.filename or f.filename.startswith("<")
        else f.filename
    )
    return f"{where}, line {f.lineno}" + (f": {f.line}" if f.line else "")


def _summary(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r:.80}"


from mi_tutorial.checks._expect import Expectations  # noqa: E402 - below _report (issue 15)
from mi_tutorial.checks._values import (  # noqa: E402
    _bind,
    _own_rng,
    _same,
    _tensors,
    fingerprint,
    random_bridge,
    standard_error,
)

__all__ = [
    "Call",
    "Check",
    "CheckFailed",
    "fingerprint",
    "random_bridge",
    "recording",
    "standard_error",
]


# --- the check -----------------------------------------------------------------------------------


def _restore(before: list) -> None:
    """Write the snapshots back into the tensors the learner's code changed."""
    with torch.no_grad():
        for _, _, tensor, saved in before:
            if not _same(tensor.detach(), saved):
                if tensor.shape == saved.shape and tensor.dtype == saved.dtype:
                    tensor.copy_(saved)
                else:
                    tensor.data = saved


class Check(Expectations):
    """One exercise's check. `check = Check("Exercise 1.1 — LayerNorm")`, then `check.*`."""

    def __init__(self, exercise: str):
        self.exercise = exercise
        self.exercises: dict[str, Any] = {}  # name -> the learner's function or class
        self.calls: list[Call] = []
        self.expected: list[tuple[str, Any]] = []  # (case, fingerprint of the expected output)
        self.cases: list[str] = []  # distinct cases compared, in order
        for checks in _RECORDERS:
            checks.append(self)

    @property
    def n_cases(self) -> int:
        return len(self.cases)

    def _saw(self, case: str | None) -> None:
        if case and case not in self.cases:
            self.cases.append(case)

    def fail(self, message: str, *, case: str | None = None, hint: str | None = None) -> NoReturn:
        self._raise(message, case=case, hint=hint, status=FAILED)

    def _raise(self, message: str, *, case: str | None, hint: str | None, status: str) -> NoReturn:
        text = (f"Case: {case}\n" if case else "") + message
        if hint:
            text += f"\nHint: {hint}"
        _report(self.exercise, status, text)
        raise CheckFailed(self.exercise, text, status) from None

    # --- the exercise and its calls

    def _target(self, fn: Callable) -> tuple[str, Callable, inspect.Signature, bool] | None:
        """(name, annotated function, signature, skip first parameter) if fn is the exercise."""
        if isinstance(fn, functools.partial):
            fn = fn.func
        for name, obj in self.exercises.items():
            if fn is obj and isinstance(obj, type):
                return (
                    f"{name}.__init__",
                    obj.__init__,
                    inspect.signature(obj.__init__),
                    True,
                )
            if fn is obj:
                return name, obj, inspect.signature(obj), False
            if isinstance(obj, type) and isinstance(fn, obj):
                forward = type(fn).forward
                return f"{name}.forward", forward, inspect.signature(forward), True
        return None

    def _record(self, fn: Callable, args: tuple, kwargs: dict, case: str | None) -> None:
        target = self._target(fn)
        if target is None:
            return
        name, function, signature, skip_self = target
        if isinstance(fn, functools.partial):
            args, kwargs = (*fn.args, *args), {**fn.keywords, **kwargs}
        try:
            bound = signature.bind_partial(
                *((None,) if skip_self else ()), *args, **kwargs
            ).arguments
        except TypeError:
            return  # the call itself will fail and say so
        if skip_self:
            bound.pop(next(iter(signature.parameters)), None)
        self.calls.append(Call(name, function, signature, dict(bound), case))

    def recorded(self, fn: Callable) -> Callable:
        """fn, recording each call (for learner code that something else calls, e.g. a hook)."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self._record(fn, args, kwargs, None)
            return fn(*args, **kwargs)

        return wrapper

    def call(
        self,
        fn: Callable,
        *args,
        case: str,
        what: str = "your code",
        mutates: tuple[str, ...] = (),
        **kwargs,
    ) -> Any:
        """Run learner code on snapshotted arguments; a stub, an exception or an argument changed
        in place becomes a short, clear failure."""
        self._record(fn, args, kwargs, case)
        named = _bind(fn, args, kwargs)
        before = [
            (arg, where, tensor, tensor.detach().clone())
            for arg, value in named.items()
            if arg not in mutates
            for where, tensor in _tensors(value, f"`{arg}`")
        ]
        try:
            with (
                _own_rng()
            ):  # the learner's code may draw random numbers: not from the notebook's RNG
                result = fn(*args, **kwargs)
        except NotImplementedError:
            self._raise(
                f"not attempted yet: {what} still raises NotImplementedError. Replace the "
                "`raise NotImplementedError()` line with your code, re-run that cell, then this "
                "one.",
                case=case,
                hint=None,
                status=NOT_ATTEMPTED,
            )
        except CheckFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's bug: show it briefly, not torch's
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
        changed = [(a, where) for a, where, t, saved in before if not _same(t.detach(), saved)]
        if changed:
            _restore(before)  # put the check's cached cases back, so later checks are not misled
            arg, where = changed[0]
            self.fail(
                f"{what} changed its argument {where} in place: after the call it is not what it "
                "was. Your return value may be right, but the caller's tensor is now wrong, and a "
                "later cell that reads it fails somewhere else.",
                case=case,
                hint=f"do not write into `{arg}` (no `+=`, `[...] =`, `.fill_`, `.masked_fill_`, "
                "`.sub_`, ...): compute a new tensor, or `.clone()` first.",
            )
        return result

    def expect_class(self, obj: Any, base: type, name: str) -> None:
        """The learner passed their class itself (not an instance, not a function)."""
        if not (isinstance(obj, type) and issubclass(obj, base)):
            got = f"an instance of {type(obj).__name__}" if isinstance(obj, base) else _summary(obj)
            self.fail(f"pass the class `{name}` itself (a subclass of {base.__name__}); got {got}.")
        self.exercises[name] = obj

    def expect_callable(self, obj: Any, name: str) -> None:
        if not callable(obj) or isinstance(obj, type):
            self.fail(
                f"pass your function `{name}` itself (without calling it); got {_summary(obj)}."
            )
        self.exercises[name] = obj

    # --- types

    def compare(
        self,
        got: Any,
        expected: torch.Tensor,
        *,
        case: str,
        atol: float = 1e-4,
        rtol: float = 1e-4,
        what: str = "the output",
        mistakes: Mapping[str, torch.Tensor]
        | Callable[[], Mapping[str, torch.Tensor]]
        | None = None,
        hint: str | None = None,
        dtype: bool = False,
    ) -> None:
        """Fail unless `got` matches `expected`.

        `mistakes` maps a likely mistake ("the causal mask is missing") to what the output
        would be with that mistake (or is a function returning that map, called only when
        the answer is wrong); when `got` matches one, the hint names it. `dtype=True`: got's
        dtype must be exactly expected's.
        """
        self._saw(case)
        self.expected.append((case, fingerprint(expected)))
        if got is None:
            self.fail(f"{what} is None: did you forget to `return` it?", case=case)
        if not isinstance(got, torch.Tensor):
            self.fail(
                f"{what} should be a torch.Tensor, got {_summary(got)}.",
                case=case,
                hint=hint,
            )
        if tuple(got.shape) != tuple(expected.shape):
            self.fail(
                f"{what}: wrong shape, expected {tuple(expected.shape)}, got {tuple(got.shape)}.",
                case=case,
                hint=hint,
            )
        if expected.is_floating_point() != got.is_floating_point():
            self.fail(
                f"{what}: dtype {got.dtype}, expected {expected.dtype}.",
                case=case,
                hint=hint,
            )
        if dtype and got.dtype != expected.dtype:
            self.expect_dtype(got, expected.dtype, case=case, what=what)
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
        diff = (
            (got - expected).abs()
            if expected.is_floating_point()
            else (got != expected).to(torch.int)
        )
        diff = torch.nan_to_num(diff, nan=float("inf"))
        index = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        if expected.is_floating_point():
            flat_bad = (diff > atol + rtol * expected.abs()).flatten().nonzero()
        else:
            flat_bad = (diff.flatten() > 0).nonzero()
        first = flat_bad[0].item() if len(flat_bad) else 0
        count = len(flat_bad)
        message = (
            f"{what}: wrong values in {count} of {expected.numel()} entries "
            f"(max abs difference {diff.max().item():.4g} at index {index}).\n"
            f"  expected (first entries): {_head(expected)}\n"
            f"  got      (first entries): {_head(got)}\n"
            f"  first differing entry, flat index {first}: "
            f"expected {expected.flatten()[first].item():.6g}, "
            f"got {got.flatten()[first].item():.6g}"
        )
        if callable(mistakes):
            mistakes = mistakes()
        for mistake, wrong in (mistakes or {}).items():
            if tuple(wrong.shape) == tuple(got.shape) and torch.allclose(
                got, wrong.detach().to(got.dtype), atol=atol, rtol=rtol
            ):
                self.fail(
                    message,
                    case=case,
                    hint=f"your output matches what {mistake} gives.",
                )
        self.fail(message, case=case, hint=hint)

    def passed(self, detail: str = "") -> None:
        detail = detail or (f"{self.n_cases} cases" if self.n_cases else "")
        line = f"✓ {self.exercise} — all checks passed{f' ({detail})' if detail else ''}."
        _report(self.exercise, PASSED, line)
        print(line)


def _head(t: torch.Tensor, n: int = 5) -> str:
    values = t.flatten()[:n].tolist()
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values) + ", …]"

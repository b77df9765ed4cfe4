"""The `Check` methods beyond calling and comparing: exact types and dtypes, single numbers,
gradients, sampled quantities. A mixin of `mi_tutorial.checks._core.Check` (documented there);
it uses the Check's `fail`, `compare` and `_saw`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import torch


def _summary(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r:.80}"


class Expectations:
    def expect_type(
        self,
        got: Any,
        expected_type: type | tuple[type, ...],
        *,
        case: str,
        what: str,
        hint: str | None = None,
    ) -> Any:
        """Exactly this Python type (a float, not a 0-d tensor; a tuple, not a list)."""
        types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
        if got is None and type(None) not in types:
            self.fail(f"{what} is None: did you forget to `return` it?", case=case)
        if type(got) not in types:
            names = " or ".join(t.__name__ for t in types)
            self.fail(
                f"{what} should be exactly a {names} (the chapter relies on that type), got "
                f"{_summary(got)}.",
                case=case,
                hint=hint
                or (
                    "return a Python number: call .item() on a one-element tensor."
                    if float in types and isinstance(got, torch.Tensor)
                    else None
                ),
            )
        return got

    def expect_dtype(
        self,
        got: Any,
        dtype: torch.dtype,
        *,
        case: str,
        what: str,
        hint: str | None = None,
    ) -> None:
        """A tensor of exactly this dtype (float32 where the chapter's next cell needs float32)."""
        if not isinstance(got, torch.Tensor):
            self.fail(
                f"{what} should be a torch.Tensor, got {_summary(got)}.",
                case=case,
                hint=hint,
            )
        if got.dtype != dtype:
            self.fail(
                f"{what} has dtype {got.dtype}; the chapter needs exactly {dtype} (its next steps "
                f"mix it "
                f"with {dtype} tensors).",
                case=case,
                hint=hint
                or f"keep the inputs' dtype: no .double(), float64 literals or torch.tensor of "
                f"Python floats without dtype=; .to({dtype}) if you must.",
            )

    def expect_number(
        self, got: Any, *, case: str, what: str, hint: str | None = None
    ) -> torch.Tensor:
        """A Python number or a one-element tensor, as a 0-d float tensor; anything else fails."""
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            return got.detach().reshape(()).float()
        if isinstance(got, numbers.Real) and not isinstance(got, bool):
            return torch.tensor(float(got))
        if got is None:
            self.fail(f"{what} is None: did you forget to `return` it?", case=case)
        shown = (
            f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else f" {got!r:.80}"
        )
        self.fail(
            f"{what} should be a single number, got {type(got).__name__}{shown}.",
            case=case,
            hint=hint,
        )

    # --- values

    def compare_gradients(
        self,
        got: Any,
        expected: torch.Tensor,
        wrt: Mapping[str, torch.Tensor | tuple[torch.Tensor, torch.Tensor]],
        *,
        case: str,
        what: str = "the output",
        atol: float = 1e-4,
        rtol: float = 1e-4,
        hint: str | None = None,
    ) -> None:
        """The gradients of <u, output> (u a fixed random tensor) w.r.t. each leaf in `wrt` match
        the reference's. A leaf is one tensor both outputs were computed from, or a pair
        (the learner's copy, the reference's copy). Call after `compare` (same shape)."""
        if not isinstance(got, torch.Tensor) or not got.requires_grad:
            self.fail(
                f"{what} carries no gradient (requires_grad is False), so training through it "
                "would "
                "not learn: part of your computation is detached.",
                case=case,
                hint="no .detach(), .item(), .numpy() or torch.no_grad() on the way from the "
                "inputs.",
            )
        u = torch.randn(
            expected.shape,
            generator=torch.Generator().manual_seed(0),
            dtype=torch.float64,
        )
        pairs = [
            (name, *(leaf if isinstance(leaf, tuple) else (leaf, leaf)))
            for name, leaf in wrt.items()
        ]
        grads_got = torch.autograd.grad(
            (got.double() * u).sum(),
            [p[1] for p in pairs],
            allow_unused=True,
            retain_graph=True,
        )
        grads_expected = torch.autograd.grad(
            (expected.double() * u).sum(),
            [p[2] for p in pairs],
            allow_unused=True,
            retain_graph=True,
        )
        for (name, _, _), grad, reference in zip(pairs, grads_got, grads_expected):
            if reference is None:
                continue
            if grad is None or (not grad.any() and reference.any()):
                self.fail(
                    f"no gradient reaches `{name}` through {what}: the values may be right, but "
                    "the part that depends on it is detached or under torch.no_grad(), so "
                    "training would "
                    f"not change `{name}`.",
                    case=case,
                    hint=hint or "no .detach(), .item(), .data or torch.no_grad() on that path.",
                )
            self.compare(
                grad,
                reference,
                case=f"{case}, gradient w.r.t. {name}",
                atol=atol,
                rtol=rtol,
                what=f"the gradient of {what} w.r.t. `{name}`",
                hint=hint
                or "values right, gradients wrong: a part of the computation is detached, "
                "or computed from a copy that does not track gradients.",
            )

    def expect_sampled(
        self,
        run: Callable[[torch.Generator], Any],
        *,
        expected: float,
        se: float,
        case: str,
        what: str,
        seed: int = 0,
        z: float = 4.0,
        reference: Callable[[torch.Generator], float] | None = None,
        mistakes: Mapping[str, float]
        | Callable[[torch.Generator], Mapping[str, float]]
        | None = None,
        hint: str | None = None,
    ) -> float:
        """A sampled quantity: `run(generator)` is the learner's estimate from that generator.
        Same seed -> same answer (and the reference's, if given); another seed -> another
        answer (a constant, or the global RNG, fails); within `z` standard errors `se` of
        `expected`. Returns the estimate."""
        self._saw(case)
        self.expected.append((case, ("sampled", expected)))

        def estimate(s: int) -> float:
            return float(
                self.expect_number(run(torch.Generator().manual_seed(s)), case=case, what=what)
            )

        got, again, other = estimate(seed), estimate(seed), estimate(seed + 1)
        if got != again:
            self.fail(
                f"two calls with generators seeded alike gave {got:.6g} and {again:.6g}.",
                case=case,
                hint="draw every random number with generator=generator (not the global RNG), "
                "so the result is repeatable.",
            )
        if got == other:
            self.fail(
                f"{what} is {got:.6g} for two differently seeded generators: it does not depend on "
                "the generator (a constant, a formula instead of an estimate, or samples drawn "
                "from the "
                "global RNG, which a check restores around each call).",
                case=case,
                hint="draw the samples with the generator you are given and average over them.",
            )
        if reference is not None:
            key = reference(torch.Generator().manual_seed(seed))
            if not math.isclose(got, key, rel_tol=1e-4, abs_tol=1e-6):
                same = (
                    f"with the same generator the reference's estimate is {key:.6g}: "
                    "draw the same samples, in the same order"
                )
                self._sampled_fail(
                    got,
                    expected,
                    se,
                    z,
                    case,
                    what,
                    mistakes,
                    f"{same}. {hint or ''}".strip(),
                    seed,
                )
        if not abs(got - expected) <= z * se:
            self._sampled_fail(got, expected, se, z, case, what, mistakes, hint, seed)
        return got

    def _sampled_fail(self, got, expected, se, z, case, what, mistakes, hint, seed) -> NoReturn:
        message = (
            f"{what} is {got:.6g}; the expected value is {expected:.6g} ± {z * se:.3g} "
            f"({z:g} standard errors of the estimate)."
        )
        if callable(mistakes):  # what each mistake gives from the same generator
            mistakes = mistakes(torch.Generator().manual_seed(seed))
        mistakes = mistakes or {}
        for close in (
            lambda w: math.isclose(got, w, rel_tol=1e-4),
            lambda w: abs(got - w) <= z * se,
        ):
            for mistake, wrong in mistakes.items():
                if close(wrong):
                    self.fail(message, case=case, hint=f"your output matches what {mistake} gives.")
        self.fail(message, case=case, hint=hint)

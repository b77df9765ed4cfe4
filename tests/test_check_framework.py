"""What every check inherits from `mi_tutorial.checks._core`: a failure says what went
wrong in a few lines, in the learner's terms, and a pass says which exercise passed.

The "learner code" below is tiny functions defined in this file, so tracebacks point here.
"""

from __future__ import annotations

import collections.abc

import pytest
import torch
from torch import nn

from mi_tutorial.checks import Check, CheckFailed

EXERCISE = "Exercise 9.9 — toy"
EXPECTED = torch.arange(6.0).reshape(2, 3)


@pytest.fixture
def check() -> Check:
    return Check(EXERCISE)


def failure(fn, *args, **kwargs) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        fn(*args, **kwargs)
    return info.value


# --- the learner's code raises -------------------------------------------------------------


def stub(x):
    raise NotImplementedError()


def bad_matmul(x):
    w = torch.ones(5, 4)
    return x @ w  # (2, 3) @ (5, 4): the learner's bug


def bad_layer_norm(x):
    # raises from inside torch's own Python code
    return torch.nn.functional.layer_norm(x, (7,))


def bad_lookup(x):
    return {"a": x}["b"]


LONG_ERROR = "first line of the problem\nsecond line\nthird line"


def many_lines(x):
    raise ValueError(LONG_ERROR)


def test_stub_is_not_attempted(check):
    message = str(failure(check.call, stub, EXPECTED, case="case A", what="stub()"))
    assert "not attempted" in message and "stub() still raises NotImplementedError" in message
    assert "Case: case A" in message


def test_learner_exception_is_short_and_points_at_the_learner_line(check):
    error = failure(check.call, bad_matmul, EXPECTED, case="case A", what="bad_matmul")
    message = str(error)
    assert "bad_matmul raised RuntimeError: mat1 and mat2 shapes cannot be multiplied" in message
    assert (
        "test_check_framework.py, line" in message and "return x @ w  # (2, 3) @ (5, 4)" in message
    )
    assert "Hint: a shape mismatch" in message
    assert len(message.splitlines()) < 12
    # `from None`: a plain traceback does not drag the original torch error along either.
    assert error.__cause__ is None and error.__suppress_context__


def test_exception_inside_torch_source_is_reported_at_the_learner_line(check):
    message = str(
        failure(check.call, bad_layer_norm, EXPECTED, case="case A", what="bad_layer_norm")
    )
    assert "bad_layer_norm raised RuntimeError" in message
    assert "torch.nn.functional.layer_norm(x, (7,))" in message
    assert "functional.py" not in message and "site-packages" not in message
    assert len(message.splitlines()) < 12


def test_exception_summary_is_one_line(check):
    message = str(failure(check.call, many_lines, EXPECTED, case="case A", what="many_lines"))
    assert "many_lines raised ValueError: first line of the problem" in message
    assert "second line" not in message and "raise ValueError(LONG_ERROR)" in message


def test_non_shape_exception_gets_no_shape_hint(check):
    message = str(failure(check.call, bad_lookup, EXPECTED, case="case A", what="bad_lookup"))
    assert "bad_lookup raised KeyError: 'b'" in message and "Hint" not in message


def test_check_failed_from_inside_passes_through(check):
    inner = CheckFailed("Exercise 0.0 — inner", "the inner message")

    def raises_check_failed(x):
        raise inner

    assert failure(check.call, raises_check_failed, EXPECTED, case="case A") is inner


def test_call_returns_the_learner_value(check):
    assert check.call(lambda x: x + 1, 1, case="case A") == 2


# --- the learner's output is wrong ---------------------------------------------------------


def test_none_says_forgot_to_return(check):
    message = str(failure(check.compare, None, EXPECTED, case="case A"))
    assert "the output is None" in message and "forget to `return`" in message


def test_wrong_type_says_expected_tensor(check):
    message = str(
        failure(check.compare, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], EXPECTED, case="case A")
    )
    assert "should be a torch.Tensor, got list" in message


def test_wrong_shape_names_both_shapes(check):
    message = str(failure(check.compare, EXPECTED.T, EXPECTED, case="case A", what="the scores"))
    assert "the scores: wrong shape, expected (2, 3), got (3, 2)" in message


def test_wrong_dtype_kind_is_named(check):
    message = str(failure(check.compare, EXPECTED.long(), EXPECTED, case="case A"))
    assert "dtype torch.int64" in message and "torch.float32" in message


def test_nan_is_named_with_its_index(check):
    got = EXPECTED.clone()
    got[1, 2] = float("nan")
    message = str(failure(check.compare, got, EXPECTED, case="case A"))
    assert "NaN (first at index (1, 2))" in message and "Hint: NaN comes from" in message


def test_nan_where_nan_is_expected_is_fine(check):
    expected = EXPECTED.clone()
    expected[0, 0] = float("nan")
    check.compare(expected.clone(), expected, case="case A")


def test_values_within_tolerance_pass_and_outside_fail(check):
    check.compare(EXPECTED + 5e-5, EXPECTED, case="case A")
    message = str(
        failure(
            check.compare,
            EXPECTED + torch.tensor([0.0, 0.0, 0.5]),
            EXPECTED,
            case="case A",
        )
    )
    assert "wrong values in 2 of 6 entries" in message
    assert "flat index 2: expected 2, got 2.5" in message


def test_a_known_mistake_is_named(check):
    forgot_bias = EXPECTED - 1
    mistakes = {
        "leaving out the bias": forgot_bias,
        "a wrong-shaped variant": EXPECTED.T,
    }
    message = str(
        failure(
            check.compare,
            forgot_bias,
            EXPECTED,
            case="case A",
            mistakes=mistakes,
            hint="generic",
        )
    )
    assert "Hint: your output matches what leaving out the bias gives." in message
    assert "generic" not in message


def test_an_unknown_mistake_gets_the_generic_hint(check):
    mistakes = {"leaving out the bias": EXPECTED - 1}
    message = str(
        failure(
            check.compare,
            EXPECTED * 2,
            EXPECTED,
            case="case A",
            mistakes=mistakes,
            hint="generic",
        )
    )
    assert "Hint: generic" in message and "matches what" not in message


# --- the learner passes the wrong kind of thing ----------------------------------------------


class LayerNorm(nn.Module):
    pass


def learner_fn(x):
    return x


def test_expect_class_given_an_instance_says_pass_the_class(check):
    check.expect_class(LayerNorm, nn.Module, "LayerNorm")
    message = str(failure(check.expect_class, LayerNorm(), nn.Module, "LayerNorm"))
    assert (
        "pass the class `LayerNorm` itself" in message and "got an instance of LayerNorm" in message
    )


def test_expect_class_given_a_function(check):
    message = str(failure(check.expect_class, learner_fn, nn.Module, "LayerNorm"))
    assert "pass the class `LayerNorm` itself" in message and "got function" in message


def test_expect_callable_given_the_result_says_without_calling(check):
    check.expect_callable(learner_fn, "learner_fn")
    message = str(failure(check.expect_callable, learner_fn(EXPECTED), "learner_fn"))
    assert "without calling it" in message and "Tensor of shape (2, 3)" in message
    assert "without calling it" in str(failure(check.expect_callable, LayerNorm, "learner_fn"))


# --- how a failure and a pass look ---------------------------------------------------------


def test_check_failed_is_an_assertion_error(check):
    error = failure(check.fail, "something is off", case="case A", hint="try this")
    assert isinstance(error, AssertionError)
    assert str(error) == f"{EXERCISE}: Case: case A\nsomething is off\nHint: try this"
    assert error.exercise == EXERCISE


def test_render_traceback_is_short_and_names_the_exercise(check):
    error = failure(check.compare, EXPECTED.T, EXPECTED, case="case A")
    lines = error._render_traceback_()
    assert all(isinstance(line, str) for line in lines)
    assert lines[0].startswith("✗") and EXERCISE in lines[0]
    assert lines[1:] == error.message.splitlines()
    assert len(lines) < 12


def test_passed_prints_one_line_naming_the_exercise(check, capsys):
    check.passed("3 cases")
    assert capsys.readouterr().out == f"✓ {EXERCISE} — all checks passed (3 cases).\n"
    check.passed()
    assert capsys.readouterr().out == f"✓ {EXERCISE} — all checks passed.\n"


# --- issue 14: the classes of wrong answers closed once, in the framework ---------------------


def scale_in_place(x, factor: float = 2.0):
    x *= factor  # the learner's bug: the caller's tensor changes too
    return x


def scale(x, factor: float = 2.0):
    return x * factor


def test_an_argument_changed_in_place_is_named(check):
    message = str(
        failure(check.call, scale_in_place, EXPECTED.clone(), case="case A", what="scale")
    )
    assert (
        "scale changed its argument `x` in place" in message
        and "Hint: do not write into `x`" in message
    )


def test_a_tensor_inside_a_container_or_module_changed_is_named(check):
    def edit_dict(d):
        d["b"][0, 0] = 1.0

    def edit_module(model):
        with torch.no_grad():
            model.weight.zero_()

    message = str(failure(check.call, edit_dict, {"a": 1, "b": EXPECTED.clone()}, case="case A"))
    assert "changed its argument `d`['b'] in place" in message
    message = str(failure(check.call, edit_module, nn.Linear(2, 2), case="case A"))
    assert "changed its argument `model` (its weight) in place" in message


def test_an_argument_allowed_to_change_passes(check):
    assert check.call(scale_in_place, EXPECTED.clone(), case="case A", mutates=("x",)).sum() == 30


def test_learner_code_does_not_move_the_global_rngs(check):
    import random

    import numpy

    def draws(x):
        return torch.randn(3), random.random(), numpy.random.rand()

    before = (
        torch.get_rng_state(),
        random.getstate(),
        numpy.random.get_state()[1].copy(),
    )
    check.call(draws, EXPECTED, case="case A")
    assert torch.equal(before[0], torch.get_rng_state()) and before[1] == random.getstate()
    assert (before[2] == numpy.random.get_state()[1]).all()


def test_calls_of_the_exercise_are_recorded_with_their_arguments(check):
    check.expect_callable(scale, "scale")
    check.call(scale, EXPECTED, case="case A")
    check.call(scale, EXPECTED, 3.0, case="case B")
    check.call(len, [1], case="not the exercise")
    check.recorded(scale)(EXPECTED, factor=0.5)
    assert [(c.target, c.case, sorted(c.arguments)) for c in check.calls] == [
        ("scale", "case A", ["x"]),
        ("scale", "case B", ["factor", "x"]),
        ("scale", None, ["factor", "x"]),
    ]


def test_calls_of_a_class_and_its_instances_are_recorded(check):
    check.expect_class(nn.Linear, nn.Module, "Linear")
    layer = check.call(nn.Linear, 3, 2, case="case A")
    check.call(layer, EXPECTED, case="case A")
    assert [c.target for c in check.calls] == ["Linear.__init__", "Linear.forward"]
    assert check.calls[0].arguments == {"in_features": 3, "out_features": 2}
    assert check.calls[1].arguments.keys() == {"input"}


def test_mistakes_are_computed_only_when_the_answer_is_wrong(check):
    computed = []

    def mistakes():
        computed.append(1)
        return {"leaving out the bias": EXPECTED - 1}

    check.compare(EXPECTED.clone(), EXPECTED, case="case A", mistakes=mistakes)
    assert computed == []
    message = str(failure(check.compare, EXPECTED - 1, EXPECTED, case="case A", mistakes=mistakes))
    assert computed == [1] and "matches what leaving out the bias gives" in message


def test_exact_dtype_and_type_say_the_chapter_needs_them(check):
    message = str(failure(check.compare, EXPECTED.double(), EXPECTED, case="case A", dtype=True))
    assert "dtype torch.float64; the chapter needs exactly torch.float32" in message
    check.compare(EXPECTED.double(), EXPECTED, case="case A")  # without dtype=True, any float dtype
    message = str(
        failure(check.expect_type, torch.tensor(1.0), float, case="case A", what="the loss")
    )
    assert "the loss should be exactly a float" in message and "call .item()" in message
    assert check.expect_type(1.5, float, case="case A", what="the loss") == 1.5
    assert "exactly a tuple" in str(
        failure(check.expect_type, [1, 2], tuple, case="case A", what="it")
    )


def test_gradients_through_a_detached_part_fail(check):
    x = torch.randn(4, requires_grad=True)
    expected = (x * x).sum(0, keepdim=True) + x
    check.compare_gradients((x**2).sum(0, keepdim=True) + x, expected, {"x": x}, case="case A")
    right_values = (x.detach() ** 2).sum(0, keepdim=True) + x  # the same numbers
    message = str(failure(check.compare_gradients, right_values, expected, {"x": x}, case="case A"))
    assert "the gradient of the output w.r.t. `x`" in message and "detached" in message
    message = str(
        failure(
            check.compare_gradients,
            expected.detach(),
            expected,
            {"x": x},
            case="case A",
        )
    )
    assert "carries no gradient" in message
    message = str(
        failure(
            check.compare_gradients,
            expected.detach() * 0 + x.sum() * 0,
            expected,
            {"x": x},
            case="B",
        )
    )
    assert "no gradient reaches `x`" in message


def _mean_of_normals(generator: torch.Generator, n: int = 400) -> float:
    return torch.randn(n, generator=generator).add(1.0).mean().item()


def test_a_sampled_quantity_is_tied_to_its_generator_and_its_standard_error(check):
    se = 1 / 400**0.5
    kwargs = {"expected": 1.0, "se": se, "case": "case A", "what": "the mean"}
    got = check.expect_sampled(_mean_of_normals, reference=_mean_of_normals, **kwargs)
    assert abs(got - 1.0) < 4 * se
    assert "does not depend on the generator" in str(
        failure(check.expect_sampled, lambda g: 1.0, **kwargs)
    )
    message = str(
        failure(
            check.expect_sampled,
            lambda g: torch.randn(400).add(1).mean().item(),
            **kwargs,
        )
    )
    assert "generators seeded alike gave" in message and "global RNG" in message
    message = str(
        failure(
            check.expect_sampled,
            lambda g: _mean_of_normals(g) + 0.5,
            **kwargs,
            mistakes={"adding a half": 1.5},
        )
    )
    assert "± 0.2 (4 standard errors" in message and "matches what adding a half gives" in message
    other_draws = lambda g: torch.randn(401, generator=g)[1:].add(1).mean().item()
    message = str(failure(check.expect_sampled, other_draws, reference=_mean_of_normals, **kwargs))
    assert "the reference's estimate is" in message


def test_standard_error_of_a_mean():
    from mi_tutorial.checks._core import standard_error

    assert abs(standard_error(torch.tensor([0.0, 2.0] * 50)) - 1.005 / 10) < 1e-3


def test_passed_counts_the_cases_it_compared(check, capsys):
    for case in ("case A", "case B", "case A", "case C"):
        check.compare(EXPECTED, EXPECTED, case=case)
    check.passed()
    assert capsys.readouterr().out == f"✓ {EXERCISE} — all checks passed (3 cases).\n"


def test_random_bridge_leaves_the_learners_rng_alone():
    from mi_tutorial.checks._core import random_bridge

    config = {
        "n_layers": 1,
        "d_model": 8,
        "n_heads": 2,
        "d_head": 4,
        "d_mlp": 16,
        "d_vocab": 10,
    }
    config |= {"n_ctx": 8, "act_fn": "gelu", "normalization_type": "LN", "seed": 0}
    before = torch.get_rng_state()
    model = random_bridge(config, seed=3, scale=0.3, norm_scale=0.2)
    assert torch.equal(before, torch.get_rng_state())
    again = random_bridge(config, seed=3, scale=0.3, norm_scale=0.2)
    params, same = model.tl_parameters(), again.tl_parameters()
    assert all(torch.equal(params[k], same[k]) for k in params)
    assert (
        abs(params["ln_final.w"].mean().item() - 1) < 0.3
        and abs(params["embed.W_E"].mean().item()) < 0.1
    )


# --- the harness's own judgement ------------------------------------------------------------------


def test_annotations_are_checked_as_written():
    from check_harness import conforms
    from jaxtyping import Float, Int

    assert conforms([(0, 1), (1, 2)], list[tuple[int, int]])
    assert not conforms([[0, 1]], list[tuple[int, int]])  # exercise 3.11's false rejection
    assert conforms(torch.zeros(2, 3), Float[torch.Tensor, "a b"])
    assert not conforms(torch.zeros(2, 3, dtype=torch.long), Float[torch.Tensor, "a b"])
    assert conforms(torch.zeros(2, dtype=torch.long), Int[torch.Tensor, " a"])
    assert conforms(3, float) and not conforms(True, int) and not conforms(torch.tensor(1.0), float)
    assert conforms(None, int | None) and conforms(len, collections.abc.Callable)


def test_an_argument_that_never_changes_is_found():
    from check_harness import parameter_gaps

    def exercise(x, threshold: float = 0.5, loss_fn=None):
        return x

    check = Check(EXERCISE)
    check.expect_callable(exercise, "exercise")
    check.call(exercise, EXPECTED, case="A")
    check.call(exercise, EXPECTED + 1, loss_fn=len, case="B")
    check.call(exercise, EXPECTED + 2, 0.5, loss_fn=len, case="C")
    assert parameter_gaps([check]) == ["exercise(threshold): one value in every case"]
    never = Check(EXERCISE)
    never.expect_callable(exercise, "exercise")
    assert parameter_gaps([never]) == [
        "exercise: never called through check.call or check.recorded"
    ]


def test_every_chapter_runs_the_harness():
    """Each chapter's checks get the harness's tests (and with them every rule above)."""
    import importlib

    from check_harness import ChapterChecks

    from mi_tutorial.checks import CHAPTERS

    for chapter in CHAPTERS:
        tests = importlib.import_module(f"test_{chapter}_checks")
        harnessed = [
            v
            for v in vars(tests).values()
            if isinstance(v, type) and issubclass(v, ChapterChecks) and v is not ChapterChecks
        ]
        assert [cls.module.__name__ for cls in harnessed] == [f"mi_tutorial.checks.{chapter}"], (
            chapter
        )


def test_an_argument_changed_in_place_is_restored(check):
    x = EXPECTED.clone()
    failure(check.call, scale_in_place, x, case="case A")
    assert torch.equal(x, EXPECTED)

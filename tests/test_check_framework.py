"""What every check inherits from `mi_tutorial.checks._core`: a failure says what went
wrong in a few lines, in the learner's terms, and a pass says which exercise passed.

The "learner code" below is tiny functions defined in this file, so tracebacks point here.
"""

from __future__ import annotations

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
    return torch.nn.functional.layer_norm(x, (7,))  # raises from inside torch's own Python code


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
    assert "test_check_framework.py, line" in message and "return x @ w  # (2, 3) @ (5, 4)" in message
    assert "Hint: a shape mismatch" in message
    assert len(message.splitlines()) < 12
    # `from None`: a plain traceback does not drag the original torch error along either.
    assert error.__cause__ is None and error.__suppress_context__


def test_exception_inside_torch_source_is_reported_at_the_learner_line(check):
    message = str(failure(check.call, bad_layer_norm, EXPECTED, case="case A", what="bad_layer_norm"))
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
    message = str(failure(check.compare, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], EXPECTED, case="case A"))
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
    message = str(failure(check.compare, EXPECTED + torch.tensor([0.0, 0.0, 0.5]), EXPECTED, case="case A"))
    assert "wrong values in 2 of 6 entries" in message
    assert "flat index 2: expected 2, got 2.5" in message


def test_a_known_mistake_is_named(check):
    forgot_bias = EXPECTED - 1
    mistakes = {"leaving out the bias": forgot_bias, "a wrong-shaped variant": EXPECTED.T}
    message = str(failure(check.compare, forgot_bias, EXPECTED, case="case A", mistakes=mistakes, hint="generic"))
    assert "Hint: your output matches what leaving out the bias gives." in message
    assert "generic" not in message


def test_an_unknown_mistake_gets_the_generic_hint(check):
    mistakes = {"leaving out the bias": EXPECTED - 1}
    message = str(failure(check.compare, EXPECTED * 2, EXPECTED, case="case A", mistakes=mistakes, hint="generic"))
    assert "Hint: generic" in message and "matches what" not in message


# --- the learner passes the wrong kind of thing ----------------------------------------------


class LayerNorm(nn.Module):
    pass


def learner_fn(x):
    return x


def test_expect_class_given_an_instance_says_pass_the_class(check):
    check.expect_class(LayerNorm, nn.Module, "LayerNorm")
    message = str(failure(check.expect_class, LayerNorm(), nn.Module, "LayerNorm"))
    assert "pass the class `LayerNorm` itself" in message and "got an instance of LayerNorm" in message


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

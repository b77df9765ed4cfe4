"""Chapter 03's check cases: the shipped model on IOI prompts and two random models, each with
its clean and corrupted caches and metric; running the learner's code (hooks must not be left
behind), plain sweeps for what a mistake gives. Used by `mi_tutorial.checks.ch03`."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import NamedTuple

import torch
import transformer_lens.patching as tl_patching
from torch import Tensor
from transformer_lens import ActivationCache
from transformer_lens.utilities import get_act_name

from mi_tutorial import models
from mi_tutorial.checks._core import Check, random_bridge
from mi_tutorial.checks._keys import patching as reference
from mi_tutorial.data import tinyworld

TOY = "tinyworld-lm"
RANDOM_CONFIG = dict(
    n_layers=3,
    d_model=24,
    d_head=8,
    n_heads=3,
    d_mlp=48,
    n_ctx=16,
    d_vocab=20,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)
SMALL_CONFIG = {**RANDOM_CONFIG, "n_layers": 2, "n_heads": 2, "d_head": 12, "d_vocab": 17}
ATOL = 1e-5  # patching results are metric values around 0 … 1; the sweeps agree to ~1e-7


# --- the cases ---------------------------------------------------------------------------------


@functools.cache
def _toy_model():
    return models.load_toy_model(TOY)


@functools.cache
def _random_model(config: tuple = tuple(RANDOM_CONFIG.items()), seed: int = 0):
    """A small model whose every weight is random (scale 0.4: patterns far from uniform)."""
    return random_bridge(dict(config), seed, scale=0.4)


class Case(NamedTuple):
    name: str
    model: object
    clean_tokens: Tensor
    corrupted_tokens: Tensor
    answers: Tensor
    wrong: Tensor
    clean_cache: ActivationCache
    corrupted_cache: ActivationCache
    clean_logits: Tensor
    corrupted_logits: Tensor
    metric: Callable[[Tensor], Tensor]

    @property
    def n_layers(self) -> int:
        return self.model.cfg.n_layers


def _make_case(name, model, clean_tokens, corrupted_tokens, answers, wrong, score) -> Case:
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean_tokens)
        corrupted_logits, corrupted_cache = model.run_with_cache(corrupted_tokens)
    top, bottom = score(clean_logits).item(), score(corrupted_logits).item()
    metric = lambda logits: (score(logits) - bottom) / (top - bottom)  # noqa: E731
    return Case(
        name,
        model,
        clean_tokens,
        corrupted_tokens,
        answers,
        wrong,
        clean_cache,
        corrupted_cache,
        clean_logits,
        corrupted_logits,
        metric,
    )


@functools.cache
def _ioi_case() -> Case:
    prompts = tinyworld.ioi_prompts(3, seed=7)
    score = lambda logits: reference.logit_diff(logits, prompts.answers, prompts.wrong).mean()  # noqa: E731
    return _make_case(
        "tinyworld-lm, 3 IOI prompts (ABC corruption)",
        _toy_model(),
        prompts.clean_tokens,
        prompts.corrupted_tokens,
        prompts.answers,
        prompts.wrong,
        score,
    )


@functools.cache
def _random_case() -> Case:
    generator = torch.Generator().manual_seed(1)
    clean = torch.randint(0, RANDOM_CONFIG["d_vocab"], (2, 6), generator=generator)
    corrupted = clean.clone()
    corrupted[:, [1, 3]] = (
        clean[:, [1, 3]] + 1 + torch.randint(0, 18, (2, 2), generator=generator)
    ) % 20
    answers, wrong = torch.tensor([3, 4]), torch.tensor([5, 6])

    def score(logits):  # reads every position, not just the last
        log_probs = logits.log_softmax(dim=-1)
        return (log_probs[..., 3] - log_probs[..., 5]).mean()

    return _make_case(
        "a random 3-layer model with 3 heads, 2 prompts of 6 tokens",
        _random_model(),
        clean,
        corrupted,
        answers,
        wrong,
        score,
    )


@functools.cache
def _small_case() -> Case:
    """A third shape: 2 layers of 2 heads, 3 prompts of 5 tokens, a metric on the last position."""
    generator = torch.Generator().manual_seed(2)
    clean = torch.randint(0, SMALL_CONFIG["d_vocab"], (3, 5), generator=generator)
    corrupted = clean.clone()
    corrupted[:, 2] = (clean[:, 2] + 1 + torch.randint(0, 15, (3,), generator=generator)) % 17
    answers, wrong = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    score = lambda logits: reference.logit_diff(logits, answers, wrong).mean()  # noqa: E731
    model = _random_model(tuple(SMALL_CONFIG.items()), 5)
    return _make_case(
        "a random 2-layer model with 2 heads, 3 prompts of 5 tokens",
        model,
        clean,
        corrupted,
        answers,
        wrong,
        score,
    )


def _cases() -> list[Case]:
    return [_ioi_case(), _random_case(), _small_case()]


# --- running the learner's code safely ---------------------------------------------------------


def _n_models(check: Check) -> int:
    """How many of the cases' models a check compared (for its pass line)."""
    return sum(any(name.startswith(case.name) for name in check.cases) for case in _cases())


def _call(check: Check, fn, case: Case, *args, what: str):
    """check.call (which snapshots the arguments: a write into a cache fails, naming it), then
    fail if the learner's code left a hook on the model. Returns the result."""
    case.model.reset_hooks()
    result = check.call(fn, *args, case=case.name, what=what)
    with torch.no_grad():
        leftover = (case.model(case.corrupted_tokens) - case.corrupted_logits).abs().max().item()
    case.model.reset_hooks()
    if leftover > 1e-4:
        check.fail(
            f"after {what} ran, the model still had hooks attached, so every later run is patched too.",
            case=case.name,
            hint="attach hooks for one run only: model.run_with_hooks(tokens, fwd_hooks=[(name, fn)]).",
        )
    return result


def _compare(
    check: Check,
    got,
    expected: Tensor,
    *,
    case: str,
    what: str,
    mistakes: Callable[[], dict[str, Tensor]] | None = None,
    hint: str | None = None,
    atol: float = ATOL,
    dtype: bool = False,
) -> None:
    """check.compare with this chapter's tolerance (mistakes computed only when the answer is wrong)."""
    check.compare(
        got,
        expected,
        case=case,
        what=what,
        atol=atol,
        rtol=atol,
        mistakes=mistakes,
        hint=hint,
        dtype=dtype,
    )


def _quiet(fn, *args, **kwargs):
    """A transformer_lens.patching sweep without its progress bar."""
    original = tl_patching.tqdm
    tl_patching.tqdm = lambda iterable, **_: iterable
    try:
        with torch.no_grad():
            return fn(*args, **kwargs)
    finally:
        tl_patching.tqdm = original


def _sweep(
    case: Case,
    tokens: Tensor,
    source: ActivationCache,
    act_name: str,
    indices: list[tuple],
    setter: Callable[[Tensor, Tensor, tuple], Tensor],
    shape: tuple,
) -> Tensor:
    """A plain one-forward-per-patch sweep with any setter(act, source_act, index) -> new act;
    index = (layer, *rest). How the checks compute what a mistake gives."""
    results = torch.zeros(len(indices))
    for i, index in enumerate(indices):
        name = get_act_name(act_name, index[0])
        hook = lambda act, hook, name=name, index=index: setter(act.clone(), source[name], index)  # noqa: E731
        with torch.no_grad():
            results[i] = case.metric(case.model.run_with_hooks(tokens, fwd_hooks=[(name, hook)]))
    return results.reshape(shape)


def _set(act: Tensor, where, value: Tensor) -> Tensor:
    act[where] = value
    return act


def _number(check: Check, got, *, case: str, what: str) -> Tensor:
    """A one-element tensor as a 0-d tensor; anything else fails."""
    if isinstance(got, numbers.Real) and not isinstance(got, bool):
        check.fail(
            f"{what} returned a Python number ({got!r:.12}); return a tensor, so that gradients can flow through "
            "it (attribution patching, in Part 4, differentiates your metric).",
            case=case,
            hint="do not call .item() on the result.",
        )
    if not isinstance(got, Tensor) or got.numel() != 1:
        shape = tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__
        check.fail(
            f"{what} should return a single number (a 0-d tensor), got {shape}.",
            case=case,
            hint="average the per-prompt logit differences with .mean() before normalizing.",
        )
    return got.reshape(())


def _tl_match(check: Check, got: Tensor, expected: Tensor, *, case: str, what: str) -> None:
    if not torch.allclose(got.detach().float(), expected.float(), atol=ATOL, rtol=ATOL):
        check.fail(
            f"your result differs from {what} (max abs difference "
            f"{(got.detach().float() - expected.float()).abs().max().item():.3g}).",
            case=case,
        )

"""Models, prompts and hook helpers shared by chapter 06's checks (`mi_tutorial.checks.ch06`)."""

from __future__ import annotations

import torch

from mi_tutorial import models
from mi_tutorial.checks._core import Check, random_bridge
from mi_tutorial.data import tinyworld

TOY = "tinyworld-lm"
REFUSE_ID = tinyworld.TOKEN_ID[tinyworld.REFUSE]
COMPLY_ID = tinyworld.TOKEN_ID[tinyworld.COMPLY]
# Small random LayerNorm models with the TinyWorld vocabulary (so the refusal token ids exist).
RANDOM_CONFIG = dict(
    n_layers=2,
    d_model=16,
    n_heads=2,
    d_head=8,
    d_mlp=32,
    d_vocab=tinyworld.D_VOCAB,
    n_ctx=16,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)
DEEP_CONFIG = {**RANDOM_CONFIG, "n_layers": 3}


def _toy():
    """A fresh copy of the shipped model (fresh, so hooks or edits a learner left behind cannot leak)."""
    with (
        torch.random.fork_rng()
    ):  # loading boots a model, which seeds torch: keep the learner's RNG
        return models.load_toy_model(TOY)


def _random_model(seed: int, config: dict = RANDOM_CONFIG):
    """A small LayerNorm model whose every weight and bias is random (LayerNorm scales around 1)."""
    return random_bridge(config, seed, scale=0.5, norm_scale=0.2)


def _random_tokens(batch: int, pos: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, tinyworld.D_VOCAB, (batch, pos), generator=generator)
    tokens[:, 0] = tinyworld.BOS_ID
    return tokens


def _requests(n: int, seed: int):
    """(harmful, harmless) training-split request tokens, [n, 12] each."""
    return (
        tinyworld.requests(n, harmful=True, seed=seed, split="train").tokens,
        tinyworld.requests(n, harmful=False, seed=seed, split="train").tokens,
    )


def _expect_hooks(check: Check, hooks, model, *, case: str, what: str) -> list:
    """The learner's hooks as a list of (name, callable) pairs naming real hook points."""
    if hooks is None:
        check.fail(
            f"{what} returned None: did you forget to `return` the list of hooks?", case=case
        )
    if isinstance(hooks, tuple) and len(hooks) == 2 and isinstance(hooks[0], str):
        hooks = [hooks]  # one pair on its own is fine
    try:
        hooks = list(hooks)
    except TypeError:
        check.fail(
            f"{what} should return a list of (hook name, hook function) pairs, got {type(hooks).__name__}.",
            case=case,
        )
    for item in hooks:
        if not (
            isinstance(item, (tuple, list))
            and len(item) == 2
            and isinstance(item[0], str)
            and callable(item[1])
        ):
            check.fail(
                f"{what} should return a list of (hook name, hook function) pairs; one item is {item!r:.100}.",
                case=case,
                hint="e.g. [(get_act_name('resid_pre', 0), functools.partial(ablate_direction, direction=direction)), …]",
            )
        if item[0] not in model.hook_dict:
            check.fail(
                f"{what}: {item[0]!r} is not a hook point of this model.",
                case=case,
                hint="build names with get_act_name('resid_pre', layer), get_act_name('resid_mid', layer), "
                "get_act_name('resid_post', layer).",
            )
    return hooks


def _run(model, tokens, hooks):
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=list(hooks))


def _hook_point():
    from transformer_lens.hook_points import HookPoint  # what TransformerLens hands a hook

    return HookPoint()


def _at(names, fn):
    """The same hook function at each of `names`."""
    return [(name, fn) for name in names]

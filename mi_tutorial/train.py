"""Training: the small generic loop of chapter 01, used by every chapter that trains.

`train` works for any nn.Module, a TransformerBridge or the learner's own model:
you give it `make_batch(step)` and `loss_fn(model, batch)`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mi_tutorial.metrics import lm_loss


@dataclass
class TrainResult:
    """What `train` returns: the loss at every step and the wall-clock time."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        """The loss of the last step."""
        return self.losses[-1]


def train(
    model: torch.nn.Module,
    make_batch: Callable[[int], object],
    loss_fn: Callable[[torch.nn.Module, object], Tensor],
    *,
    steps: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    warmup_steps: int = 0,
    cosine: bool = False,
) -> TrainResult:
    """Train `model` with AdamW for `steps` steps and return the loss history (chapter 1).

    Each step calls `make_batch(step)` and then `loss_fn(model, batch)`, which must return
    a scalar tensor. `seed` seeds torch's global RNG first, so a run is repeatable. The
    model is in train mode while training and left in eval mode afterwards. The learning
    rate warms up linearly over `warmup_steps`; with `cosine` it then decays to lr / 10.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"train: steps must be a positive int, got {steps!r}.")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError(
            "train: the model has no trainable parameters. Register weights as nn.Parameter "
            "(or nn.Linear, nn.Embedding, ...) in your module's __init__."
        )
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        functools.partial(_lr_factor, steps=steps, warmup_steps=warmup_steps, cosine=cosine),
    )
    result = TrainResult()
    start = time.perf_counter()
    model.train()
    try:
        with tqdm(range(steps), desc=desc, disable=not progress) as bar:
            for step in bar:
                loss = loss_fn(model, make_batch(step))
                result.losses.append(_checked_value(loss, step, steps, lr))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                if step % 10 == 0 or step == steps - 1:  # refreshing every step slows small models
                    bar.set_postfix(loss=f"{result.losses[-1]:.3f}")
    finally:
        model.eval()
    result.seconds = time.perf_counter() - start
    result.steps = steps
    return result


def _lr_factor(step: int, *, steps: int, warmup_steps: int, cosine: bool) -> float:
    """The learning rate at `step` as a fraction of `lr`: a linear warm-up over
    `warmup_steps`, then constant, or with `cosine` a cosine decay to 10% at the end."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if not cosine:
        return 1.0
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))


def _checked_value(loss, step: int, steps: int, lr: float) -> float:
    """The loss as a float, or a clear error when loss_fn returned something `train` cannot use."""
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        shape = list(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise TypeError(
            f"train: loss_fn must return a scalar tensor, got {shape}. "
            "Average the per-token losses, e.g. return losses.mean()."
        )
    if not loss.requires_grad:
        raise ValueError(
            "train: the loss does not depend on the model's parameters, so nothing can "
            "learn. Did loss_fn call .item() or .detach(), or run under torch.no_grad()?"
        )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"train: the loss became {value} at step {step} of {steps}. Training "
            f"diverged: try a lower learning rate (lr={lr:g} now; 1e-3 is a safe start), "
            "and check loss_fn for a log of 0 or a division by 0."
        )
    return value


def next_token_loss(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """`loss_fn` for language modelling on a batch of tokens: lm_loss of the model's logits."""
    return lm_loss(model(tokens), tokens)


def use_one_thread() -> None:
    """Make torch use one CPU thread from now on; every chapter's setup cell calls it.

    The course's models are tiny: a second thread has nothing to share and only adds
    overhead, and on a busy CPU OpenMP's spin-waiting makes small matrix products many
    times slower. Chapter 01's training cell was measured at 80-110 s with two threads on
    a busy two-core machine, 6 s with one (same loss). The thread count also changes how
    sums are split, so fixing it keeps results the same from machine to machine.
    `single_threaded()` does the same for one block only, then restores the count.
    """
    torch.set_num_threads(1)


@contextmanager
def single_threaded():
    """Run torch on one CPU thread, then restore the previous count.

    The thread count changes how sums are split: weights trained with 1 and 2 threads
    differ in the last bits. With it fixed, a recipe gives a bit-identical file run after
    run, on any number of cores (a different torch build or CPU family may still differ).
    These models are too small to gain from threads, and with other programs busy two
    threads were measured 2-20x slower than one.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

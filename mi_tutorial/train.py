"""Training: a small generic loop (chapter 1), the losses and head scores the chapters
measure, and the recipes that produce the shipped toy models (chapter 2).

`train` works for any nn.Module, a TransformerBridge or the learner's own model:
you give it `make_batch(step)` and `loss_fn(model, batch)`.
"""

from __future__ import annotations

import functools
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm
from transformer_lens.utilities import get_act_name

from mi_tutorial.data import repeated_tokens, tinyworld
from mi_tutorial.models import CHECKPOINT_DIR, boot, save_checkpoint


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
        optimizer, functools.partial(_lr_factor, steps=steps, warmup_steps=warmup_steps, cosine=cosine)
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


# ---------------------------------------------------------------------------------------
# Losses and head scores
# ---------------------------------------------------------------------------------------


def lm_loss(logits: Tensor, tokens: Tensor, *, start: int = 0) -> Tensor:
    """Mean next-token cross-entropy: logits[:, :-1] predict tokens[:, 1:].

    Chapter 1 has you write it (lm_cross_entropy); later chapters use this copy. With
    `start`, only the tokens at positions >= start are scored (e.g. the second half of a
    repeated sequence). logits: [batch, pos, d_vocab]; tokens: [batch, pos].
    """
    if logits.ndim != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(
            f"lm_loss: expected logits [batch, pos, d_vocab] and tokens [batch, pos] with the "
            f"same batch and pos, got logits {list(logits.shape)} and tokens {list(tokens.shape)}."
        )
    n_pos = tokens.shape[1]
    if not 0 <= start < n_pos:
        raise ValueError(f"lm_loss: start must be in 0..{n_pos - 1} (pos = {n_pos}), got {start}.")
    first = max(start, 1)  # position 0 is never predicted: nothing comes before it
    predicted_logits = logits[:, first - 1 : -1]  # [batch, pos - first, d_vocab]
    targets = tokens[:, first:]  # [batch, pos - first]
    return F.cross_entropy(predicted_logits.flatten(0, 1), targets.flatten())


def _patterns(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """Attention patterns of every layer, stacked: [layer, batch, head, q, k]."""
    n_layers = model.cfg.n_layers
    names = [get_act_name("pattern", layer) for layer in range(n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return torch.stack([cache["pattern", layer] for layer in range(n_layers)])


def induction_scores(model: torch.nn.Module, tokens: Tensor, half_len: int) -> Tensor:
    """Induction score of every head, [layer, head] (chapter 2).

    `tokens` end with a run of `half_len` tokens repeated (as `repeated_tokens` makes).
    The score is the mean attention from each query i in the second half to key
    i - half_len + 1: the token right after the earlier copy of token i.
    """
    if not (1 <= half_len and 2 * half_len <= tokens.shape[1]):
        raise ValueError(
            f"induction_scores: tokens of {tokens.shape[1]} positions cannot end with two "
            f"runs of half_len={half_len}; pass the half_len the tokens were made with."
        )
    patterns = _patterns(model, tokens)  # [layer, batch, head, q, k]
    # The diagonal at offset -(half_len - 1) holds pattern[q, q - half_len + 1];
    # its last half_len entries are the queries of the second half.
    stripe = patterns.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., -half_len:]
    return stripe.mean(dim=(1, 3))  # average over batch and query: [layer, head]


def prev_token_scores(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """Previous-token score of every head, [layer, head]: mean attention from i to i - 1 (chapter 2)."""
    patterns = _patterns(model, tokens)  # [layer, batch, head, q, k]
    return patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(1, 3))


def _best_head(scores: Tensor) -> tuple[float, str]:
    """The highest score in a [layer, head] tensor and its head, written "layer.head"."""
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return float(scores[layer, head]), f"{layer}.{head}"


def induction_metrics(model: torch.nn.Module, tokens: Tensor, half_len: int) -> dict:
    """Losses on each half and the best induction / previous-token heads (chapter 2).

    `repeated_half_loss` skips the first token of the repeat: nothing before it says the
    sequence is about to repeat, so no model can predict it.
    """
    with torch.no_grad():
        logits = model(tokens)  # [batch, pos, d_vocab]
    repeat_start = tokens.shape[1] - half_len
    best_induction, induction_head = _best_head(induction_scores(model, tokens, half_len))
    best_prev, prev_head = _best_head(prev_token_scores(model, tokens))
    return {
        # Slicing to the first half is exact: a causal model's logits at a position do
        # not depend on what comes after it.
        "first_half_loss": lm_loss(logits[:, :repeat_start], tokens[:, :repeat_start]).item(),
        "repeated_half_loss": lm_loss(logits, tokens, start=repeat_start + 1).item(),
        "best_induction_score": best_induction,
        "best_induction_head": induction_head,
        "best_prev_token_score": best_prev,
        "best_prev_token_head": prev_head,
    }


# ---------------------------------------------------------------------------------------
# Recipes for the shipped models
# ---------------------------------------------------------------------------------------

ATTN_ONLY_2L_CONFIG = dict(
    n_layers=2,
    d_model=64,
    d_head=16,
    n_heads=4,
    n_ctx=41,  # 1 BOS + 2 x 20 repeated tokens
    d_vocab=64,
    attn_only=True,
    normalization_type=None,
    seed=0,  # the weight init
)
ATTN_ONLY_2L_HALF_LEN = 20  # the runs the metrics are measured on: 1 + 2 x 20 = n_ctx
# Training runs have a random length from 10 to 20. With one fixed length the model
# does not learn induction at all: a head learns to attend a fixed 19 positions back,
# which predicts the repeat from position alone, and no previous-token head forms.
ATTN_ONLY_2L_MIN_HALF_LEN = 10
# Measured on seeds 0-10 (benchmarks/train_attn_only.py): at lr 1e-2 induction heads form
# between steps 200 and 300, and from step 400 on every seed's best induction score is
# >= 0.86 (target 0.8); 500 steps leave room for a slower machine-dependent trajectory.
# At lr 5e-3 they form about 100 steps later.
ATTN_ONLY_2L_STEPS = 500
ATTN_ONLY_2L_LR = 1e-2
EVAL_SEED = 10_000  # held-out sequences for the recorded metrics, never used in training
EVAL_BATCH = 300


@dataclass
class RecipeRun:
    """A trained model with everything the manifest records about it."""

    model: torch.nn.Module
    config: dict
    seed: int
    metrics: dict
    tokenizer: str | None = None  # the shipped tokenizer loading attaches


def attn_only_2l_batches(seed: int, min_half_len: int = ATTN_ONLY_2L_MIN_HALF_LEN) -> Callable[[int], Tensor]:
    """`make_batch` of the attn-only-2l recipe: 64 repeated runs, of a random length from
    `min_half_len` to 20 each step, drawn from a generator seeded with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    d_vocab = ATTN_ONLY_2L_CONFIG["d_vocab"]

    def make_batch(step: int) -> Tensor:
        half_len = int(torch.randint(min_half_len, ATTN_ONLY_2L_HALF_LEN + 1, (), generator=generator))
        return repeated_tokens(64, half_len, d_vocab, generator=generator)

    return make_batch


def next_token_loss(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """`loss_fn` for language modelling on a batch of tokens: lm_loss of the model's logits."""
    return lm_loss(model(tokens), tokens)


def attn_only_2l(progress: bool = True, steps: int = ATTN_ONLY_2L_STEPS) -> RecipeRun:
    """Train the 2-layer attention-only model on repeated random tokens until induction heads form."""
    seed = ATTN_ONLY_2L_CONFIG["seed"]  # one seed for the init, the batches and train()
    model = boot(ATTN_ONLY_2L_CONFIG)
    result = train(model, attn_only_2l_batches(seed), next_token_loss, steps=steps,
                   lr=ATTN_ONLY_2L_LR, seed=seed, progress=progress, desc="attn-only-2l")
    half_len = ATTN_ONLY_2L_HALF_LEN
    eval_tokens = repeated_tokens(EVAL_BATCH, half_len, ATTN_ONLY_2L_CONFIG["d_vocab"], seed=EVAL_SEED)
    metrics = induction_metrics(model, eval_tokens, half_len)
    metrics["final_train_loss"] = result.final_loss
    metrics["train_seconds"] = round(result.seconds, 1)
    return RecipeRun(model=model, config=dict(ATTN_ONLY_2L_CONFIG), seed=seed, metrics=metrics,
                     tokenizer="attn-only-2l")


@contextmanager
def _single_threaded():
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


# ---------------------------------------------------------------------------------------
# tinyworld-lm: the language model of chapters 3, 5 and 6
# ---------------------------------------------------------------------------------------

TINYWORLD_LM_CONFIG = dict(
    n_layers=4,
    d_model=128,
    d_head=32,
    n_heads=4,
    d_mlp=512,
    n_ctx=64,
    d_vocab=tinyworld.D_VOCAB,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)
TINYWORLD_LM_STEPS = 2000
TINYWORLD_LM_BATCH = 32
TINYWORLD_LM_LR = 3e-3
TINYWORLD_EVAL_N = 400


def tinyworld_batches(seed: int, batch: int = TINYWORLD_LM_BATCH, n_ctx: int = 64) -> Callable[[int], Tensor]:
    """`make_batch` of the tinyworld-lm recipe: fresh TinyWorld text (training split) each step."""
    return lambda step: tinyworld.sample_corpus(batch, n_ctx, seed=seed * 1_000_003 + step).tokens


def _final_logits(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    with torch.no_grad():
        return model(tokens)[:, -1]  # [batch, d_vocab]


def tinyworld_metrics(model: torch.nn.Module, n: int = TINYWORLD_EVAL_N, seed: int = EVAL_SEED) -> dict:
    """What tinyworld-lm can do, measured on held-out TinyWorld data (chapters 3, 5, 6).

    - heldout_loss: next-token loss on test-split text;
    - ioi_accuracy / ioi_logit_diff: on IOI prompts whose template x name pair never
      occurred in training, how often the IO name's logit beats the subject's, and by how
      much on average; ioi_top1: how often the IO name is the top prediction;
    - refusal accuracy on held-out harmful and harmless requests ("I" vs "Sure" after
      "Assistant :"), and the refusal rate on requests with the never-requested verbs;
    - induction loss: loss on the copy of a repeated random word run vs on its first run;
    - fact_accuracy: the top prediction is the town's flag colour / food.

    `n` prompts of each kind (half as many of some), drawn with `seed`.
    """
    ioi = tinyworld.ioi_prompts(n, seed=seed, split="test")
    logits = _final_logits(model, ioi.clean_tokens)
    rows = torch.arange(len(ioi))
    logit_diff = logits[rows, ioi.answers] - logits[rows, ioi.wrong]
    refuse, comply = tinyworld.TOKEN_ID[tinyworld.REFUSE], tinyworld.TOKEN_ID[tinyworld.COMPLY]

    def refusal_rate(prompts) -> float:
        out = _final_logits(model, prompts.tokens)
        return (out[:, refuse] > out[:, comply]).float().mean().item()

    harmful = tinyworld.requests(n // 2, harmful=True, seed=seed, split="test")
    harmless = tinyworld.requests(n // 2, harmful=False, seed=seed, split="test")
    unrequested = tinyworld.requests(n // 2, harmful=True, seed=seed, unrequested=True)
    spans, copy_start = tinyworld.repeated_span_prompts(n // 2, seed=seed)
    with torch.no_grad():
        span_logits = model(spans)
    correct = []
    for attribute in tinyworld.FACT_QUESTIONS:
        questions, answers, _ = tinyworld.fact_questions(attribute)
        correct.append(_final_logits(model, questions).argmax(-1) == answers)
    corpus = tinyworld.sample_corpus(n // 2, TINYWORLD_LM_CONFIG["n_ctx"], seed=seed, split="test")
    with torch.no_grad():
        heldout_loss = lm_loss(model(corpus.tokens), corpus.tokens).item()
    return {
        "heldout_loss": heldout_loss,
        "ioi_accuracy": (logit_diff > 0).float().mean().item(),
        "ioi_logit_diff": logit_diff.mean().item(),
        "ioi_top1": (logits.argmax(-1) == ioi.answers).float().mean().item(),
        "refusal_harmful": refusal_rate(harmful),
        "compliance_harmless": 1 - refusal_rate(harmless),
        "refusal_unrequested_verbs": refusal_rate(unrequested),
        "induction_copy_loss": lm_loss(span_logits, spans, start=copy_start + 1).item(),
        "induction_first_run_loss": lm_loss(span_logits[:, : copy_start - 1], spans[:, : copy_start - 1]).item(),
        "fact_accuracy": torch.cat(correct).float().mean().item(),
    }


def tinyworld_lm(progress: bool = True, steps: int = TINYWORLD_LM_STEPS) -> RecipeRun:
    """Train the 4-layer TinyWorld language model (about 10 minutes on one CPU thread)."""
    seed = TINYWORLD_LM_CONFIG["seed"]
    model = boot(TINYWORLD_LM_CONFIG)
    result = train(model, tinyworld_batches(seed), next_token_loss, steps=steps, lr=TINYWORLD_LM_LR,
                   weight_decay=0.01, seed=seed, progress=progress, desc="tinyworld-lm",
                   warmup_steps=min(100, steps // 10), cosine=True)
    metrics = tinyworld_metrics(model)
    metrics["final_train_loss"] = result.final_loss
    metrics["train_seconds"] = round(result.seconds, 1)
    metrics["train_steps"] = steps
    return RecipeRun(model=model, config=dict(TINYWORLD_LM_CONFIG), seed=seed, metrics=metrics,
                     tokenizer="tinyworld")


RECIPES: dict[str, Callable[..., RecipeRun]] = {"attn-only-2l": attn_only_2l, "tinyworld-lm": tinyworld_lm}


def run_recipe(name: str, out_dir: Path | str | None = None, progress: bool = True,
               steps: int | None = None) -> dict:
    """Retrain the shipped model `name` from its recorded seed and save it; returns its metrics.

    Saves into `out_dir` (default: the package's checkpoints folder, replacing the shipped
    file). `steps` shortens (or lengthens) the run, for a quick try; the shipped model is
    only ever replaced by a full run. `mi-tutorial train NAME` calls this.
    """
    if name not in RECIPES:
        raise ValueError(f"No recipe named {name!r}. Known recipes: {', '.join(sorted(RECIPES))}.")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if steps is not None and out_dir is None:
        raise ValueError(
            f"A run of {steps} steps would replace the shipped {name} with a model trained "
            "differently from its recipe. Pass an output folder (--out DIR) with --steps."
        )
    with _single_threaded():
        run = RECIPES[name](progress=progress) if steps is None else RECIPES[name](progress=progress, steps=steps)
    save_checkpoint(
        run.model,
        name,
        config_kwargs=run.config,
        seed=run.seed,
        command=f"mi-tutorial train {name}",
        metrics=run.metrics,
        directory=CHECKPOINT_DIR if out_dir is None else out_dir,
        tokenizer=run.tokenizer,
    )
    return run.metrics

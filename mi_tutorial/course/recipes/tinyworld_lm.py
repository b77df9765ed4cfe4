"""The recipe of `tinyworld-lm`, the 4-layer TinyWorld language model of chapters 03, 05 and 06."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mi_tutorial.course.recipes.base import EVAL_SEED, RecipeRun
from mi_tutorial.data import tinyworld
from mi_tutorial.metrics import lm_loss
from mi_tutorial.models import boot
from mi_tutorial.train import next_token_loss, train

CONFIG = dict(
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
STEPS = 2000
BATCH = 32
LR = 3e-3
EVAL_N = 400


def batches(seed: int, batch: int = BATCH, n_ctx: int = 64) -> Callable[[int], Tensor]:
    """`make_batch` of the tinyworld-lm recipe: fresh TinyWorld text (training split) each step."""
    return lambda step: tinyworld.sample_corpus(batch, n_ctx, seed=seed * 1_000_003 + step).tokens


def _final_logits(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    with torch.no_grad():
        return model(tokens)[:, -1]  # [batch, d_vocab]


def tinyworld_metrics(model: torch.nn.Module, n: int = EVAL_N, seed: int = EVAL_SEED) -> dict:
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
    corpus = tinyworld.sample_corpus(n // 2, CONFIG["n_ctx"], seed=seed, split="test")
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
        "induction_first_run_loss": lm_loss(
            span_logits[:, : copy_start - 1], spans[:, : copy_start - 1]
        ).item(),
        "fact_accuracy": torch.cat(correct).float().mean().item(),
    }


def recipe(progress: bool = True, steps: int = STEPS) -> RecipeRun:
    """Train the 4-layer TinyWorld language model (about 7 minutes on one quiet CPU thread)."""
    seed = CONFIG["seed"]
    model = boot(CONFIG)
    result = train(
        model,
        batches(seed),
        next_token_loss,
        steps=steps,
        lr=LR,
        weight_decay=0.01,
        seed=seed,
        progress=progress,
        desc="tinyworld-lm",
        warmup_steps=min(100, steps // 10),
        cosine=True,
    )
    metrics = tinyworld_metrics(model)
    metrics["final_train_loss"] = result.final_loss
    metrics["train_seconds"] = round(result.seconds, 1)
    metrics["train_steps"] = steps
    return RecipeRun(
        model=model, config=dict(CONFIG), seed=seed, metrics=metrics, tokenizer="tinyworld"
    )

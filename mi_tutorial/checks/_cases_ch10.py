"""The cases of chapter 10's checks: small models booted with random weights (2 or 3 layers,
d_model 16 or 12, so a check takes well under a second), reference transcoders with random
weights, and the small helpers the checks share. Imported only by `ch10`."""

from __future__ import annotations

import copy
import functools

import torch
from torch import Tensor

from mi_tutorial import models, transcoders as ref
from mi_tutorial.checks._keys import circuits as key
from mi_tutorial.data import tinyworld

_CONFIGS = {
    "2 layers, d_model 16": dict(
        n_layers=2,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_mlp=32,
        d_vocab=20,
        n_ctx=12,
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    ),
    "3 layers, d_model 12": dict(
        n_layers=3,
        d_model=12,
        n_heads=3,
        d_head=4,
        d_mlp=24,
        d_vocab=15,
        n_ctx=10,
        act_fn="gelu",
        normalization_type="LN",
        seed=1,
    ),
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@functools.cache
def _model(name: str):
    """A small native model with random weights large enough for peaked attention."""
    with torch.random.fork_rng():  # booting seeds torch's global RNG: keep the learner's as it was
        model = models.boot(_CONFIGS[name])
    g = _gen(len(name))
    with torch.no_grad():
        for pname, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=g)
            param.copy_(1 + 0.2 * noise if pname.endswith(".w") else 0.5 * noise)
    return model.eval()


def _transcoder(d_model: int, d_tc: int, k: int, seed: int) -> ref.TopKTranscoder:
    tc = ref.TopKTranscoder(d_model, d_tc, k, seed=seed)
    g = _gen(50 + seed)
    with torch.no_grad():
        tc.W_enc.copy_(torch.randn(d_model, d_tc, generator=g) / d_model**0.5)
        tc.b_enc.copy_(0.3 * torch.randn(d_tc, generator=g))
        tc.W_dec.copy_(0.5 * torch.randn(d_tc, d_model, generator=g))
        tc.b_dec.copy_(0.2 * torch.randn(d_model, generator=g))
    return tc.eval().requires_grad_(False)


@functools.cache
def _setup(name: str, seed: int):
    """(model, transcoders, tokens [pos], frozen, embed) for one case."""
    model = _model(name)
    cfg = _CONFIGS[name]
    transcoders = [_transcoder(cfg["d_model"], 24, 3, seed + L) for L in range(cfg["n_layers"])]
    tokens = torch.randint(0, cfg["d_vocab"], (6 + seed % 3,), generator=_gen(70 + seed))
    frozen = ref.freeze(model, transcoders, tokens)
    p = model.tl_parameters()
    embed = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][: len(tokens)]
    return model, transcoders, tokens, frozen, embed


def _features(transcoders, pres) -> list[Tensor]:
    return [key.topk_features(pre, tc.k) for pre, tc in zip(pres, transcoders)]


def _gradients(model, transcoders, frozen, embed, features, target):
    """Gradients of the target with respect to embed, each layer's features and the errors."""
    embed = embed.clone().requires_grad_(True)
    fs = [f.clone().requires_grad_(True) for f in features]
    leaves = copy.copy(frozen)
    leaves.errors = frozen.errors.clone().requires_grad_(True)
    logits, pres = ref.run_replacement(model, transcoders, leaves, embed, fs)
    grads = torch.autograd.grad(
        target(logits, pres), [embed, *fs, leaves.errors], allow_unused=True
    )
    grads = [
        torch.zeros_like(x) if g is None else g for g, x in zip(grads, [embed, *fs, leaves.errors])
    ]
    return grads[0], grads[1:-1], grads[-1]


def _dag(n: int, seed: int, density: float = 0.5) -> Tensor:
    g = _gen(seed)
    A = torch.randn(n, n, generator=g) * (torch.rand(n, n, generator=g) < density)
    A = torch.tril(A, diagonal=-1)  # edges only from earlier nodes: no cycle
    A[: n // 3] = 0  # the first nodes are sources (embeddings)
    return A


def _powers(A: Tensor) -> Tensor:
    eye = torch.eye(len(A))
    return (torch.linalg.solve(eye - A, eye) - eye)[-1]


def _category(token: int) -> str:
    word = tinyworld.VOCAB[token]
    for label, words in (
        ("name", tinyworld.NAMES),
        ("town", tinyworld.TOWNS),
        ("colour", tinyworld.COLORS),
    ):
        if word in words:
            return label
    return f"'{word}'"

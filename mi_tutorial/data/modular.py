"""Modular addition, the task of chapter 08 (grokking): `a b =` -> `(a + b) mod p`.

Every pair (a, b) with 0 <= a, b < p is one example, written as three tokens: a, b and the
token `=`, whose id is p. The answer, read at the last position, is one of p classes.
A fixed random fraction of the p * p pairs is the training set; the rest is the test set.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _checked_p(p) -> int:
    if isinstance(p, bool) or not isinstance(p, int) or p < 2:
        raise ValueError(f"p must be an int >= 2 (a prime such as 59 or 113), got {p!r}.")
    return p


def all_pairs(p: int) -> tuple[Tensor, Tensor]:
    """(tokens [p*p, 3], labels [p*p]) for every pair: row a * p + b is `a b =` -> (a + b) % p.

    Tokens and labels are int64; the `=` token has id p, so the vocabulary has p + 1 ids.
    """
    p = _checked_p(p)
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return tokens, (a + b) % p


def train_test_split(p: int, train_fraction: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(train rows, test rows) of `all_pairs(p)`: a random `train_fraction` of the p * p pairs
    (rounded down) for training, the rest for testing, drawn from a generator seeded `seed`."""
    p = _checked_p(p)
    if not isinstance(train_fraction, (int, float)) or not 0 < train_fraction < 1:
        raise ValueError(
            f"train_fraction must be a number between 0 and 1 (e.g. 0.3), got {train_fraction!r}."
        )
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(train_fraction * p * p)
    if n_train < 1 or n_train == p * p:
        raise ValueError(
            f"train_fraction {train_fraction} of {p * p} pairs leaves an empty train or test set."
        )
    return order[:n_train], order[n_train:]

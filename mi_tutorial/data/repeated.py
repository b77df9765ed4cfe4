"""Repeated random tokens: the data on which induction heads form (chapter 2).

A sequence is an optional BOS token, a run of `half_len` random tokens, then the same
run again. The first half cannot be predicted (the tokens are random), the second half
can be predicted perfectly by a model that looks back to the earlier copy: that is
exactly what an induction head does.
"""

from __future__ import annotations

import torch
from torch import Tensor


def repeated_tokens(
    batch: int,
    half_len: int,
    d_vocab: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    bos: int | None = 0,
) -> Tensor:
    """Return a long tensor [batch, pos] of random runs each followed by a copy of itself.

    pos = 1 + 2 * half_len with a BOS token (`bos`, default 0) at position 0, or
    2 * half_len when `bos=None`. The random tokens never use the BOS id, so a model
    can always tell where a sequence starts. Pass `seed` (a fresh generator is made
    from it) or your own `generator`; with neither, torch's global RNG is used.
    """
    if seed is not None and generator is not None:
        raise ValueError(
            "repeated_tokens: pass either seed= or generator=, not both "
            "(a seed makes its own generator)."
        )
    for name, value in (("batch", batch), ("half_len", half_len), ("d_vocab", d_vocab)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"repeated_tokens: {name} must be a positive int, got {value!r}."
            )
    if bos is not None and not 0 <= bos < d_vocab:
        raise ValueError(
            f"repeated_tokens: bos={bos} is not a token id of a vocabulary of "
            f"d_vocab={d_vocab}; use an id in 0..{d_vocab - 1}, or bos=None for no BOS."
        )
    if bos is not None and d_vocab < 2:
        raise ValueError(
            "repeated_tokens: with a BOS token the vocabulary needs at least 2 ids "
            f"(one for BOS, one or more for the random run), got d_vocab={d_vocab}."
        )
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)

    if bos is None:
        run = torch.randint(0, d_vocab, (batch, half_len), generator=generator)
    else:
        # Draw from the d_vocab - 1 non-BOS ids, then shift the ids >= bos up by one
        # to skip over it: every non-BOS id stays equally likely.
        run = torch.randint(0, d_vocab - 1, (batch, half_len), generator=generator)
        run = run + (run >= bos).long()
    tokens = torch.cat([run, run], dim=1)  # [batch, 2 * half_len]
    if bos is not None:
        bos_column = torch.full((batch, 1), bos, dtype=torch.long)
        tokens = torch.cat([bos_column, tokens], dim=1)  # [batch, 1 + 2 * half_len]
    return tokens

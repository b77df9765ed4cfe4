"""Repeated random tokens: the data on which induction heads form (chapter 2).

A sequence is an optional BOS token, a run of `half_len` random tokens, then the same
run again. The first half cannot be predicted (the tokens are random); the second half
can, by a model that looks back to the earlier copy: that is what an induction head does.
"""

from __future__ import annotations

import torch
from torch import Tensor

# The words of the attention-only model's tokenizer: id 0 is <bos>, ids 1-63 these words.
# The model was trained on random ids, so the words are labels that make its attention
# patterns readable ("fog" attends to the token after the earlier "fog"), nothing more.
WORDS = (
    "apple bag ball bay bee bell bird boat book box bread bridge cake car cat coin cup desk "
    "dog door drum egg fish flag fog fox frog gate gift hat hill horse key kite lamp leaf map "
    "moon nest owl pen pig ring road rock rose salt sand ship shoe sock star stone sun tea tent "
    "tree wall whale wind wolf wood yarn"
).split()


def repeated_tokens(
    batch: int,
    half_len: int,
    d_vocab: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    bos: int | None = 0,
    distinct: bool = True,
) -> Tensor:
    """Return a long tensor [batch, pos] of random runs each followed by a copy of itself.

    pos = 1 + 2 * half_len with a BOS token (`bos`, default 0) at position 0, or
    2 * half_len when `bos=None`. The run never uses the BOS id, so a model can always
    tell where a sequence starts. With `distinct` (the default) no token appears twice in
    a run: in a 64-token vocabulary a run of 20 would otherwise repeat about 3 tokens,
    and each repeat leaves an induction head two earlier copies to choose between (a
    50,000-token vocabulary, as in GPT-2, makes that rare). Pass `seed` (a fresh
    generator is made from it) or your own `generator`; with neither, torch's global RNG
    is used.
    """
    if seed is not None and generator is not None:
        raise ValueError(
            "repeated_tokens: pass either seed= or generator=, not both "
            "(a seed makes its own generator)."
        )
    for name, value in (("batch", batch), ("half_len", half_len), ("d_vocab", d_vocab)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"repeated_tokens: {name} must be a positive int, got {value!r}.")
    if bos is not None and not 0 <= bos < d_vocab:
        raise ValueError(
            f"repeated_tokens: bos={bos} is not a token id of a vocabulary of "
            f"d_vocab={d_vocab}; use an id in 0..{d_vocab - 1}, or bos=None for no BOS."
        )
    n_ids = d_vocab if bos is None else d_vocab - 1  # the ids a run may use
    if n_ids < 1:
        raise ValueError(
            f"repeated_tokens: d_vocab={d_vocab} leaves no token id besides BOS for the run; "
            "use d_vocab >= 2 or bos=None."
        )
    if distinct and half_len > n_ids:
        raise ValueError(
            f"repeated_tokens: a run of {half_len} distinct tokens needs {half_len} ids "
            f"besides BOS, but d_vocab={d_vocab} leaves {n_ids}. Use a shorter half_len, "
            "or distinct=False to allow a token to appear more than once."
        )
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)

    if distinct:
        # Sorting random numbers gives each sequence a random order of all the ids;
        # its first half_len ids are a run without repeats.
        run = torch.rand(batch, n_ids, generator=generator).argsort(dim=1)[:, :half_len]
    else:
        run = torch.randint(0, n_ids, (batch, half_len), generator=generator)
    if bos is not None:
        # The run was drawn from 0..d_vocab-2; shift the ids >= bos up by one to skip
        # over it, so every non-BOS id stays equally likely.
        run = run + (run >= bos).long()
    tokens = torch.cat([run, run], dim=1)  # [batch, 2 * half_len]
    if bos is not None:
        bos_column = torch.full((batch, 1), bos, dtype=torch.long)
        tokens = torch.cat([bos_column, tokens], dim=1)  # [batch, 1 + 2 * half_len]
    return tokens

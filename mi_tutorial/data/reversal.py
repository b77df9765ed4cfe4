"""The sequence-reversal task chapter 01 trains its hand-written transformer on.

A sequence is `BOS d1 … dn SEP dn … d1`: after SEP the model must write the digits back
in reverse order. The digits are random, so only the part after SEP can be predicted.
"""

from __future__ import annotations

import torch

N_DIGITS = 6
DIGITS = 10  # tokens 0..9 are the digits
BOS, SEP = 10, 11
D_VOCAB = 12
SEP_POS = 1 + N_DIGITS  # position of SEP; predictions from here on are the reversed digits
SEQ_LEN = 2 * N_DIGITS + 2


def reversal_batch(batch: int, *, seed: int) -> torch.Tensor:
    """`batch` random sequences `BOS digits SEP reversed-digits`, shape [batch, SEQ_LEN]."""
    generator = torch.Generator().manual_seed(seed)
    digits = torch.randint(0, DIGITS, (batch, N_DIGITS), generator=generator)
    bos = torch.full((batch, 1), BOS)
    sep = torch.full((batch, 1), SEP)
    return torch.cat([bos, digits, sep, digits.flip(dims=[1])], dim=1)


def to_str_tokens(tokens: torch.Tensor) -> list[str]:
    """Readable labels for one sequence of task tokens (for attention views)."""
    names = {BOS: "<bos>", SEP: "<sep>"}
    return [names.get(int(t), str(int(t))) for t in tokens]

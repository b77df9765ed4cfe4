"""The cases of chapter 11's checks and the helpers they share: tagged activation chunks for
the shuffling buffer (each row carries its own id, so the check can follow it), scaling-law
data, firing patterns with known answers. Imported only by `ch11`."""

from __future__ import annotations

import torch
from torch import Tensor


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- 11.1 the shuffling buffer -----------------------------------------------------------------

# (chunk sizes, width d, buffer_size, batch_size)
STORE_CASES = [
    ([10] * 7, 3, 48, 8),
    ([16] * 5, 4, 24, 4),
    ([5, 13, 2, 19, 11, 8, 1], 2, 30, 4),
]


def tagged_chunks(sizes: list[int], d: int, seed: int) -> list[Tensor]:
    """Chunks whose rows are [global row id, chunk index, random...]: row ids 0, 1, 2, ... in
    stream order, so the check can tell which rows came out, from which chunk, in which order."""
    chunks, start = [], 0
    g = _gen(seed)
    for index, size in enumerate(sizes):
        ids = torch.arange(start, start + size, dtype=torch.float32)[:, None]
        tags = torch.full((size, 1), float(index))
        chunks.append(
            torch.cat([ids, tags, torch.randn(size, d - 2, generator=g)], 1)
            if d > 2
            else torch.cat([ids, tags], 1)
        )
        start += size
    return chunks


class CountingChunks:
    """An iterable over chunks that records how many rows have been read from it."""

    def __init__(self, chunks: list[Tensor]):
        self.chunks = chunks
        self.read = 0
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk


# --- 11.2 scaling-law data ------------------------------------------------------------------------

WIDTHS = torch.tensor([256.0, 512, 1024, 2048, 4096, 8192])


def power_law_cases() -> list[tuple[str, Tensor, Tensor, tuple[float, float, float] | None]]:
    """(case, x, loss, exact (a, b, c) or None for noisy data)."""
    g = _gen(3)
    exact = 2.0 * WIDTHS.double().pow(-0.5) + 0.03
    noisy = (0.9 * WIDTHS.double().pow(-0.3) + 0.02) * (
        1 + 0.02 * torch.randn(6, generator=g, dtype=torch.float64)
    )
    k = torch.tensor([4.0, 8, 16, 32, 64, 128, 256], dtype=torch.float64)
    no_floor = 1.5 * k.pow(-0.8)
    return [
        (
            "exact data, a 2, b 0.5, c 0.03 over n = 256..8192",
            WIDTHS.double(),
            exact,
            (2.0, 0.5, 0.03),
        ),
        ("noisy data (2% noise) around a 0.9, b 0.3, c 0.02", WIDTHS.float(), noisy.float(), None),
        (
            "exact data with no floor, a 1.5, b 0.8, c 0, over k = 4..256",
            k,
            no_floor,
            (1.5, 0.8, 0.0),
        ),
    ]


# --- 11.3 the frontier ----------------------------------------------------------------------------


def frontier_cases() -> list[tuple[str, Tensor, Tensor]]:
    g = _gen(4)
    compute = torch.rand(12, generator=g) * 10
    loss = torch.rand(12, generator=g)
    ties_c = torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0, 4.0])
    ties_l = torch.tensor([0.5, 0.4, 0.4, 0.2, 0.2, 0.3])
    curve_c = torch.tensor([1.0, 2, 4, 8, 1, 2, 4, 8, 16])
    curve_l = torch.tensor([0.9, 0.7, 0.6, 0.55, 0.95, 0.65, 0.5, 0.4, 0.3])
    return [
        ("12 random points", compute, loss),
        ("ties: equal compute, equal loss, and an exact duplicate", ties_c, ties_l),
        ("two training curves (a small and a large SAE)", curve_c, curve_l),
    ]


# --- firing patterns ------------------------------------------------------------------------------


def firing_case(batch: int, d_sae: int, p: float, seed: int) -> tuple[Tensor, Tensor]:
    """(fires [batch, d_sae], label [batch]) with latents correlated to the label."""
    g = _gen(seed)
    label = torch.rand(batch, generator=g) < 0.3
    base = torch.rand(batch, d_sae, generator=g)
    boost = torch.rand(d_sae, generator=g)  # how much each latent follows the label
    fires = base < (p + boost * label[:, None].float() * 0.6)
    fires[:, 0] = False  # a latent that never fires
    return fires, label

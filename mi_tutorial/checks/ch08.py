"""Self-checks for chapter 08, grokking (modular addition).

The trusted answers come from `mi_tutorial.checks._keys.grokking`, which uses torch.fft,
least squares and by-hand forward passes where the chapter projects on its real Fourier
basis and reads TransformerLens hooks. The cases use small primes (5 to 13) as well as the
chapter's 59, random inputs and constructed ones (pure waves, shares exactly at a threshold).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import grokking as ref
from mi_tutorial.checks._values import random_bridge


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _config(p: int, d_model: int = 32, d_mlp: int = 48) -> dict:
    return dict(
        n_layers=1,
        d_model=d_model,
        d_head=8,
        n_heads=d_model // 8,
        d_mlp=d_mlp,
        n_ctx=3,
        d_vocab=p + 1,
        d_vocab_out=p,
        act_fn="relu",
        normalization_type=None,
        seed=0,
    )


def _tokens(p: int, n: int, seed: int) -> Tensor:
    ab = torch.randint(0, p, (n, 2), generator=_gen(seed))
    return torch.cat([ab, torch.full((n, 1), p)], dim=1)


def _float(check: Check, got, *, case: str, what: str) -> Tensor:
    check.expect_type(got, float, case=case, what=what)
    return torch.tensor(got, dtype=torch.float64)


def _grid(p: int) -> tuple[Tensor, Tensor, Tensor]:
    x = torch.arange(p, dtype=torch.float64)
    return x[:, None, None], x[None, :, None], x[None, None, :]


# --- Exercise 8.1 ------------------------------------------------------------------------------


def check_last_position_loss(last_position_loss) -> None:
    check = Check("Exercise 8.1 — last_position_loss")
    check.expect_callable(last_position_loss, "last_position_loss")
    for p, n, seed in [(7, 12, 0), (11, 30, 1), (5, 4, 2)]:
        model = random_bridge(_config(p), seed, scale=0.3)
        tokens = _tokens(p, n, seed)
        labels = torch.randint(0, p, (n,), generator=_gen(10 + seed))
        case = f"random 1-layer model, p {p}, {n} examples"
        got = check.call(
            last_position_loss, model, tokens, labels, case=case, what="last_position_loss"
        )
        expected = ref.last_position_loss(model, tokens, labels)
        logits = model(tokens).detach()

        def mistakes(logits=logits, labels=labels, n=n):
            ce = torch.nn.functional.cross_entropy
            return {
                "the loss at the first position (logits[:, 0])": ce(logits[:, 0], labels),
                "the loss averaged over all three positions": ce(
                    logits.flatten(0, 1), labels.repeat_interleave(3)
                ),
                "summing the per-example losses instead of averaging": ce(
                    logits[:, -1], labels, reduction="sum"
                ),
                "the loss at the middle position (logits[:, 1])": ce(logits[:, 1], labels),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the loss",
            dtype=True,
            mistakes=mistakes,
            hint="F.cross_entropy(model(tokens)[:, -1, :], labels): a 0-d float32 tensor.",
        )
        params = dict(list(model.named_parameters())[:3])
        check.compare_gradients(got, expected, wrt=params, case=case, what="the loss")
    check.passed()


# --- Exercise 8.2 ------------------------------------------------------------------------------


def check_weight_norm(weight_norm) -> None:
    check = Check("Exercise 8.2 — weight_norm")
    check.expect_callable(weight_norm, "weight_norm")
    g = _gen(3)
    cases = [
        (
            "two random tensors",
            {"W": torch.randn(4, 5, generator=g), "b": torch.randn(5, generator=g)},
        ),
        ("one tensor of 3s", {"w": torch.full((2, 2), 3.0)}),
        ("a random 1-layer model's state dict (p 7)", random_bridge(_config(7), 4).state_dict()),
    ]
    for case, state in cases:
        got = _float(
            check,
            check.call(weight_norm, state, case=case, what="weight_norm"),
            case=case,
            what="the weight norm",
        )
        tensors = [v.double() for v in state.values()]
        check.compare(
            got,
            torch.tensor(ref.weight_norm(state), dtype=torch.float64),
            case=case,
            what="the weight norm",
            rtol=1e-5,
            mistakes={
                "the sum of each tensor's norm (not one norm over all entries)": torch.tensor(
                    sum(t.norm().item() for t in tensors), dtype=torch.float64
                ),
                "the squared norm (no square root)": torch.tensor(
                    sum(t.pow(2).sum().item() for t in tensors)
                ),
                "the sum of absolute values (an L1 norm)": torch.tensor(
                    sum(t.abs().sum().item() for t in tensors)
                ),
            },
        )
    check.passed()


# --- Exercise 8.3 ------------------------------------------------------------------------------


def check_fourier_basis(fourier_basis) -> None:
    check = Check("Exercise 8.3 — fourier_basis")
    check.expect_callable(fourier_basis, "fourier_basis")
    for p in (5, 7, 13, 59):
        case = f"p {p}"
        got = check.call(fourier_basis, p, case=case, what="fourier_basis")
        expected = ref.fourier_basis(p)
        x = torch.arange(p, dtype=torch.float64)

        def mistakes(p=p, x=x, expected=expected):
            ks = range(1, (p - 1) // 2 + 1)
            raw = [torch.ones(p, dtype=torch.float64)]
            swapped, no_two_pi = [expected[0].double()], [expected[0].double()]
            for k in ks:
                raw += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
                swapped += [expected[2 * k].double(), expected[2 * k - 1].double()]
                for f in (torch.cos, torch.sin):
                    w = f(k * x / p)
                    no_two_pi.append(w / w.norm())
            return {
                "rows that are not normalised": torch.stack(raw).float(),
                "sin before cos for each frequency": torch.stack(swapped).float(),
                "angles k x / p without the 2 pi": torch.stack(no_two_pi).float(),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the basis",
            atol=1e-5,
            dtype=True,
            mistakes=mistakes,
            hint="row 0 constant, row 2k-1 cos(2 pi k x / p), row 2k sin(...), each of norm 1.",
        )
    check.passed()


# --- Exercise 8.4 ------------------------------------------------------------------------------


def check_frequency_norms(frequency_norms) -> None:
    check = Check("Exercise 8.4 — frequency_norms")
    check.expect_callable(frequency_norms, "frequency_norms")
    x = torch.arange(11, dtype=torch.float64)
    wave = torch.stack(
        [3 * torch.cos(2 * math.pi * 2 * x / 11), torch.sin(2 * math.pi * 4 * x / 11) + 1], 1
    )
    cases = [
        ("random W, p 7, d 3", torch.randn(7, 3, generator=_gen(5))),
        ("W made of two waves (k 2 and k 4) and a constant, p 11", wave.float()),
        ("random W, p 59, d 4", torch.randn(59, 4, generator=_gen(6))),
    ]
    for case, W in cases:
        p = W.shape[0]
        basis = ref.fourier_basis(p)
        got = check.call(frequency_norms, W, basis, case=case, what="frequency_norms")
        coefficients = basis.double() @ W.double()
        cos2, sin2 = coefficients[1::2].pow(2).sum(-1), coefficients[2::2].pow(2).sum(-1)
        check.compare(
            got,
            ref.frequency_norms(W),
            case=case,
            what="the norms",
            atol=1e-4,
            dtype=True,
            mistakes={
                "squared norms (no square root)": (cos2 + sin2).float(),
                "the cos rows only": cos2.sqrt().float(),
                "the norm of the sum of the cos and sin rows' squares per column, not over all d": (
                    coefficients[1::2].pow(2) + coefficients[2::2].pow(2)
                )
                .sqrt()
                .sum(-1)
                .float(),
            },
            hint="project (basis @ W), then for k: sqrt(|row 2k-1|^2 + |row 2k|^2); no row 0.",
        )
    check.passed()


# --- Exercise 8.5 ------------------------------------------------------------------------------


def check_key_frequencies(key_frequencies) -> None:
    check = Check("Exercise 8.5 — key_frequencies")
    check.expect_callable(key_frequencies, "key_frequencies")
    # Squares [1, 4, 1, 9, 1] / 16: three shares exactly 1/16, the threshold of the second case.
    exact = torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0])
    cases = [
        ("random norms, the default threshold", torch.rand(12, generator=_gen(7)), None),
        (
            "shares 1/16, 1/4, 1/16, 9/16, 1/16 with threshold 1/16 (exactly at it: not more than)",
            exact,
            0.0625,
        ),
        ("random norms, threshold 0.2", torch.rand(6, generator=_gen(8)), 0.2),
    ]
    for case, norms, threshold in cases:
        args = (norms,) if threshold is None else (norms, threshold)
        got = check.call(key_frequencies, *args, case=case, what="key_frequencies")
        t = 0.05 if threshold is None else threshold
        expected = ref.key_frequencies(norms, t)
        check._saw(case)
        check.expected.append((case, tuple(expected)))
        share = norms.double() ** 2 / (norms.double() ** 2).sum()
        wrong = {
            "0-based indices (the frequency of entry i is i + 1)": [k - 1 for k in expected],
            "`>=` where the text says more than": [
                k + 1 for k in range(len(norms)) if share[k] >= t
            ],
            "the share of the norms, not of the squared norms": [
                k + 1 for k in range(len(norms)) if norms[k] / norms.sum() > t
            ],
            "ordering by norm instead of by frequency": sorted(
                expected, key=lambda k: -norms[k - 1].item()
            ),
        }
        if not isinstance(got, list) or not all(type(k) is int for k in got):
            check.fail(
                f"the key frequencies should be a list of Python ints (the chapter indexes with "
                f"them), "
                f"got {type(got).__name__} {got!r:.80}.",
                case=case,
                hint="append Python ints (not tensor elements): `k + 1` for k in range(...).",
            )
        if got != expected:
            hint = next(
                (
                    f"your output matches what {m} gives."
                    for m, w in wrong.items()
                    if w == got and w != expected
                ),
                None,
            )
            check.fail(f"expected {expected}, got {got}.", case=case, hint=hint)
    check.passed()


# --- Exercise 8.6 ------------------------------------------------------------------------------


def check_neuron_activations(neuron_activations) -> None:
    check = Check("Exercise 8.6 — neuron_activations")
    check.expect_callable(neuron_activations, "neuron_activations")
    for p, n, seed in [(7, 10, 0), (11, 25, 1), (5, 3, 2)]:
        model = random_bridge(_config(p), 20 + seed, scale=0.3)
        tokens = _tokens(p, n, seed)
        case = f"random 1-layer model, p {p}, {n} examples"
        with torch.no_grad():
            got = check.call(
                neuron_activations, model, tokens, case=case, what="neuron_activations"
            )

            def mistakes(model=model, tokens=tokens):
                _, cache = model.run_with_cache(tokens)
                return {
                    "the pre-ReLU activations (hook_pre)": cache["blocks.0.mlp.hook_pre"][:, -1],
                    "the activations at the first position": cache["blocks.0.mlp.hook_post"][:, 0],
                }

            check.compare(
                got,
                ref.neuron_activations(model, tokens),
                case=case,
                what="the activations",
                atol=1e-4,
                mistakes=mistakes,
                hint="cache['blocks.0.mlp.hook_post'][:, -1, :] from model.run_with_cache(tokens).",
            )
    check.passed()


# --- Exercise 8.7 ------------------------------------------------------------------------------


def check_frequency_fraction(frequency_fraction) -> None:
    check = Check("Exercise 8.7 — frequency_fraction")
    check.expect_callable(frequency_fraction, "frequency_fraction")
    a, b, _ = _grid(13)
    wave = (
        torch.cos(2 * math.pi * 2 * a[..., 0] / 13)
        + 0.5 * torch.sin(2 * math.pi * 2 * b[..., 0] / 13)
    ).relu()
    built = torch.stack(
        [wave, wave.T + 0.1 * torch.randn(13, 13, generator=_gen(9), dtype=torch.float64)], -1
    )
    cases = [
        ("random activations, p 7, 5 neurons, k 1", torch.rand(7, 7, 5, generator=_gen(10)), 1),
        ("two neurons periodic in frequency 2, p 13, k 2", built.float(), 2),
        ("the same neurons, k 5", built.float(), 5),
        ("random activations, p 11, 3 neurons, k 3", torch.rand(11, 11, 3, generator=_gen(11)), 3),
    ]
    for case, acts, k in cases:
        basis = ref.fourier_basis(acts.shape[0])
        got = check.call(frequency_fraction, acts, basis, k, case=case, what="frequency_fraction")

        def mistakes(acts=acts, basis=basis, k=k):
            c = torch.einsum("ia,abn,jb->ijn", basis.double(), acts.double(), basis.double()).pow(2)
            idx, cross = [0, 2 * k - 1, 2 * k], [2 * k - 1, 2 * k]
            with_const = c[idx][:, idx].sum((0, 1)) / c.sum((0, 1))
            c0 = c.clone()
            c0[0, 0] = 0
            return {
                "keeping the constant-constant coefficient (the mean) in the variance": (
                    with_const.float()
                ),
                "only the products cos/sin(w a) x cos/sin(w b), no terms of one variable": (
                    c0[cross][:, cross].sum((0, 1)) / c0.sum((0, 1))
                ).float(),
            }

        check.compare(
            got,
            ref.neuron_frequency_fraction(acts, k),
            case=case,
            what="the fractions",
            atol=1e-4,
            dtype=True,
            mistakes=mistakes,
            hint="square the 2D coefficients, zero [0, 0], sum the 3 x 3 block {0, 2k-1, 2k}.",
        )
    check.passed()


# --- Exercise 8.8 ------------------------------------------------------------------------------


def _logits(p: int, seed: int, weights: dict[int, float]) -> Tensor:
    a, b, c = _grid(p)
    out = 0.7 + 0.3 * torch.randn(p, p, p, generator=_gen(seed), dtype=torch.float64)
    for k, w in weights.items():
        out = out + w * torch.cos(2 * math.pi * k * (a + b - c) / p)
    return out.float()


def check_logit_variance_explained(logit_variance_explained) -> None:
    check = Check("Exercise 8.8 — logit_variance_explained")
    check.expect_callable(logit_variance_explained, "logit_variance_explained")
    built = _logits(11, 12, {1: 2.0, 4: 0.7})
    cases = [
        ("random logits, p 7, freqs [1, 3]", _logits(7, 13, {}), [1, 3]),
        ("cos waves of frequencies 1 and 4 plus noise, p 11, freqs [1]", built, [1]),
        ("the same logits, freqs [1, 4]", built, [1, 4]),
    ]
    for case, logits, freqs in cases:
        got = check.call(
            logit_variance_explained,
            logits,
            list(freqs),
            case=case,
            what="logit_variance_explained",
        )
        got = _float(check, got, case=case, what="the fraction explained")
        p = logits.shape[0]
        a, b, c = _grid(p)
        y = logits.double()

        def r2(waves, y=y, center=True):
            fit = (
                sum((y * w).sum() / (w * w).sum() * w for w in waves)
                if waves
                else torch.zeros_like(y)
            )
            base = y - y.mean() if center else y
            return torch.tensor(
                1 - ((base - fit) ** 2).sum().item() / (base**2).sum().item(), dtype=torch.float64
            )

        plus = [torch.cos(2 * math.pi * k * (a + b + c) / p).expand(p, p, p) for k in freqs]
        right = [torch.cos(2 * math.pi * k * (a + b - c) / p).expand(p, p, p) for k in freqs]
        check.compare(
            got,
            torch.tensor(ref.logit_variance_explained(logits, freqs), dtype=torch.float64),
            case=case,
            what="the fraction explained",
            atol=1e-4,
            mistakes=lambda: {
                "cos(w (a + b + c)) instead of cos(w (a + b - c))": r2(plus),
                "not subtracting the mean (the constant of the fit)": r2(right, center=False),
            },
        )
    check.passed()


# --- Exercise 8.9 ------------------------------------------------------------------------------


def check_frequency_component(frequency_component) -> None:
    check = Check("Exercise 8.9 — frequency_component")
    check.expect_callable(frequency_component, "frequency_component")
    cases = [
        ("random logits, p 7, freqs [2]", _logits(7, 14, {}), [2]),
        (
            "cos waves of frequencies 1 and 4 plus noise, p 11, freqs [1, 4]",
            _logits(11, 15, {1: 2.0, 4: 0.7}),
            [1, 4],
        ),
        ("random logits, p 13, freqs [1, 5, 6]", _logits(13, 16, {}), [1, 5, 6]),
    ]
    for case, logits, freqs in cases:
        got = check.call(
            frequency_component, logits, list(freqs), case=case, what="frequency_component"
        )
        p = logits.shape[0]
        a, b, _ = _grid(p)

        def part(
            sign=1,
            waves=(torch.cos, torch.sin),
            norm=2,
            logits=logits,
            freqs=freqs,
            a=a[..., 0],
            b=b[..., 0],
            p=p,
        ):
            out = torch.zeros(p, p, p, dtype=torch.float64)
            for k in freqs:
                for f in waves:
                    w = f(2 * math.pi * k * (a + sign * b) / p)
                    out = (
                        out
                        + w[:, :, None]
                        * torch.einsum("abc,ab->c", logits.double(), w)
                        * norm
                        / p**2
                    )
            return out.float()

        check.compare(
            got,
            ref.frequency_component(logits, freqs),
            case=case,
            what="the component",
            atol=1e-4,
            dtype=True,
            mistakes=lambda: {
                "the cos directions only (sin(w (a + b)) left out)": part(waves=(torch.cos,)),
                "dividing by p^2 instead of the waves' squared norm p^2 / 2": part(norm=1),
                "cos/sin(w (a - b)) instead of (a + b)": part(sign=-1),
            },
            hint="per c: <grid, wave> / <wave, wave>, times wave, for the cos and the sin wave.",
        )
    check.passed()


# --- Exercise 8.10 -----------------------------------------------------------------------------


def check_gini(gini) -> None:
    check = Check("Exercise 8.10 — gini")
    check.expect_callable(gini, "gini")
    cases = [
        ("all entries equal (Gini 0)", torch.full((6,), 2.5)),
        ("one entry holds everything (Gini (n - 1) / n)", torch.tensor([0.0, 0.0, 4.0, 0.0])),
        ("random, unsorted", torch.rand(9, generator=_gen(17))),
        ("random, n 29", torch.rand(29, generator=_gen(18)) ** 3),
    ]
    for case, x in cases:
        got = _float(
            check,
            check.call(gini, x, case=case, what="gini"),
            case=case,
            what="the Gini coefficient",
        )
        n, values = len(x), x.double()
        pairs = (values[:, None] - values[None, :]).abs().sum()
        i = torch.arange(1, n + 1, dtype=torch.float64)
        check.compare(
            got,
            torch.tensor(ref.gini(x), dtype=torch.float64),
            case=case,
            what="the Gini coefficient",
            atol=1e-5,
            mistakes=lambda: {
                "dividing by n (n - 1) instead of n^2 (the small-sample Gini)": pairs
                / (2 * n * (n - 1) * values.mean()),
                "sorting in descending order": (
                    (2 * i - n - 1) * values.sort(descending=True).values
                ).sum()
                / (n * values.sum()),
                "forgetting to sort": ((2 * i - n - 1) * values).sum() / (n * values.sum()),
            },
        )
    check.passed()


# --- Exercise 8.11 -----------------------------------------------------------------------------


def check_ablate_frequencies(ablate_frequencies) -> None:
    check = Check("Exercise 8.11 — ablate_frequencies")
    check.expect_callable(ablate_frequencies, "ablate_frequencies")
    cases = [
        ("random W_logit, p 7, remove [2]", torch.randn(5, 7, generator=_gen(19)), [2]),
        ("random W_logit, p 11, remove [2, 5]", torch.randn(8, 11, generator=_gen(20)), [2, 5]),
        (
            "random W_logit, p 13, remove [3, 4, 6]",
            torch.randn(4, 13, generator=_gen(21)),
            [3, 4, 6],
        ),
    ]
    for case, W, freqs in cases:
        p = W.shape[-1]
        basis = ref.fourier_basis(p)
        got = check.call(
            ablate_frequencies, W, basis, list(freqs), case=case, what="ablate_frequencies"
        )

        def variant(rows, keep_only=False, W=W, basis=basis):
            c = W.double() @ basis.double().T
            mask = torch.zeros(p, dtype=torch.bool)
            mask[rows] = True
            c = c * mask if keep_only else c * ~mask
            return (c @ basis.double()).float()

        cos_sin = [r for k in freqs for r in (2 * k - 1, 2 * k)]
        check.compare(
            got,
            ref.ablate_logit_frequencies(W, freqs),
            case=case,
            what="the ablated W_logit",
            atol=1e-4,
            dtype=True,
            mistakes=lambda: {
                "zeroing only the cos rows": variant([2 * k - 1 for k in freqs]),
                "zeroing coefficient k instead of 2k - 1 and 2k": variant(list(freqs)),
                "keeping only those frequencies instead of removing them": variant(
                    cos_sin, keep_only=True
                ),
            },
            hint="coefficients = W_logit @ basis.T; zero columns 2k-1 and 2k; back: @ basis.",
        )
    check.passed()

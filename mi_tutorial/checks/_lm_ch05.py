"""Chapter 05's checks of Part 4, SAEs on a language model (Exercises 5.9 to 5.12), and their
helpers; `mi_tutorial.checks.ch05` re-exports them. Exercise 5.9 runs on three small native
models with random weights (two sizes, three cases, ReLU and TopK SAEs); its named
mistakes each cost a few forward passes, so they are computed only for a wrong answer.
"""

from __future__ import annotations

import functools

import torch

from mi_tutorial.checks._cases_ch05 import gen as _gen, ref_sae
from mi_tutorial.checks._core import Check, random_bridge
from mi_tutorial.checks._keys import sae as ref  # the answer keys, written apart from the solutions
from mi_tutorial.metrics import lm_loss


def _float(check: Check, got, *, case: str, what: str) -> torch.Tensor:
    """A Python float, as the signature promises, as a float64 0-d tensor."""
    check.expect_type(got, float, case=case, what=what)
    return torch.tensor(got, dtype=torch.float64)


def _ratio(numerator, denominator) -> float:
    return numerator.item() / denominator.item() if denominator.item() else 0.0


def _hook_point():
    from transformer_lens.hook_points import (
        HookPoint,  # what TransformerLens hands a hook
    )

    return HookPoint()


# --- Exercise 5.9 ------------------------------------------------------------------------------

_CE_CONFIGS = (
    {
        "n_layers": 2,
        "d_model": 16,
        "n_heads": 2,
        "d_head": 8,
        "d_mlp": 32,
        "d_vocab": 20,
        "n_ctx": 12,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "seed": 0,
    },
    {
        "n_layers": 1,
        "d_model": 16,
        "n_heads": 4,
        "d_head": 4,
        "d_mlp": 64,
        "d_vocab": 24,
        "n_ctx": 10,
        "act_fn": "relu",
        "normalization_type": "LN",
        "seed": 1,
    },
)
_CE_KEYS = (
    "ce_loss_without_sae",
    "ce_loss_with_sae",
    "ce_loss_with_ablation",
    "ce_loss_score",
)


@functools.cache
def _ce_model(index: int):
    """A small native model with random weights large enough to make confident predictions."""
    return random_bridge(_CE_CONFIGS[index], seed=9 + index, scale=0.4, norm_scale=0.2)


def _ce_mistakes(model, sae, tokens, hook_name, expected):
    """What each likely mistake would return (a few forward passes each: only for a wrong answer)."""

    def loss(fn):
        with torch.no_grad():
            return lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, fn)]), tokens).item()

    def splice_all(act, hook):
        return sae(act)

    def zero_all(act, hook):
        return torch.zeros_like(act)

    def mean_ablate(act, hook):
        act[:, 1:] = act[:, 1:].mean(dim=(0, 1))
        return act

    clean, with_sae, ablated = (expected[key] for key in _CE_KEYS[:3])

    def row(c, s, a):
        return torch.tensor([c, s, a, ref.ce_loss_score(c, s, a)], dtype=torch.float64)

    spliced_all, zeroed_all, mean_ablated = (
        loss(splice_all),
        loss(zero_all),
        loss(mean_ablate),
    )
    return {
        "splicing the SAE in at position 0 (<bos>) too": row(clean, spliced_all, ablated),
        "zero-ablating position 0 (<bos>) too (only positions 1: are zeroed)": row(
            clean, with_sae, zeroed_all
        ),
        "splicing and zero-ablating <bos> too": row(clean, spliced_all, zeroed_all),
        "the score upside down: (with_sae - clean) / (ablation - clean)": torch.tensor(
            [clean, with_sae, ablated, 1 - ref.ce_loss_score(clean, with_sae, ablated)],
            dtype=torch.float64,
        ),
        "mean-ablation instead of zero-ablation": row(clean, with_sae, mean_ablated),
    }


def check_ce_loss_recovered(ce_loss_recovered) -> None:
    check = Check("Exercise 5.9 — ce_loss_recovered")
    check.expect_callable(ce_loss_recovered, "ce_loss_recovered")
    cases = [  # (model index, hook, SAE's k, seed, tokens' shape)
        (0, "blocks.1.hook_resid_pre", None, 0, (6, 12)),
        (0, "blocks.0.hook_resid_post", 4, 1, (4, 9)),
        (1, "blocks.0.hook_resid_pre", None, 2, (5, 10)),
    ]
    for index, hook_name, k, seed, shape in cases:
        model = _ce_model(index)
        tokens = torch.randint(0, _CE_CONFIGS[index]["d_vocab"], shape, generator=_gen(10 + seed))
        sae = ref_sae(16, 48, k, seed)
        with torch.no_grad():  # an SAE that is roughly right: decoder = encoder's transpose
            sae.W_dec.copy_(sae.W_enc.T * 1.5)
            sae.b_dec.zero_()
        case = (
            f"a {_CE_CONFIGS[index]['n_layers']}-layer model with random weights, "
            f"{'ReLU' if k is None else 'TopK'} SAE at {hook_name}, tokens {list(shape)}"
        )
        out = check.call(
            ce_loss_recovered,
            model,
            sae,
            tokens,
            hook_name,
            case=case,
            what="ce_loss_recovered",
        )
        if not isinstance(out, dict) or set(out) != set(_CE_KEYS):
            got_keys = sorted(out) if isinstance(out, dict) else type(out).__name__
            check.fail(
                f"ce_loss_recovered should return a dict with the keys {list(_CE_KEYS)}, got {got_keys}.",
                case=case,
            )
        if model.hook_dict and any(h.fwd_hooks for h in model.hook_dict.values()):
            model.reset_hooks()
            check.fail(
                "the model still had hooks attached after ce_loss_recovered returned.",
                case=case,
                hint="use model.run_with_hooks(...), which removes its hooks afterwards.",
            )
        values = torch.stack(
            [_float(check, out[key], case=case, what=f"out[{key!r}]") for key in _CE_KEYS]
        )
        expected = ref.spliced_losses(model, sae, tokens, hook_name)
        exp = torch.tensor([expected[key] for key in _CE_KEYS], dtype=torch.float64)
        check.compare(
            values,
            exp,
            case=case,
            what="[ce_loss_without_sae, ce_loss_with_sae, ce_loss_with_ablation, ce_loss_score]",
            atol=1e-3,
            rtol=1e-3,
            mistakes=functools.partial(_ce_mistakes, model, sae, tokens, hook_name, expected),
        )
    check.passed(f"{len(cases)} cases: ReLU and TopK SAEs on two small models")


# --- Exercise 5.10 -----------------------------------------------------------------------------


def check_top_activations(top_activations) -> None:
    check = Check("Exercise 5.10 — top_activations")
    check.expect_callable(top_activations, "top_activations")
    g = _gen(11)
    cases = [
        ("batch 3, pos 7, k 4", torch.rand(3, 7, generator=g), 4),
        (
            "batch 10, pos 4, k 6 (more rows than positions)",
            torch.rand(10, 4, generator=g),
            6,
        ),
        ("batch 1, pos 5, k 5", torch.rand(1, 5, generator=g), 5),
    ]
    for case, acts, k in cases:
        out = check.call(top_activations, acts, k, case=case, what="top_activations")
        if not (isinstance(out, tuple) and len(out) == 3):
            check.fail(
                f"top_activations should return (values, rows, positions), got {type(out).__name__}.",
                case=case,
            )
        values, rows, positions = ref.top_activations(acts, k)
        flat = acts.flatten().topk(k).indices
        smallest = acts.flatten().topk(k, largest=False)
        check.compare(
            out[0],
            values,
            case=case,
            what="values",
            dtype=True,
            mistakes={"taking the k smallest": smallest.values},
            hint="largest first: topk sorts them so.",
        )
        check.compare(
            out[1],
            rows,
            case=case,
            what="rows (batch indices)",
            mistakes={
                "dividing the flat index by the batch size instead of the number of positions": flat
                // acts.shape[0],
                "swapping rows and positions": positions,
            },
        )
        check.compare(
            out[2],
            positions,
            case=case,
            what="positions",
            mistakes={
                "taking the flat index modulo the batch size": flat % acts.shape[0],
                "swapping rows and positions": rows,
            },
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.11 -----------------------------------------------------------------------------


def check_precision_recall(precision_recall) -> None:
    check = Check("Exercise 5.11 — precision_recall")
    check.expect_callable(precision_recall, "precision_recall")
    g = _gen(12)
    labels = torch.rand(4, 30, generator=g) < 0.2
    fires = (labels & (torch.rand(4, 30, generator=g) < 0.7)) | (
        torch.rand(4, 30, generator=g) < 0.1
    )
    cases = [
        ("a detector with some misses and false alarms, [4, 30]", fires, labels),
        (
            "a detector that never fires",
            torch.zeros(50, dtype=torch.bool),
            torch.rand(50, generator=g) < 0.3,
        ),
        (
            "no labelled token",
            torch.rand(40, generator=g) < 0.3,
            torch.zeros(40, dtype=torch.bool),
        ),
        (
            "fires everywhere",
            torch.ones(20, dtype=torch.bool),
            torch.arange(20) % 4 == 0,
        ),
    ]
    for case, f, lab in cases:
        out = check.call(precision_recall, f, lab, case=case, what="precision_recall")
        if not (isinstance(out, tuple) and len(out) == 2):
            check.fail(
                f"precision_recall should return (precision, recall), got {type(out).__name__}.",
                case=case,
            )
        got = torch.stack(
            [
                _float(check, v, case=case, what=what)
                for v, what in zip(out, ("precision", "recall"))
            ]
        )
        precision, recall = ref.precision_recall(f, lab)
        check.compare(
            got,
            torch.tensor([precision, recall], dtype=torch.float64),
            case=case,
            what="(precision, recall)",
            mistakes={
                "precision and recall swapped": torch.tensor(
                    [recall, precision], dtype=torch.float64
                ),
                "accuracy for both (matches over all tokens)": torch.tensor(
                    [(f == lab).float().mean().item()] * 2, dtype=torch.float64
                ),
                "counting matches (fires == labels) as hits": torch.tensor(
                    [_ratio((f == lab).sum(), f.sum()), _ratio((f == lab).sum(), lab.sum())],
                    dtype=torch.float64,
                ),
            },
            hint="precision = hits / (tokens where it fires); recall = hits / (labelled tokens); 0.0 for an empty denominator.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.12 -----------------------------------------------------------------------------


def check_clamp_latent_hook(clamp_latent_hook) -> None:
    check = Check("Exercise 5.12 — clamp_latent_hook")
    check.expect_callable(clamp_latent_hook, "clamp_latent_hook")
    for k, latent, value, seed in [(None, 3, 5.0, 0), (4, 7, 0.0, 1), (4, 2, 12.0, 2)]:
        hook = (
            None if seed == 0 else _hook_point()
        )  # TransformerLens passes a HookPoint; the hook ignores it
        sae = ref_sae(10, 24, k, seed)
        act = 2 * torch.randn(3, 6, 10, generator=_gen(300 + seed))
        case = f"{'ReLU' if k is None else 'TopK'} SAE, act [3, 6, 10], latent {latent} clamped to {value}"
        with torch.no_grad():
            got = check.call(
                clamp_latent_hook,
                act.clone(),
                hook,
                sae,
                latent,
                value,
                case=case,
                what="clamp_latent_hook",
                mutates=("act",),
            )  # a hook may edit its activation in place
            expected = act.clone()
            expected[:, 1:] = ref.clamp_latent(act[:, 1:], sae, latent, value)
            f = sae.encode(act)
            f_clamped = f.clone()
            f_clamped[..., latent] = value
            recon_only = act.clone()
            recon_only[:, 1:] = sae.decode(f_clamped)[:, 1:]
            added = act.clone()
            added[:, 1:] += value * sae.W_dec[latent]
            everywhere = ref.clamp_latent(act, sae, latent, value)
            along_nothing = act.clone()
            along_nothing[:, 1:] += (value - f[:, 1:, latent]).unsqueeze(-1)
        check.compare(
            got,
            expected,
            case=case,
            what="the hooked activation",
            mistakes={
                "replacing the activation by the SAE's reconstruction (the error term x - x̂ is lost)": recon_only,
                "adding value × W_dec[latent] (steering by addition) instead of setting the latent to value": added,
                "clamping position 0 (<bos>) too": everywhere,
                "adding (value - f) to every dimension instead of along W_dec[latent]": along_nothing,
            },
        )
    check.passed("3 cases")

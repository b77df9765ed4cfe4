"""Chapter 07's checks for Parts 3-6 (probes, control tasks, steering, sparse probes, the
obfuscation loss); `mi_tutorial.checks.ch07` re-exports them. Split from ch07.py to keep each
file short. The trusted answers are in `mi_tutorial.checks._keys.lenses`."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import lenses as reference
from mi_tutorial.data import tinyworld


def _float_tensor(check: Check, got, *, case: str, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        check.fail(f"{what} should be a torch.Tensor, got {type(got).__name__}.", case=case)
    if got.dtype != torch.float32:
        check.fail(
            f"{what}: dtype {got.dtype}, expected torch.float32 (the chapter multiplies it "
            "with float32 activations).",
            case=case,
        )
    return got


def _pair(check: Check, got, *, case: str, what: str) -> tuple[torch.Tensor, float]:
    """A (float32 tensor, Python float) pair, as the exercise's signature promises."""
    if not (isinstance(got, tuple) and len(got) == 2):
        check.fail(
            f"{what} should return a tuple (direction or weights, number), "
            f"got {type(got).__name__}.",
            case=case,
        )
    tensor, number = got
    _float_tensor(check, tensor, case=case, what=f"{what}'s first element")
    if not isinstance(number, numbers.Real) or isinstance(number, bool):
        check.fail(
            f"{what}'s second element should be a Python float, got {type(number).__name__}"
            + (" (use .item())" if isinstance(number, torch.Tensor) else "")
            + ".",
            case=case,
        )
    return tensor, float(number)


# --- Exercise 7.6 ------------------------------------------------------------------------------


def check_diff_of_means_probe(diff_of_means_probe) -> None:
    check = Check("Exercise 7.6 — diff_of_means_probe")
    check.expect_callable(diff_of_means_probe, "diff_of_means_probe")
    generator = torch.Generator().manual_seed(76)
    cases = []
    for n, d, share, shift in [(40, 8, 0.5, 3.0), (30, 5, 0.2, 1.0), (12, 3, 0.75, -2.0)]:
        labels = torch.arange(n) < int(share * n)
        labels = labels[torch.randperm(n, generator=generator)]
        acts = (
            torch.randn(n, d, generator=generator)
            + shift
            + labels[:, None] * torch.randn(d, generator=generator)
        )
        cases.append(
            (
                f"{n} examples of width {d}, {labels.float().mean():.0%} positive, offset {shift}",
                acts,
                labels,
            )
        )
    for case, acts, labels in cases:
        got = _pair(
            check,
            check.call(
                diff_of_means_probe,
                acts.clone(),
                labels.clone(),
                case=case,
                what="diff_of_means_probe",
            ),
            case=case,
            what="diff_of_means_probe",
        )
        direction, threshold = reference.diff_of_means_probe(acts, labels)
        positive, negative = acts[labels].mean(0), acts[~labels].mean(0)
        check.compare(
            got[0],
            direction,
            case=case,
            what="the direction",
            atol=1e-4,
            mistakes={
                "the negative mean minus the positive one (the sign flipped)": negative - positive,
                "normalizing the direction to length 1": direction / direction.norm(),
            },
        )
        check.compare(
            torch.tensor(got[1]),
            torch.tensor(threshold),
            case=case,
            what="the threshold",
            atol=1e-3,
            mistakes={
                "a threshold of 0": torch.tensor(0.0),
                "the overall mean's projection (not the midpoint of the class means)": direction
                @ acts.mean(0),
                "the midpoint without the factor 1/2": direction @ (positive + negative),
            },
        )
    check.passed(f"{len(cases)} cases, balanced and unbalanced classes")


# --- Exercise 7.7 ------------------------------------------------------------------------------


def check_fit_logistic_probe(fit_logistic_probe) -> None:
    check = Check("Exercise 7.7 — fit_logistic_probe")
    check.expect_callable(fit_logistic_probe, "fit_logistic_probe")
    generator = torch.Generator().manual_seed(77)
    cases = []
    for n, d, l2, steps, noise in [
        (80, 6, None, None, 1.0),
        (60, 4, 0.05, 60, 0.5),
        (100, 10, 1e-2, 200, 2.0),
    ]:
        w_true = torch.randn(d, generator=generator)
        acts = 2 * torch.randn(n, d, generator=generator) + 1
        labels = acts @ w_true + 0.5 + noise * torch.randn(n, generator=generator) > 0
        cases.append((n, d, l2, steps, acts, labels))
    for n, d, l2, steps, acts, labels in cases:
        kwargs = {k: v for k, v in (("l2", l2), ("steps", steps)) if v is not None}
        case = f"{n} examples of width {d}, " + (
            ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "the default l2 and steps"
        )
        l2_used = 1e-3 if l2 is None else l2
        got = _pair(
            check,
            check.call(
                fit_logistic_probe,
                acts.clone(),
                labels.clone(),
                case=case,
                what="fit_logistic_probe",
                **kwargs,
            ),
            case=case,
            what="fit_logistic_probe",
        )
        if got[0].requires_grad:
            check.fail("the weights still require gradients: return w.detach().", case=case)
        w, b = reference.fit_logistic_probe(acts, labels, l2_used)
        gradient = reference.objective_gradient(got[0], got[1], acts, labels, l2_used)
        mistakes = {}
        if l2 is not None:
            default = reference.fit_logistic_probe(acts, labels, 1e-3)
            mistakes["ignoring l2 (always the default)"] = torch.cat(
                [default[0], torch.tensor([default[1]])]
            )
        half = reference.fit_logistic_probe(acts, labels, l2_used / 2)
        mistakes["a penalty l2/2 · ‖w‖² instead of l2 · ‖w‖²"] = torch.cat(
            [half[0], torch.tensor([half[1]])]
        )
        twice = reference.fit_logistic_probe(acts, labels, 2 * l2_used)
        mistakes["a penalty of 2 · l2 · ‖w‖² (or the bias penalized too)"] = torch.cat(
            [twice[0], torch.tensor([twice[1]])]
        )
        flipped = reference.fit_logistic_probe(acts, ~labels, l2_used)
        mistakes["labels flipped (the probe predicts the negative class)"] = torch.cat(
            [flipped[0], torch.tensor([flipped[1]])]
        )
        check.compare(
            torch.cat([got[0], torch.tensor([got[1]])]),
            torch.cat([w, torch.tensor([b])]),
            case=case,
            what="(w, b), compared with the objective's unique optimum",
            atol=2e-3,
            rtol=1e-2,
            mistakes=mistakes,
            hint=f"the objective's gradient at your (w, b) is {gradient.abs().max():.2g} "
            "(about 0 at the optimum): "
            "mean BCE of acts @ w + b plus l2 * (w ** 2).sum(); more steps?",
        )
    check.passed(f"{len(cases)} cases, at the optimum of the objective")


# --- Exercise 7.8 ------------------------------------------------------------------------------


def check_control_labels(control_labels) -> None:
    check = Check("Exercise 7.8 — control_labels")
    check.expect_callable(control_labels, "control_labels")
    cases = [
        (tinyworld.D_VOCAB, 0, torch.tensor([3, 5, 3, 300, 5, 3])),
        (10, 1, torch.arange(10).repeat(3)),
        (50, 2, torch.tensor([49, 0, 49])),
    ]
    for vocab_size, seed, words in cases:
        case = (
            f"vocab_size={vocab_size}, words {words.tolist()[:8]}…, "
            f"torch.Generator().manual_seed({seed})"
        )
        got = check.call(
            control_labels,
            words.clone(),
            vocab_size,
            torch.Generator().manual_seed(seed),
            case=case,
            what="control_labels",
        )
        if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
            check.fail(
                f"the labels: dtype {got.dtype}, expected torch.bool (the probes index with them).",
                case=case,
            )
        expected = reference.control_labels(words, vocab_size, torch.Generator().manual_seed(seed))
        per_example = torch.rand(len(words), generator=torch.Generator().manual_seed(seed)) < 0.5
        check.compare(
            got,
            expected,
            case=case,
            what="the labels",
            mistakes={
                "one random draw per example (the same word must always get the same label)": (
                    per_example
                ),
                "labels > 0.5 instead of < 0.5": ~expected,
            },
            hint="draw torch.rand(vocab_size, generator=generator) < 0.5 once, "
            "then index it with word_ids.",
        )
    gen = torch.Generator().manual_seed(5)
    first = check.call(
        control_labels, torch.arange(20), 20, gen, case="two calls in a row", what="control_labels"
    )
    second = check.call(
        control_labels, torch.arange(20), 20, gen, case="two calls in a row", what="control_labels"
    )
    if torch.equal(first, second) and torch.equal(
        first, reference.control_labels(torch.arange(20), 20, torch.Generator().manual_seed(5))
    ):
        check.fail(
            "two calls with the same generator gave the same labels: draw from `generator` itself "
            "(not a fresh or reseeded one).",
            case="two calls in a row",
        )
    check.passed(f"{len(cases)} cases, tied to the generator")


# --- Exercise 7.9 ------------------------------------------------------------------------------


def check_push_last_position(push_last_position) -> None:
    check = Check("Exercise 7.9 — push_last_position")
    check.expect_callable(push_last_position, "push_last_position")
    generator = torch.Generator().manual_seed(79)
    cases = [
        ((3, 5, 8), 2.0, 4.0),
        ((2, 1, 4), -1.5, 0.3),
        ((1, 4, 6), 0.0, 1.0),
        ((4, 3, 6), 3.0, 1.0),
    ]
    for i, (shape, alpha, length) in enumerate(cases):
        resid = torch.randn(*shape, generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"resid {shape}, alpha={alpha}, |direction|={length}"
        before = resid.clone()
        hook = (
            None if i % 2 else "blocks.1.hook_resid_pre"
        )  # what TransformerLens passes is unused here
        got = check.call(
            push_last_position,
            resid,
            hook,
            direction.clone(),
            alpha,
            case=case,
            what="push_last_position",
        )
        if not torch.equal(resid, before):
            check.fail(
                "`resid` was changed in place: build a new tensor "
                "(resid + push, or resid.clone()).",
                case=case,
            )
        expected = reference.push_last_position(before, direction, alpha)
        everywhere = before + alpha * direction / direction.norm()
        unnormalized = before.clone()
        unnormalized[:, -1] += alpha * direction
        first = before.clone()
        first[:, 0] += alpha * direction / direction.norm()
        check.compare(
            got,
            expected,
            case=case,
            what="the pushed residual stream",
            atol=1e-5,
            mistakes={
                "adding at every position, not only the last": everywhere,
                "adding alpha × direction without normalizing it": unnormalized,
                "adding at the first position": first,
            },
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 7.10 -----------------------------------------------------------------------------


def check_top_k_latents(top_k_latents) -> None:
    check = Check("Exercise 7.10 — top_k_latents")
    check.expect_callable(top_k_latents, "top_k_latents")
    generator = torch.Generator().manual_seed(710)
    cases = []
    for n, d_sae, k in [(40, 30, 4), (25, 12, 1), (60, 50, 16)]:
        latents = torch.relu(torch.randn(n, d_sae, generator=generator))
        labels = torch.rand(n, generator=generator) < 0.4
        labels[:2] = torch.tensor([True, False])
        latents[labels, : d_sae // 3] += 1.5 * torch.rand(
            d_sae // 3, generator=generator
        )  # up in positives
        latents[labels, d_sae // 3 : 2 * d_sae // 3] *= 0.1  # down in positives: a negative gap
        cases.append((f"latents {(n, d_sae)}, k={k}", latents, labels, k))
    for case, latents, labels, k in cases:
        got = check.call(
            top_k_latents, latents.clone(), labels.clone(), k, case=case, what="top_k_latents"
        )
        if isinstance(got, torch.Tensor) and got.dtype != torch.int64:
            check.fail(
                f"the indices: dtype {got.dtype}, expected torch.int64 (they index the latents).",
                case=case,
            )
        expected = reference.top_k_latents(latents, labels, k)
        gap = latents[labels].mean(0) - latents[~labels].mean(0)
        check.compare(
            got,
            expected,
            case=case,
            what="the chosen latents, largest gap first",
            mistakes={
                "ranking by the signed difference (latents lower in the positives are never "
                "chosen)": gap.topk(k).indices,
                "the k smallest gaps": gap.abs().topk(k, largest=False).indices,
                "ranking by the positives' mean alone": latents[labels].mean(0).topk(k).indices,
            },
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 7.11 -----------------------------------------------------------------------------


def check_obfuscation_loss(obfuscation_loss) -> None:
    check = Check("Exercise 7.11 — obfuscation_loss")
    check.expect_callable(obfuscation_loss, "obfuscation_loss")
    generator = torch.Generator().manual_seed(711)
    cases = [
        ((5, 4, 12), None, 2.0),
        ((3, 2, 7), 0.5, 1.0),
        ((4, 3, 9), 0.0, 3.0),
        ((2, 5, 6), 10.0, 0.5),
    ]
    for (batch, pos, vocab), kl_weight, scale in cases:
        probe = scale * torch.randn(batch, generator=generator)
        new = scale * torch.randn(batch, pos, vocab, generator=generator)
        ref = new + torch.randn(batch, pos, vocab, generator=generator)
        kwargs = {} if kl_weight is None else {"kl_weight": kl_weight}
        case = f"logits {(batch, pos, vocab)}, " + (
            f"kl_weight={kl_weight}" if kwargs else "the default kl_weight"
        )
        weight = 1.0 if kl_weight is None else kl_weight
        p, n = probe.clone().requires_grad_(True), new.clone().requires_grad_(True)
        raw = check.call(
            obfuscation_loss, p, n, ref.clone(), case=case, what="obfuscation_loss", **kwargs
        )
        got = check.expect_number(raw, case=case, what="obfuscation_loss's result")
        kp, kn = probe.clone().requires_grad_(True), new.clone().requires_grad_(True)
        expected = reference.obfuscation_loss(kp, kn, ref, weight)
        r, q = ref.log_softmax(-1), new.log_softmax(-1)
        kl = (r.exp() * (r - q)).sum(-1).mean()
        check.compare(
            got,
            expected.detach(),
            case=case,
            what="the loss",
            atol=1e-4,
            mistakes={
                "softplus(-logit), the cross-entropy towards 'harmful' instead of "
                "'harmless',": F.softplus(-probe).mean() + weight * kl,
                "KL(new || reference), the arguments swapped,": F.softplus(probe).mean()
                + weight * (q.exp() * (q - r)).sum(-1).mean(),
                "ignoring kl_weight": F.softplus(probe).mean() + kl,
                "the KL at the last position only": F.softplus(probe).mean()
                + weight * (r.exp() * (r - q)).sum(-1)[:, -1].mean(),
            },
        )
        if not (isinstance(raw, torch.Tensor) and raw.requires_grad):
            check.fail(
                "the loss carries no gradient: keep it a tensor built from the inputs "
                "(no .item()).",
                case=case,
            )
        raw.backward()
        expected.backward()
        for name, mine, key in [("probe_logits", p, kp), ("new_logits", n, kn)]:
            if mine.grad is None:
                check.fail(f"no gradient reached {name}.", case=case)
            check.compare(
                mine.grad, key.grad, case=case, what=f"the gradient w.r.t. {name}", atol=1e-5
            )
    check.passed(f"{len(cases)} cases, values and gradients")

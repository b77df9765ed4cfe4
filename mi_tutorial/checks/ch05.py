"""Self-checks for chapter 05, sparse autoencoders.

The trusted answers come from `mi_tutorial.checks._keys.sae`. The SAE checks load random
weights into the learner's module (or hand the learner's function a reference `SAE`, which
has the same `encode`, `decode`, `W_dec` and `normalize_decoder`), with decoder rows that
are *not* unit norm and a non-zero `b_dec`, so that a forgotten norm or bias shows. Where a
typical mistake is known, the check computes what it would output, so a failure names it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mi_tutorial.checks._cases_ch05 import (
    as_learners_class,
    gen as _gen,
    ref_sae,
    reference_step,
    x_batch,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._health_ch05 import check_aux_k_loss, check_dead_and_dense
from mi_tutorial.checks._keys import sae as ref  # the answer keys, written apart from the solutions
from mi_tutorial.checks._lm_ch05 import (
    check_ce_loss_recovered,
    check_clamp_latent_hook,
    check_precision_recall,
    check_top_activations,
)

__all__ = [  # in exercise order; those of Part 4 (5.9 to 5.12) live in _lm_ch05
    "check_aux_k_loss",
    "check_ce_loss_recovered",
    "check_clamp_latent_hook",
    "check_dead_and_dense",
    "check_explained_variance",
    "check_feature_recovery",
    "check_precision_recall",
    "check_relu_sae_loss",
    "check_sparse_autoencoder",
    "check_top_activations",
    "check_topk_activation",
    "check_training_step",
]


def _float(check: Check, got, *, case: str, what: str) -> Tensor:
    """A Python float, as the signature promises (`-> float`), as a float64 0-d tensor."""
    check.expect_type(got, float, case=case, what=what)
    return torch.tensor(got, dtype=torch.float64)


# --- Exercise 5.1 ------------------------------------------------------------------------------


def check_topk_activation(topk_activation) -> None:
    check = Check("Exercise 5.1 — topk_activation")
    check.expect_callable(topk_activation, "topk_activation")
    cases = [
        (
            "random pre-activations, batch 4, d_sae 12, k 3",
            torch.randn(4, 12, generator=_gen(1)),
            3,
        ),
        (
            "mostly negative pre-activations (fewer than k positive), k 5",
            torch.randn(3, 10, generator=_gen(2)) - 1.5,
            5,
        ),
        ("one row, k = d_sae", torch.randn(1, 6, generator=_gen(3)), 6),
        ("batch 8, d_sae 50, k 1", torch.randn(8, 50, generator=_gen(4)), 1),
    ]
    for case, pre, k in cases:
        got = check.call(topk_activation, pre, k, case=case, what="topk_activation")
        top = pre.topk(k, dim=-1)
        smallest = pre.topk(k, dim=-1, largest=False)
        by_abs = pre.abs().topk(k, dim=-1).indices
        check.compare(
            got,
            ref.topk_activation(pre, k),
            case=case,
            what="the activations",
            mistakes={
                "keeping the k smallest pre-activations (topk(..., largest=False))": torch.zeros_like(
                    pre
                ).scatter(-1, smallest.indices, smallest.values.relu()),
                "forgetting the ReLU on the kept values": torch.zeros_like(pre).scatter(
                    -1, top.indices, top.values
                ),
                "keeping the k largest by absolute value": torch.zeros_like(pre).scatter(
                    -1, by_abs, pre.gather(-1, by_abs).relu()
                ),
            },
            hint="keep the k largest entries of each row (along the last axis), ReLU them, zeros elsewhere.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.2 ------------------------------------------------------------------------------


def _learner_sae(
    check: Check, SparseAutoencoder, reference: ref.SAE, k: int | None, case: str
) -> nn.Module:
    seed = 7 + reference.cfg.d_sae  # any seed: the weights are replaced next
    with torch.random.fork_rng():
        sae = check.call(
            SparseAutoencoder,
            reference.cfg.d_in,
            reference.cfg.d_sae,
            k,
            seed=seed,
            case=case,
            what=f"SparseAutoencoder({reference.cfg.d_in}, {reference.cfg.d_sae}, k={k}, seed={seed})",
        )
    state = {
        name: getattr(reference, name).detach().clone()
        for name in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    try:
        sae.load_state_dict(state, strict=True)
    except RuntimeError:
        check.fail(
            f"could not load weights into your SparseAutoencoder: its parameters are "
            f"{sorted(sae.state_dict())}; the check expects W_enc, b_enc, W_dec, b_dec with SAELens's shapes.",
            hint="keep __init__ as given.",
        )
    return sae


def check_sparse_autoencoder(SparseAutoencoder) -> None:
    check = Check("Exercise 5.2 — SparseAutoencoder")
    check.expect_class(SparseAutoencoder, nn.Module, "SparseAutoencoder")
    n_cases = 0
    for k, (d_in, d_sae, batch, seed) in [
        (None, (6, 10, 5, 0)),
        (None, (16, 40, 32, 1)),
        (3, (6, 10, 5, 2)),
        (4, (16, 40, 32, 3)),
    ]:
        reference = ref_sae(d_in, d_sae, k, seed)
        kind = "ReLU" if k is None else f"TopK k={k}"
        case = f"{kind} SAE, d_in {d_in}, d_sae {d_sae}, random weights (decoder rows not unit norm, b_dec != 0)"
        sae = _learner_sae(check, SparseAutoencoder, reference, k, case)
        x = x_batch(batch, d_in, seed)
        W_enc, b_enc, W_dec, b_dec = (
            getattr(reference, n).detach() for n in ("W_enc", "b_enc", "W_dec", "b_dec")
        )
        act = reference.activation
        with torch.no_grad():
            f = check.call(sae.encode, x, case=case, what="encode")
            check.compare(
                f,
                reference.encode(x),
                case=case,
                what="encode's latent activations",
                dtype=True,
                mistakes={
                    "forgetting the pre-encoder bias (not subtracting b_dec before the encoder)": act(
                        x @ W_enc + b_enc
                    ),
                    "adding b_dec before the encoder instead of subtracting it": act(
                        (x + b_dec) @ W_enc + b_enc
                    ),
                    "leaving out b_enc": act((x - b_dec) @ W_enc),
                    "a ReLU where the TopK activation belongs (or the reverse)": (
                        (x - b_dec) @ W_enc + b_enc
                    ).relu()
                    if k
                    else ref.topk_activation((x - b_dec) @ W_enc + b_enc, 3),
                },
            )
            f = reference.encode(x)
            got = check.call(sae.decode, f, case=case, what="decode")
            check.compare(
                got,
                reference.decode(f),
                case=case,
                what="decode's reconstruction",
                dtype=True,
                mistakes={
                    "leaving out b_dec": f @ W_dec,
                    "using W_enc's transpose instead of W_dec": f @ W_enc.T + b_dec,
                },
            )
        # Training goes through forward: its gradients w.r.t. every weight and the input must be right.
        x_mine, x_theirs = (
            x.clone().requires_grad_(True),
            x.clone().requires_grad_(True),
        )
        got = check.call(sae, x_mine, case=case, what="forward")
        expected = reference(x_theirs)
        check.compare(got, expected, case=case, what="forward's reconstruction")
        wrt = {
            name: (getattr(sae, name), getattr(reference, name))
            for name in ("W_enc", "b_enc", "W_dec", "b_dec")
        }
        check.compare_gradients(
            got,
            expected,
            {**wrt, "x": (x_mine, x_theirs)},
            case=case,
            what="the reconstruction",
        )
        parameter = sae.W_dec
        check.call(sae.normalize_decoder, case=case, what="normalize_decoder")
        if sae.W_dec is not parameter:
            check.fail(
                "normalize_decoder replaced W_dec by a new tensor; change the Parameter in place "
                "(self.W_dec /= ..., under torch.no_grad()) so the optimizer keeps training it.",
                case=case,
            )
        check.compare(
            sae.W_dec.detach(),
            W_dec / W_dec.norm(dim=-1, keepdim=True),
            case=case,
            what="W_dec after normalize_decoder",
            mistakes={
                "normalizing the columns of W_dec (dim=0) instead of its rows": W_dec
                / W_dec.norm(dim=0, keepdim=True),
                "leaving the decoder not normalized": W_dec,
            },
            hint="each row W_dec[i] is one latent's direction: divide it by its own norm (dim=-1).",
        )
        n_cases += 1
    check.passed(
        f"{n_cases} SAEs, ReLU and TopK: encode, decode, their gradients, normalize_decoder"
    )


# --- Exercise 5.3 ------------------------------------------------------------------------------


def check_relu_sae_loss(relu_sae_loss) -> None:
    check = Check("Exercise 5.3 — relu_sae_loss")
    check.expect_callable(relu_sae_loss, "relu_sae_loss")
    cases = [(6, 10, 5, 0, 0.5), (16, 40, 64, 1, 0.05), (8, 8, 1, 2, 2.0)]
    for d_in, d_sae, batch, seed, l1_coefficient in cases:
        reference = ref_sae(d_in, d_sae, None, seed)
        sae = as_learners_class(relu_sae_loss, "sae", reference)
        x = x_batch(batch, d_in, seed)
        x_mine = x.clone().requires_grad_(True)
        case = f"d_in {d_in}, d_sae {d_sae}, batch {batch}, l1_coefficient {l1_coefficient}, decoder rows not unit norm"
        out = check.call(
            relu_sae_loss, sae, x_mine, l1_coefficient, case=case, what="relu_sae_loss"
        )
        if not (isinstance(out, tuple) and len(out) == 3):
            check.fail(
                f"relu_sae_loss should return a tuple (loss, mse, l1), got {type(out).__name__}.",
                case=case,
            )
        loss, mse, l1 = out
        if not (isinstance(loss, Tensor) and loss.requires_grad):
            check.fail(
                "the loss must be a tensor that still depends on the SAE's weights (no .item(), no "
                "torch.no_grad()), so that loss.backward() can train them.",
                case=case,
            )
        x_theirs = x.clone().requires_grad_(True)
        exp_loss, exp_mse, exp_l1 = ref.relu_sae_loss(reference, x_theirs, l1_coefficient)
        with torch.no_grad():
            f, x_hat = reference.encode(x), reference.forward(x)
            norms = reference.W_dec.norm(dim=-1)
            plain_l1 = f.sum(-1).mean()
            mean_mse = (x_hat - x).pow(2).mean()
        for got, expected, what, mistakes, hint in (
            (
                mse,
                exp_mse,
                "mse",
                {"averaging the squared error over d_in instead of summing it": mean_mse},
                None,
            ),
            (
                l1,
                exp_l1,
                "l1",
                {
                    "the L1 penalty without the decoder norms (Σ f_i instead of Σ f_i ‖W_dec[i]‖)": plain_l1,
                    "summing the penalty over the batch instead of averaging": (f * norms).sum(),
                },
                "l1 = mean over the batch of Σ_i f_i ‖W_dec[i]‖.",
            ),
            (
                loss,
                exp_loss,
                "loss",
                {"forgetting l1_coefficient": exp_mse + exp_l1},
                None,
            ),
        ):
            if isinstance(got, Tensor) and got.numel() == 1:
                check.expect_dtype(got, torch.float32, case=case, what=what)
                got = got.reshape(())
            check.compare(
                got,
                expected.detach(),
                case=case,
                what=what,
                mistakes=mistakes,
                hint=hint,
            )
        wrt = {
            name: (getattr(sae, name), getattr(reference, name))
            for name in ("W_enc", "b_enc", "W_dec", "b_dec")
        }
        check.compare_gradients(
            loss.reshape(()),
            exp_loss,
            {**wrt, "x": (x_mine, x_theirs)},
            case=case,
            what="the loss",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.4 ------------------------------------------------------------------------------


def check_training_step(training_step) -> None:
    check = Check("Exercise 5.4 — training_step")
    check.expect_callable(training_step, "training_step")
    cases = [
        (6, 12, None, 0, 0.3, "SGD", 0.05),
        (8, 16, 3, 1, 0.0, "SGD", 0.05),
        (5, 10, None, 2, 1.0, "Adam", 0.01),
    ]
    for d_in, d_sae, k, seed, l1_coefficient, name, lr in cases:
        kind = "ReLU" if k is None else f"TopK k={k}"
        case = f"{kind} SAE, d_in {d_in}, d_sae {d_sae}, l1_coefficient {l1_coefficient}, {name}(lr={lr}), two steps"
        theirs = ref_sae(d_in, d_sae, k, seed)
        mine = as_learners_class(training_step, "sae", ref_sae(d_in, d_sae, k, seed))
        opt_mine = getattr(torch.optim, name)(mine.parameters(), lr=lr)
        opt_theirs = getattr(torch.optim, name)(theirs.parameters(), lr=lr)
        for step in range(2):
            x = x_batch(32, d_in, seed + 10 * step)
            got = check.call(
                training_step,
                mine,
                x,
                opt_mine,
                l1_coefficient,
                case=case,
                what="training_step",
                mutates=("sae",),
            )
            expected = reference_step(theirs, x, opt_theirs, l1_coefficient)
            check.compare(
                _float(check, got, case=case, what="training_step's return value"),
                torch.tensor(expected, dtype=torch.float64),
                case=f"{case}, step {step + 1}",
                what="the returned loss",
                hint="return the loss of this batch, computed before the update, as loss.item().",
            )
            norms = mine.W_dec.detach().norm(dim=-1)
            if not torch.allclose(norms, torch.ones_like(norms), atol=1e-4):
                check.fail(
                    f"after step {step + 1}, the decoder rows have norms from {norms.min():.3f} to "
                    f"{norms.max():.3f}; they should all be 1.",
                    case=case,
                    hint="call sae.normalize_decoder() after optimizer.step(): the update moves the rows off unit norm.",
                )
            for param in ("W_enc", "b_enc", "W_dec", "b_dec"):
                check.compare(
                    getattr(mine, param).detach(),
                    getattr(theirs, param).detach(),
                    case=f"{case}, step {step + 1}",
                    what=f"{param} after the step",
                    hint="zero the gradients before backward (optimizer.zero_grad()), or each step adds the "
                    "previous gradients again; then optimizer.step(), then normalize_decoder()."
                    if step == 1
                    else "loss.backward(), optimizer.step(), then sae.normalize_decoder().",
                )
    check.passed("ReLU and TopK SAEs, SGD and Adam, two steps each")


# --- Exercise 5.5 ------------------------------------------------------------------------------


def check_feature_recovery(feature_recovery) -> None:
    check = Check("Exercise 5.5 — feature_recovery")
    check.expect_callable(feature_recovery, "feature_recovery")
    g = _gen(5)
    true = torch.randn(6, 4, generator=g) * 3
    near = true / true.norm(dim=-1, keepdim=True) + 0.2 * torch.randn(6, 4, generator=g)
    cases = [
        (
            "random decoder (12 latents) and true features (5), both not unit norm",
            torch.randn(12, 8, generator=g) * 2,
            torch.randn(5, 8, generator=g) * 0.5,
        ),
        (
            "a decoder holding noisy copies of the features plus 4 extra latents, one antiparallel",
            torch.cat([near * 2, -true[:1], torch.randn(3, 4, generator=g)]),
            true,
        ),
        (
            "fewer latents (3) than true features (7)",
            torch.randn(3, 5, generator=g),
            torch.randn(7, 5, generator=g),
        ),
    ]
    for case, W_dec, directions in cases:
        got = check.call(feature_recovery, W_dec, directions, case=case, what="feature_recovery")
        dec_u = W_dec / W_dec.norm(dim=-1, keepdim=True)
        true_u = directions / directions.norm(dim=-1, keepdim=True)
        cos = true_u @ dec_u.T
        check.compare(
            _float(check, got, case=case, what="feature_recovery's result"),
            ref.feature_recovery(W_dec, directions).double(),
            case=case,
            what="the recovery",
            mistakes={
                "taking, for each latent, the best feature (the max over the wrong axis)": cos.max(
                    dim=0
                )
                .values.mean()
                .double(),
                "dot products without normalizing (not cosines)": (directions @ W_dec.T)
                .max(dim=1)
                .values.mean()
                .double(),
                "the absolute value of the cosine (an antiparallel latent is not the feature)": cos.abs()
                .max(dim=1)
                .values.mean()
                .double(),
                "the mean of all the cosines instead of each feature's best": cos.mean().double(),
            },
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.6 ------------------------------------------------------------------------------


def check_explained_variance(explained_variance) -> None:
    check = Check("Exercise 5.6 — explained_variance")
    check.expect_callable(explained_variance, "explained_variance")
    g = _gen(6)
    x = (
        torch.randn(50, 6, generator=g) * torch.tensor([5.0, 1, 1, 0.2, 3, 1]) + 4.0
    )  # uneven scales, non-zero mean
    cases = [
        (
            "a noisy reconstruction of data with a non-zero mean and uneven scales",
            x,
            x + 0.8 * torch.randn(50, 6, generator=g),
        ),
        (
            "reconstruction = the mean vector (explained variance 0)",
            x,
            x.mean(0).expand_as(x).clone(),
        ),
        ("a perfect reconstruction", x[:7], x[:7].clone()),
        ("a shrunk reconstruction (every vector times 0.7)", x[:20], 0.7 * x[:20]),
    ]
    for case, data, recon in cases:
        got = check.call(explained_variance, data, recon, case=case, what="explained_variance")
        residual = (data - recon).pow(2)
        centred = (data - data.mean(0)).pow(2)
        check.compare(
            _float(check, got, case=case, what="explained_variance's result"),
            ref.explained_variance(data, recon).double(),
            case=case,
            what="the explained variance",
            mistakes={
                "averaging a ratio per token (SAELens's old `explained_variance_legacy`)": (
                    1 - residual.sum(-1) / centred.sum(-1)
                )
                .mean()
                .double(),
                "computing it per dimension (per feature) and averaging": (
                    1 - residual.sum(0) / centred.sum(0)
                )
                .mean()
                .double(),
                "not subtracting the mean (dividing by Σ‖x‖²)": (
                    1 - residual.sum() / data.pow(2).sum()
                ).double(),
                "returning the unexplained fraction (forgetting the 1 -)": (
                    residual.sum() / centred.sum()
                ).double(),
            },
            hint="pool: one sum of squared errors over all tokens and dimensions, one sum of squared deviations "
            "from the mean vector, then 1 - ratio.",
        )
    check.passed(f"{len(cases)} cases")

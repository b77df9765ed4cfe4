"""Self-checks for chapter 05, sparse autoencoders.

The trusted answers come from `mi_tutorial.sae`. The SAE checks load random
weights into the learner's module (or hand the learner's function a reference `SAE`, which
has the same `encode`, `decode`, `W_dec` and `normalize_decoder`), with decoder rows that
are *not* unit norm and a non-zero `b_dec`, so that a forgotten norm or bias shows. Where a
typical mistake is known, the check computes what it would output, so a failure names it.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from mi_tutorial import models
from mi_tutorial.checks._core import Check
from mi_tutorial import sae as ref
from mi_tutorial.metrics import lm_loss


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ref_sae(d_in: int, d_sae: int, k: int | None, seed: int) -> ref.SAE:
    """A reference SAE with random weights: decoder norms from 0.5 to 2, non-zero biases."""
    cfg = ref.SAEConfig(d_in=d_in, d_sae=d_sae, architecture="topk" if k else "standard", k=k)
    sae = ref.SAE(cfg, seed=seed)
    g = _gen(100 + seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=g) / d_in**0.5)
        sae.b_enc.copy_(0.3 * torch.randn(d_sae, generator=g))
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=g))
        sae.W_dec.mul_((0.5 + 1.5 * torch.rand(d_sae, 1, generator=g)) / sae.W_dec.norm(dim=-1, keepdim=True))
        sae.b_dec.copy_(torch.randn(d_in, generator=g))
    return sae.eval()


def _x(batch: int, d_in: int, seed: int, scale: float = 1.5) -> Tensor:
    return scale * torch.randn(batch, d_in, generator=_gen(200 + seed))


def _as_tensor(check: Check, value, *, case: str, what: str) -> Tensor:
    """A Python number or a 0-d tensor as a float64 0-d tensor; anything else fails."""
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.detach().reshape(()).double()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    check.fail(f"{what} should be a number (a Python float), got {type(value).__name__} {value!r:.60}.", case=case)


# --- Exercise 5.1 ------------------------------------------------------------------------------


def check_topk_activation(topk_activation) -> None:
    check = Check("Exercise 5.1 — topk_activation")
    check.expect_callable(topk_activation, "topk_activation")
    cases = [
        ("random pre-activations, batch 4, d_sae 12, k 3", torch.randn(4, 12, generator=_gen(1)), 3),
        ("mostly negative pre-activations (fewer than k positive), k 5", torch.randn(3, 10, generator=_gen(2)) - 1.5, 5),
        ("one row, k = d_sae", torch.randn(1, 6, generator=_gen(3)), 6),
        ("batch 8, d_sae 50, k 1", torch.randn(8, 50, generator=_gen(4)), 1),
    ]
    for case, pre, k in cases:
        got = check.call(topk_activation, pre.clone(), k, case=case, what="topk_activation")
        top = pre.topk(k, dim=-1)
        smallest = pre.topk(k, dim=-1, largest=False)
        by_abs = pre.abs().topk(k, dim=-1).indices
        check.compare(
            got, ref.topk_activation(pre, k), case=case, what="the activations",
            mistakes={
                "keeping the k smallest pre-activations (topk(..., largest=False))":
                    torch.zeros_like(pre).scatter(-1, smallest.indices, smallest.values.relu()),
                "forgetting the ReLU on the kept values": torch.zeros_like(pre).scatter(-1, top.indices, top.values),
                "keeping the k largest by absolute value": torch.zeros_like(pre).scatter(-1, by_abs, pre.gather(-1, by_abs).relu()),
            },
            hint="keep the k largest entries of each row (along the last axis), ReLU them, zeros elsewhere.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.2 ------------------------------------------------------------------------------


def _learner_sae(check: Check, SparseAutoencoder, reference: ref.SAE, k: int | None, case: str) -> nn.Module:
    sae = check.call(SparseAutoencoder, reference.cfg.d_in, reference.cfg.d_sae, k, case=case,
                     what=f"SparseAutoencoder({reference.cfg.d_in}, {reference.cfg.d_sae}, k={k})")
    state = {name: getattr(reference, name).detach().clone() for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    try:
        sae.load_state_dict(state, strict=True)
    except RuntimeError:
        check.fail(f"could not load weights into your SparseAutoencoder: its parameters are "
                   f"{sorted(sae.state_dict())}; the check expects W_enc, b_enc, W_dec, b_dec with SAELens's shapes.",
                   hint="keep __init__ as given.")
    return sae


def check_sparse_autoencoder(SparseAutoencoder) -> None:
    check = Check("Exercise 5.2 — SparseAutoencoder")
    check.expect_class(SparseAutoencoder, nn.Module, "SparseAutoencoder")
    n_cases = 0
    for k, (d_in, d_sae, batch, seed) in [(None, (6, 10, 5, 0)), (None, (16, 40, 32, 1)), (3, (6, 10, 5, 2)), (4, (16, 40, 32, 3))]:
        reference = _ref_sae(d_in, d_sae, k, seed)
        kind = "ReLU" if k is None else f"TopK k={k}"
        case = f"{kind} SAE, d_in {d_in}, d_sae {d_sae}, random weights (decoder rows not unit norm, b_dec != 0)"
        sae = _learner_sae(check, SparseAutoencoder, reference, k, case)
        x = _x(batch, d_in, seed)
        W_enc, b_enc, W_dec, b_dec = (getattr(reference, n).detach() for n in ("W_enc", "b_enc", "W_dec", "b_dec"))
        act = reference.activation
        with torch.no_grad():
            f = check.call(sae.encode, x.clone(), case=case, what="encode")
            check.compare(
                f, reference.encode(x), case=case, what="encode's latent activations",
                mistakes={
                    "forgetting the pre-encoder bias (not subtracting b_dec before the encoder)": act(x @ W_enc + b_enc),
                    "adding b_dec before the encoder instead of subtracting it": act((x + b_dec) @ W_enc + b_enc),
                    "leaving out b_enc": act((x - b_dec) @ W_enc),
                    "a ReLU where the TopK activation belongs (or the reverse)":
                        ((x - b_dec) @ W_enc + b_enc).relu() if k else ref.topk_activation((x - b_dec) @ W_enc + b_enc, 3),
                },
            )
            f = reference.encode(x)
            got = check.call(sae.decode, f.clone(), case=case, what="decode")
            check.compare(got, reference.decode(f), case=case, what="decode's reconstruction",
                          mistakes={"leaving out b_dec": f @ W_dec, "using W_enc's transpose instead of W_dec": f @ W_enc.T + b_dec})
        parameter = sae.W_dec
        check.call(sae.normalize_decoder, case=case, what="normalize_decoder")
        if sae.W_dec is not parameter:
            check.fail("normalize_decoder replaced W_dec by a new tensor; change the Parameter in place "
                       "(self.W_dec /= ..., under torch.no_grad()) so the optimizer keeps training it.", case=case)
        check.compare(
            sae.W_dec.detach(), W_dec / W_dec.norm(dim=-1, keepdim=True), case=case, what="W_dec after normalize_decoder",
            mistakes={
                "normalizing the columns of W_dec (dim=0) instead of its rows": W_dec / W_dec.norm(dim=0, keepdim=True),
                "leaving the decoder not normalized": W_dec,
            },
            hint="each row W_dec[i] is one latent's direction: divide it by its own norm (dim=-1).",
        )
        n_cases += 1
    check.passed(f"{n_cases} SAEs, ReLU and TopK: encode, decode, normalize_decoder")


# --- Exercise 5.3 ------------------------------------------------------------------------------


def check_relu_sae_loss(relu_sae_loss) -> None:
    check = Check("Exercise 5.3 — relu_sae_loss")
    check.expect_callable(relu_sae_loss, "relu_sae_loss")
    cases = [(6, 10, 5, 0, 0.5), (16, 40, 64, 1, 0.05), (8, 8, 1, 2, 2.0)]
    for d_in, d_sae, batch, seed, l1_coefficient in cases:
        sae = _ref_sae(d_in, d_sae, None, seed)
        x = _x(batch, d_in, seed)
        case = f"d_in {d_in}, d_sae {d_sae}, batch {batch}, l1_coefficient {l1_coefficient}, decoder rows not unit norm"
        out = check.call(relu_sae_loss, sae, x.clone(), l1_coefficient, case=case, what="relu_sae_loss")
        if not (isinstance(out, tuple) and len(out) == 3):
            check.fail(f"relu_sae_loss should return a tuple (loss, mse, l1), got {type(out).__name__}.", case=case)
        loss, mse, l1 = out
        if not (isinstance(loss, Tensor) and loss.requires_grad):
            check.fail("the loss must be a tensor that still depends on the SAE's weights (no .item(), no "
                       "torch.no_grad()), so that loss.backward() can train them.", case=case)
        with torch.no_grad():
            f, x_hat = sae.encode(x), sae.forward(x)
            norms = sae.W_dec.norm(dim=-1)
            exp_loss, exp_mse, exp_l1 = ref.relu_sae_loss(sae, x, l1_coefficient)
            plain_l1 = f.sum(-1).mean()
            mean_mse = (x_hat - x).pow(2).mean()
            check.compare(mse.detach().reshape(()), exp_mse, case=case, what="mse",
                          mistakes={"averaging the squared error over d_in instead of summing it": mean_mse})
            check.compare(l1.detach().reshape(()), exp_l1, case=case, what="l1",
                          mistakes={"the L1 penalty without the decoder norms (Σ f_i instead of Σ f_i ‖W_dec[i]‖)": plain_l1,
                                    "summing the penalty over the batch instead of averaging": (f * norms).sum()},
                          hint="l1 = mean over the batch of Σ_i f_i ‖W_dec[i]‖.")
            check.compare(loss.detach().reshape(()), exp_loss, case=case, what="loss",
                          mistakes={"forgetting l1_coefficient": exp_mse + exp_l1})
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.4 ------------------------------------------------------------------------------


def _reference_step(sae: ref.SAE, x: Tensor, optimizer, l1_coefficient: float) -> float:
    loss, _, _ = ref.relu_sae_loss(sae, x, l1_coefficient)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    sae.normalize_decoder()
    return loss.item()


def check_training_step(training_step) -> None:
    check = Check("Exercise 5.4 — training_step")
    check.expect_callable(training_step, "training_step")
    for d_in, d_sae, k, seed, l1_coefficient in [(6, 12, None, 0, 0.3), (8, 16, 3, 1, 0.0)]:
        kind = "ReLU" if k is None else f"TopK k={k}"
        case = f"{kind} SAE, d_in {d_in}, d_sae {d_sae}, SGD(lr=0.05), two steps on two batches"
        mine, theirs = _ref_sae(d_in, d_sae, k, seed), _ref_sae(d_in, d_sae, k, seed)
        opt_mine = torch.optim.SGD(mine.parameters(), lr=0.05)
        opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.05)
        for step in range(2):
            x = _x(32, d_in, seed + 10 * step)
            got = check.call(training_step, mine, x.clone(), opt_mine, l1_coefficient, case=case, what="training_step")
            expected = _reference_step(theirs, x, opt_theirs, l1_coefficient)
            check.compare(_as_tensor(check, got, case=case, what="training_step's return value"),
                          torch.tensor(expected, dtype=torch.float64), case=f"{case}, step {step + 1}",
                          what="the returned loss", hint="return the loss of this batch, computed before the update, as loss.item().")
            norms = mine.W_dec.detach().norm(dim=-1)
            if not torch.allclose(norms, torch.ones_like(norms), atol=1e-4):
                check.fail(f"after step {step + 1}, the decoder rows have norms from {norms.min():.3f} to "
                           f"{norms.max():.3f}; they should all be 1.", case=case,
                           hint="call sae.normalize_decoder() after optimizer.step(): the update moves the rows off unit norm.")
            for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
                check.compare(getattr(mine, name).detach(), getattr(theirs, name).detach(), case=f"{case}, step {step + 1}",
                              what=f"{name} after the step",
                              hint="zero the gradients before backward (optimizer.zero_grad()), or each step adds the "
                                   "previous gradients again; then optimizer.step(), then normalize_decoder()."
                                   if step == 1 else "loss.backward(), optimizer.step(), then sae.normalize_decoder().")
    check.passed("ReLU and TopK SAEs, two steps each")


# --- Exercise 5.5 ------------------------------------------------------------------------------


def check_feature_recovery(feature_recovery) -> None:
    check = Check("Exercise 5.5 — feature_recovery")
    check.expect_callable(feature_recovery, "feature_recovery")
    g = _gen(5)
    true = torch.randn(6, 4, generator=g) * 3
    near = true / true.norm(dim=-1, keepdim=True) + 0.2 * torch.randn(6, 4, generator=g)
    cases = [
        ("random decoder (12 latents) and true features (5), both not unit norm",
         torch.randn(12, 8, generator=g) * 2, torch.randn(5, 8, generator=g) * 0.5),
        ("a decoder holding noisy copies of the features plus 4 extra latents, one antiparallel",
         torch.cat([near * 2, -true[:1], torch.randn(3, 4, generator=g)]), true),
        ("fewer latents (3) than true features (7)", torch.randn(3, 5, generator=g), torch.randn(7, 5, generator=g)),
    ]
    for case, W_dec, directions in cases:
        got = check.call(feature_recovery, W_dec.clone(), directions.clone(), case=case, what="feature_recovery")
        dec_u = W_dec / W_dec.norm(dim=-1, keepdim=True)
        true_u = directions / directions.norm(dim=-1, keepdim=True)
        cos = true_u @ dec_u.T
        check.compare(
            _as_tensor(check, got, case=case, what="feature_recovery's result"),
            ref.feature_recovery(W_dec, directions).double(), case=case, what="the recovery",
            mistakes={
                "taking, for each latent, the best feature (the max over the wrong axis)": cos.max(dim=0).values.mean().double(),
                "dot products without normalizing (not cosines)": (directions @ W_dec.T).max(dim=1).values.mean().double(),
                "the absolute value of the cosine (an antiparallel latent is not the feature)": cos.abs().max(dim=1).values.mean().double(),
            },
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.6 ------------------------------------------------------------------------------


def check_explained_variance(explained_variance) -> None:
    check = Check("Exercise 5.6 — explained_variance")
    check.expect_callable(explained_variance, "explained_variance")
    g = _gen(6)
    x = torch.randn(50, 6, generator=g) * torch.tensor([5.0, 1, 1, 0.2, 3, 1]) + 4.0  # uneven scales, non-zero mean
    cases = [
        ("a noisy reconstruction of data with a non-zero mean and uneven scales", x, x + 0.8 * torch.randn(50, 6, generator=g)),
        ("reconstruction = the mean vector (explained variance 0)", x, x.mean(0).expand_as(x).clone()),
        ("a perfect reconstruction", x[:7], x[:7].clone()),
        ("a shrunk reconstruction (every vector times 0.7)", x[:20], 0.7 * x[:20]),
    ]
    for case, data, recon in cases:
        got = check.call(explained_variance, data.clone(), recon.clone(), case=case, what="explained_variance")
        residual = (data - recon).pow(2)
        centred = (data - data.mean(0)).pow(2)
        check.compare(
            _as_tensor(check, got, case=case, what="explained_variance's result"),
            ref.explained_variance(data, recon).double(), case=case, what="the explained variance",
            mistakes={
                "averaging a ratio per token (SAELens's old `explained_variance_legacy`)":
                    (1 - residual.sum(-1) / centred.sum(-1)).mean().double(),
                "computing it per dimension (per feature) and averaging": (1 - residual.sum(0) / centred.sum(0)).mean().double(),
                "not subtracting the mean (dividing by Σ‖x‖²)": (1 - residual.sum() / data.pow(2).sum()).double(),
                "returning the unexplained fraction (forgetting the 1 -)": (residual.sum() / centred.sum()).double(),
            },
            hint="pool: one sum of squared errors over all tokens and dimensions, one sum of squared deviations "
                 "from the mean vector, then 1 - ratio.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.7 ------------------------------------------------------------------------------


def check_dead_and_dense(dead_and_dense) -> None:
    check = Check("Exercise 5.7 — dead_and_dense")
    check.expect_callable(dead_and_dense, "dead_and_dense")
    g = _gen(7)
    fires = torch.rand(200, 8, generator=g) < torch.tensor([0.0, 0.02, 0.5, 0.09, 0.3, 0.0, 1.0, 0.12])
    f = fires * (torch.rand(200, 8, generator=g) * 4)  # strong but rare activations on some latents
    f[:, 3] *= 10
    cases = [("200 tokens, 8 latents of known densities", f, 0.1), ("the same with dense_threshold 0.4", f, 0.4),
             ("one token", f[:1], 0.1)]
    for case, acts, threshold in cases:
        out = check.call(dead_and_dense, acts.clone(), threshold, case=case, what="dead_and_dense")
        if not (isinstance(out, tuple) and len(out) == 2):
            check.fail(f"dead_and_dense should return a tuple (dead, dense), got {type(out).__name__}.", case=case)
        dead, dense = ref.dead_and_dense(acts, threshold)
        by_mean = acts.mean(0) > threshold
        for got, expected, what in ((out[0], dead, "the dead mask"), (out[1], dense, "the dense mask")):
            if isinstance(got, Tensor) and got.dtype != torch.bool:
                check.fail(f"{what} should be a boolean tensor, got dtype {got.dtype}.", case=case,
                           hint="a comparison such as density == 0 gives booleans.")
            check.compare(got, expected, case=case, what=what,
                          mistakes={"thresholding the mean activation instead of the firing frequency": by_mean}
                          if what == "the dense mask" else None)
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.8 ------------------------------------------------------------------------------


def check_aux_k_loss(aux_k_loss) -> None:
    check = Check("Exercise 5.8 — aux_k_loss")
    check.expect_callable(aux_k_loss, "aux_k_loss")
    g = _gen(8)
    d_sae, d_in = 12, 5
    pre = torch.randn(16, d_sae, generator=g)
    pre[:, :4] += 2.0  # live latents with large pre-activations: picking them is a visible mistake
    pre[:, 9] -= 3.0  # a dead latent whose pre-activations are all negative
    W_dec = torch.randn(d_sae, d_in, generator=g)
    residual = torch.randn(16, d_in, generator=g)
    some_dead = torch.zeros(d_sae, dtype=torch.bool)
    some_dead[[4, 6, 7, 9, 10, 11]] = True
    few_dead = torch.zeros(d_sae, dtype=torch.bool)
    few_dead[[5, 8]] = True
    cases = [
        ("6 dead latents, k_aux 3", some_dead, 3),
        ("2 dead latents, k_aux 4 (fewer dead than k_aux)", few_dead, 4),
        ("no dead latent", torch.zeros(d_sae, dtype=torch.bool), 3),
        ("every latent dead, k_aux 5", torch.ones(d_sae, dtype=torch.bool), 5),
    ]
    for case, dead, k_aux in cases:
        got = check.call(aux_k_loss, pre.clone(), dead.clone(), residual.clone(), W_dec.clone(), k_aux, case=case, what="aux_k_loss")
        if isinstance(got, (int, float)):
            got = torch.tensor(float(got))
        if isinstance(got, Tensor) and not torch.isfinite(got).all():
            check.fail(f"the loss is {got.flatten()[0].item()}, not a number.", case=case,
                       hint="with fewer dead latents than k_aux, topk also picks -inf entries: ask for min(k_aux, n_dead).")
        expected = ref.aux_k_loss(pre, dead, residual, W_dec, k_aux)
        n_pick = max(1, min(k_aux, int(dead.sum())))
        unmasked = pre.topk(k_aux, dim=-1)
        unmasked = torch.zeros_like(pre).scatter(-1, unmasked.indices, unmasked.values)
        picked = pre.masked_fill(~dead, float("-inf")).topk(n_pick, dim=-1)
        with_relu = torch.zeros_like(pre).scatter(-1, picked.indices, picked.values.relu())
        kept = torch.zeros_like(pre).scatter(-1, picked.indices, picked.values)
        check.compare(
            got.reshape(()) if isinstance(got, Tensor) and got.numel() == 1 else got, expected, case=case, what="the auxiliary loss",
            mistakes={
                "picking among all latents (the live ones were not set to -inf)":
                    (unmasked @ W_dec - residual).pow(2).sum(-1).mean(),
                "a ReLU on the picked pre-activations (a dead latent with negative ones gets no gradient)":
                    (with_relu @ W_dec - residual).pow(2).sum(-1).mean(),
                "averaging the squared error over d_in instead of summing it": (kept @ W_dec - residual).pow(2).mean(),
            } if dead.any() else {"not returning 0 when no latent is dead": residual.pow(2).sum(-1).mean()},
            hint=None if int(dead.sum()) else "with no dead latent there is nothing to train: return 0.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.9 ------------------------------------------------------------------------------

_CE_CONFIG = dict(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=20, n_ctx=12, act_fn="gelu",
                  normalization_type="LN", seed=0)
_CE_KEYS = ("ce_loss_without_sae", "ce_loss_with_sae", "ce_loss_with_ablation", "ce_loss_score")


@functools.lru_cache(maxsize=None)
def _ce_model():
    """A small native model with random weights large enough to make confident predictions."""
    with torch.random.fork_rng():  # booting seeds torch's global RNG: keep the learner's as it was
        model = models.boot(_CE_CONFIG)
    g = _gen(9)
    with torch.no_grad():
        for name, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=g)
            param.copy_(1 + 0.2 * noise if name.endswith(".w") else 0.4 * noise)
    return model


def check_ce_loss_recovered(ce_loss_recovered) -> None:
    check = Check("Exercise 5.9 — ce_loss_recovered")
    check.expect_callable(ce_loss_recovered, "ce_loss_recovered")
    model = _ce_model()
    tokens = torch.randint(0, _CE_CONFIG["d_vocab"], (6, 12), generator=_gen(10))
    for hook_name, k, seed in [("blocks.1.hook_resid_pre", None, 0), ("blocks.0.hook_resid_post", 4, 1)]:
        sae = _ref_sae(16, 48, k, seed)
        with torch.no_grad():  # an SAE that is roughly right: decoder = encoder's transpose
            sae.W_dec.copy_(sae.W_enc.T * 1.5)
            sae.b_dec.zero_()
        case = f"a 2-layer model with random weights, {'ReLU' if k is None else 'TopK'} SAE at {hook_name}"
        out = check.call(ce_loss_recovered, model, sae, tokens.clone(), hook_name, case=case, what="ce_loss_recovered")
        if not isinstance(out, dict) or set(out) != set(_CE_KEYS):
            got_keys = sorted(out) if isinstance(out, dict) else type(out).__name__
            check.fail(f"ce_loss_recovered should return a dict with the keys {list(_CE_KEYS)}, got {got_keys}.", case=case)
        if model.hook_dict and any(h.fwd_hooks for h in model.hook_dict.values()):
            model.reset_hooks()
            check.fail("the model still had hooks attached after ce_loss_recovered returned.", case=case,
                       hint="use model.run_with_hooks(...), which removes its hooks afterwards.")
        values = torch.tensor([float(_as_tensor(check, out[key], case=case, what=key)) for key in _CE_KEYS])
        expected = ref.spliced_losses(model, sae, tokens, hook_name)
        exp = torch.tensor([expected[key] for key in _CE_KEYS])

        def variant(fn):
            with torch.no_grad():
                loss = lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, fn)]), tokens).item()
            return loss

        def splice_all(act, hook):
            return sae(act)

        def mean_ablate(act, hook):
            act[:, 1:] = act[:, 1:].mean(dim=(0, 1))
            return act

        with_sae_all = variant(splice_all)
        mean_ablated = variant(mean_ablate)
        clean, with_sae, ablated = exp[:3].tolist()
        check.compare(
            values, exp, case=case, what="[ce_loss_without_sae, ce_loss_with_sae, ce_loss_with_ablation, ce_loss_score]",
            atol=1e-3, rtol=1e-3,
            mistakes={
                "splicing the SAE in at position 0 (<bos>) too":
                    torch.tensor([clean, with_sae_all, ablated, ref.ce_loss_score(clean, with_sae_all, ablated)]),
                "the score upside down: (with_sae - clean) / (ablation - clean)":
                    torch.tensor([clean, with_sae, ablated, 1 - ref.ce_loss_score(clean, with_sae, ablated)]),
                "mean-ablation instead of zero-ablation":
                    torch.tensor([clean, with_sae, mean_ablated, ref.ce_loss_score(clean, with_sae, mean_ablated)]),
            },
        )
    check.passed("2 cases: a ReLU and a TopK SAE on a small model")


# --- Exercise 5.10 -----------------------------------------------------------------------------


def check_top_activations(top_activations) -> None:
    check = Check("Exercise 5.10 — top_activations")
    check.expect_callable(top_activations, "top_activations")
    g = _gen(11)
    cases = [("batch 3, pos 7, k 4", torch.rand(3, 7, generator=g), 4),
             ("batch 10, pos 4, k 6 (more rows than positions)", torch.rand(10, 4, generator=g), 6),
             ("batch 1, pos 5, k 5", torch.rand(1, 5, generator=g), 5)]
    for case, acts, k in cases:
        out = check.call(top_activations, acts.clone(), k, case=case, what="top_activations")
        if not (isinstance(out, tuple) and len(out) == 3):
            check.fail(f"top_activations should return (values, rows, positions), got {type(out).__name__}.", case=case)
        values, rows, positions = ref.top_activations(acts, k)
        flat = acts.flatten().topk(k).indices
        smallest = acts.flatten().topk(k, largest=False)
        check.compare(out[0], values, case=case, what="values",
                      mistakes={"taking the k smallest": smallest.values}, hint="largest first: topk sorts them so.")
        check.compare(out[1], rows, case=case, what="rows (batch indices)",
                      mistakes={"dividing the flat index by the batch size instead of the number of positions": flat // acts.shape[0],
                                "swapping rows and positions": positions})
        check.compare(out[2], positions, case=case, what="positions",
                      mistakes={"taking the flat index modulo the batch size": flat % acts.shape[0],
                                "swapping rows and positions": rows})
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.11 -----------------------------------------------------------------------------


def check_precision_recall(precision_recall) -> None:
    check = Check("Exercise 5.11 — precision_recall")
    check.expect_callable(precision_recall, "precision_recall")
    g = _gen(12)
    labels = torch.rand(4, 30, generator=g) < 0.2
    fires = (labels & (torch.rand(4, 30, generator=g) < 0.7)) | (torch.rand(4, 30, generator=g) < 0.1)
    cases = [
        ("a detector with some misses and false alarms, [4, 30]", fires, labels),
        ("a detector that never fires", torch.zeros(50, dtype=torch.bool), torch.rand(50, generator=g) < 0.3),
        ("no labelled token", torch.rand(40, generator=g) < 0.3, torch.zeros(40, dtype=torch.bool)),
        ("fires everywhere", torch.ones(20, dtype=torch.bool), torch.arange(20) % 4 == 0),
    ]
    for case, f, lab in cases:
        out = check.call(precision_recall, f.clone(), lab.clone(), case=case, what="precision_recall")
        if not (isinstance(out, tuple) and len(out) == 2):
            check.fail(f"precision_recall should return (precision, recall), got {type(out).__name__}.", case=case)
        got = torch.stack([_as_tensor(check, v, case=case, what="precision and recall") for v in out])
        precision, recall = ref.precision_recall(f, lab)
        check.compare(
            got, torch.tensor([precision, recall], dtype=torch.float64), case=case, what="(precision, recall)",
            mistakes={"precision and recall swapped": torch.tensor([recall, precision], dtype=torch.float64),
                      "accuracy for both (matches over all tokens)": torch.tensor([(f == lab).float().mean().item()] * 2, dtype=torch.float64)},
            hint="precision = hits / (tokens where it fires); recall = hits / (labelled tokens); 0.0 for an empty denominator.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.12 -----------------------------------------------------------------------------


def check_clamp_latent_hook(clamp_latent_hook) -> None:
    check = Check("Exercise 5.12 — clamp_latent_hook")
    check.expect_callable(clamp_latent_hook, "clamp_latent_hook")
    for k, latent, value, seed in [(None, 3, 5.0, 0), (4, 7, 0.0, 1), (4, 2, 12.0, 2)]:
        sae = _ref_sae(10, 24, k, seed)
        act = 2 * torch.randn(3, 6, 10, generator=_gen(300 + seed))
        case = f"{'ReLU' if k is None else 'TopK'} SAE, act [3, 6, 10], latent {latent} clamped to {value}"
        with torch.no_grad():
            got = check.call(clamp_latent_hook, act.clone(), None, sae, latent, value, case=case, what="clamp_latent_hook")
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
        check.compare(
            got, expected, case=case, what="the hooked activation",
            mistakes={
                "replacing the activation by the SAE's reconstruction (the error term x - x̂ is lost)": recon_only,
                "adding value × W_dec[latent] (steering by addition) instead of setting the latent to value": added,
                "clamping position 0 (<bos>) too": everywhere,
            },
        )
    check.passed("3 cases")

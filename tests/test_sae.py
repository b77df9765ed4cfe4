"""The reference SAE library (mi_tutorial/sae.py): metrics on inputs whose answer
is known by hand, the fast trainer's loss against the plain definitions, training, and the
SAELens folder layout round trip."""

from __future__ import annotations

import json

import pytest
import torch

from mi_tutorial import _sae_train, models, sae as sae_lib


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _random_sae(
    architecture: str = "standard",
    k: int | None = None,
    d_in: int = 8,
    d_sae: int = 24,
    seed: int = 0,
):
    sae = sae_lib.SAE(
        sae_lib.SAEConfig(
            d_in=d_in,
            d_sae=d_sae,
            architecture=architecture,
            k=k,
            model_name="toy",
            hook_name="blocks.0.hook_resid_pre",
            context_size=12,
        ),
        seed=seed,
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=g))
    return sae


# --- metrics on known inputs -------------------------------------------------------------------


def test_l0_and_density_count_positive_entries():
    acts = torch.tensor([[0.0, 2.0, 0.0, 1.0], [3.0, 0.0, 0.0, 0.5]])
    assert sae_lib.l0(acts).item() == 2.0
    assert sae_lib.feature_density(acts).tolist() == [0.5, 0.5, 0.0, 1.0]
    dead, dense = sae_lib._dead_and_dense(acts, dense_threshold=0.6)
    assert dead.tolist() == [False, False, True, False] and dense.tolist() == [
        False,
        False,
        False,
        True,
    ]


def test_explained_variance_by_hand():
    x = torch.tensor([[1.0, 0.0], [3.0, 4.0]])  # mean [2, 2]; Σ‖x - mean‖² = 1+4+1+4 = 10
    assert sae_lib._explained_variance(x, x).item() == 1.0
    assert sae_lib._explained_variance(x, x.mean(0).expand_as(x)).item() == pytest.approx(0.0)
    recon = x + torch.tensor([[1.0, 0.0], [0.0, -2.0]])  # Σ error² = 1 + 4 = 5
    assert sae_lib._explained_variance(x, recon).item() == pytest.approx(0.5)


def test_feature_recovery_by_hand():
    true = torch.eye(3)
    assert sae_lib._feature_recovery(torch.eye(3) * 5, true).item() == pytest.approx(1.0)
    # feature 2 has no latent of its own: its best cosine is 0; an antiparallel latent does not count
    W_dec = torch.tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, -1.0]])
    assert sae_lib._feature_recovery(W_dec, true).item() == pytest.approx(2 / 3)


def test_precision_recall_and_top_activations():
    fires = torch.tensor([True, True, False, True, False])
    labels = torch.tensor([True, False, False, True, True])
    assert sae_lib.detector_precision_recall(fires, labels) == pytest.approx((2 / 3, 2 / 3))
    assert sae_lib.detector_precision_recall(torch.zeros(3, dtype=torch.bool), labels[:3]) == (
        0.0,
        0.0,
    )
    acts = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.0, 0.95]])
    values, rows, positions = sae_lib._top_activations(acts, 2)
    assert (
        values.tolist() == pytest.approx([0.95, 0.9])
        and rows.tolist() == [1, 0]
        and positions.tolist() == [2, 1]
    )


def test_ce_loss_score_is_saelens_formula():
    assert sae_lib.ce_loss_score(clean=1.0, with_sae=1.5, with_ablation=6.0) == pytest.approx(0.9)
    assert sae_lib.ce_loss_score(clean=1.0, with_sae=1.0, with_ablation=6.0) == 1.0


def test_topk_activation_keeps_k_largest_and_relus_them():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-3.0, -2.0, -0.5, -4.0]])
    assert sae_lib._topk_activation(pre, 2).tolist() == [[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_clamp_latent_changes_only_that_latent():
    sae = _random_sae()
    sae.normalize_decoder()
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    clamped = sae_lib.clamp_latent(x, sae, latent=3, value=7.0)
    moved = clamped - x  # a multiple of latent 3's direction
    coefficient = moved @ sae.W_dec[3].detach()
    assert torch.allclose(moved, coefficient[:, None] * sae.W_dec[3].detach(), atol=1e-5)
    assert torch.allclose(coefficient, 7.0 - sae.encode(x)[:, 3].detach(), atol=1e-5)


# --- the fast trainer computes the same loss as the definitions ---------------------------------


FAST_LOSS_CASES = [
    ("standard", None, None),
    ("topk", 4, None),
    ("batchtopk", 4, None),
    ("jumprelu", None, None),
    ("topk", 4, (6, 12, 24)),
    ("batchtopk", 3, (8, 24)),
]


@pytest.mark.parametrize("architecture, k, prefixes", FAST_LOSS_CASES)
def test_fast_loss_matches_the_plain_definition(architecture, k, prefixes):
    cfg_sae = _random_sae(architecture, k)
    sae = sae_lib.SAE(
        sae_lib.SAEConfig(
            d_in=8, d_sae=24, architecture=architecture, k=k, matryoshka_prefixes=prefixes
        )
    )
    sae.load_state_dict(cfg_sae.state_dict())
    if architecture == "jumprelu":
        with torch.no_grad():
            sae.threshold.copy_(torch.rand(24, generator=torch.Generator().manual_seed(3)))
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(2))
    dead = torch.arange(24) % 3 == 0
    step = sae_lib._fast_loss(
        sae, x, l1_coefficient=0.3, l0_coefficient=0.2, aux_k_coefficient=0.5, dead=dead, k_aux=5
    )
    pre = sae.pre_acts(x)
    if architecture == "standard":
        expected, _, _ = sae_lib._relu_sae_loss(sae, x, 0.3)
        acts = sae.encode(x)
    elif architecture == "jumprelu":
        expected, _, _ = sae_lib._jumprelu_sae_loss(sae, x, 0.2)
        acts = sae.encode(x)
    else:
        activation = (
            sae_lib._topk_activation if architecture == "topk" else sae_lib._batch_topk_activation
        )
        acts = activation(pre, k)
        plain_recon = sae.decode(acts)
        expected = sae_lib._matryoshka_mse(sae, acts, x) + 0.5 * sae_lib._aux_k_loss(
            pre, dead, (x - plain_recon).detach(), sae.W_dec, 5
        )
    assert step.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(step.recon, sae.decode(acts).detach(), atol=1e-4)
    assert step.n_active == int((acts > 0).sum()) and torch.equal(step.fired, (acts > 0).any(0))
    assert (step.kept_min is not None) == (architecture == "batchtopk")
    fast_grads = torch.autograd.grad(step.loss, list(sae.parameters()))
    plain_grads = torch.autograd.grad(expected, list(sae.parameters()))
    for fast, plain in zip(fast_grads, plain_grads):
        assert torch.allclose(fast, plain, atol=1e-4, rtol=1e-4)


def _planted(n: int = 8192, n_features: int = 6, d: int = 4, p: float = 0.15, seed: int = 0):
    """Sparse non-negative combinations of `n_features` known unit directions in d dims."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(n_features, d, generator=g)
    directions /= directions.norm(dim=-1, keepdim=True)
    coefficients = torch.rand(n, n_features, generator=g) * (
        torch.rand(n, n_features, generator=g) < p
    )
    return coefficients @ directions, directions


@pytest.mark.parametrize(
    "architecture, k, prefixes",
    [
        ("standard", None, None),
        ("topk", 2, None),
        ("batchtopk", 1, None),  # k 2 > the data's L0 of 0.9 mixes features: recovery 0.87
        ("jumprelu", None, None),
        ("batchtopk", 2, (4, 12)),
    ],
)
def test_train_sae_recovers_planted_directions(architecture, k, prefixes):
    """Sparse combinations of 6 known directions in 4 dimensions: the trained SAE finds them."""
    data, directions = _planted()
    sae = sae_lib.SAE(
        sae_lib.SAEConfig(
            d_in=4, d_sae=12, architecture=architecture, k=k, matryoshka_prefixes=prefixes
        ),
        seed=0,
    )
    result = sae_lib.train_sae(
        sae,
        data,
        steps=600,
        batch_size=1024,
        lr=1e-2,
        l1_coefficient=0.05,
        l0_coefficient=0.01,
        aux_k_coefficient=1 / 32,
    )
    assert result.losses[-1] < result.losses[0] / 3
    assert torch.allclose(
        sae.W_dec.norm(dim=-1), torch.ones(12), atol=1e-5
    )  # renormalized every step
    assert sae_lib._feature_recovery(sae.W_dec.detach(), directions).item() > 0.9
    assert result.tokens == 600 * 1024 and result.tokens_per_second > 0


def test_train_sae_rejects_bad_input():
    sae = _random_sae()
    with pytest.raises(ValueError, match="d_in=8"):
        sae_lib.train_sae(sae, torch.randn(10, 5), steps=1)
    with pytest.raises(ValueError, match="positive int"):
        sae_lib.train_sae(sae, torch.randn(10, 8), steps=0)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="architecture"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="gated")
    with pytest.raises(ValueError, match="needs an int k"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="topk")


# --- SAELens's folder layout ---------------------------------------------------------------------


@pytest.mark.parametrize("architecture, k", [("standard", None), ("topk", 5)])
def test_save_and_load_round_trip(tmp_path, architecture, k):
    sae = _random_sae(architecture, k)
    folder = sae_lib.save_sae_lens(sae, tmp_path / "sae")
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    config = json.loads((folder / "cfg.json").read_text())
    assert config["d_in"] == 8 and config["d_sae"] == 24 and config["architecture"] == architecture
    assert (
        config["metadata"]["hook_name"] == "blocks.0.hook_resid_pre"
        and config["apply_b_dec_to_input"] is True
    )
    assert ("k" in config) == (architecture == "topk")
    loaded = sae_lib.load_sae_lens(folder)
    assert loaded.cfg == sae.cfg
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(loaded, name), getattr(sae, name))
    x = torch.randn(3, 8)
    assert torch.equal(loaded(x), sae(x))


def test_load_reads_older_saelens_configs(tmp_path):
    """SAELens before 6 kept hook_name at the top level and named TopK in activation_fn."""
    sae = _random_sae("topk", 3)
    folder = sae_lib.save_sae_lens(sae, tmp_path / "old")
    config = json.loads((folder / "cfg.json").read_text())
    old = {
        "d_in": 8,
        "d_sae": 24,
        "architecture": "standard",
        "activation_fn": "topk",
        "activation_fn_kwargs": {"k": 3},
        "hook_name": config["metadata"]["hook_name"],
        "model_name": "toy",
    }
    (folder / "cfg.json").write_text(json.dumps(old))
    loaded = sae_lib.load_sae_lens(folder)
    assert (
        loaded.cfg.architecture == "topk"
        and loaded.cfg.k == 3
        and loaded.cfg.hook_name == "blocks.0.hook_resid_pre"
    )


def test_load_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="cfg.json"):
        sae_lib.load_sae_lens(tmp_path)
    folder = sae_lib.save_sae_lens(_random_sae(), tmp_path / "sae")
    config = json.loads((folder / "cfg.json").read_text())
    (folder / "cfg.json").write_text(json.dumps({**config, "d_sae": 30}))
    with pytest.raises(ValueError, match="does not fit cfg.json"):
        sae_lib.load_sae_lens(folder)


# --- splicing into a model -----------------------------------------------------------------------


def test_spliced_losses_with_a_perfect_sae_recover_everything():
    """An 'SAE' that returns its input exactly loses nothing: ce_loss_score 1."""
    with torch.random.fork_rng():
        model = models.boot(
            dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=6, seed=0)
        )

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    tokens = torch.randint(0, 11, (4, 6), generator=torch.Generator().manual_seed(0))
    out = sae_lib.spliced_losses(model, Identity(), tokens, "blocks.0.hook_resid_pre")
    assert out["ce_loss_with_sae"] == pytest.approx(out["ce_loss_without_sae"], abs=1e-6)
    assert out["ce_loss_score"] == pytest.approx(1.0)
    assert out["ce_loss_with_ablation"] != pytest.approx(out["ce_loss_without_sae"])


def test_aux_k_loss_reaches_dead_latents_with_negative_pre_activations():
    """No ReLU in the auxiliary loss: a dead latent whose pre-activations are all negative
    still gets a gradient (with a ReLU it would stay dead), and live latents get none."""
    pre = torch.randn(8, 6, generator=torch.Generator().manual_seed(0))
    pre[:, 4] = -3.0 - pre[:, 4].abs()
    pre.requires_grad_(True)
    dead = torch.tensor([False, False, False, False, True, True])
    residual = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    W_dec = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    sae_lib._aux_k_loss(pre, dead, residual, W_dec, k_aux=2).backward()
    assert (pre.grad[:, 4] != 0).all() and (pre.grad[:, :4] == 0).all()
    assert (
        sae_lib._aux_k_loss(pre, torch.zeros(6, dtype=torch.bool), residual, W_dec, 2).item() == 0.0
    )


def _killed_topk_sae(seed: int = 0) -> sae_lib.SAE:
    sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=8, d_sae=32, architecture="topk", k=2), seed=seed)
    with torch.no_grad():
        sae.b_enc[:16] = -3.0  # half the latents start dead
    return sae


def test_train_sae_uses_the_learners_aux_k_loss_and_falls_back_when_it_fails(capsys):
    """Chapter 05 passes the learner's aux_k_loss: it is the one used (the same result as the
    library's when it is right), and a stub or a broken one is replaced by the library's."""
    acts = torch.randn(512, 8, generator=torch.Generator().manual_seed(0))
    options = dict(steps=30, batch_size=128, lr=1e-2, aux_k_coefficient=0.5, dead_window=2, k_aux=4)
    calls = []

    def aux_k_loss(pre, dead, residual, W_dec, k_aux):
        calls.append(int(dead.sum()))
        return sae_lib._aux_k_loss(pre, dead, residual, W_dec, k_aux)

    mine, library = _killed_topk_sae(), _killed_topk_sae()
    sae_lib.train_sae(mine, acts, **options, aux_k_loss=aux_k_loss)
    sae_lib.train_sae(library, acts, **options)
    assert calls and all(n > 0 for n in calls)
    assert torch.allclose(mine.W_enc, library.W_enc, atol=1e-4)

    def stub(pre, dead, residual, W_dec, k_aux):
        raise NotImplementedError()

    for broken in (stub, lambda pre, dead, residual, W_dec, k_aux: torch.tensor(float("nan"))):
        fallback = _killed_topk_sae()
        sae_lib.train_sae(fallback, acts, **options, aux_k_loss=broken)
        assert torch.allclose(fallback.W_enc, library.W_enc, atol=1e-4)
        assert capsys.readouterr().out.count("is not used from here on") == 1


# --- the newer architectures: BatchTopK, JumpReLU, Matryoshka -----------------------------------


def test_batch_topk_keeps_k_per_row_on_average_and_its_threshold_reproduces_the_batch():
    pre = torch.randn(50, 24, generator=torch.Generator().manual_seed(0))
    acts = sae_lib._batch_topk_activation(pre, 3)
    counts = (acts > 0).sum(-1)
    assert counts.float().mean().item() == 3.0  # exactly k × batch active over the batch
    assert counts.min() < 3 < counts.max()  # ...but not k on every row (that would be TopK)
    kept = acts[acts > 0]
    assert torch.equal(kept.sort().values, pre.flatten().topk(150).values.sort().values)
    # the evaluation rule pre · 1[pre > θ], at θ just under the smallest kept value, gives
    # the same activations on this batch
    theta = kept.min() - 1e-6
    assert torch.equal(pre * (pre > theta), acts)


def test_batch_topk_sae_trains_its_threshold_and_uses_it_at_evaluation():
    data, _ = _planted(n=4096, n_features=6, d=4, p=0.3)
    sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=4, d_sae=12, architecture="batchtopk", k=2), seed=0)
    assert sae.training  # a fresh module: batch top-k
    assert (sae.encode(data[:64]) > 0).sum().item() == 2 * 64
    sae_lib.train_sae(sae, data, steps=200, batch_size=512, lr=1e-2, aux_k_coefficient=1 / 32)
    assert not sae.training and sae.threshold.item() > 0
    with torch.no_grad():
        pre = sae.pre_acts(data)
        assert torch.equal(sae.encode(data), pre * (pre > sae.threshold))
    metrics = sae_lib.sae_metrics(sae, data)
    assert 1.0 < metrics["l0"] < 4.0, metrics  # about k at evaluation too
    sae.train()
    sae_lib.sae_metrics(sae, data)
    assert sae.training  # sae_metrics evaluates in eval mode and puts the mode back


def test_jumprelu_threshold_gradient_is_the_straight_through_estimator():
    """∂/∂θ of Σ c·JumpReLU(z) + λ·Σ H(z - θ) = -(1/ε) Σ K((z - θ)/ε) (θ c + λ): by the
    formula, and against finite differences of step ε/2 (exact for the L0 term, whose count
    changes by the points inside the band; within Σ|c|/2 for the activation term)."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 5, generator=g)
    c = torch.randn(400, 5, generator=g)
    theta = torch.tensor([0.1, 0.3, 0.5, 0.7, 1.2], requires_grad=True)
    eps, lam = 0.2, 0.7
    pre = z.clone().requires_grad_(True)
    acts, counts = sae_lib._jumprelu(pre, theta, eps)
    assert torch.equal(acts, z * (z > theta)) and torch.equal(counts, (z > theta).sum(0).float())
    ((c * acts).sum() + lam * counts.sum()).backward()
    band = ((z - theta.detach()).abs() < eps / 2).float()
    analytic = -(band * (theta.detach() * c + lam)).sum(0) / eps
    assert torch.allclose(theta.grad, analytic, atol=1e-5)
    assert torch.equal(pre.grad, c * (z > theta.detach()))  # the L0 term sends none to z

    def count(t):
        return (z > t).sum(0).float()

    def act_term(t):
        return (c * z * (z > t)).sum(0)

    t = theta.detach()
    fd_count = (count(t + eps / 2) - count(t - eps / 2)) / eps
    assert torch.allclose(-(band.sum(0)) / eps, fd_count)
    fd_act = (act_term(t + eps / 2) - act_term(t - eps / 2)) / eps
    ste_act = -(band * t * c).sum(0) / eps
    bound = (band * c.abs()).sum(0) * (eps / 2) / eps + 1e-5
    assert ((fd_act - ste_act).abs() <= bound).all()


def test_jumprelu_l0_penalty_lowers_the_l0():
    data, _ = _planted(n=4096, d=4, p=0.3)
    l0s = []
    for coefficient in (0.0, 0.05):
        sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=4, d_sae=12, architecture="jumprelu"), seed=0)
        sae_lib.train_sae(sae, data, steps=300, batch_size=512, lr=1e-2, l0_coefficient=coefficient)
        assert (sae.threshold >= 0).all()
        l0s.append(sae_lib.sae_metrics(sae, data)["l0"])
    assert l0s[1] < 0.7 * l0s[0], l0s


def test_matryoshka_loss_is_the_sum_of_its_prefix_losses():
    sae = sae_lib.SAE(
        sae_lib.SAEConfig(
            d_in=8, d_sae=24, architecture="topk", k=5, matryoshka_prefixes=(4, 10, 24)
        )
    )
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    acts = sae.encode(x)
    by_hand = sum(
        ((acts[:, :m] @ sae.W_dec[:m] + sae.b_dec - x) ** 2).sum(-1).mean() for m in (4, 10, 24)
    )
    assert sae_lib._matryoshka_mse(sae, acts, x).item() == pytest.approx(by_hand.item(), rel=1e-6)
    no_aux = dict(dead=torch.zeros(24, dtype=torch.bool), k_aux=4)
    nested = sae_lib._fast_loss(sae, x, **no_aux).loss
    plain = sae_lib.SAE(sae_lib.SAEConfig(d_in=8, d_sae=24, architecture="topk", k=5))
    plain.load_state_dict(sae.state_dict())
    full = sae_lib._fast_loss(plain, x, **no_aux).loss
    assert nested.item() == pytest.approx(by_hand.item(), rel=1e-5) and nested > full


def test_matryoshka_training_makes_the_first_prefix_reconstruct_alone():
    """The point of the nested losses: the first latents, alone, reconstruct far better than
    the same number of latents of a plain BatchTopK SAE trained the same way."""
    data, _ = _planted(n=8192, n_features=12, d=8, p=0.1)
    prefix_ev = {}
    for prefixes in (None, (6, 24)):
        sae = sae_lib.SAE(
            sae_lib.SAEConfig(
                d_in=8, d_sae=24, architecture="batchtopk", k=2, matryoshka_prefixes=prefixes
            ),
            seed=0,
        )
        sae_lib.train_sae(sae, data, steps=300, batch_size=1024, lr=1e-2)
        with torch.no_grad():
            acts = sae.encode(data)
            recon = acts[:, :6] @ sae.W_dec[:6] + sae.b_dec
        prefix_ev[prefixes] = sae_lib._explained_variance(data, recon).item()
    assert prefix_ev[(6, 24)] > prefix_ev[None] + 0.1, prefix_ev


def test_new_config_fields_reject_bad_values():
    with pytest.raises(ValueError, match="batchtopk SAE needs an int k"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="batchtopk")
    with pytest.raises(ValueError, match="matryoshka_prefixes work with"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, matryoshka_prefixes=(4, 8))
    with pytest.raises(ValueError, match="ending at d_sae=8"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="topk", k=2, matryoshka_prefixes=(4, 6))
    with pytest.raises(ValueError, match="increasing"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="topk", k=2, matryoshka_prefixes=(6, 4, 8))
    with pytest.raises(ValueError, match="jumprelu_init_threshold > 0"):
        sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="jumprelu", jumprelu_bandwidth=0.0)
    cfg = sae_lib.SAEConfig(d_in=4, d_sae=8, architecture="topk", k=2, matryoshka_prefixes=[2, 8])
    assert cfg.matryoshka_prefixes == (2, 8)


@pytest.mark.parametrize("architecture", ["jumprelu", "batchtopk"])
def test_jumprelu_and_batchtopk_save_as_saelens_jumprelu(tmp_path, architecture):
    sae = _random_sae(architecture, 3 if architecture == "batchtopk" else None)
    with torch.no_grad():
        sae.threshold.copy_(torch.rand(sae.threshold.shape) + 0.5)
    sae.eval()
    folder = sae_lib.save_sae_lens(sae, tmp_path / architecture)
    assert json.loads((folder / "cfg.json").read_text())["architecture"] == "jumprelu"
    loaded = sae_lib.load_sae_lens(folder)
    assert loaded.cfg.architecture == "jumprelu" and loaded.threshold.shape == (24,)
    x = torch.randn(16, 8)
    assert torch.allclose(loaded.encode(x), sae.encode(x)) and (sae.encode(x) == 0).any()


def test_batch_topk_indices_picks_the_same_set_as_a_full_topk():
    """The trainer's two-stage selection (sampled threshold, then one kth-value pass) is
    exact: the same flat indices as topk, in increasing order, on the fast path, on the
    fallback paths (few entries; ties), and on data whose largest entries cluster in rows."""
    g = torch.Generator().manual_seed(0)
    cases = {
        "random": (torch.randn(512, 256, generator=g), 4 * 512),
        "clustered": (
            torch.randn(512, 256, generator=g) + 3.0 * (torch.arange(512) < 32)[:, None],
            8 * 512,
        ),
        "small": (torch.randn(8, 16, generator=g), 12),
        "ties": (torch.randn(512, 256, generator=g).round(), 4 * 512),
    }
    for name, (pre, n_keep) in cases.items():
        fast = _sae_train._batch_topk_indices(pre, n_keep)
        assert len(fast) == n_keep and bool((fast[1:] > fast[:-1]).all()), name
        reference = pre.flatten().topk(n_keep).values
        assert torch.equal(pre.flatten()[fast].sort().values, reference.sort().values), name

"""The reference SAE library (mi_tutorial/sae.py): metrics on inputs whose answer
is known by hand, the fast trainer's loss against the plain definitions, training, and the
SAELens folder layout round trip."""

from __future__ import annotations

import json

import pytest
import torch

from mi_tutorial import models, sae as sae_lib


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


@pytest.mark.parametrize("architecture, k", [("standard", None), ("topk", 4)])
def test_fast_loss_matches_the_plain_definition(architecture, k):
    sae = _random_sae(architecture, k)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(2))
    dead = torch.arange(24) % 3 == 0
    loss, recon, n_active, fired = sae_lib._fast_loss(
        sae, x, l1_coefficient=0.3, aux_k_coefficient=0.5, dead=dead, k_aux=5
    )
    if architecture == "standard":
        expected, _, _ = sae_lib._relu_sae_loss(sae, x, 0.3)
        acts = sae.encode(x)
    else:
        pre = sae.pre_acts(x)
        acts = sae_lib._topk_activation(pre, k)
        plain_recon = sae.decode(acts)
        expected = (plain_recon - x).pow(2).sum(-1).mean() + 0.5 * sae_lib._aux_k_loss(
            pre, dead, (x - plain_recon).detach(), sae.W_dec, 5
        )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(recon, sae.decode(acts).detach(), atol=1e-4)
    assert n_active == int((acts > 0).sum()) and torch.equal(fired, (acts > 0).any(0))
    fast_grads = torch.autograd.grad(loss, list(sae.parameters()))
    plain_grads = torch.autograd.grad(expected, list(sae.parameters()))
    for fast, plain in zip(fast_grads, plain_grads):
        assert torch.allclose(fast, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("architecture, k", [("standard", None), ("topk", 2)])
def test_train_sae_recovers_planted_directions(architecture, k):
    """Sparse combinations of 6 known directions in 4 dimensions: the trained SAE finds them."""
    g = torch.Generator().manual_seed(0)
    directions = torch.randn(6, 4, generator=g)
    directions /= directions.norm(dim=-1, keepdim=True)
    coefficients = torch.rand(8192, 6, generator=g) * (torch.rand(8192, 6, generator=g) < 0.15)
    data = coefficients @ directions
    sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=4, d_sae=12, architecture=architecture, k=k), seed=0)
    result = sae_lib.train_sae(
        sae,
        data,
        steps=600,
        batch_size=1024,
        lr=1e-2,
        l1_coefficient=0.05,
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

"""mi_tutorial.checks._keys.patching gives what transformer_lens.patching gives (to 1e-5), and its
path patching, attribution patching and bootstrap agree with independent constructions.

Two models: the shipped `tinyworld-lm` on IOI prompts (clean and ABC-corrupted prompts differ
at one position), and a small random model (3 layers of 3 heads, LayerNorm, MLPs) on random
tokens that differ at several positions, with a metric that reads every position.
"""

from __future__ import annotations

import pytest
import torch
import transformer_lens.patching as tl_patching
from transformer_lens.tools.analysis import attribution_patch
from transformer_lens.utilities import get_act_name
from transformer_lens.utilities.statistics import bootstrap_ci as tl_bootstrap_ci

from mi_tutorial import models
from mi_tutorial.checks._keys import patching as reference
from mi_tutorial.data import tinyworld

ATOL = 1e-5
RANDOM_CONFIG = dict(
    n_layers=3,
    d_model=24,
    d_head=8,
    n_heads=3,
    d_mlp=48,
    n_ctx=16,
    d_vocab=20,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)


class Case:
    """A model, clean and corrupted tokens, both caches and a metric (0 = corrupted, 1 = clean)."""

    def __init__(
        self, name, model, clean_tokens, corrupted_tokens, answers, wrong, all_positions=False
    ):
        self.name, self.model = name, model
        self.clean_tokens, self.corrupted_tokens = clean_tokens, corrupted_tokens
        self.answers, self.wrong = answers, wrong
        self.clean_cache = reference.run_cache(model, clean_tokens)
        self.corrupted_cache = reference.run_cache(model, corrupted_tokens)
        score = self._all_positions if all_positions else self._last_position
        with torch.no_grad():
            clean, corrupted = score(model(clean_tokens)), score(model(corrupted_tokens))
        self.metric = lambda logits: (score(logits) - corrupted) / (clean - corrupted)
        self.metric_scale = 1 / (clean - corrupted)  # the metric's slope in the score

    def _last_position(self, logits):
        return reference.logit_diff(logits, self.answers, self.wrong).mean()

    def _all_positions(self, logits):  # a metric that reads every position, not just the last
        log_probs = logits.log_softmax(-1)
        return (log_probs[..., self.answers[0]] - log_probs[..., self.wrong[0]]).mean()


@pytest.fixture(scope="module")
def ioi_case():
    prompts = tinyworld.ioi_prompts(4, seed=3)
    model = models.load_toy_model("tinyworld-lm")
    return Case(
        "tinyworld-lm, IOI",
        model,
        prompts.clean_tokens,
        prompts.corrupted_tokens,
        prompts.answers,
        prompts.wrong,
    )


@pytest.fixture(scope="module")
def random_case():
    model = models.boot(RANDOM_CONFIG)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.tl_parameters().values():
            param.copy_(0.4 * torch.randn(param.shape, generator=generator))
    clean = torch.randint(0, 20, (2, 7), generator=generator)
    corrupted = clean.clone()
    corrupted[:, [2, 5]] = torch.randint(0, 20, (2, 2), generator=generator)
    return Case(
        "random model",
        model,
        clean,
        corrupted,
        torch.tensor([3, 4]),
        torch.tensor([5, 6]),
        all_positions=True,
    )


@pytest.fixture(params=["ioi", "random"])
def case(request, ioi_case, random_case):
    return ioi_case if request.param == "ioi" else random_case


def _quiet(fn, *args):
    """A transformer_lens.patching sweep without its progress bar."""
    original = tl_patching.tqdm
    tl_patching.tqdm = lambda iterable, **kwargs: iterable
    try:
        return fn(*args)
    finally:
        tl_patching.tqdm = original


def _assert_close(got, expected, what):
    assert got.shape == expected.shape, what
    difference = (got - expected).abs().max().item()
    assert difference <= ATOL, f"{what}: max abs difference {difference:.2e}"


def test_running_only_the_later_blocks_gives_the_full_forward_pass(case):
    with torch.no_grad():
        logits = case.model(case.corrupted_tokens)
        for layer in range(case.model.cfg.n_layers + 1):
            resid = (
                case.corrupted_cache["resid_pre", layer]
                if layer < case.model.cfg.n_layers
                else case.corrupted_cache["resid_post", layer - 1]
            )
            _assert_close(
                reference.run_from(case.model, resid, layer), logits, f"starting at block {layer}"
            )


TL_LAYER_POS = {
    "resid_pre": tl_patching.get_act_patch_resid_pre,
    "attn_out": tl_patching.get_act_patch_attn_out,
    "mlp_out": tl_patching.get_act_patch_mlp_out,
}
TL_ALL_POS = {
    "z": tl_patching.get_act_patch_attn_head_out_all_pos,
    "q": tl_patching.get_act_patch_attn_head_q_all_pos,
    "k": tl_patching.get_act_patch_attn_head_k_all_pos,
    "v": tl_patching.get_act_patch_attn_head_v_all_pos,
    "pattern": tl_patching.get_act_patch_attn_head_pattern_all_pos,
}
TL_BY_POS = {
    "z": tl_patching.get_act_patch_attn_head_out_by_pos,
    "q": tl_patching.get_act_patch_attn_head_q_by_pos,
    "k": tl_patching.get_act_patch_attn_head_k_by_pos,
    "v": tl_patching.get_act_patch_attn_head_v_by_pos,
}


@pytest.mark.parametrize("skip_unchanged", [True, False], ids=["skip-unchanged", "compute-all"])
@pytest.mark.parametrize("act_name", list(TL_LAYER_POS))
def test_layer_pos_sweeps_match_transformer_lens(case, act_name, skip_unchanged):
    args = (case.model, case.corrupted_tokens, case.clean_cache, case.metric)
    expected = _quiet(TL_LAYER_POS[act_name], *args)
    got = reference.patch_layer_pos(*args, act_name, skip_unchanged=skip_unchanged)
    _assert_close(got, expected, f"{case.name}, {act_name}")
    assert (
        expected.abs().max() > 0.1
    )  # the sweep found something, so the comparison means something


@pytest.mark.parametrize("act_name", list(TL_ALL_POS))
def test_head_sweeps_over_all_positions_match_transformer_lens(case, act_name):
    args = (case.model, case.corrupted_tokens, case.clean_cache, case.metric)
    expected = _quiet(TL_ALL_POS[act_name], *args)
    _assert_close(
        reference.patch_heads_all_pos(*args, act_name), expected, f"{case.name}, {act_name}"
    )
    _assert_close(
        reference.patch_heads_all_pos(*args, act_name, skip_unchanged=False), expected, act_name
    )


@pytest.mark.parametrize("act_name", list(TL_BY_POS))
def test_head_sweeps_by_position_match_transformer_lens(case, act_name):
    args = (case.model, case.corrupted_tokens, case.clean_cache, case.metric)
    expected = _quiet(TL_BY_POS[act_name], *args)
    _assert_close(
        reference.patch_heads_by_pos(*args, act_name), expected, f"{case.name}, {act_name}"
    )
    _assert_close(
        reference.patch_heads_by_pos(*args, act_name, skip_unchanged=False), expected, act_name
    )


def test_noising_is_the_same_sweep_with_the_roles_swapped(random_case):
    c = random_case
    expected = _quiet(
        tl_patching.get_act_patch_attn_head_out_all_pos,
        c.model,
        c.clean_tokens,
        c.corrupted_cache,
        c.metric,
    )
    got = reference.patch_heads_all_pos(
        c.model, c.clean_tokens, c.corrupted_cache, c.metric, "z", corrupted_cache=c.clean_cache
    )
    _assert_close(got, expected, "noising")


def test_many_patches_per_forward_pass_are_chunked(random_case, monkeypatch):
    c = random_case
    args = (c.model, c.corrupted_tokens, c.clean_cache, c.metric)
    whole = reference.patch_heads_by_pos(*args, "z", skip_unchanged=False)
    monkeypatch.setattr(reference, "MAX_ROWS", 5)  # 2 prompts per patch: 2 patches per forward pass
    _assert_close(reference.patch_heads_by_pos(*args, "z", skip_unchanged=False), whole, "chunked")


# --- path patching: the same as the two-step "freeze everything else" recipe -----------------


def _frozen_path_patch(case, sender, receiver_hook, receiver_layer, select):
    """Wang et al.'s recipe. Step 1: the corrupted run with the sender's z clean and every other
    head and MLP from the sender's layer up to the receiver frozen at its corrupted value; record
    the receiver's activation. Step 2: the corrupted run with only that activation patched in."""
    model, corrupted = case.model, case.corrupted_cache
    sender_layer, sender_head = sender
    hooks = []
    for layer in range(sender_layer, receiver_layer + 1):

        def freeze_z(z, hook, layer=layer):
            z = corrupted["z", layer].clone()
            if layer == sender_layer:
                z[:, :, sender_head] = case.clean_cache["z", layer][:, :, sender_head]
            return z

        hooks.append((get_act_name("z", layer), freeze_z))
        if layer < receiver_layer:
            hooks.append(
                (
                    get_act_name("mlp_out", layer),
                    lambda out, hook, layer=layer: corrupted["mlp_out", layer].clone(),
                )
            )
    recorded = {}

    def record(act, hook):
        recorded["act"] = act.clone()
        return act

    with torch.no_grad():
        model.run_with_hooks(case.corrupted_tokens, fwd_hooks=[*hooks, (receiver_hook, record)])

        def patch(act, hook):
            act = act.clone()
            select(act)[...] = select(recorded["act"])
            return act

        return case.metric(
            model.run_with_hooks(case.corrupted_tokens, fwd_hooks=[(receiver_hook, patch)])
        )


@pytest.mark.parametrize("component", ["q", "k", "v"])
def test_path_patching_to_heads_matches_the_freezing_recipe(random_case, component):
    c = random_case
    sender = (0, 1)
    got = reference.path_patch_to_heads(
        c.model, c.corrupted_tokens, c.clean_cache, c.corrupted_cache, c.metric, sender, component
    )
    assert got[: sender[0] + 1].eq(0).all()
    expected = torch.zeros_like(got)
    for layer in range(1, c.model.cfg.n_layers):
        for head in range(c.model.cfg.n_heads):
            hook = get_act_name(component, layer)
            expected[layer, head] = _frozen_path_patch(
                c, sender, hook, layer, lambda act, head=head: act[:, :, head]
            )
    _assert_close(got, expected, f"path patching into {component}")
    assert got.abs().max() > 0.01


def test_path_patching_to_mlps_matches_the_freezing_recipe(random_case):
    c = random_case
    sender = (1, 2)
    got = reference.path_patch_to_mlps(
        c.model, c.corrupted_tokens, c.clean_cache, c.corrupted_cache, c.metric, sender
    )
    assert got[0] == 0
    expected = torch.zeros_like(got)
    for layer in range(1, c.model.cfg.n_layers):
        expected[layer] = _frozen_path_patch(
            c, sender, get_act_name("mlp_out", layer), layer, lambda act: act
        )
    _assert_close(got, expected, "path patching into MLPs")
    assert got.abs().max() > 0.01


def test_path_patching_to_the_logits_is_patching_the_head_with_later_mlps_frozen(random_case):
    c = random_case
    sender = (1, 0)
    got = reference.path_patch_to_logits(
        c.model, c.corrupted_tokens, c.clean_cache, c.corrupted_cache, c.metric, sender
    )

    def patch_sender(z, hook):
        z = z.clone()
        z[:, :, 0] = c.clean_cache["z", 1][:, :, 0]
        return z

    frozen = [
        (
            get_act_name(name, layer),
            lambda act, hook, name=name, layer=layer: c.corrupted_cache[name, layer].clone(),
        )
        for layer in (1, 2)
        for name in ("mlp_out", "z")
        if (name, layer) != ("z", 1)
    ]
    with torch.no_grad():
        expected = c.metric(
            c.model.run_with_hooks(
                c.corrupted_tokens, fwd_hooks=[(get_act_name("z", 1), patch_sender), *frozen]
            )
        )
    _assert_close(got, expected, "path to the logits")
    assert abs(got) > 0.01


def test_path_patching_rejects_bad_arguments(random_case):
    c = random_case
    with pytest.raises(ValueError, match="component must be one of"):
        reference.path_patch_to_heads(
            c.model, c.corrupted_tokens, c.clean_cache, c.corrupted_cache, c.metric, (0, 0), "z"
        )
    with pytest.raises(ValueError, match="sender must be"):
        reference.path_patch_to_mlps(
            c.model, c.corrupted_tokens, c.clean_cache, c.corrupted_cache, c.metric, (3, 0)
        )


# --- attribution patching, faithfulness, statistics --------------------------------------------


def test_attribution_patching_matches_transformer_lens(ioi_case):
    """TL scores one prompt at a time and averages; a mean-over-prompts metric gives the same sum."""
    c = ioi_case
    got = reference.attribution_patch_heads(c.model, c.corrupted_tokens, c.clean_cache, c.metric)
    n = len(c.answers)
    expected = torch.zeros_like(got)
    for i in range(n):

        def metric_i(logits, i=i):  # prompt i's share of the batch metric
            one = reference.logit_diff(logits, c.answers[i : i + 1], c.wrong[i : i + 1])
            return c.metric_scale * one.mean() / n

        result = attribution_patch(
            c.model, c.clean_tokens[i : i + 1], c.corrupted_tokens[i : i + 1], metric_i
        )
        for node, score in result.node_scores.items():
            if node.kind == "attn_head_out":
                expected[node.layer, node.head] += score
    _assert_close(got, expected, "attribution of head outputs")
    assert got.abs().max() > 0.1


def test_attribution_of_the_residual_stream_is_exact_where_the_metric_is_linear(random_case):
    """Patching resid_pre of the last block into a model reduced to its unembedding is linear,
    so attribution patching is exact there; elsewhere it only approximates."""
    c = random_case
    got = reference.attribution_patch_resid(c.model, c.corrupted_tokens, c.clean_cache, c.metric)
    real = reference.patch_layer_pos(
        c.model, c.corrupted_tokens, c.clean_cache, c.metric, "resid_pre"
    )
    assert got.shape == real.shape
    unchanged = torch.stack(
        [
            (c.clean_cache["resid_pre", L] == c.corrupted_cache["resid_pre", L]).all(-1).all(0)
            for L in range(c.model.cfg.n_layers)
        ]
    )
    assert got[unchanged].abs().max() == 0  # nothing to patch, no estimate
    assert torch.corrcoef(torch.stack([got.flatten(), real.flatten()]))[0, 1] > 0.5


def test_run_with_circuit(ioi_case):
    c = ioi_case
    model, n_layers, n_heads = c.model, c.model.cfg.n_layers, c.model.cfg.n_heads
    means = reference.mean_z(model, c.corrupted_tokens)
    assert means.shape == (n_layers, c.corrupted_tokens.shape[1], n_heads, model.cfg.d_head)
    everything = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    with torch.no_grad():
        _assert_close(
            reference.run_with_circuit(model, c.clean_tokens, everything, means),
            model(c.clean_tokens),
            "full circuit",
        )

        def ablate(z, hook):
            z = z.clone()
            z[:, :, 1] = means[2, :, 1]
            return z

        expected = model.run_with_hooks(c.clean_tokens, fwd_hooks=[(get_act_name("z", 2), ablate)])
    got = reference.run_with_circuit(
        model, c.clean_tokens, [h for h in everything if h != (2, 1)], means
    )
    _assert_close(got, expected, "one head mean-ablated")


@pytest.mark.parametrize("n_resamples", [200, 1000])
def test_bootstrap_matches_transformer_lens_with_the_same_generator(n_resamples):
    values = torch.randn(37, generator=torch.Generator().manual_seed(5)) + 2
    low, high = tl_bootstrap_ci(
        values, n_resamples=n_resamples, confidence=0.9, generator=torch.Generator().manual_seed(11)
    )
    got = reference.bootstrap_ci(values, n_resamples=n_resamples, confidence=0.9, seed=11)
    assert torch.allclose(got, torch.stack([low, high]), atol=1e-6)
    assert got[0] < values.mean() < got[1]


def test_metrics():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[1, -1, 2], logits[0, 0, 1] = 4.0, 1.0, 100.0
    answers, wrong = torch.tensor([1, 2]), torch.tensor([0, 4])
    assert reference.logit_diff(logits, answers, wrong).tolist() == [4.0, 1.0]
    assert reference.normalized_metric(
        logits, answers, wrong, clean_ld=2.5, corrupted_ld=0.5
    ).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no gap"):
        reference.normalized_metric(logits, answers, wrong, clean_ld=1.0, corrupted_ld=1.0)


def test_sweeps_reject_bad_arguments(random_case):
    c = random_case
    args = (c.model, c.corrupted_tokens, c.clean_cache, c.metric)
    with pytest.raises(ValueError, match="act_name must be one of"):
        reference.patch_layer_pos(*args, "resid_mid")
    with pytest.raises(ValueError, match="act_name must be one of"):
        reference.patch_heads_all_pos(*args, "result")
    with pytest.raises(ValueError, match="act_name must be one of"):
        reference.patch_heads_by_pos(*args, "pattern")
    with pytest.raises(ValueError, match="cache a run on prompts of the same shape"):
        reference.patch_layer_pos(c.model, c.corrupted_tokens[:1], c.clean_cache, c.metric)
    with pytest.raises(ValueError, match="non-empty 1D tensor"):
        reference.bootstrap_ci(torch.zeros(2, 2))

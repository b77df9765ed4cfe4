"""mi_tutorial.data.repeated_tokens and mi_tutorial.train: the loop, the loss, the head scores."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mi_tutorial.course.recipes import RECIPES, run_recipe
from mi_tutorial.data import repeated_tokens
from mi_tutorial.metrics import induction_scores, lm_loss, prev_token_scores
from mi_tutorial.train import TrainResult, train

# --- repeated_tokens ------------------------------------------------------------------


def test_repeated_tokens_shape_and_repetition_with_bos():
    tokens = repeated_tokens(5, 7, 20, seed=0)
    assert tokens.shape == (5, 1 + 2 * 7) and tokens.dtype == torch.long
    assert (tokens[:, 0] == 0).all()
    assert torch.equal(tokens[:, 1:8], tokens[:, 8:])


def test_repeated_tokens_without_bos():
    tokens = repeated_tokens(5, 7, 20, seed=0, bos=None)
    assert tokens.shape == (5, 2 * 7)
    assert torch.equal(tokens[:, :7], tokens[:, 7:])


@pytest.mark.parametrize("distinct", [True, False])
def test_repeated_tokens_never_uses_the_bos_id_in_the_run_but_every_other_id(distinct):
    tokens = repeated_tokens(200, 6, 8, seed=1, bos=5, distinct=distinct)
    assert (tokens[:, 0] == 5).all()
    assert set(tokens[:, 1:].unique().tolist()) == {0, 1, 2, 3, 4, 6, 7}


def test_repeated_tokens_distinct_runs_have_no_repeats_and_others_may():
    run = repeated_tokens(100, 20, 64, seed=2)[:, 1:21]
    assert all(len(set(row.tolist())) == 20 for row in run)
    run = repeated_tokens(100, 20, 64, seed=2, distinct=False)[:, 1:21]
    assert any(len(set(row.tolist())) < 20 for row in run)  # ~95% of rows have a repeat


def test_repeated_tokens_is_deterministic_per_seed():
    assert torch.equal(repeated_tokens(4, 6, 50, seed=3), repeated_tokens(4, 6, 50, seed=3))
    assert not torch.equal(repeated_tokens(4, 6, 50, seed=3), repeated_tokens(4, 6, 50, seed=4))
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(
        repeated_tokens(4, 6, 50, generator=generator), repeated_tokens(4, 6, 50, seed=3)
    )


def test_repeated_tokens_rejects_bad_input_clearly():
    with pytest.raises(ValueError, match="bos=64.*0..63"):
        repeated_tokens(2, 3, 64, bos=64)
    with pytest.raises(ValueError, match="half_len"):
        repeated_tokens(2, 0, 64)
    with pytest.raises(ValueError, match="not both"):
        repeated_tokens(2, 3, 64, seed=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="10 distinct tokens.*leaves 7.*distinct=False"):
        repeated_tokens(2, 10, 8)
    assert repeated_tokens(2, 10, 8, distinct=False).shape == (2, 21)


# --- lm_loss --------------------------------------------------------------------------


def manual_lm_loss(logits, tokens, start):
    losses = []
    for b in range(tokens.shape[0]):
        for p in range(max(start, 1), tokens.shape[1]):  # p: the position being predicted
            log_probs = logits[b, p - 1].log_softmax(-1)
            losses.append(-log_probs[tokens[b, p]])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("start", [0, 1, 4, 8])
def test_lm_loss_matches_a_manual_computation(start):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 9, 11, generator=generator)
    tokens = torch.randint(0, 11, (3, 9), generator=generator)
    torch.testing.assert_close(
        lm_loss(logits, tokens, start=start), manual_lm_loss(logits, tokens, start)
    )


def test_lm_loss_explains_mismatched_shapes():
    with pytest.raises(ValueError, match=r"logits \[2, 5, 7\] and tokens \[2, 6\]"):
        lm_loss(torch.zeros(2, 5, 7), torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="start"):
        lm_loss(torch.zeros(2, 5, 7), torch.zeros(2, 5, dtype=torch.long), start=5)


# --- train ----------------------------------------------------------------------------


class LearnerModel(nn.Module):
    """A plain hand-written module, as a learner would write one."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(4, 1))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x @ self.W + self.b


TRUE_W = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def regression_batch(step):
    x = torch.randn(32, 4)  # global RNG: train() seeds it, so runs repeat
    return x, x @ TRUE_W + 0.1


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_train_decreases_the_loss_and_leaves_the_model_in_eval_mode():
    model = LearnerModel()
    modes = []

    def loss_fn(model, batch):
        modes.append(model.training)
        return mse(model, batch)

    result = train(model, regression_batch, loss_fn, steps=300, lr=3e-2, progress=False)
    assert isinstance(result, TrainResult)
    assert result.steps == 300 and len(result.losses) == 300 and result.seconds > 0
    assert result.final_loss < 0.01 * result.losses[0]
    assert all(modes) and not model.training
    torch.testing.assert_close(model.W.detach(), TRUE_W, atol=0.05, rtol=0)


def test_train_is_deterministic_for_a_seed():
    def run(seed):
        model = LearnerModel()
        result = train(model, regression_batch, mse, steps=20, lr=1e-2, seed=seed, progress=False)
        return result.losses, model.W.detach().clone()

    losses_a, weights_a = run(seed=5)
    losses_b, weights_b = run(seed=5)
    assert losses_a == losses_b and torch.equal(weights_a, weights_b)
    assert run(seed=6)[0] != losses_a


def test_train_stops_with_a_clear_message_when_the_loss_becomes_nan():
    def batch_going_bad(step):
        x, y = regression_batch(step)
        return (x * float("nan"), y) if step == 3 else (x, y)

    with pytest.raises(FloatingPointError, match="nan at step 3 of 10.*lower learning rate"):
        train(LearnerModel(), batch_going_bad, mse, steps=10, progress=False)


def test_train_with_a_huge_learning_rate_diverges_clearly():
    with pytest.raises(FloatingPointError, match="lr=1e\\+30"):
        train(LearnerModel(), regression_batch, mse, steps=50, lr=1e30, progress=False)


def test_train_explains_a_loss_that_is_not_a_scalar_or_not_differentiable():
    with pytest.raises(TypeError, match=r"scalar tensor, got \[32, 1\].*mean\(\)"):
        train(
            LearnerModel(),
            regression_batch,
            lambda m, b: (m(b[0]) - b[1]) ** 2,
            steps=1,
            progress=False,
        )
    with pytest.raises(ValueError, match="does not depend on the model"):
        train(
            LearnerModel(),
            regression_batch,
            lambda m, b: mse(m, b).detach(),
            steps=1,
            progress=False,
        )
    with pytest.raises(ValueError, match="steps"):
        train(LearnerModel(), regression_batch, mse, steps=0)


# --- head scores, on attention patterns built by hand -----------------------------------


def fake_model(patterns):
    """Something with the two attributes the score functions use: cfg.n_layers and
    run_with_cache returning a cache indexed as cache["pattern", layer]."""
    cache = {("pattern", layer): pattern for layer, pattern in enumerate(patterns)}
    return SimpleNamespace(
        cfg=SimpleNamespace(n_layers=len(patterns)),
        run_with_cache=lambda tokens, names_filter=None: (None, cache),
    )


def test_head_scores_read_the_right_stripes_of_the_pattern():
    half_len, n_pos = 5, 11  # BOS + 2 x 5
    previous = torch.zeros(n_pos, n_pos)
    previous[0, 0] = 1.0
    previous[torch.arange(1, n_pos), torch.arange(0, n_pos - 1)] = 1.0  # q attends q - 1
    induction = torch.eye(n_pos)
    queries = torch.arange(n_pos - half_len, n_pos)  # the second half
    induction[queries] = 0.0
    induction[queries, queries - half_len + 1] = 1.0  # q attends just after its earlier copy
    uniform = torch.tril(torch.ones(n_pos, n_pos))
    uniform = uniform / uniform.sum(-1, keepdim=True)
    # Layer 0: head 0 previous-token, head 1 uniform. Layer 1: head 0 uniform, head 1 induction.
    layer_0 = torch.stack([previous, uniform]).expand(3, 2, n_pos, n_pos)  # [batch, head, q, k]
    layer_1 = torch.stack([uniform, induction]).expand(3, 2, n_pos, n_pos)
    model = fake_model([layer_0, layer_1])
    tokens = repeated_tokens(3, half_len, 10, seed=0)

    scores = induction_scores(model, tokens, half_len)
    assert scores.shape == (2, 2)
    assert scores[1, 1] == 1.0 and scores[0, 0] == 0.0 and scores.argmax() == 3
    scores = prev_token_scores(model, tokens)
    assert scores[0, 0] == 1.0 and scores.argmax() == 0 and scores[1, 1] < 0.5
    with pytest.raises(ValueError, match="half_len=6"):
        induction_scores(model, tokens, half_len=6)  # 11 positions hold at most 2 x 5


# --- recipes --------------------------------------------------------------------------


def test_unknown_recipe_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="'attn-only-3l'.*attn-only-2l"):
        run_recipe("attn-only-3l", out_dir=tmp_path)
    assert "attn-only-2l" in RECIPES

"""mi_tutorial.transcoders: the replacement model is exact on its prompt, the batched graph
equals one backward pass per row, influence sums paths, and bad input gets a clear message."""

from __future__ import annotations

import pytest
import torch

from mi_tutorial import models, transcoders as tc_lib

CONFIG = dict(
    n_layers=2,
    d_model=16,
    n_heads=2,
    d_head=8,
    d_mlp=32,
    d_vocab=20,
    n_ctx=12,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)


@pytest.fixture(scope="module")
def setup():
    with torch.random.fork_rng():
        model = models.boot(CONFIG)
    transcoders = [
        tc_lib.TopKTranscoder(16, 24, 3, seed=L).eval().requires_grad_(False) for L in range(2)
    ]
    tokens = torch.tensor([0, 3, 7, 1, 9, 4])
    return model.eval(), transcoders, tokens


def test_replacement_model_reproduces_the_logits(setup):
    model, transcoders, tokens = setup
    frozen = tc_lib.freeze(model, transcoders, tokens)
    p = model.tl_parameters()
    embed = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][: len(tokens)]
    with torch.no_grad():
        logits, pres = tc_lib.run_replacement(model, transcoders, frozen, embed)
        assert torch.allclose(logits, model(tokens[None])[0], atol=1e-5)
    assert [pre.shape for pre in pres] == [torch.Size([6, 24])] * 2


def test_graph_rows_add_up_and_match_a_single_backward_pass(setup):
    model, transcoders, tokens = setup
    target = torch.zeros(20)
    target[5] = 1.0
    graph = tc_lib.attribution_graph(model, transcoders, tokens, target)
    n_feat = graph.kinds.count("feature")
    assert len(graph) == 6 + n_feat + 2 * 6 + 1 and graph.adjacency[:, -1].abs().sum() == 0
    # the target row: edges + what the biases give alone = the target's value
    frozen = tc_lib.freeze(model, transcoders, tokens)
    p = model.tl_parameters()
    embed = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][: len(tokens)]
    with torch.no_grad():
        logits, pres = tc_lib.run_replacement(model, transcoders, frozen, embed)
        zero = tc_lib.Frozen(
            frozen.patterns,
            frozen.ln1_scale,
            frozen.ln2_scale,
            frozen.ln_final_scale,
            frozen.errors * 0,
        )
        bias = (
            tc_lib.run_replacement(model, transcoders, zero, embed * 0, [pre * 0 for pre in pres])[
                0
            ][-1]
            @ target
        )
    assert torch.allclose(graph.adjacency[-1].sum() + bias, logits[-1] @ target, atol=1e-4)


def test_influence_of_a_chain_multiplies_along_it():
    A = torch.zeros(3, 3)
    A[1, 0], A[2, 1] = 2.0, -1.0  # 0 -> 1 -> 2
    assert torch.allclose(tc_lib.influence(A), torch.tensor([1.0, 1.0, 0.0]))


def test_bad_input_is_named():
    tc = tc_lib.TopKTranscoder(4, 8, 2)
    with pytest.raises(ValueError, match="as many rows"):
        tc_lib.train_transcoder(tc, torch.zeros(5, 4), torch.zeros(6, 4), steps=1)
    with pytest.raises(ValueError, match="k must be"):
        tc_lib.TopKTranscoder(4, 8, 9)
    with pytest.raises(ValueError, match="one prompt"):
        tc_lib.freeze(None, [tc], torch.zeros(2, 3, dtype=torch.long))


def test_training_lowers_the_error():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 8, generator=g)
    y = torch.relu(x @ torch.randn(8, 8, generator=g))
    tc = tc_lib.TopKTranscoder(8, 32, 4)
    before = tc_lib.nmse(y, tc(x).detach())
    result = tc_lib.train_transcoder(tc, x, y, steps=60, batch_size=512, lr=1e-2)
    assert tc_lib.nmse(y, tc(x).detach()) < 0.5 * before and result.steps == 60

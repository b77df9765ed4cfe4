# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 10 — Circuit tracing: transcoders, a replacement model, attribution graphs
#
# The method behind Anthropic's 2025 "Circuit Tracing" and "On the Biology of a Large
# Language Model" papers, and behind Neuronpedia's graphs: replace every MLP of a model by
# a **transcoder** — a sparse, wide layer trained to compute what the MLP computes — and
# freeze the attention patterns and LayerNorm scales of one prompt. What remains is a
# *linear* network between sparse, interpretable features, from the prompt's tokens to the
# answer's logit. Its edges say which feature drives which; interventions on the real model
# then confirm or refute them.
#
# You build it all by hand on `tinyworld-lm`, where we wrote the data and know what every
# feature should be (a town, a colour, a name). Sources: Dunefsky, Chlenski & Nanda (2024),
# *Transcoders Find Interpretable LLM Feature Circuits*; Ameisen et al. (2025), *Circuit
# Tracing*; Lindsey et al. (2025), *On the Biology of a Large Language Model*; Paulo,
# Shabalin & Belrose (2025), *Transcoders Beat Sparse Autoencoders for Interpretability*.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - write and train a TopK transcoder per MLP and report its normalised MSE, L0 and the CE
#   loss recovered with every MLP replaced at once;
# - build the replacement model of a prompt (frozen attention and LayerNorm scales,
#   transcoders plus error terms) and show that it reproduces the logits exactly;
# - compute an attribution graph (activation × gradient through the frozen linear paths),
#   measure each node's influence on the answer and prune the graph;
# - label the graph's features with ground truth and read the path from `Velmar` to its
#   flag's colour;
# - test the graph by ablating its features in the real model, and say why prediction and
#   measurement disagree;
# - compare the IOI circuit the graph shows with the one chapter 03 found by patching.
#
# **How the exercises work** — as before: write your code where it says
# `raise NotImplementedError()` and run the cell; the check under it prints one line when
# you are right and names the likely mistake when you are not.
#
# **Shapes.** `pos` a position in the prompt, `d_model` the residual stream, `d_tc` the
# number of transcoder features, `layer`, `head`, `d_vocab`; `n` counts graph nodes.

# %%
import copy
import time
from collections import Counter
from collections.abc import Callable

import plotly.graph_objects as go
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from mi_tutorial import checks, metrics, models, plotting, train, transcoders as tc_lib
from mi_tutorial.data import tinyworld

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)
model = models.load_toy_model("tinyworld-lm")
N_LAYERS, D_MODEL = model.cfg.n_layers, model.cfg.d_model
P = model.tl_parameters()  # W_E, W_pos, blocks.L.attn.W_V, ... by their TransformerLens names

# %% [markdown]
# ## Part 1 — Transcoders
#
# A sparse autoencoder (chapter 05) rewrites an activation as a sparse sum of directions.
# A **transcoder** does the same for a *computation*: it reads the MLP's input `x` (the
# output of `ln2`, hook `blocks.L.mlp.hook_in`) and predicts the MLP's output (`hook_mlp_out`):
#
# ```
# pre = x @ W_enc + b_enc                 [d_tc]     pre-activations
# f   = TopK(pre, k), ReLU'd              [d_tc]     features: at most k non-zero
# ŷ   = f @ W_dec + b_dec                 [d_model]  ≈ the MLP's output
# ```
#
# Unlike an SAE, it does not subtract `b_dec` from its input: input and output live in
# different places. The payoff: a feature's *input* side says when it fires, its *output*
# side (`W_dec[i]`) what it writes — the MLP's non-linearity is replaced by a sparse one we
# can read.

# %% [markdown]
# ### Exercise 10.1 — The transcoder
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Write `encode` (the TopK activation: keep the `k` largest pre-activations of each row,
# ReLU them, zeros elsewhere) and `decode`. Leave `__init__` as it is.


# %%
class Transcoder(nn.Module):
    def __init__(self, d_in: int, d_tc: int, k: int, seed: int = 0):
        super().__init__()
        self.d_in, self.d_tc, self.k = d_in, d_tc, k
        reference = tc_lib.TopKTranscoder(d_in, d_tc, k, seed=seed)  # the library's initialisation
        self.W_enc, self.b_enc = (
            nn.Parameter(reference.W_enc.data),
            nn.Parameter(reference.b_enc.data),
        )
        self.W_dec, self.b_dec = (
            nn.Parameter(reference.W_dec.data),
            nn.Parameter(reference.b_dec.data),
        )

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_tc"]:
        """TopK(x @ W_enc + b_enc), ReLU'd: the k largest per row, zeros elsewhere."""
        ### BEGIN SOLUTION
        pre = x @ self.W_enc + self.b_enc
        top = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
        ### END SOLUTION

    def decode(self, f: Float[Tensor, "... d_tc"]) -> Float[Tensor, "... d_model"]:
        """The predicted MLP output f @ W_dec + b_dec."""
        ### BEGIN SOLUTION
        return f @ self.W_dec + self.b_dec
        ### END SOLUTION

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_model"]:
        return self.decode(self.encode(x))


checks.ch10.check_transcoder(Transcoder)

# %% [markdown]
# ### Exercise 10.2 — Normalised MSE
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# How good is a transcoder? The **normalised MSE**: `Σ‖y − ŷ‖² / Σ‖y − mean(y)‖²`, both sums
# over every row and dimension, `mean(y)` the mean output vector. 0 is perfect; 1 is no
# better than always predicting the mean. Return a Python float.


# %%
def normalized_mse(target: Float[Tensor, "batch d"], prediction: Float[Tensor, "batch d"]) -> float:
    """Σ‖target - prediction‖² / Σ‖target - mean(target)‖², pooled over all rows."""
    ### BEGIN SOLUTION
    error = (target - prediction).pow(2).sum()
    spread = (target - target.mean(dim=0)).pow(2).sum()
    return (error / spread).item()
    ### END SOLUTION


checks.ch10.check_normalized_mse(normalized_mse)

# %% [markdown]
# We cache every MLP's input and output on 512 sequences of training text (32,768 vectors
# per layer) and train one transcoder per MLP: 512 features (4× the MLP's input), `k = 16`,
# 60 Adam steps of 4,096 vectors with the library's fast trainer (the same loss as
# chapter 05's TopK SAE: the squared error summed over `d_model`).

# %%
D_TC, K, STEPS = 512, 16, 60
corpus = tinyworld.sample_corpus(512, 64, seed=0, split="train")
test_corpus = tinyworld.sample_corpus(128, 64, seed=1, split="test")
start, cpu_start = time.perf_counter(), time.process_time()
mlp_in, mlp_out = tc_lib.mlp_activations(model, corpus.tokens)  # [layer batch*pos d_model] each
test_in, test_out = tc_lib.mlp_activations(model, test_corpus.tokens)
transcoders = []
for layer in range(N_LAYERS):
    transcoder = Transcoder(D_MODEL, D_TC, K, seed=layer)
    tc_lib.train_transcoder(transcoder, mlp_in[layer], mlp_out[layer], steps=STEPS, lr=6e-3)
    transcoders.append(transcoder.eval().requires_grad_(False))
train_cpu = time.process_time() - cpu_start
print(
    f"caching and training {N_LAYERS} transcoders: {time.perf_counter() - start:.1f} s "
    f"({train_cpu:.1f} s of CPU)"
)
with torch.no_grad():
    nmse = [normalized_mse(test_out[L], transcoders[L](test_in[L])) for L in range(N_LAYERS)]
    l0 = [
        (transcoders[L].encode(test_in[L]) > 0).sum(-1).float().mean().item()
        for L in range(N_LAYERS)
    ]
for layer in range(N_LAYERS):
    print(f"layer {layer}: normalised MSE {nmse[layer]:.3f}, L0 {l0[layer]:.1f} (held-out text)")
assert max(nmse) < 0.2 and nmse[0] == max(nmse)  # layer 0 is the hardest

# %% [markdown]
# ### Exercise 10.3 — Every MLP replaced at once
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# The test that matters: replace **every** MLP's output by its transcoder's prediction from
# the MLP's input, in one run, and measure the loss. Hook each layer's `mlp.hook_in` to
# remember the input and `hook_mlp_out` to return the transcoder's output instead (the input
# hook runs first). Errors compound: layer 2's transcoder sees an input that layer 1's
# transcoder already changed. Return the logits.


# %%
def splice_transcoders(
    model, transcoders: list[nn.Module], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch pos d_vocab"]:
    """Logits with every MLP's output replaced by its transcoder's prediction."""
    ### BEGIN SOLUTION
    inputs = {}

    def keep_input(x, hook, layer):
        inputs[layer] = x

    def replace_output(out, hook, layer):
        return transcoders[layer](inputs[layer])

    hooks = []
    for layer in range(model.cfg.n_layers):
        hooks.append(
            (f"blocks.{layer}.mlp.hook_in", lambda x, hook, layer=layer: keep_input(x, hook, layer))
        )
        hooks.append(
            (
                f"blocks.{layer}.hook_mlp_out",
                lambda out, hook, layer=layer: replace_output(out, hook, layer),
            )
        )
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks)
    ### END SOLUTION


checks.ch10.check_splice_transcoders(splice_transcoders)

# %% [markdown]
# The **CE loss recovered** (chapter 05's `ce_loss_score`): 1 when the spliced model loses
# nothing, 0 when it is as bad as zeroing every MLP.

# %%
with torch.no_grad():
    tokens = test_corpus.tokens
    clean_loss = metrics.lm_loss(model(tokens), tokens).item()
    spliced_loss = metrics.lm_loss(splice_transcoders(model, transcoders, tokens), tokens).item()
    zero = [
        (f"blocks.{L}.hook_mlp_out", lambda out, hook: torch.zeros_like(out))
        for L in range(N_LAYERS)
    ]
    zero_loss = metrics.lm_loss(model.run_with_hooks(tokens, fwd_hooks=zero), tokens).item()
ce_recovered = (zero_loss - spliced_loss) / (zero_loss - clean_loss)
print(
    f"loss: clean {clean_loss:.3f}, every MLP a transcoder {spliced_loss:.3f}, every MLP zeroed "
    f"{zero_loss:.3f}: "
    f"CE loss recovered {ce_recovered:.3f}"
)
assert ce_recovered > 0.9

# %% [markdown]
# ## Part 2 — The replacement model
#
# The spliced model is not the model: it loses some loss. For *one prompt* we can make it
# exact. Add to each transcoder's output an **error term**, the MLP's true output minus the
# transcoder's, a constant vector per (layer, position). And freeze what is non-linear
# outside the MLPs: the **attention patterns** and the **LayerNorm scales** (the `√var`
# each LayerNorm divides by), at their values on this prompt. What is left is linear in the
# residual stream, except for the transcoders' TopK:
#
# ```
# x      = embed (token + position)
# for each layer L:
#   x   += Attn_L(frozen_ln1(x))        the frozen pattern mixes positions, W_V, W_O
#   x   += transcoder_L(frozen_ln2(x)) + error[L]
# logits = frozen_ln_final(x) @ W_U + b_U
# ```
#
# `tc_lib.freeze(model, transcoders, tokens)` runs the prompt and returns a `Frozen`:
# `patterns [layer, head, q_pos, k_pos]`, `ln1_scale`, `ln2_scale [layer, pos, 1]`,
# `ln_final_scale [pos, 1]`, `errors [layer, pos, d_model]`.

# %% [markdown]
# ### Exercise 10.4 — A frozen LayerNorm
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# A LayerNorm centres `x`, divides by its scale and applies `w` and `b`. Frozen, the scale
# is given (the clean run's) instead of computed from `x`: the map becomes affine in `x`.


# %%
def frozen_layernorm(
    x: Float[Tensor, "... pos d_model"],
    scale: Float[Tensor, "... pos 1"],
    w: Float[Tensor, "d_model"],
    b: Float[Tensor, "d_model"],
) -> Float[Tensor, "... pos d_model"]:
    """(x - mean of x over d_model) / scale * w + b, with the scale given."""
    ### BEGIN SOLUTION
    return (x - x.mean(dim=-1, keepdim=True)) / scale * w + b
    ### END SOLUTION


checks.ch10.check_frozen_layernorm(frozen_layernorm)

# %% [markdown]
# ### Exercise 10.5 — The replacement forward pass
# Difficulty 3/5 · Importance 5/5 · ~20 minutes
#
# Write the loop above for one prompt (no batch dimension). Attention with a frozen
# pattern: `v = ln1(x) @ W_V + b_V` per head (`W_V [head, d_model, d_head]`), `z[q] = Σ_k
# pattern[head, q, k] · v[k]`, output `Σ_head z @ W_O[head] + b_O`. The parameters are in
# `P` by name (`P[f"blocks.{L}.attn.W_V"]`, `P[f"blocks.{L}.ln1.w"]`, `P["unembed.W_U"]`, …).
# Also return each layer's transcoder **pre-activations** `ln2(x) @ W_enc + b_enc`: the
# graph's features are targets through them.
#
# With `features=None` each transcoder encodes its input (TopK). With `features` given (a
# list, one `[pos, d_tc]` tensor per layer) use them as the activations as they are: then
# no TopK sits between two layers, and the model is linear in its inputs — the graph.


# %%
def replacement_forward(
    model,
    transcoders: list[nn.Module],
    frozen: tc_lib.Frozen,
    embed: Float[Tensor, "pos d_model"],
    features: list[Tensor] | None = None,
) -> tuple[Float[Tensor, "pos d_vocab"], list[Tensor]]:
    """(logits, each layer's transcoder pre-activations [pos d_tc]) of the replacement model."""
    P = model.tl_parameters()
    ### BEGIN SOLUTION
    x = embed
    pres = []
    for L in range(model.cfg.n_layers):
        normed = frozen_layernorm(
            x, frozen.ln1_scale[L], P[f"blocks.{L}.ln1.w"], P[f"blocks.{L}.ln1.b"]
        )
        v = (
            torch.einsum("kd,hde->khe", normed, P[f"blocks.{L}.attn.W_V"])
            + P[f"blocks.{L}.attn.b_V"]
        )  # [pos head d_head]
        z = torch.einsum("hqk,khe->qhe", frozen.patterns[L], v)
        x = (
            x
            + torch.einsum("qhe,hed->qd", z, P[f"blocks.{L}.attn.W_O"])
            + P[f"blocks.{L}.attn.b_O"]
        )
        mlp_input = frozen_layernorm(
            x, frozen.ln2_scale[L], P[f"blocks.{L}.ln2.w"], P[f"blocks.{L}.ln2.b"]
        )
        transcoder = transcoders[L]
        pres.append(mlp_input @ transcoder.W_enc + transcoder.b_enc)
        f = transcoder.encode(mlp_input) if features is None else features[L]
        x = x + transcoder.decode(f) + frozen.errors[L]
    final = frozen_layernorm(x, frozen.ln_final_scale, P["ln_final.w"], P["ln_final.b"])
    return final @ P["unembed.W_U"] + P["unembed.b_U"], pres
    ### END SOLUTION


checks.ch10.check_replacement_forward(replacement_forward)

# %% [markdown]
# The prompt of this chapter: `the flag of Velmar is`. TinyWorld's fact table says Velmar's
# flag is blue. Is the replacement model exact on it?

# %%
fact_tokens, fact_answers, fact_texts = tinyworld.fact_questions("flag")
VELMAR = tinyworld.TOWNS.index("Velmar")
prompt = fact_tokens[VELMAR]  # [pos]
answer = int(fact_answers[VELMAR])
words = [tinyworld.VOCAB[t] for t in prompt]
frozen = tc_lib.freeze(model, transcoders, prompt)
embed = P["embed.W_E"][prompt] + P["pos_embed.W_pos"][: len(prompt)]
with torch.no_grad():
    true_logits = model(prompt[None])[0]
    replaced_logits, _ = replacement_forward(model, transcoders, frozen, embed)
gap = (replaced_logits - true_logits).abs().max().item()
print(
    f"{fact_texts[VELMAR]!r} → the model says {tinyworld.VOCAB[true_logits[-1].argmax()]!r} "
    f"(the fact table: {tinyworld.FACTS[('Velmar', 'flag')]!r}); replacement vs real logits: max "
    f"gap {gap:.1e} "
    f"(logits up to {true_logits.abs().max():.0f})"
)
assert true_logits[-1].argmax() == answer and gap < 1e-4

# %% [markdown]
# Exact to float precision. Exact *on this prompt* only: a different prompt needs its own
# patterns, scales and error terms. That is the bargain of the method — an exact, readable
# account of one computation, not a model of the model.
#
# ## Part 3 — The attribution graph
#
# Hold every feature's activation fixed (pass them as `features`): the replacement model is
# then linear in its **nodes** — each position's embedding, each active feature, each error
# term. The **direct effect** of a node `s` on a target `t` (a later feature's
# pre-activation, or the answer's logit) is `a_s · ∂t/∂a_s`, the gradient taken with the
# other nodes fixed, so it only flows through frozen attention and LayerNorms, never through
# another feature. For an embedding or error node, a vector, it is the dot product of the
# node with the gradient. Since the map is linear, the direct effects into `t` add up to `t`
# minus what the biases alone give.
#
# The target here: the answer's logit minus the mean logit (what a softmax sees).

# %% [markdown]
# ### Exercise 10.6 — Direct effects on one target
# Difficulty 3/5 · Importance 5/5 · ~20 minutes
#
# Make leaves that require gradients: `embed`, each layer's feature activations, and the
# error terms (replace `frozen.errors` in a copy: `copy.copy(frozen)` then assign). Run your
# `replacement_forward` with `features` given, compute `target(logits, pres)` (a scalar),
# backpropagate once, and return activation × gradient: `[pos]` for the embeddings (summed
# over `d_model`), one `[pos, d_tc]` tensor per layer for the features, `[layer, pos]` for
# the errors.


# %%
def direct_effects(
    model,
    transcoders: list[nn.Module],
    frozen: tc_lib.Frozen,
    embed: Float[Tensor, "pos d_model"],
    features: list[Tensor],
    target: Callable,
) -> tuple[Float[Tensor, "pos"], list[Tensor], Float[Tensor, "layer pos"]]:
    """Each node's direct effect (activation × gradient) on target(logits, pres)."""
    ### BEGIN SOLUTION
    embed = embed.detach().clone().requires_grad_(True)
    features = [f.detach().clone().requires_grad_(True) for f in features]
    leaves = copy.copy(frozen)
    leaves.errors = frozen.errors.detach().clone().requires_grad_(True)
    logits, pres = replacement_forward(model, transcoders, leaves, embed, features)
    grads = torch.autograd.grad(
        target(logits, pres), [embed, *features, leaves.errors], allow_unused=True
    )
    grads = [
        torch.zeros_like(x) if g is None else g
        for g, x in zip(grads, [embed, *features, leaves.errors])
    ]
    embed_effects = (grads[0] * embed).sum(-1).detach()
    feature_effects = [(g * f).detach() for g, f in zip(grads[1:-1], features)]
    error_effects = (grads[-1] * leaves.errors).sum(-1).detach()
    return embed_effects, feature_effects, error_effects
    ### END SOLUTION


checks.ch10.check_direct_effects(direct_effects)

# %% [markdown]
# One backward pass gives one row of the graph (the edges into one target). The graph has a
# row per active feature plus the target: `tc_lib.attribution_graph` computes every row in
# one *batched* backward pass (`torch.autograd.grad(..., is_grads_batched=True)`). Its row
# for the target must be yours:

# %%
target_vector = -torch.full((model.cfg.d_vocab,), 1 / model.cfg.d_vocab)
target_vector[answer] += 1  # the answer's logit minus the mean logit


def answer_target(logits, pres):
    return logits[-1] @ target_vector


with torch.no_grad():
    _, pres = replacement_forward(model, transcoders, frozen, embed)
    acts = [
        torch.zeros_like(pre).scatter(-1, pre.topk(K, -1).indices, pre.topk(K, -1).values.relu())
        for pre in pres
    ]
mine = direct_effects(model, transcoders, frozen, embed, acts, answer_target)
graph = tc_lib.attribution_graph(model, transcoders, prompt, target_vector)
graph = tc_lib.attribution_graph(
    model, transcoders, prompt, target_vector
)  # timed the second time (warm)
feature_rows = [
    (L, p, f)
    for L, p, f in zip(graph.layers.tolist(), graph.positions.tolist(), graph.features.tolist())
]
library_row = graph.adjacency[-1]
mine_flat = torch.cat(
    [mine[0]] + [mine[1][L][acts[L] > 0] for L in range(N_LAYERS)] + [mine[2].flatten()]
)
n_embed, n_features = len(prompt), sum(int((a > 0).sum()) for a in acts)
print(
    f"graph: {len(graph)} nodes ({len(prompt)} embeddings, {n_features} features, "
    f"{N_LAYERS * len(prompt)} errors, "
    f"1 target) in {graph.seconds:.2f} s ({graph.cpu_seconds:.2f} s of CPU); its target row vs "
    "yours: max gap "
    f"{(library_row[:-1] - mine_flat).abs().max():.1e}"
)
no_errors = copy.copy(frozen)
no_errors.errors = torch.zeros_like(frozen.errors)
with torch.no_grad():  # every node at 0: what the biases (b_O, b_dec, LayerNorm b, b_U) give alone
    bias_only = answer_target(
        *replacement_forward(
            model, transcoders, no_errors, torch.zeros_like(embed), [a * 0 for a in acts]
        )
    )
    value = answer_target(replaced_logits, None)
print(f"target {value:.3f} = edges {library_row.sum():.3f} + biases {bias_only:.3f}")
assert torch.allclose(library_row[:-1], mine_flat, atol=1e-4) and graph.cpu_seconds < 1
assert abs(library_row.sum() + bias_only - value) < 1e-3

# %% [markdown]
# The whole graph in under a second of CPU (the budget was 5 s). Edges into the target alone are not the story: a
# feature can matter through the features it drives. The paper's measure of a node's
# **influence** on the target counts every path. Normalise: take `|A|` (`A[t, s]` is the
# edge from `s` into `t`) and divide each row by its sum, so that each node splits "1" among
# its inputs by their share of its direct effects. The influence of `s` is then the
# target's row of `A + A² + A³ + …` (paths of length 1, 2, 3, …): the graph has no cycle, so
# the sum is finite, `(I − A)⁻¹ − I`.

# %% [markdown]
# ### Exercise 10.7 — Influence
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Return the influence of every node on the target, the graph's **last** node (`[n]`).
# Mind rows of zeros (nodes with no inputs: embeddings, errors): dividing by 0 gives NaN;
# clamp the row sums (`.clamp_min(1e-12)`). `torch.linalg.solve(I - A, I)` is `(I − A)⁻¹`.


# %%
def node_influence(adjacency: Float[Tensor, "n n"]) -> Float[Tensor, "n"]:
    """Target's (last node's) row of Σ_k Â^k, Â = |A| with rows normalised to sum 1."""
    ### BEGIN SOLUTION
    A = adjacency.abs()
    A = A / A.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    eye = torch.eye(len(A))
    return (torch.linalg.solve(eye - A, eye) - eye)[-1]
    ### END SOLUTION


checks.ch10.check_node_influence(node_influence)

# %% [markdown]
# ### Exercise 10.8 — Pruning
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Keep the **fewest** nodes, taken by decreasing influence, whose influence adds up to at
# least `share` of the total (`share = 0.8`: the nodes that carry 80% of it). Return a
# boolean mask `[n]`. A share met exactly counts as met.


# %%
def prune_nodes(influence: Float[Tensor, "n"], share: float = 0.8) -> Bool[Tensor, "n"]:
    """Mask of the fewest most-influential nodes whose influence sums to >= share of the total."""
    ### BEGIN SOLUTION
    values, order = influence.sort(descending=True)
    cumulative = values.cumsum(0)
    # the first prefix that reaches the share
    n_keep = int((cumulative < share * values.sum()).sum()) + 1
    keep = torch.zeros(len(influence), dtype=torch.bool)
    keep[order[:n_keep]] = True
    return keep
    ### END SOLUTION


checks.ch10.check_prune_nodes(prune_nodes)

# %%
influence = node_influence(graph.adjacency)
SHARE = 0.8
kept = prune_nodes(influence, SHARE)
kept[-1] = True  # the target itself
kinds = Counter(kind for kind, keep in zip(graph.kinds, kept.tolist()) if keep)
error_share = (
    influence[[i for i, kind in enumerate(graph.kinds) if kind == "error"]].sum() / influence.sum()
)
print(
    f"{int(kept.sum())} of {len(graph)} nodes carry {SHARE:.0%} of the influence: {dict(kinds)}; "
    f"the error nodes' share of all influence: {error_share:.1%}"
)
assert kept.sum() < len(graph) / 2 and error_share < 0.5

# %% [markdown]
# A small share of the nodes carries most of the influence. The error nodes are what the
# transcoders miss; their share says how much of this computation the graph does *not*
# explain in features — a dark-matter figure every attribution graph should print.
#
# ## Part 4 — Reading the graph
#
# What are the features? We wrote TinyWorld, so every word has a ground-truth category:
# one of 20 names, 8 towns, 8 colours, 8 foods, a place, an object, or a word of one of the
# six topics. A feature's **label** is the category most common among the tokens where it
# fires hardest on held-out text, with its **purity** (the share of those tokens in that
# category). The exercise cell below starts with `category(word)`, which gives them.

# %% [markdown]
# ### Exercise 10.9 — A feature's label
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# From one feature's activations on `n` tokens and the tokens' ids, take the `k` tokens
# where it is largest, map each to its `category` (`tinyworld.VOCAB[id]` is the word), and
# return the most common category and its share among the `k`, as `(str, float)`.

# %%
CATEGORIES = {
    **{w: "name" for w in tinyworld.NAMES},
    **{w: "town" for w in tinyworld.TOWNS},
    **{w: "colour" for w in tinyworld.COLORS},
    **{w: "food" for w in tinyworld.FOODS},
    **{w: "place" for w in tinyworld.PLACES},
    **{w: "object" for w in tinyworld.OBJECTS},
}
for word, topic in tinyworld.topic_of_word().items():
    CATEGORIES.setdefault(word, f"{topic} topic")


def category(word: str) -> str:
    """A word's TinyWorld category, or the word itself when it has none (`is`, `the`, ...)."""
    return CATEGORIES.get(word, f"'{word}'")


def label_feature(
    acts: Float[Tensor, "n"], tokens: Int[Tensor, "n"], k: int = 20
) -> tuple[str, float]:
    """(most common category among the k top-activating tokens, its share of the k)."""
    ### BEGIN SOLUTION
    top = acts.topk(k).indices
    counts = Counter(category(tinyworld.VOCAB[int(tokens[i])]) for i in top)
    label, count = counts.most_common(1)[0]
    return label, count / k
    ### END SOLUTION


checks.ch10.check_label_feature(label_feature)

# %% [markdown]
# Each kept feature gets an input label (where it fires) and an output label (the word its
# decoder direction pushes up most, read through the unembedding, `W_dec[i] @ W_U`). The
# graph, drawn by layer and position; hover over a node for its labels and top contexts.

# %%
flat_tokens = test_corpus.tokens.flatten()
with torch.no_grad():
    test_features = [
        transcoders[L].encode(test_in[L]) for L in range(N_LAYERS)
    ]  # [tokens d_tc] per layer


def describe(node: int) -> str:
    kind, L, pos, f = (
        graph.kinds[node],
        int(graph.layers[node]),
        int(graph.positions[node]),
        int(graph.features[node]),
    )
    if kind != "feature":
        return {
            "embed": f"embedding of '{words[pos]}'",
            "error": f"error L{L} at '{words[pos]}'",
            "target": "target",
        }[kind]
    label, purity = label_feature(test_features[L][:, f], flat_tokens)
    writes = tinyworld.VOCAB[int((transcoders[L].W_dec[f] @ P["unembed.W_U"]).argmax())]
    return f"L{L} #{f} at '{words[pos]}': fires on {label} ({purity:.0%}), writes '{writes}'"


def context_text(L: int, f: int, n: int = 3) -> str:
    top = test_features[L][:, f].topk(n).indices.tolist()
    return "<br>".join(
        " ".join(tinyworld.VOCAB[int(t)] for t in flat_tokens[max(0, i - 6) : i + 1]) for i in top
    )


def draw(graph, kept, influence, title):
    nodes = kept.nonzero().squeeze(1).tolist()
    y = {"embed": -1.0, "target": float(N_LAYERS)}
    xs = [
        float(graph.positions[i])
        + (0.15 * ((int(graph.features[i]) % 5) - 2) if graph.kinds[i] == "feature" else 0)
        for i in nodes
    ]
    ys = [
        y.get(graph.kinds[i], float(graph.layers[i]) + (0.35 if graph.kinds[i] == "error" else 0))
        for i in nodes
    ]
    where = dict(zip(nodes, zip(xs, ys)))
    A = graph.adjacency.abs()
    A = A / A.sum(-1, keepdim=True).clamp_min(1e-12)
    fig = go.Figure()
    for t in nodes:
        for s in nodes:
            if A[t, s] > 0.05:
                fig.add_trace(
                    go.Scatter(
                        x=[where[s][0], where[t][0]],
                        y=[where[s][1], where[t][1]],
                        mode="lines",
                        line=dict(width=6 * float(A[t, s]), color="lightgray"),
                        hoverinfo="skip",
                        showlegend=False,
                    )
                )
    text = [
        describe(i)
        + (
            f"<br>{context_text(int(graph.layers[i]), int(graph.features[i]))}"
            if graph.kinds[i] == "feature"
            else ""
        )
        for i in nodes
    ]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            hovertext=text,
            hoverinfo="text",
            showlegend=False,
            marker=dict(
                size=[8 + 60 * float(influence[i]) for i in nodes],
                color=[
                    ["embed", "feature", "error", "target"].index(graph.kinds[i]) for i in nodes
                ],
                colorscale="Viridis",
            ),
        )
    )
    fig.update_layout(
        title=title,
        xaxis=dict(tickvals=list(range(len(words))), ticktext=words, title="position"),
        yaxis=dict(title="layer (-1: embeddings; error nodes above their layer)"),
    )
    return plotting.show(fig)


draw(
    graph,
    kept,
    influence,
    f"Attribution graph of '{fact_texts[VELMAR]}' → '{tinyworld.VOCAB[answer]}' ({SHARE:.0%} of "
    "the influence)",
)

# %% [markdown]
# **The path from `Velmar` to the colour.** The strongest path from a node to the target
# maximises the product of the normalised edges along it; a backward sweep over the layers
# finds it (`best[s] = max_t Â[t, s] · best[t]`, `best[target] = 1`). What we measured: the
# strongest path from the `Velmar` embedding is the *direct* edge into the answer — through
# the frozen attention, which copies `Velmar` to the last position, straight to the
# unembedding. Every path through a feature is weaker (each normalised edge is a share
# below 1, and a longer path multiplies more of them). So we print the strongest path that
# goes through a feature too: its first feature sits at the last position, `is`, where
# attention brought Velmar; read its labels.

# %%
A_hat = graph.adjacency.abs()
A_hat = A_hat / A_hat.sum(-1, keepdim=True).clamp_min(1e-12)
best = torch.zeros(len(graph))
best[-1] = 1.0
for _ in range(N_LAYERS + 2):  # a path is at most n_layers + 2 nodes long
    best = torch.maximum(best, (A_hat * best[:, None]).max(dim=0).values)
    best[-1] = 1.0
velmar = int(graph.positions.tolist().index(words.index("Velmar")))  # the Velmar embedding node


def strongest_path(node: int) -> list[int]:
    path = [node]
    while graph.kinds[node] != "target":
        node = int((A_hat[:, node] * best).argmax())
        path.append(node)
    return path


path = strongest_path(velmar)
print("the strongest path from Velmar:", " → ".join(describe(i) for i in path))
via = [i for i, kind in enumerate(graph.kinds) if kind == "feature"]
first = via[int((A_hat[via, velmar] * best[via]).argmax())]  # the strongest path through a feature
feature_path = [velmar, *strongest_path(first)]
print("the strongest path through a feature:")
for i in feature_path:
    print(f"  {describe(i)}")
print(
    f"strength (product of normalised edges): direct {A_hat[-1, velmar]:.3f}, "
    f"through features {best[first] * A_hat[first, velmar]:.3f}"
)
assert len(path) == 2 and graph.kinds[feature_path[1]] == "feature"
assert (
    int(graph.positions[feature_path[1]]) == len(prompt) - 1
)  # attention moved Velmar to the last position


# %% [markdown]
# ## Part 5 — Testing the graph in the real model
#
# A graph is a hypothesis about the *replacement* model. Does the real model agree? Take
# the graph's most influential features and, one at a time, remove each from the real
# model: at its layer and position, subtract `a · W_dec[i]` from the MLP's output (what the
# feature contributed). The graph's **prediction** for that ablation: the change it implies
# through every path, with the attention and LayerNorm frozen and each downstream feature
# following its pre-activation (the linear graph, `−a_s · [(I − W)⁻¹]_{target, s}` with
# `W[t, s] = A[t, s] / a_s`).

# %% [markdown]
# ### Exercise 10.10 — Ablating a feature in the real model
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# Run `tokens` (one prompt) through the real model with a hook on `blocks.{layer}.hook_mlp_out`
# that subtracts the feature's contribution at position `pos` only; the feature's
# activation is the transcoder's `encode` of that layer's MLP input at `pos` (read it from a
# clean run's cache, `blocks.{layer}.mlp.hook_in`). Extra hooks in `fwd_hooks` run too.
# Return, as a float, the change of `target · logits[-1]`: ablated minus clean.


# %%
def ablation_effect(
    model,
    transcoder: nn.Module,
    layer: int,
    tokens: Int[Tensor, "pos"],
    pos: int,
    feature: int,
    target: Float[Tensor, "d_vocab"],
    fwd_hooks: tuple = (),
) -> float:
    """target · last logits with the feature removed at (layer, pos), minus the same without."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        logits, cache = model.run_with_cache(
            tokens[None], names_filter=[f"blocks.{layer}.mlp.hook_in"]
        )
        activation = transcoder.encode(cache[f"blocks.{layer}.mlp.hook_in"][0, pos])[feature]

        def remove(out, hook):
            out[:, pos] = out[:, pos] - activation * transcoder.W_dec[feature]
            return out

        ablated = model.run_with_hooks(
            tokens[None], fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", remove), *fwd_hooks]
        )
        clean = model.run_with_hooks(tokens[None], fwd_hooks=list(fwd_hooks))
    return (ablated[0, -1] @ target - clean[0, -1] @ target).item()
    ### END SOLUTION


checks.ch10.check_ablation_effect(ablation_effect)

# %% [markdown]
# Three numbers per feature: the graph's prediction; the real model's change; and the real
# model's change with its attention patterns and LayerNorm scales frozen by hooks at their
# clean values (the replacement model's assumptions imposed on the real model, which keeps
# its real MLPs).


# %%
def frozen_hooks(frozen: tc_lib.Frozen) -> tuple:
    """Hooks that hold the real model's patterns and LayerNorm scales at the frozen values."""
    hooks = []
    for L in range(N_LAYERS):
        hooks += [
            (f"blocks.{L}.attn.hook_pattern", lambda x, hook, L=L: frozen.patterns[L][None]),
            (f"blocks.{L}.ln1.hook_scale", lambda x, hook, L=L: frozen.ln1_scale[L][None]),
            (f"blocks.{L}.ln2.hook_scale", lambda x, hook, L=L: frozen.ln2_scale[L][None]),
        ]
    return (*hooks, ("ln_final.hook_scale", lambda x, hook: frozen.ln_final_scale[None]))


W = graph.adjacency / graph.activations[None]  # d(pre-activation of t) / d(activation of s)
through_paths = torch.linalg.solve(torch.eye(len(graph)) - W, torch.eye(len(graph)))[-1]
predicted_all = -graph.activations * through_paths
N_TESTED = 30
tested = [i for i in influence.argsort(descending=True).tolist() if graph.kinds[i] == "feature"][
    :N_TESTED
]
predicted, measured, measured_frozen = [], [], []
for i in tested:
    L, pos, f = int(graph.layers[i]), int(graph.positions[i]), int(graph.features[i])
    predicted.append(predicted_all[i].item())
    measured.append(ablation_effect(model, transcoders[L], L, prompt, pos, f, target_vector))
    measured_frozen.append(
        ablation_effect(
            model, transcoders[L], L, prompt, pos, f, target_vector, frozen_hooks(frozen)
        )
    )
predicted, measured, measured_frozen = map(torch.tensor, (predicted, measured, measured_frozen))


def correlation(a: Tensor, b: Tensor) -> float:
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


faithfulness = correlation(predicted, measured)
faithfulness_frozen = correlation(predicted, measured_frozen)
plotting.scatter(
    predicted,
    measured,
    xlabel="predicted by the graph",
    ylabel="measured in the real model",
    text=[describe(i) for i in tested],
    title=f"Ablating the graph's top {N_TESTED} features: correlation {faithfulness:.2f}",
)
print(
    f"correlation of prediction and measurement over the top {N_TESTED} features: real model "
    f"{faithfulness:.2f}, "
    f"real model with frozen attention and LayerNorm {faithfulness_frozen:.2f}"
)
print(
    f"mean |effect|: predicted {predicted.abs().mean():.2f}, frozen "
    f"{measured_frozen.abs().mean():.2f}, "
    f"real {measured.abs().mean():.2f}"
)
assert faithfulness > 0.5 and faithfulness_frozen > faithfulness
assert measured.abs().mean() < measured_frozen.abs().mean()

# %% [markdown]
# The graph ranks the features well, and freezing the real model's attention and LayerNorm
# brings the measurement closer still to the prediction: most of the disagreement is the
# frozen attention and LayerNorm. In the live model, removing a feature changes the
# residual stream's norm (so every later LayerNorm rescales) and what later heads read and
# attend to, and the effect shrinks — the model partly repairs the ablation, which a graph
# with frozen attention cannot see. What is left between the prediction and the frozen
# measurement is the transcoders' imperfection: the real MLPs, not the transcoders, respond
# to the change.
#
# ## Part 6 — Against chapter 03: the IOI circuit
#
# Chapter 03 found `tinyworld-lm`'s IOI circuit by patching: layer-0 **S2 mover** heads
# that copy the subject's second mention to the last position, read by the MLPs, and later
# heads that bring the names. Which heads does attribution credit? In the replacement model
# attention is frozen, so heads are not nodes; but we can ask how much of the target passes
# through each head: remove one head's output (zero its frozen pattern) in the replacement
# model with every active feature following its pre-activation (linear, so this is exactly
# activation × gradient summed along every path), and measure the target, the logit
# difference IO − S, averaged over chapter 03's 16 prompts.

# %%
ioi = tinyworld.ioi_prompts(16, seed=0, corruption="abc")
head_attribution = torch.zeros(N_LAYERS, model.cfg.n_heads)
for b in range(len(ioi.clean_tokens)):
    tokens_b = ioi.clean_tokens[b]
    ld_vector = torch.zeros(model.cfg.d_vocab)
    ld_vector[ioi.answers[b]], ld_vector[ioi.wrong[b]] = 1.0, -1.0
    frozen_b = tc_lib.freeze(model, transcoders, tokens_b)
    embed_b = P["embed.W_E"][tokens_b] + P["pos_embed.W_pos"][: len(tokens_b)]
    with torch.no_grad():
        _, pres_b = tc_lib.run_replacement(model, transcoders, frozen_b, embed_b)
        active = [
            (
                torch.zeros_like(p).scatter(-1, p.topk(K, -1).indices, p.topk(K, -1).values.relu())
                > 0
            ).float()
            for p in pres_b
        ]  # which features fire: fixed, each then follows its pre-activation
        full = (
            tc_lib.run_replacement(model, transcoders, frozen_b, embed_b, active=active)[0][-1]
            @ ld_vector
        )
        for L in range(N_LAYERS):
            for h in range(model.cfg.n_heads):
                without = copy.copy(frozen_b)
                without.patterns = frozen_b.patterns.clone()
                without.patterns[L, h] = 0.0
                logits_without = tc_lib.run_replacement(
                    model, transcoders, without, embed_b, active=active
                )[0]
                head_attribution[L, h] += (full - logits_without[-1] @ ld_vector) / len(
                    ioi.clean_tokens
                )

# %% [markdown]
# Chapter 03's measurement, redone here in a few lines: denoise each head's output (`z`) on
# the ABC-corrupted prompts, normalised so that 0 is the corrupted run and 1 the clean one.


# %%
def mean_logit_diff(logits):
    last = logits[:, -1]
    return (last.gather(1, ioi.answers[:, None]) - last.gather(1, ioi.wrong[:, None])).mean().item()


with torch.no_grad():
    _, ioi_cache = model.run_with_cache(
        ioi.clean_tokens, names_filter=lambda name: name.endswith("hook_z")
    )
    clean_ld, corrupted_ld = (
        mean_logit_diff(model(ioi.clean_tokens)),
        mean_logit_diff(model(ioi.corrupted_tokens)),
    )
    patching = torch.zeros(N_LAYERS, model.cfg.n_heads)
    for L in range(N_LAYERS):
        for h in range(model.cfg.n_heads):

            def patch(z, hook, L=L, h=h):
                z[:, :, h] = ioi_cache[f"blocks.{L}.attn.hook_z"][:, :, h]
                return z

            patched = model.run_with_hooks(
                ioi.corrupted_tokens, fwd_hooks=[(f"blocks.{L}.attn.hook_z", patch)]
            )
            patching[L, h] = (mean_logit_diff(patched) - corrupted_ld) / (clean_ld - corrupted_ld)
s2_movers = [(L, h) for L, h in (patching > 0.1).nonzero().tolist()]
ranked = sorted(
    ((L, h) for L in range(N_LAYERS) for h in range(model.cfg.n_heads)),
    key=lambda lh: -abs(head_attribution[lh]),
)
plotting.imshow_grid(
    torch.stack([patching, head_attribution / head_attribution.abs().max()]),
    titles=[
        "chapter 03: ABC denoising of z",
        "attribution through each head (scaled to max |·| = 1)",
    ],
    xlabel="head",
    ylabel="layer",
    title="IOI: patching against attribution, per head",
    color_label="share of the logit difference IO − S",
)
print(
    f"logit difference IO - S: {clean_ld:.2f}; chapter 03's S2 movers (denoising > 0.1): "
    + ", ".join(f"L{L}H{h} ({patching[L, h]:.2f})" for L, h in s2_movers)
)
print(
    "heads by |attribution|: "
    + ", ".join(f"L{L}H{h} ({head_attribution[L, h]:+.2f})" for L, h in ranked[:6])
)
assert s2_movers and all(L == 0 for L, _ in s2_movers)
assert set(s2_movers) <= set(ranked[: len(s2_movers) + 2])  # measured: ranks 2 and 4 of 16
later = [(L, h) for L, h in ranked[:6] if L > 0]
assert later and all(abs(patching[L, h]) < 0.1 for L, h in later)
assert ranked[0] == (3, 0) and head_attribution[3, 0] < 0  # the largest works against the answer

# %% [markdown]
# The two methods agree on the S2 movers: the layer-0 heads that ABC patching singles out
# are among the heads through which attribution sends the most of the logit difference.
# Attribution also credits **later** heads that ABC patching scores at about 0. Chapter 03
# explained why patching missed them: heads that bring *both* names to the last position
# write the same thing on clean and ABC-corrupted prompts, so swapping their output changes
# nothing. Attribution asks a different question — how much of this prompt's logit
# difference flows through the head, relative to the head being absent — so it sees them,
# with signs: the head with the largest attribution of all, L3H0, works *against* the answer
# (a negative share: without it the logit difference would be larger). Patching answers "what differs between these two prompts", attribution
# "what this one prompt's computation used"; a circuit needs both.
#
# ## Summary
#
# - A transcoder replaces an MLP by a sparse layer of features that read the MLP's input
#   and write its output; on `tinyworld-lm`, 512 TopK features per layer (k = 16) reach a
#   normalised MSE under 0.2 on every layer, the worst at layer 0, and recover over 90% of
#   the CE loss with all four MLPs replaced at once.
# - Freeze one prompt's attention patterns and LayerNorm scales and add the transcoders'
#   error terms: the replacement model reproduces that prompt's logits exactly, and with the
#   features held fixed it is linear between nodes.
# - An attribution graph's edges are activation × gradient through the frozen linear paths;
#   influence sums every path; pruning keeps the few nodes that carry most of it. The error
#   nodes say how much the features leave unexplained.
# - TinyWorld's ground truth labels the features. The strongest path from `Velmar` to its
#   colour is the direct edge: frozen attention copies it to the last position, straight
#   into the unembedding; the strongest path through a feature enters a feature at the last
#   position.
# - Interventions in the real model test the graph: they correlate with its predictions,
#   less than the same interventions with frozen attention do — the graph cannot see the
#   model's attention and LayerNorm respond.
# - On IOI, attribution and patching agree on the S2 movers; attribution also credits
#   layer-3 heads, the largest of them against the answer, that ABC patching scores near 0.
#
# ## Questions: predict, then run
# 1. Train the transcoders with `k = 4` instead of 16. Predict the normalised MSE, the CE
#    loss recovered and the error nodes' share of influence; then check.
# 2. Build the replacement model of `the flag of Velmar is` and run it on `the flag of
#    Ostby is` (with Velmar's frozen patterns, scales and errors). Is it still exact? Why not?
# 3. The graph's target is the answer's logit minus the mean logit. What changes in the
#    graph if you take the raw logit instead? (Hint: the `<bos>` embedding.)
# 4. Drop the error nodes from the graph before computing influence. Which nodes gain?
# 5. Pick the feature with the largest gap between predicted and measured effect. Compare
#    the attention patterns of the last position with and without the ablation.
# 6. Ask the graph of `people in Velmar eat`: does the path go through the same features at
#    `Velmar` as the flag question's? What would you expect from the training text?
# 7. Replace the ABC corruption by the IO-replacement corruption of chapter 03 (its
#    `replace_io`). Which of the later heads that attribution credits does patching find now?

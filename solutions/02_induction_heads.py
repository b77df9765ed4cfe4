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
# # Chapter 02 — Induction heads
#
# Give a language model a sequence of random tokens, then the same sequence again. The
# first half is unpredictable; the second half is easy *if* the model can look back, find
# the earlier copy of the current token, and predict whatever came after it. Transformers
# learn a two-head circuit that does exactly that: an **induction head**, helped by a
# **previous-token head** in an earlier layer. It is the clearest circuit anyone has found
# in a transformer, and it forms suddenly during training: a *phase change*.
#
# In this chapter you train a 2-layer attention-only model until its induction heads form,
# find the heads from their attention patterns, measure what each one contributes, and then
# read the whole mechanism off the weights. The story is the one told by Anthropic's
# "A Mathematical Framework for Transformer Circuits" (Elhage et al., 2021) and
# "In-context Learning and Induction Heads" (Olsson et al., 2022); every number in it you
# compute yourself.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - train a small transformer and watch the loss on the repeated half drop suddenly while
#   the loss on the random half stays put;
# - score every head as a previous-token, duplicate-token or induction head from a cache,
#   and agree with TransformerLens's `head_detector`;
# - split a logit into the direct contributions of the embeddings and of each head, and
#   ablate heads (zero and mean) to measure what they do;
# - read a head's QK and OV circuits with `FactoredMatrix`, and measure how heads of two
#   layers compose (Q-, K- and V-composition) against a random baseline.
#
# **How the exercises work** — as in chapter 01: write your code where it says
# `raise NotImplementedError()` and run the cell; the check under it prints one line when
# you are right and names the likely mistake when you are not. The solutions are in
# `solutions/02_induction_heads.ipynb`.
#
# **Shapes.** `batch`, `pos`, `head`, `layer`, `d_model`, `d_head`, `d_vocab`; `q_pos` and
# `k_pos` are the query's and the key's position. An attention pattern is
# `[batch, head, q_pos, k_pos]`, and each of its rows (one query) sums to 1.

# %%
import functools
import math

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import FactoredMatrix
from transformer_lens.head_detector import detect_head
from transformer_lens.utilities import get_act_name

from mi_tutorial import checks, metrics, models, plotting, train
from mi_tutorial.course.recipes import attn_only_2l as recipe
from mi_tutorial.data import repeated_tokens

torch.manual_seed(0)
train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))

# %% [markdown]
# ## Part 1 — The phase change, live
#
# Our data: a BOS token (id 0), a run of `half_len` random tokens, then the same run again.
# `repeated_tokens` makes them; no token appears twice within a run.

# %%
example = repeated_tokens(2, 6, 64, seed=0)  # 2 sequences, runs of 6, vocabulary of 64
example

# %% [markdown]
# Our model (`recipe.CONFIG`): 2 layers of 4 attention heads each, `d_model=64`,
# no MLPs and no LayerNorm, a vocabulary of 64 tokens and a context of 41 positions. With
# nothing but attention and a residual stream, everything it does is something attention can
# do — which is what makes it readable.

# %% [markdown]
# ### Exercise 2.1 — Loss on each half
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# To see *what* the model learns, split the next-token loss in two:
# - the **first half**: the predictions of the first run's tokens (positions `1 … half_len`);
#   they are random, so no model can do much better than guessing;
# - the **repeated half**: the predictions of the second run's tokens, *except its first
#   one* (position `half_len + 1`): nothing before it says the run is about to repeat.
#
# `metrics.lm_loss(logits, tokens, start=s)` (your `lm_cross_entropy` of chapter 01) scores the
# tokens at positions `>= s`; slicing `logits` and `tokens` to their first positions scores
# only those (a causal model's logits there do not depend on what comes later).

# %%
def split_losses(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"], half_len: int
) -> Float[Tensor, "2"]:
    """[first-half loss, repeated-half loss] of BOS + a run of half_len tokens + the run again."""
    ### BEGIN SOLUTION
    repeat_start = 1 + half_len  # position of the second run's first token
    first = metrics.lm_loss(logits[:, :repeat_start], tokens[:, :repeat_start])
    repeated = metrics.lm_loss(logits, tokens, start=repeat_start + 1)
    return torch.stack([first, repeated])
    ### END SOLUTION


checks.ch02.check_split_losses(split_losses)

# %% [markdown]
# Now train the model from scratch with the recipe of the shipped checkpoint: AdamW on batches
# of 64 sequences, each batch with runs of a random length from 10 to 20 (with one fixed
# length, the model finds a shortcut: "copy the token from 19 positions back"). The shipped
# model trained longer; 350 steps show everything and take 5–15 s on a laptop CPU. Your
# `split_losses` records both halves at every step. Set `RETRAIN = False` to skip it.

# %%
RETRAIN = True
TRAIN_STEPS = 350  # fewer than the recipe's recipe.STEPS: enough for the drop (see below)

if RETRAIN:
    split_history = []  # [first-half loss, repeated-half loss] at each step

    def loss_and_record(model, tokens):
        logits = model(tokens)
        half_len = (tokens.shape[1] - 1) // 2  # BOS + two runs; the run length varies by batch
        with torch.no_grad():
            split_history.append(split_losses(logits, tokens, half_len))
        return metrics.lm_loss(logits, tokens)

    seed = recipe.CONFIG["seed"]  # the recipe uses one seed for weights, data and training
    trained = models.boot(recipe.CONFIG)
    result = train.train(
        trained,
        recipe.batches(seed),
        loss_and_record,
        steps=TRAIN_STEPS,
        lr=recipe.LR,
        seed=seed,
        desc="attn-only-2l",
    )
    split_history = torch.stack(split_history)  # [step, 2]
    plotting.line(
        {"first half (random)": split_history[:, 0], "repeated half": split_history[:, 1]},
        xlabel="training step",
        ylabel="loss (nats)",
        title="Loss on each half of the sequence during training",
    )

# %% [markdown]
# The first half cannot go much below `ln 63 ≈ 4.14` nats (a uniform guess over the 63
# non-BOS tokens; a little less, as a run never repeats a token). The repeated half starts on
# that same plateau, stays there for a while, then drops — faster than it plateaued. Where
# exactly? (Running means over 10 steps smooth out the batch-to-batch noise.)

# %%
if RETRAIN:
    smooth = split_history.unfold(0, 10, 1).mean(dim=-1)  # 10-step running means, [step - 9, 2]
    start_level = smooth[0, 1].item()
    left_plateau, reached_floor = [
        int(below[0]) + 9 if len(below := (smooth[:, 1] < fraction * start_level).nonzero()) else None
        for fraction in (0.9, 0.1)
    ]
    assert reached_floor is not None, "the repeated-half loss never fell: the phase change did not reproduce"
    print(f"trained {result.steps} steps in {result.seconds:.1f} s")
    print(f"ln 63 = {math.log(63):.2f}; first-half loss over the last 50 steps: {split_history[-50:, 0].mean():.2f}")
    print(
        f"repeated-half loss: {start_level:.2f} at the start, below 90% of that from step {left_plateau}, "
        f"below 10% from step {reached_floor}; {split_history[-50:, 1].mean():.3f} over the last 50 steps"
    )
    assert left_plateau >= 50 and reached_floor - left_plateau <= left_plateau, "no plateau, then drop"

# %% [markdown]
# A sudden drop after a long plateau is the **phase change** of Olsson et al.: nothing helps
# the repeated half until two heads in *different layers* work together, and neither is
# useful alone — so the gradient has little to follow until both are half-built.
#
# From here on we use the shipped checkpoint: the same recipe, run for all its steps
# (`mi-tutorial train attn-only-2l` reproduces it). Its metrics and yours, on held-out
# sequences with runs of 20:

# %%
model = models.load_toy_model("attn-only-2l")
held_out = repeated_tokens(recipe.EVAL_BATCH, recipe.HALF_LEN, model.cfg.d_vocab, seed=recipe.EVAL_SEED)
for name, candidate, steps in [("shipped", model, recipe.STEPS)] + ([("yours", trained, TRAIN_STEPS)] if RETRAIN else []):
    measured = metrics.induction_metrics(candidate, held_out, recipe.HALF_LEN)
    print(f"{name:>8} ({steps} steps): repeated-half loss {measured['repeated_half_loss']:.3f}, "
          f"best induction head {measured['best_induction_head']} ({measured['best_induction_score']:.2f})")

# %% [markdown]
# ## Part 2 — Looking at attention
#
# The shipped model comes with a word-level tokenizer (token 1 is "apple", token 2 "bag", …):
# the model never saw words, only ids, but labels make attention patterns readable.
# `model.to_str_tokens` and `model.to_string` turn ids into words. We use runs of 19 tokens:
# `1 + 2 × 19 = 39` positions, below the 41 of the context (TransformerLens's
# `head_detector`, used below, wants fewer than `n_ctx`).

# %%
HALF_LEN = 19
tokens = repeated_tokens(50, HALF_LEN, model.cfg.d_vocab, seed=1)
logits, cache = model.run_with_cache(tokens)
str_tokens = model.to_str_tokens(tokens[0])
print(" ".join(str_tokens))
first_loss, repeated_loss = split_losses(logits, tokens, HALF_LEN).tolist()
print(f"loss on these sequences: first half {first_loss:.2f}, repeated half {repeated_loss:.3f} nats")

# %% [markdown]
# Each head's pattern for the first sequence, layer 0 then layer 1. Hover over a token to see
# where it attends. Look for a head whose every token attends to the token just before it
# (a diagonal stripe next to the main diagonal), and for heads that, in the second half,
# attend to the token *after* the earlier copy of the current token (a stripe `HALF_LEN - 1`
# positions left of the diagonal).

# %%
plotting.attention_patterns(str_tokens, cache["pattern", 0][0])

# %%
plotting.attention_patterns(str_tokens, cache["pattern", 1][0])

# %% [markdown]
# Eyes are good at spotting a stripe, bad at comparing eight heads. Let us score them.

# %% [markdown]
# ### Exercise 2.2 — Previous-token score
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# A **previous-token head** attends from each token to the one right before it. Its score:
# the attention from query `i` to key `i - 1`, averaged over the batch and every query that
# has a previous token (`i >= 1`). `Tensor.diagonal(offset=..., dim1=-2, dim2=-1)` picks a
# stripe of a matrix; negative offsets are below the main diagonal.

# %%
def prev_token_score(pattern: Float[Tensor, "batch head q_pos k_pos"]) -> Float[Tensor, "head"]:
    """Mean attention from each position to the position before it, per head."""
    ### BEGIN SOLUTION
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # diagonal: [batch head pos-1]
    ### END SOLUTION


checks.ch02.check_prev_token_score(prev_token_score)

# %% [markdown]
# ### Exercise 2.3 — Duplicate-token score
# Difficulty 3/5 · Importance 3/5 · ~10 minutes
#
# A **duplicate-token head** attends from a token to earlier occurrences of the *same* token.
# For every query whose token appeared earlier in its sequence, add up the attention it pays
# to those earlier positions; average that over all such queries of the whole batch, pooled:
# one mean over every (sequence, query) pair that has an earlier copy, not a mean per
# sequence then over the batch (a sequence with more repeats counts more). Work for any
# tokens, not only repeated runs: build a `[batch, q_pos, k_pos]` mask of "same token, and
# `k_pos < q_pos`" (a token is not its own duplicate).

# %%
def duplicate_token_score(
    pattern: Float[Tensor, "batch head q_pos k_pos"], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "head"]:
    """Mean attention from a token to its earlier copies, over the queries that have one, per head."""
    ### BEGIN SOLUTION
    n_pos = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]  # [batch q_pos k_pos]
    earlier = torch.tril(torch.ones(n_pos, n_pos, dtype=torch.bool), diagonal=-1)  # k_pos < q_pos
    copies = same & earlier
    has_copy = copies.any(dim=-1)  # [batch q_pos]
    on_copies = (pattern * copies[:, None]).sum(dim=-1)  # attention to earlier copies: [batch head q_pos]
    return (on_copies * has_copy[:, None]).sum(dim=(0, 2)) / has_copy.sum()
    ### END SOLUTION


checks.ch02.check_duplicate_token_score(duplicate_token_score)

# %% [markdown]
# ### Exercise 2.4 — Induction score
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# An **induction head** attends from a token in the repeated half to the token *after* that
# token's earlier copy, and so can predict it. With a BOS token and runs of `half_len`, the
# token at position `i` of the second run appeared at `i - half_len`; the token after that
# copy is at `i - half_len + 1`. Average the attention on that stripe over the batch and the
# `half_len` queries of the second run — and only those: in the first half there is nothing
# to find.

# %%
def induction_score(pattern: Float[Tensor, "batch head q_pos k_pos"], half_len: int) -> Float[Tensor, "head"]:
    """Mean attention from each repeated-half token to the token after its earlier copy, per head."""
    ### BEGIN SOLUTION
    stripe = pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)  # [batch head pos-half_len+1]
    return stripe[..., -half_len:].mean(dim=(0, 2))  # the last half_len queries: the second run
    ### END SOLUTION


checks.ch02.check_induction_score(induction_score)

# %% [markdown]
# Score every head of the model with all three. `score_heads` runs the model once, caching
# only the patterns (`names_filter`), and applies your functions to each layer; Part 5 uses it
# on GPT-2. We call a head a previous-token, duplicate-token or induction head when its score
# is at least `THRESHOLD`: 40% of its attention on the target, against `1/(i+1)` for a query
# at position `i` attending uniformly.

# %%
THRESHOLD = 0.4


def score_heads(model, tokens: Int[Tensor, "batch pos"], half_len: int) -> dict[str, Float[Tensor, "layer head"]]:
    """Your three scores for every head of `model`, on repeated-run tokens."""
    names = [get_act_name("pattern", layer) for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, pattern_cache = model.run_with_cache(tokens, names_filter=names)
    patterns = [pattern_cache["pattern", layer] for layer in range(model.cfg.n_layers)]
    return {
        "previous-token": torch.stack([prev_token_score(p) for p in patterns]),
        "duplicate-token": torch.stack([duplicate_token_score(p, tokens) for p in patterns]),
        "induction": torch.stack([induction_score(p, half_len) for p in patterns]),
    }


def heads_above(scores: Float[Tensor, "layer head"], threshold: float = THRESHOLD) -> list[str]:
    """Heads written "layer.head" whose score is at least `threshold`."""
    return [f"{layer}.{head}" for layer, head in (scores >= threshold).nonzero().tolist()]


# %%
scores = score_heads(model, tokens, HALF_LEN)
plotting.imshow(
    torch.cat(list(scores.values())),  # [3 * layer, head]
    y=[f"{kind} L{layer}" for kind in scores for layer in range(model.cfg.n_layers)],
    x=[f"H{head}" for head in range(model.cfg.n_heads)],
    xlabel="head",
    title="Your head scores",
    color_label="score (mean attention)",
    diverging=False,
)
for kind, table in scores.items():
    top = table.flatten().argmax().item()
    print(f"{kind:>16} heads: {heads_above(table) or 'none'} (highest: {divmod(top, model.cfg.n_heads)}, {table.max():.2f})")

# %% [markdown]
# Two independent opinions. `mi_tutorial.train` has the scores the course's training recipes
# report; TransformerLens's `head_detector.detect_head` scores heads from text (it tokenizes
# with the model's tokenizer, so we turn our ids back into words with `to_string`; its
# `to_tokens` puts the `<bos>` back).
#
# `detect_head` divides the attention on the target by *all* of the head's attention, over
# every query — including those with nothing to find. A sequence of `1 + 2 × HALF_LEN`
# positions has `HALF_LEN` queries with an earlier copy (duplicate-token and induction) and
# `2 × HALF_LEN` with a previous token, so its scores are ours times those counts over the
# length. Converted, they must agree with yours to float precision.

# %%
reference_scores = {
    "previous-token": metrics.prev_token_scores(model, tokens),
    "induction": metrics.induction_scores(model, tokens, HALF_LEN),
}
texts = [model.to_string(sequence[1:]) for sequence in tokens[:20]]  # words, without <bos>
assert torch.equal(model.to_tokens(texts), tokens[:20]), "the words do not tokenize back to the same ids"
n_pos = tokens.shape[1]
detector = {  # kind: (detect_head's name, the fraction of queries that have a target)
    "previous-token": ("previous_token_head", (n_pos - 1) / n_pos),
    "duplicate-token": ("duplicate_token_head", HALF_LEN / n_pos),
    "induction": ("induction_head", HALF_LEN / n_pos),
}
ours_on_texts = score_heads(model, tokens[:20], HALF_LEN)
for kind, (name, fraction) in detector.items():
    tl_scores = detect_head(model, texts, name)  # [layer, head]
    difference = (tl_scores / fraction - ours_on_texts[kind]).abs().max().item()
    found = {"yours": heads_above(scores[kind]), "head_detector": heads_above(tl_scores / fraction)}
    if kind in reference_scores:
        found["mi_tutorial.train"] = heads_above(reference_scores[kind])
    print(f"{kind:>16}: |head_detector / {fraction:.3f} - yours| <= {difference:.1e}; heads found: {found}")
    assert difference < 1e-4 and all(heads == found["yours"] for heads in found.values()), kind

# %%
prev_scores, induction_scores = scores["previous-token"], scores["induction"]
prev_layer, prev_head = divmod(prev_scores.flatten().argmax().item(), model.cfg.n_heads)
induction_heads = [tuple(map(int, head.split("."))) for head in heads_above(induction_scores)]
print(f"strongest previous-token head: {prev_layer}.{prev_head} ({prev_scores[prev_layer, prev_head]:.2f})")
print(f"induction heads: {', '.join(f'{layer}.{head}' for layer, head in induction_heads)}")
assert prev_layer == 0 and induction_heads and all(layer == 1 for layer, _ in induction_heads)

# %% [markdown]
# The previous-token head sits in layer 0 and the induction heads in layer 1, as the circuit
# needs: an induction head must find "the token whose *previous* token is my token", and a key
# can only carry its previous token if an earlier layer put it there. Parts 3 and 4 test that
# story: first by what the heads do to the output, then from the weights.

# %% [markdown]
# ## Part 3 — Attribution and ablation
#
# With no MLPs and no LayerNorm, the final residual stream is a plain sum: token embedding +
# positional embedding + every head's output + the `b_O` biases. The logits are that sum times
# `W_U` (plus `b_U`), so the logit of any token splits exactly into one term per component:
# the **direct logit attribution**.

# %% [markdown]
# ### Exercise 2.5 — Direct logit attribution
# Difficulty 3/5 · Importance 5/5 · ~15 minutes
#
# For every position but the last, compute each component's contribution to the logit of the
# *correct next token*: the component's vector at that position, dotted with the column of
# `W_U` of the token at the *next* position. Components, in this order: `cache["embed"]`,
# `cache["pos_embed"]`, then every head `L0H0, L0H1, …, L1H3`. A head's output is
# `z @ W_O` for that head (as in chapter 01: TransformerLens 4 has no per-head hook on native
# models).

# %%
def logit_attribution(cache, model, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos_minus_1 component"]:
    """Direct contribution of embed, pos_embed and each head to the correct next token's logit."""
    ### BEGIN SOLUTION
    W_U_correct = model.W_U[:, tokens[:, 1:]]  # column of the next token: [d_model batch pos-1]
    components = [cache["embed"], cache["pos_embed"]]  # each [batch pos d_model]
    for layer in range(model.cfg.n_layers):
        per_head = einops.einsum(
            cache["z", layer], model.W_O[layer], "batch pos head d_head, head d_head d_model -> head batch pos d_model"
        )
        components.extend(per_head)
    stack = torch.stack(components)[:, :, :-1]  # the last position predicts nothing we know: [component batch pos-1 d_model]
    return einops.einsum(stack, W_U_correct, "component batch pos d_model, d_model batch pos -> batch pos component")
    ### END SOLUTION


checks.ch02.check_logit_attribution(logit_attribution)

# %% [markdown]
# The components plus the biases must give back the model's logits exactly; then compare the
# mean attribution on the two halves.

# %%
attribution = logit_attribution(cache, model, tokens)  # [batch pos-1 component]
next_tokens = tokens[:, 1:]
biases = (model.b_O.sum(dim=0) @ model.W_U + model.b_U)[next_tokens]  # b_O of every layer, then b_U
correct_logits = logits[:, :-1].gather(-1, next_tokens[..., None])[..., 0]
print(f"max |sum of components + biases - logit|: {(attribution.sum(-1) + biases - correct_logits).abs().max():.1e}")

components = ["embed", "pos_embed"] + [f"L{l}H{h}" for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
# attribution[:, p] is about the token at p + 1: the first run is p < HALF_LEN, the repeated
# half (without its first token) p > HALF_LEN.
by_half = torch.stack([attribution[:, :HALF_LEN].mean(dim=(0, 1)), attribution[:, HALF_LEN + 1 :].mean(dim=(0, 1))])
plotting.imshow(
    by_half, x=components, y=["first half", "repeated half"], xlabel="component",
    title="Mean direct contribution to the correct token's logit",
    color_label="logit",
)
top_components = [components[i] for i in by_half[1].argsort(descending=True)[: len(induction_heads)]]
prev_attribution = by_half[1, components.index(f"L{prev_layer}H{prev_head}")].item()
print(f"the {len(induction_heads)} largest contributions on the repeated half: {top_components}; "
      f"previous-token head L{prev_layer}H{prev_head}: {prev_attribution:+.3f}")
assert by_half[0].abs().max() < 0.1 * by_half[1].max(), "a component helps on the random half"
assert sorted(top_components) == sorted(f"L{layer}H{head}" for layer, head in induction_heads)
assert abs(prev_attribution) < 0.05 * by_half[1].max()

# %% [markdown]
# On the random half no component helps; on the repeated half the induction heads push up the
# right token's logit, and the previous-token head does not. Direct attribution only sees what a head writes
# straight into the logits, though: a head whose output is *used by another head* (say, a
# previous-token head feeding an induction head) gets no credit. Ablation catches both.

# %% [markdown]
# ### Exercise 2.6 — Mean-ablating a head
# Difficulty 2/5 · Importance 4/5 · ~5 minutes
#
# Zero-ablation (chapter 01) asks "what if the head output nothing?" — but zero may be a value
# the head never takes. **Mean-ablation** replaces the head's `z` by its mean over the batch,
# separately at each position: the head keeps its average behaviour and loses what depends on
# this particular sequence. Write the hook; like the zero-ablation hook, it edits `z` and
# returns it.

# %%
def zero_ablate_head(z: Float[Tensor, "batch pos head d_head"], hook, head: int) -> Float[Tensor, "batch pos head d_head"]:
    """Chapter 01's hook: head `head`'s z set to zero."""
    z[:, :, head] = 0.0
    return z


def mean_ablate_head(z: Float[Tensor, "batch pos head d_head"], hook, head: int) -> Float[Tensor, "batch pos head d_head"]:
    """z with head `head` replaced, at each position, by its mean over the batch."""
    ### BEGIN SOLUTION
    z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)  # [1 pos d_head] broadcasts over the batch
    return z
    ### END SOLUTION


checks.ch02.check_mean_ablate_head(mean_ablate_head)

# %% [markdown]
# ### Exercise 2.7 — Which heads does the repeated half need?
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# For each head, run the model with `ablate` (one of the two hooks, which takes the head as a
# keyword: bind it with `functools.partial`) on that head's `hook_z`, and return how much the
# **repeated-half** loss (your `split_losses`) rises above the clean run's.

# %%
def repeated_half_ablation(model, tokens: Int[Tensor, "batch pos"], half_len: int, ablate) -> Float[Tensor, "layer head"]:
    """Increase of the repeated-half loss when each head alone is ablated with `ablate`."""
    ### BEGIN SOLUTION
    clean = split_losses(model(tokens), tokens, half_len)[1]
    increase = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = (get_act_name("z", layer), functools.partial(ablate, head=head))
            logits = model.run_with_hooks(tokens, fwd_hooks=[hook])
            increase[layer, head] = split_losses(logits, tokens, half_len)[1] - clean
    return increase
    ### END SOLUTION


checks.ch02.check_repeated_half_ablation(repeated_half_ablation)

# %%
with torch.no_grad():
    ablation = {
        "zero": repeated_half_ablation(model, tokens, HALF_LEN, zero_ablate_head),
        "mean": repeated_half_ablation(model, tokens, HALF_LEN, mean_ablate_head),
    }
plotting.imshow(
    torch.cat(list(ablation.values())),
    y=[f"{kind} L{layer}" for kind in ablation for layer in range(model.cfg.n_layers)],
    x=[f"H{head}" for head in range(model.cfg.n_heads)],
    xlabel="head",
    title=f"Rise of the repeated-half loss (clean: {repeated_loss:.3f} nats) when one head is ablated",
    color_label="loss rise (nats)",
)
worst = {}
for kind, table in ablation.items():
    worst[kind] = divmod(table.flatten().argmax().item(), model.cfg.n_heads)
    print(f"{kind}-ablation: the largest rise is {table.max():.2f} nats, for head {worst[kind][0]}.{worst[kind][1]}")
assert worst["zero"] == worst["mean"] == (prev_layer, prev_head)
worst_induction_head = max(ablation["mean"][layer, head].item() for layer, head in induction_heads)
prev_head_ablation = ablation["mean"][prev_layer, prev_head].item()
print(f"mean-ablating the previous-token head {prev_layer}.{prev_head}: +{prev_head_ablation:.2f} nats; "
      f"one induction head at most: +{worst_induction_head:.2f}")

# %% [markdown]
# Zero- and mean-ablation single out the same head: the previous-token head, which direct
# attribution did not credit, is the one the repeated half cannot do without; each induction head alone matters
# far less. As in chapter 01, that is redundancy: the model has several induction heads, and
# the others cover for the missing one. Ablate all of them at once:

# %%
def mean_ablate_heads(z, hook, heads):
    z[:, :, heads] = z[:, :, heads].mean(dim=0, keepdim=True)
    return z


induction_layer_heads = [head for _, head in induction_heads]  # all in layer 1, checked above
with torch.no_grad():
    all_ablated = model.run_with_hooks(
        tokens, fwd_hooks=[(get_act_name("z", 1), functools.partial(mean_ablate_heads, heads=induction_layer_heads))]
    )
all_induction_ablation = split_losses(all_ablated, tokens, HALF_LEN)[1].item() - repeated_loss
print(f"all induction heads mean-ablated together: +{all_induction_ablation:.2f} nats on the repeated half")
assert all_induction_ablation > 1.0 and prev_head_ablation > 1.0 and prev_head_ablation > 3 * worst_induction_head

# %% [markdown]
# ## Part 4 — Reading the weights
#
# So far we watched the heads run. The weights tell the same story without any data, once we
# group them the right way. A head does two separable things:
# - **where to look**, the QK circuit: the score between a query vector `x_q` and a key vector
#   `x_k` is `x_q W_Q W_K^T x_k^T`, so all that matters is the `d_model × d_model` matrix
#   `W_QK = W_Q W_K^T`;
# - **what to move**, the OV circuit: attending to `x_k` adds `x_k W_V W_O` to the query's
#   residual stream, so all that matters is `W_OV = W_V W_O`.
#
# Both have rank at most `d_head`: TransformerLens keeps them as a `FactoredMatrix`, the pair
# `(A, B)` standing for `A @ B`, without multiplying out. `model.QK` and `model.OV` are
# `[layer, head, d_model, d_model]` factored matrices; `@` with a matrix gives another one, and
# `.AB` multiplies out, `.norm()`, `.svd()` and `.eigenvalues` work on the small factors.

# %%
OV = model.OV[1, 0]
print(type(OV).__name__, "of shape", tuple(OV.shape), "from factors", tuple(OV.A.shape), "and", tuple(OV.B.shape))
print("singular values above 1e-5:", (OV.S > 1e-5).sum().item(), "= d_head")

# %% [markdown]
# ### Exercise 2.8 — The full OV circuit
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# If a head attends entirely to a token `t`, what does it do to the logits? Embed `t` (`W_E`),
# move it (`W_OV`), read the logits out (`W_U`): the **full OV circuit** `W_E W_OV W_U`, a
# `d_vocab × d_vocab` matrix whose row `t` holds the logits the head adds when it attends to
# `t`. Return it as a `FactoredMatrix`.

# %%
def full_ov_circuit(model, layer: int, head: int) -> FactoredMatrix:
    """W_E W_V W_O W_U of one head, [d_vocab, d_vocab]: row = attended-to token, column = output logit."""
    ### BEGIN SOLUTION
    return model.W_E @ model.OV[layer, head] @ model.W_U
    ### END SOLUTION


checks.ch02.check_full_ov_circuit(full_ov_circuit)

# %%
induction_layer, induction_head = max(induction_heads, key=lambda lh: scores["induction"][lh].item())
vocab = model.to_str_tokens(torch.arange(model.cfg.d_vocab))
plotting.imshow(
    full_ov_circuit(model, induction_layer, induction_head).AB,
    x=vocab, y=vocab, xlabel="output logit", ylabel="attended-to token",
    title=f"Full OV circuit of induction head {induction_layer}.{induction_head}",
    color_label="logit",
)

# %% [markdown]
# ### Exercise 2.9 — Copying score
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# An induction head should *copy*: attending to `t`, it should raise the logit of `t` most.
# Return the fraction of rows of the full OV circuit whose largest entry is on the diagonal.

# %%
def copying_score(full_ov: Float[Tensor, "d_vocab d_vocab"]) -> float:
    """Fraction of tokens whose top output logit, in this full OV circuit, is the token itself."""
    ### BEGIN SOLUTION
    top_output = full_ov.argmax(dim=-1)  # for each attended-to token (row), its top logit
    return (top_output == torch.arange(full_ov.shape[0])).float().mean().item()
    ### END SOLUTION


checks.ch02.check_copying_score(copying_score)

# %% [markdown]
# A second measure, from the Framework paper: a matrix that copies has mostly positive
# eigenvalues, so `Σλ / Σ|λ|` is near 1 (near -1 for one that suppresses). `FactoredMatrix`
# computes the eigenvalues from its factors.

# %%
copying = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
for layer in range(model.cfg.n_layers):
    for head in range(model.cfg.n_heads):
        full_ov = full_ov_circuit(model, layer, head)
        eigenvalues = full_ov.eigenvalues
        copying[layer, head] = copying_score(full_ov.AB)
        print(f"head {layer}.{head}: copying score {copying[layer, head]:.2f}, "
              f"Σλ/Σ|λ| = {(eigenvalues.sum() / eigenvalues.abs().sum()).real:+.2f}")
least_copying = min(copying[lh].item() for lh in induction_heads)
print(f"every induction head copies at least {least_copying:.0%} of tokens")
assert least_copying > 0.8

# %% [markdown]
# ### Exercise 2.10 — The positional QK circuit of the previous-token head
# Difficulty 3/5 · Importance 4/5 · ~10 minutes
#
# How does the previous-token head know where "previous" is? Try the hypothesis that it works
# from positions alone: if the residual stream held only the positional embeddings `W_pos`
# (`[n_ctx, d_model]`), the scores would be `W_pos W_QK W_pos^T / sqrt(d_head)`. Apply the
# causal mask and the softmax over keys, as the head does, and return the resulting
# `[n_ctx, n_ctx]` pattern (leave the biases out).

# %%
def positional_pattern(model, layer: int, head: int) -> Float[Tensor, "q_pos k_pos"]:
    """The attention pattern of a head if its input held only the positional embeddings."""
    ### BEGIN SOLUTION
    scores = (model.W_pos @ model.QK[layer, head] @ model.W_pos.T).AB / model.cfg.d_head**0.5  # [n_ctx n_ctx]
    n_ctx = scores.shape[0]
    future = torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    ### END SOLUTION


checks.ch02.check_positional_pattern(positional_pattern)

# %%
with torch.no_grad():
    positional = positional_pattern(model, prev_layer, prev_head)
positions = list(range(model.cfg.n_ctx))
plotting.imshow(
    positional, x=positions, y=positions, xlabel="key position", ylabel="query position", diverging=False,
    title=f"Positional attention pattern of previous-token head {prev_layer}.{prev_head}",
    color_label="attention",
)
positional_prev = positional.diagonal(offset=-1).mean().item()
print(f"from positions alone, head {prev_layer}.{prev_head} puts {positional_prev:.2f} of its attention on "
      f"the previous position; on real sequences, {prev_scores[prev_layer, prev_head]:.2f}")
assert positional_prev > 0.8 * prev_scores[prev_layer, prev_head], "the head is not mostly positional"

# %% [markdown]
# ### Composition
#
# A layer-1 head reads the residual stream, which holds the outputs of the layer-0 heads. A
# layer-0 head's output can feed three places of a layer-1 head: its **queries**
# (Q-composition), its **keys** (K-composition) or its **values** (V-composition). How much a
# layer-0 head with OV circuit `W_A = W_OV` writes into the subspace a layer-1 matrix `W_B`
# reads is measured by the **composition score**
#
# `||W_A W_B||_F / (||W_A||_F ||W_B||_F)`,
#
# which lies between 0 (`W_B` ignores all that `W_A` writes) and 1.

# %% [markdown]
# ### Exercise 2.11 — Composition score
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# Write it for two `FactoredMatrix`es (`.norm()` is the Frobenius norm; `@` composes).

# %%
def composition_score(W_A: FactoredMatrix, W_B: FactoredMatrix) -> float:
    """How much of what W_A writes W_B reads: ||W_A W_B||_F / (||W_A||_F ||W_B||_F)."""
    ### BEGIN SOLUTION
    return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()
    ### END SOLUTION


checks.ch02.check_composition_score(composition_score)

# %% [markdown]
# ### Exercise 2.12 — Q-, K- and V-composition between the layers
# Difficulty 3/5 · Importance 5/5 · ~10 minutes
#
# For every layer-0 head `h0` (rows) and layer-1 head `h1` (columns), compute the score with
# `W_A = W_OV` of `h0` and:
# - Q-composition: `W_B = W_QK` of `h1` (the query side reads the residual stream on the left);
# - K-composition: `W_B = W_QK^T` of `h1` (the key side reads it on the right: transpose);
# - V-composition: `W_B = W_OV` of `h1`.
#
# A `FactoredMatrix` has `.T`. Raise a `ValueError` for any other `kind`.

# %%
def composition_scores(model, kind: str) -> Float[Tensor, "head_0 head_1"]:
    """Q-, K- or V-composition score of each layer-0 head (rows) into each layer-1 head (columns)."""
    ### BEGIN SOLUTION
    if kind not in ("Q", "K", "V"):
        raise ValueError(f"kind must be 'Q', 'K' or 'V', got {kind!r}")
    n_heads = model.cfg.n_heads
    out = torch.zeros(n_heads, n_heads)
    for h0 in range(n_heads):
        for h1 in range(n_heads):
            W_B = {"Q": model.QK[1, h1], "K": model.QK[1, h1].T, "V": model.OV[1, h1]}[kind]
            out[h0, h1] = composition_score(model.OV[0, h0], W_B)
    return out
    ### END SOLUTION


checks.ch02.check_composition_scores(composition_scores)

# %% [markdown]
# TransformerLens computes the same thing for every pair of layers at once:
# `model.all_composition_scores(kind)` (`[layer, head, layer, head]`, zero where the first head
# is not in an earlier layer). Compare, then plot yours.

# %%
with torch.no_grad():
    composition = {kind: composition_scores(model, kind) for kind in "QKV"}
    for kind, table in composition.items():
        tl_table = model.all_composition_scores(kind).scores[0, :, 1, :]
        print(f"{kind}-composition: max |yours - TransformerLens| = {(table - tl_table).abs().max():.1e}")
plotting.imshow(
    torch.cat(list(composition.values()), dim=1),
    x=[f"{kind}: 1.{h}" for kind in composition for h in range(model.cfg.n_heads)],
    y=[f"0.{h}" for h in range(model.cfg.n_heads)],
    xlabel="kind: layer-1 head", ylabel="layer-0 head", diverging=False,
    title="Composition scores from layer-0 heads into layer-1 heads",
    color_label="composition score",
)

# %% [markdown]
# ### Exercise 2.13 — A random baseline
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Is 0.2 a big composition score? Two *random* matrices in 64 dimensions overlap a bit too.
# Estimate the score of unrelated matrices with the same shapes: each a `FactoredMatrix` of two
# standard-normal factors, `[d_model, d_head] @ [d_head, d_model]` (independent, centred at
# 0); average your `composition_score` over `n_samples` pairs. Draw with `generator`, so the
# result is repeatable.

# %%
def composition_baseline(d_model: int, d_head: int, n_samples: int, generator: torch.Generator) -> float:
    """Mean composition score of pairs of random rank-d_head matrices in d_model dimensions."""
    ### BEGIN SOLUTION
    total = 0.0
    for _ in range(n_samples):
        W_A, W_B = (
            FactoredMatrix(torch.randn(d_model, d_head, generator=generator), torch.randn(d_head, d_model, generator=generator))
            for _ in range(2)
        )
        total += composition_score(W_A, W_B)
    return total / n_samples
    ### END SOLUTION


checks.ch02.check_composition_baseline(composition_baseline)

# %% [markdown]
# ### The mechanism
#
# Put your numbers together. The cell below prints each kind of composition relative to the
# baseline, and the claims the chapter makes are asserts: if a retrained model told a
# different story, the notebook would stop here instead of printing prose that is no longer
# true.

# %%
baseline = composition_baseline(model.cfg.d_model, model.cfg.d_head, 200, torch.Generator().manual_seed(0))
print(f"random baseline: {baseline:.3f} (1/sqrt(d_model) = {model.cfg.d_model ** -0.5:.3f})")
for kind, table in composition.items():
    print(f"{kind}-composition: mean {table.mean() / baseline:.2f}x baseline, max {table.max() / baseline:.2f}x")
k_from_prev = composition["K"][prev_head, induction_layer_heads]  # into each induction head
print(f"K-composition from previous-token head {prev_layer}.{prev_head} into the induction heads: "
      f"{k_from_prev.min():.3f}-{k_from_prev.max():.3f} ({k_from_prev.min() / baseline:.1f}-{k_from_prev.max() / baseline:.1f}x baseline)")
strongest_k_source = composition["K"][:, induction_layer_heads].argmax(dim=0)  # best layer-0 head for each
print(f"the layer-0 head with the strongest K-composition into each induction head: {strongest_k_source.tolist()}")
assert (k_from_prev > 1.5 * baseline).all() and (strongest_k_source == prev_head).all()
assert composition["K"].mean() > baseline and composition["Q"].max() < baseline and composition["V"].max() < baseline
assert min(scores["induction"][lh] for lh in induction_heads) > 0.9

# %% [markdown]
# The story, as your numbers tell it:
#
# 1. **Previous-token head (layer 0).** It attends to the previous position, and about as much
#    from positions alone (its positional QK circuit) as on real sequences, so at position `j`
#    it writes "the token before me was `t_{j-1}`" into the residual stream.
# 2. **K-composition.** The keys of the layer-1 heads read that subspace: of the three ways the
#    layers could compose, only K-composition stands above random matrices, and the strongest
#    K-composition into every induction head comes from the previous-token head. A layer-1 query for token `t` now matches the key of the
#    position whose *previous* token is `t` — the position right after the earlier copy of `t`.
# 3. **Induction heads (layer 1).** They attend there (induction scores near 1) and their OV
#    circuits copy the attended token into the logits (copying scores near 1), which predicts the
#    repeated half. Direct attribution credits them; ablation shows the previous-token head is
#    just as necessary, though it writes nothing useful to the logits itself.
#
# Q- and V-composition stay *below* the random baseline: the model keeps those paths clear.
# Two heads in two layers, neither useful alone — which is why the loss had to wait on a plateau
# before it could fall.

# %% [markdown]
# ## Part 5 — Going further: GPT-2 (optional, needs the network once)
#
# Do the same detectors find induction heads in a real model? GPT-2 small has 12 layers of 12
# heads. Loading it downloads about 550 MB the first time, so this section only runs when you
# ask: set `RUN_GPT2 = True` while online. Offline, `models.load_pretrained` fails with a
# `RuntimeError` that says why, and the section is skipped.

# %%
RUN_GPT2 = False

gpt2 = None
if not RUN_GPT2:
    print("Skipped: set RUN_GPT2 = True (and be online the first time) to run your detectors on GPT-2.")
else:
    try:
        gpt2 = models.load_pretrained("gpt2")
    except RuntimeError as error:
        print(f"Skipped: GPT-2 could not be loaded.\n{error}")

# %%
if gpt2 is not None:
    gpt2_half_len = 50
    gpt2_tokens = repeated_tokens(8, gpt2_half_len, gpt2.cfg.d_vocab, seed=0, bos=gpt2.tokenizer.bos_token_id)
    gpt2_scores = score_heads(gpt2, gpt2_tokens, gpt2_half_len)
    for kind in ("previous-token", "induction"):
        print(f"GPT-2 {kind} heads (score >= {THRESHOLD}): {heads_above(gpt2_scores[kind])}")
    plotting.imshow(gpt2_scores["induction"], xlabel="head", ylabel="layer", diverging=False,
                    title="Induction scores of GPT-2 small", color_label="induction score")

# %% [markdown]
# ## Summary
#
# - On repeated random tokens, a 2-layer attention-only model learns to predict the repeat
#   suddenly, after a plateau: a phase change.
# - Attention patterns, scored from a cache, single out a previous-token head in layer 0 and
#   induction heads in layer 1; your scores agree with TransformerLens's `head_detector` once
#   both are normalised the same way.
# - Direct logit attribution credits the induction heads; ablation shows the previous-token
#   head is necessary too, and that the induction heads back each other up.
# - The weights tell the same story with no data: the induction heads' OV circuits copy, the
#   previous-token head's QK circuit is positional, and the layers compose through the keys.
#
# ## Questions: predict, then run
# 1. Retrain with `recipe.batches(seed, min_half_len=20)` (every run 20 tokens
#    long). The comment on `MIN_HALF_LEN` in `mi_tutorial/course/recipes/attn_only_2l.py` says no
#    previous-token head forms then. Before you look: what should the induction scores, the
#    positional patterns and the K-composition scores show?
# 2. Set `n_layers=1` and retrain. Can the repeated-half loss fall? What would a single layer of
#    heads have to attend to, and what does it not know?
# 3. Your induction score averages over the second run only; `detect_head`'s over every
#    query. On sequences with runs of 5 tokens, by what factor do they differ? Predict it from
#    the counts of Part 2, then run both.
# 4. Predict the direct logit attribution of the previous-token head on the repeated half, then
#    look at `by_half`. Why is a head with near-zero attribution essential?
# 5. Mean-ablate the previous-token head and plot layer 1's attention patterns. What do the
#    induction heads attend to instead?
# 6. The copying score ignores *how much* the right logit wins by. Compute, for the strongest
#    induction head, the mean gap between the diagonal and the largest other entry of each row.
# 7. Q- and V-composition came out *below* the random baseline. What would a baseline made with
#    `torch.rand` (all entries positive) have said, and why is that baseline wrong?
# 8. With `RUN_GPT2 = True`: in which layers does your detector find GPT-2's induction heads?
#    Where must their previous-token heads be, and does your previous-token score find them
#    there?

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
# # Chapter 03 — Activation patching
#
# "When Mary and John went to the store, John gave a drink to" — a language model that has
# learnt English continues with "Mary". Wang et al. ("Interpretability in the Wild", 2022)
# traced how GPT-2 small does this **indirect object identification** (IOI) and found a
# circuit of 26 heads in 7 classes. Their main tool was **activation patching**: run the
# model on a prompt, swap in one activation from a run on a slightly different prompt, and
# see how the answer moves.
#
# You will do the same on `tinyworld-lm`, a 4-layer model the course trained on TinyWorld,
# its own synthetic English, where IOI sentences are a quarter of the text. Because we wrote
# the generator, we know the right answer of every prompt; because the model is small, every
# sweep runs in seconds on a CPU. You will write the patching code yourself, with hooks, and
# compare it with `transformer_lens.patching`; then find out which parts of this model do
# the task. It does not do it the way GPT-2 does, and the numbers will tell you how it does.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - define a patching metric (the logit difference, normalized so that 0 is the corrupted run
#   and 1 the clean one) and explain why normalizing matters;
# - patch the residual stream, attention and MLP outputs, and each head's output, query, key,
#   value and pattern, by layer and position, with hooks, in both directions (denoising and
#   noising), and get what `transformer_lens.patching` gets;
# - patch a path from one head to the queries, keys or values of later heads, or to an MLP,
#   and name the roles the heads of a model play from your own measurements;
# - estimate every head's patching effect from one backward pass (attribution patching),
#   and say where that estimate fails and why;
# - test a circuit's faithfulness by mean-ablating everything outside it, with bootstrap
#   confidence intervals.
#
# **How the exercises work** — as in chapters 01 and 02: write your code where it says
# `raise NotImplementedError()` and run the cell; the check under it prints one line when
# you are right and names the likely mistake when you are not. The solutions are in
# `solutions/03_activation_patching.ipynb`.
#
# **Shapes.** `batch`, `pos`, `head`, `layer`, `d_model`, `d_head`, `d_vocab`. An attention
# pattern is `[batch, head, q_pos, k_pos]`; `q`, `k`, `v` and `z` are
# `[batch, pos, head, d_head]`.

# %%
import functools

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import ActivationCache
from transformer_lens.utilities import get_act_name
from transformer_lens.utilities.statistics import success_rate_ci

from mi_tutorial import checks, models, plotting, train
from mi_tutorial.data import tinyworld

torch.manual_seed(0)
train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))

# %% [markdown]
# ## Part 1 — The task and the metric
#
# `tinyworld.ioi_prompts` draws IOI prompts from the **test split**: combinations of
# template and name pair the model never saw in training. Each prompt is `<bos>` and 14
# words, so prompts of all eleven templates stack into one tensor. It also returns the
# **corrupted** prompts: with `corruption="abc"` the second mention of the subject becomes a
# third name ("…, Julia handed a coin to"), so nothing says any more which of the two names
# is the answer. Only that one position differs. `positions` holds, per prompt, where the
# indirect object (`IO`), the subject's two mentions (`S1`, `S2`) and the last word (`end`)
# are: they differ from template to template.

# %%
model = models.load_toy_model("tinyworld-lm")
N_PROMPTS = 16
prompts = tinyworld.ioi_prompts(N_PROMPTS, seed=0, corruption="abc")
clean_tokens, corrupted_tokens = prompts.clean_tokens, prompts.corrupted_tokens
for clean, corrupted in list(zip(prompts.clean_texts, prompts.corrupted_texts))[:3]:
    print(f"clean:     {clean}\ncorrupted: {corrupted}\n")
print({name: where[:6].tolist() for name, where in prompts.positions.items()}, "(first 6 prompts)")

# %%
clean_logits, clean_cache = model.run_with_cache(clean_tokens)
corrupted_logits, corrupted_cache = model.run_with_cache(corrupted_tokens)
predicted = clean_logits[:, -1].argmax(dim=-1)
print(f"the model's next word is the indirect object in {(predicted == prompts.answers).float().mean():.0%} of the clean prompts")
print("first prompt's top 5:", model.to_str_tokens(clean_logits[0, -1].topk(5).indices))

# %% [markdown]
# ### Exercise 3.1 — Logit difference
# Difficulty 1/5 · Importance 5/5 · ~5 minutes
#
# Our measure of "how much the model prefers the right name" is the **logit difference**:
# at the last position, the logit of the indirect object (`answers`) minus the logit of the
# subject (`wrong`), one number per prompt. Logits, not probabilities: a difference of
# logits is a log-odds ratio between the two names, untouched by what the model thinks of
# the other 300 words, and it is linear in the final residual stream (after `ln_final`).

# %%
def logit_diff(
    logits: Float[Tensor, "batch pos d_vocab"], answers: Int[Tensor, "batch"], wrong: Int[Tensor, "batch"]
) -> Float[Tensor, "batch"]:
    """Per prompt: logit of the right answer minus logit of the wrong one, at the last position."""
    ### BEGIN SOLUTION
    last = logits[:, -1]  # [batch d_vocab]: the prediction after the final word
    rows = torch.arange(logits.shape[0])
    return last[rows, answers] - last[rows, wrong]
    ### END SOLUTION


checks.ch03.check_logit_diff(logit_diff)

# %%
clean_ld = logit_diff(clean_logits, prompts.answers, prompts.wrong).mean().item()
corrupted_ld = logit_diff(corrupted_logits, prompts.answers, prompts.wrong).mean().item()
print(f"mean logit difference: clean {clean_ld:.2f}, corrupted {corrupted_ld:.2f}")
assert clean_ld > 5 and abs(corrupted_ld) < clean_ld / 5  # the text below says so

# %% [markdown]
# On clean prompts the right name wins by a wide margin (a logit difference of 8 is odds of
# about 3000 to 1). On corrupted prompts the model has no way to choose: the difference is
# small beside the clean one (less than a fifth of it in size; the printout shows its sign,
# here a slight lean to the subject), not exactly 0. Everything in between is what the
# patching experiments measure.

# %% [markdown]
# ### Exercise 3.2 — A normalized metric
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# A raw logit difference is hard to compare across prompts, models and experiments. Rescale
# the mean logit difference so that the corrupted run scores **0** and the clean run **1**:
# `(mean LD − corrupted_ld) / (clean_ld − corrupted_ld)`. A patch that scores 0.4 has
# restored 40% of the gap. Return one number (a 0-d tensor).

# %%
def normalized_metric(
    logits: Float[Tensor, "batch pos d_vocab"],
    answers: Int[Tensor, "batch"],
    wrong: Int[Tensor, "batch"],
    clean_ld: float,
    corrupted_ld: float,
) -> Float[Tensor, ""]:
    """The mean logit difference, rescaled: 0 = the corrupted baseline, 1 = the clean one."""
    ### BEGIN SOLUTION
    return (logit_diff(logits, answers, wrong).mean() - corrupted_ld) / (clean_ld - corrupted_ld)
    ### END SOLUTION


checks.ch03.check_normalized_metric(normalized_metric)

# %% [markdown]
# `transformer_lens.patching` calls a metric with the patched logits only, so we fix the other
# arguments with `functools.partial`:

# %%
metric = functools.partial(
    normalized_metric, answers=prompts.answers, wrong=prompts.wrong, clean_ld=clean_ld, corrupted_ld=corrupted_ld
)
print(f"metric: clean run {metric(clean_logits):.3f}, corrupted run {metric(corrupted_logits):.3f}")

# %% [markdown]
# ## Part 2 — Activation patching, with hooks
#
# **Denoising.** Run the model on the *corrupted* prompts, but overwrite one activation with
# its value from the *clean* run (which we cached). If the metric jumps towards 1, that
# activation carries what the corruption took away: here, which name was the subject.
#
# A hook is a function `hook_fn(activation, hook)` attached to a hook point by name; it may
# return a replacement activation. `model.run_with_hooks(tokens, fwd_hooks=[(name, hook_fn)])`
# attaches it for one run. `get_act_name("resid_pre", 2)` gives the name of the residual
# stream entering block 2, `"blocks.2.hook_resid_pre"`; `"attn_out"` and `"mlp_out"` are the
# outputs of a block's attention layer and MLP. Each has shape `[batch, pos, d_model]`.

# %% [markdown]
# ### Exercise 3.3 — Patching by layer and position
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# For every layer and every position, run the corrupted tokens with that one activation
# (`act_name` at that layer, that position, every prompt) replaced by its clean value, and
# record `metric(logits)`. Return `[layer, pos]`.
#
# Two traps. A cached activation is shared: if you write into `clean_cache[...]` itself, every
# later patch sees your edit. And a hook that closes over a loop variable sees its value when
# it *runs*, which is fine here (it runs inside the same iteration). Run without gradients
# (`torch.no_grad()`): we only read the metric.

# %%
def patch_layer_pos(
    model,
    corrupted_tokens: Int[Tensor, "batch pos"],
    clean_cache: ActivationCache,
    metric,
    act_name: str = "resid_pre",
) -> Float[Tensor, "layer pos"]:
    """The metric with `act_name` of one layer, at one position, patched from the clean run."""
    ### BEGIN SOLUTION
    n_layers, n_pos = model.cfg.n_layers, corrupted_tokens.shape[1]
    results = torch.zeros(n_layers, n_pos)
    for layer in range(n_layers):
        hook_name = get_act_name(act_name, layer)
        clean = clean_cache[hook_name]  # [batch pos d_model]
        for pos in range(n_pos):

            def patch_position(act, hook):
                act[:, pos] = clean[:, pos]  # act is this run's own tensor: editing it is safe
                return act

            with torch.no_grad():
                logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, patch_position)])
            results[layer, pos] = metric(logits)
    return results
    ### END SOLUTION


checks.ch03.check_patch_layer_pos(patch_layer_pos)

# %% [markdown]
# Now the three sweeps on our prompts. The x axis shows the words of the first prompt;
# the positions of `IO` and `S1` vary between templates, but `S2` (position 10) and `end`
# (position 14) do not.

# %%
block_results = torch.stack([
    patch_layer_pos(model, corrupted_tokens, clean_cache, metric, act_name)
    for act_name in ("resid_pre", "attn_out", "mlp_out")
])  # [3 layer pos]
labels = [f"{i}: {word}" for i, word in enumerate(model.to_str_tokens(clean_tokens[0]))]
plotting.imshow_grid(
    block_results, titles=["resid_pre", "attn_out", "mlp_out"], x=labels, xlabel="position (first prompt's words)",
    ylabel="layer", title="Denoising: metric after patching one activation from the clean run",
    color_label="normalized metric (1 = clean)",
)

# %%
THRESHOLD = 0.1  # a component "matters" when patching it alone restores 10% of the gap
S2, END = prompts.positions["S2"][0].item(), prompts.positions["end"][0].item()
assert (prompts.positions["S2"] == S2).all() and (prompts.positions["end"] == END).all()
resid = block_results[0]
print(f"resid_pre: layer 0 at S2 (pos {S2}) {resid[0, S2]:.2f}; at END (pos {END}): "
      + ", ".join(f"layer {layer} {resid[layer, END]:.2f}" for layer in range(model.cfg.n_layers)))
print("attn_out at END: " + ", ".join(f"layer {layer} {v:.2f}" for layer, v in enumerate(block_results[1, :, END])))
print("mlp_out at END:  " + ", ".join(f"layer {layer} {v:.2f}" for layer, v in enumerate(block_results[2, :, END])))
moved_by = int(block_results[1, :, END].argmax())  # the attention layer that moves the information to END
assert resid[0, S2] > 0.9 and resid[moved_by + 1:, END].min() > 0.9 and block_results[1, moved_by, END] > 0.9
assert resid[moved_by + 1:, S2].abs().max() < THRESHOLD and block_results[1, moved_by + 1:].abs().max() < THRESHOLD
assert block_results[2, :, END].min() > THRESHOLD

# %% [markdown]
# Read the residual-stream map from the top left. Before block 0, the only position that
# differs is S2, and patching it restores everything (the clean prompt *is* the corrupted one
# with that word put back). From the next layer on, the whole difference sits at the last
# position: the attention layer printed above has **moved** the information from S2 to END,
# and patching its output at END alone restores the clean behaviour. Nothing at S2 matters
# after that, and no later attention layer carries the difference. The MLPs at END each
# restore a share when patched alone: they take what was moved there and turn it into
# logits.

# %% [markdown]
# ### Exercise 3.4 — Patching each head (all positions)
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Attention layers are sums of heads; which heads? Patch one head at a time, at every
# position, for each of `act_name` = `"z"` (the head's output before `W_O`; patching it patches
# what the head writes), `"q"`, `"k"`, `"v"` and `"pattern"`. Mind the axes: `z`, `q`, `k`
# and `v` are `[batch, pos, head, d_head]`, a pattern is `[batch, head, q_pos, k_pos]`.
# Return `[layer, head]`.

# %%
def patch_heads_all_pos(
    model,
    corrupted_tokens: Int[Tensor, "batch pos"],
    clean_cache: ActivationCache,
    metric,
    act_name: str = "z",
) -> Float[Tensor, "layer head"]:
    """The metric with one head's `act_name` (z, q, k, v or pattern) patched at every position."""
    ### BEGIN SOLUTION
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    results = torch.zeros(n_layers, n_heads)
    for layer in range(n_layers):
        hook_name = get_act_name(act_name, layer)
        clean = clean_cache[hook_name]
        for head in range(n_heads):

            def patch_head(act, hook):
                if act_name == "pattern":  # [batch head q_pos k_pos]
                    act[:, head] = clean[:, head]
                else:  # [batch pos head d_head]
                    act[:, :, head] = clean[:, :, head]
                return act

            with torch.no_grad():
                logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, patch_head)])
            results[layer, head] = metric(logits)
    return results
    ### END SOLUTION


checks.ch03.check_patch_heads_all_pos(patch_heads_all_pos)

# %%
HEAD_ACTS = ("z", "q", "k", "v", "pattern")
head_results = torch.stack([patch_heads_all_pos(model, corrupted_tokens, clean_cache, metric, act) for act in HEAD_ACTS])
plotting.imshow_grid(head_results, titles=["output (z)", "query", "key", "value", "pattern"],
                     xlabel="head", ylabel="layer", title="Denoising one head at every position",
                     color_label="normalized metric (1 = clean)")
mover_heads = [tuple(h) for h in (head_results[0] > THRESHOLD).nonzero().tolist()]
print("heads whose output restores more than 10%:",
      ", ".join(f"L{layer}H{head} ({head_results[0, layer, head]:.2f})" for layer, head in mover_heads))
print("their query / key / value / pattern:",
      "; ".join(f"L{l}H{h}: " + " / ".join(f"{head_results[i, l, h]:.2f}" for i in range(1, 5)) for l, h in mover_heads))
assert mover_heads and all(layer == moved_by for layer, _ in mover_heads)
assert all(head_results[3, l, h] > max(head_results[1, l, h], head_results[4, l, h]) for l, h in mover_heads)  # v, not q or pattern

# %% [markdown]
# The heads that matter are all in the attention layer that moved the information to END,
# and their effect comes through their **values** (what they read), not their queries or
# patterns (where they look): they attend to the same place on clean and corrupted prompts,
# and read a different name there.

# %% [markdown]
# ### Exercise 3.5 — Patching each head at each position
# Difficulty 2/5 · Importance 3/5 · ~5 minutes
#
# Where does a head's output matter? Patch head `head`'s `z` at one position only.
# Return `[layer, pos, head]` (the order of `transformer_lens.patching`). It is
# `n_layers × n_pos × n_heads` = 240 forward passes here; a few seconds.

# %%
def patch_heads_by_pos(
    model, corrupted_tokens: Int[Tensor, "batch pos"], clean_cache: ActivationCache, metric
) -> Float[Tensor, "layer pos head"]:
    """The metric with one head's output (z) patched at one position."""
    ### BEGIN SOLUTION
    n_layers, n_heads, n_pos = model.cfg.n_layers, model.cfg.n_heads, corrupted_tokens.shape[1]
    results = torch.zeros(n_layers, n_pos, n_heads)
    for layer in range(n_layers):
        hook_name = get_act_name("z", layer)
        clean_z = clean_cache[hook_name]  # [batch pos head d_head]
        for pos in range(n_pos):
            for head in range(n_heads):

                def patch_one(z, hook):
                    z[:, pos, head] = clean_z[:, pos, head]
                    return z

                with torch.no_grad():
                    logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, patch_one)])
                results[layer, pos, head] = metric(logits)
    return results
    ### END SOLUTION


checks.ch03.check_patch_heads_by_pos(patch_heads_by_pos)

# %%
by_pos = patch_heads_by_pos(model, corrupted_tokens, clean_cache, metric)
layer, pos, head = torch.unravel_index(by_pos.abs().argmax(), by_pos.shape)
print(f"the largest single patch: L{layer}H{head} at position {pos} ({labels[pos]}), metric {by_pos[layer, pos, head]:.2f}")
print(f"patching the mover heads at END alone gives {[round(by_pos[l, END, h].item(), 2) for l, h in mover_heads]}, "
      f"at all positions {[round(head_results[0, l, h].item(), 2) for l, h in mover_heads]}")
assert pos == END

# %% [markdown]
# ### Exercise 3.6 — Denoising and noising
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# **Noising** runs the experiment the other way: run the *clean* prompts and patch in one
# activation from the *corrupted* run. The code is the same function with the roles swapped:
# `patch_heads_all_pos(model, clean_tokens, corrupted_cache, metric)`. With our metric a
# noising result near 1 means "this head's corrupted value changes nothing", near 0 "it
# breaks the behaviour".
#
# The two answer different questions. Denoising asks whether an activation is *sufficient*
# to restore the behaviour (with everything else corrupted); noising whether it is
# *necessary* (with everything else clean). When two heads both carry the answer (an OR),
# noising either one changes little, while denoising either one restores a lot; when both are
# needed (an AND), it is the other way round.
#
# Write `denoise_and_noise`, which caches what it needs and returns the head-output sweep
# both ways, stacked: `[0]` denoising, `[1]` noising. Use your `patch_heads_all_pos`.

# %%
def denoise_and_noise(
    model, clean_tokens: Int[Tensor, "batch pos"], corrupted_tokens: Int[Tensor, "batch pos"], metric
) -> Float[Tensor, "direction layer head"]:
    """[denoising, noising] of every head's output at all positions."""
    ### BEGIN SOLUTION
    z_names = lambda name: name.endswith("hook_z")  # only what we patch: a smaller cache  # noqa: E731
    with torch.no_grad():
        _, clean_z_cache = model.run_with_cache(clean_tokens, names_filter=z_names)
        _, corrupted_z_cache = model.run_with_cache(corrupted_tokens, names_filter=z_names)
    denoising = patch_heads_all_pos(model, corrupted_tokens, clean_z_cache, metric, "z")
    noising = patch_heads_all_pos(model, clean_tokens, corrupted_z_cache, metric, "z")
    return torch.stack([denoising, noising])
    ### END SOLUTION


checks.ch03.check_denoise_and_noise(denoise_and_noise)

# %%
both_ways = denoise_and_noise(model, clean_tokens, corrupted_tokens, metric)
plotting.imshow_grid(both_ways, titles=["denoising (1 = restores)", "noising (0 = breaks)"], xlabel="head",
                     ylabel="layer", title="One head's output, patched in each direction",
                     color_label="normalized metric (1 = clean)")
for layer, head in mover_heads:
    print(f"L{layer}H{head}: denoising {both_ways[0, layer, head]:.2f}, noising {both_ways[1, layer, head]:.2f}")
denoise_sum = sum(both_ways[0, l, h].item() for l, h in mover_heads)
print(f"the mover heads' denoising effects add up to {denoise_sum:.2f}; the whole attention layer's "
      f"output at END restored {block_results[1, moved_by, END]:.2f}")
assert denoise_sum < block_results[1, moved_by, END]

# %% [markdown]
# Compare each mover head's two numbers. A head whose noising result is far below 1 is
# *necessary*: the clean run cannot do without its clean value. The denoising effects of the
# mover heads add up to less than the whole attention layer's (Exercise 3.3): they restore
# more together than apart, a first sign that what they write is read by something
# non-linear downstream. The next part finds what.
#
# ## Part 3 — Roles and paths
#
# Patching says *where*; to say *what*, look at where each head attends. Wang et al. named
# GPT-2's IOI heads by their attention and by whom they talk to: **name movers** attend from
# END to the indirect object and copy it to the logits; **S-inhibition** heads attend to S2
# and tell the name movers (through their queries) not to attend to S; **duplicate-token**
# heads attend from S2 to S1 (the same name earlier); **induction** heads from S2 to the
# token after S1; **previous-token** heads from each token to the one before.

# %% [markdown]
# ### Exercise 3.7 — Attention between two marked positions
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# For every head, the attention from position `positions[query]` to position
# `positions[key]`, averaged over prompts. The positions differ from prompt to prompt: prompt
# `b` uses `positions[query][b]` and `positions[key][b]`. `cache.stack_activation("pattern")`
# stacks every layer's pattern: `[layer, batch, head, q_pos, k_pos]`. Return `[layer, head]`.

# %%
def attention_between(
    cache: ActivationCache, positions: dict[str, Int[Tensor, "batch"]], query: str, key: str
) -> Float[Tensor, "layer head"]:
    """Mean attention, per head, from each prompt's `query` position to its `key` position."""
    ### BEGIN SOLUTION
    patterns = cache.stack_activation("pattern")  # [layer batch head q_pos k_pos]
    rows = torch.arange(patterns.shape[1])
    # Index tensors separated by slices put their (shared) dimension first: [batch layer head]
    return patterns[:, rows, :, positions[query], positions[key]].mean(dim=0)
    ### END SOLUTION


checks.ch03.check_attention_between(attention_between)

# %%
marks = {**prompts.positions, "S1+1": prompts.positions["S1"] + 1, "prev": prompts.positions["end"] - 1}
attention = {
    "END→IO": attention_between(clean_cache, marks, "end", "IO"),
    "END→S1": attention_between(clean_cache, marks, "end", "S1"),
    "END→S2": attention_between(clean_cache, marks, "end", "S2"),
    "S2→S1 (duplicate)": attention_between(clean_cache, marks, "S2", "S1"),
    "S2→S1+1 (induction)": attention_between(clean_cache, marks, "S2", "S1+1"),
    "END→END-1 (previous)": attention_between(clean_cache, marks, "end", "prev"),
}
plotting.imshow_grid(torch.stack(list(attention.values())), titles=list(attention), xlabel="head", ylabel="layer",
                     diverging=False, title="Mean attention between marked positions (clean prompts)",
                     color_label="attention")
for layer, head in mover_heads:
    print(f"L{layer}H{head} attends from END to: " + ", ".join(f"{k[4:]} {attention[k][layer, head]:.2f}" for k in ("END→IO", "END→S1", "END→S2")))
assert all(attention["END→S2"][l, h] > attention["END→IO"][l, h] + attention["END→S1"][l, h] for l, h in mover_heads)

# %% [markdown]
# The mover heads attend from END to **S2**: they copy the subject's second mention to the
# last position. That is the job of GPT-2's S-inhibition heads. But in GPT-2 the S-inhibition
# heads pass it on to the name movers' queries. Who reads it here?
#
# **Path patching** answers that. Take one *sender* head. Its clean output differs from its
# corrupted output by `Δ = (z_clean − z_corrupted) @ W_O` (per prompt and position). Add `Δ`
# to the input of one *receiver* only — say, the query of head (3, 1) — while every other
# component still sees the corrupted residual stream. If the metric moves, the sender talks
# to that receiver. (`transformer_lens.patching.get_act_patch_direct_path` does this on the
# models where it can hook the split Q/K/V inputs; native models like ours have no such hook,
# so we compute the receiver's input ourselves.)

# %% [markdown]
# ### Exercise 3.8 — Path patching into later heads' queries, keys or values
# Difficulty 4/5 · Importance 4/5 · ~20 minutes
#
# For each receiver head in a layer after the sender's: compute the receiver's `component`
# (`"q"`, `"k"` or `"v"`) from the residual stream it would see with the path patched,
# `ln1(resid_pre_corrupted + Δ)`, through its own weights (`model.W_Q[layer]`, `model.b_Q[layer]`,
# and likewise `K`, `V`: `W` is `[head, d_model, d_head]`); then run the corrupted tokens with
# only that head's `component` replaced. `model.blocks[layer].ln1` is block `layer`'s first
# LayerNorm. Return `[layer, head]`, with 0 for layers up to the sender's (nothing there can
# read it).

# %%
def path_patch_to_heads(
    model,
    corrupted_tokens: Int[Tensor, "batch pos"],
    clean_cache: ActivationCache,
    corrupted_cache: ActivationCache,
    metric,
    sender: tuple[int, int],
    component: str = "q",
) -> Float[Tensor, "layer head"]:
    """The metric when only one receiver head's q, k or v sees the sender head's clean output."""
    ### BEGIN SOLUTION
    sender_layer, sender_head = sender
    z_diff = clean_cache["z", sender_layer][:, :, sender_head] - corrupted_cache["z", sender_layer][:, :, sender_head]
    delta = z_diff @ model.W_O[sender_layer, sender_head]  # [batch pos d_model]: what the sender writes differently
    W = {"q": model.W_Q, "k": model.W_K, "v": model.W_V}[component]
    b = {"q": model.b_Q, "k": model.b_K, "v": model.b_V}[component]
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(sender_layer + 1, model.cfg.n_layers):
        with torch.no_grad():
            normalized = model.blocks[layer].ln1(corrupted_cache["resid_pre", layer] + delta)
            receiver_input = einops.einsum(
                normalized, W[layer], "batch pos d_model, head d_model d_head -> batch pos head d_head"
            ) + b[layer]
        for head in range(model.cfg.n_heads):

            def patch_receiver(act, hook):
                act[:, :, head] = receiver_input[:, :, head]
                return act

            with torch.no_grad():
                logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(get_act_name(component, layer), patch_receiver)])
            results[layer, head] = metric(logits)
    return results
    ### END SOLUTION


checks.ch03.check_path_patch_to_heads(path_patch_to_heads)

# %% [markdown]
# The same for the MLPs. An MLP at layer `L` reads `ln2(resid_mid)`, the residual stream
# after layer `L`'s attention — so the MLP of the sender's *own* layer can read the sender.

# %% [markdown]
# ### Exercise 3.9 — Path patching into the MLPs
# Difficulty 3/5 · Importance 4/5 · ~10 minutes
#
# For each layer from the sender's on: compute that MLP's output from
# `ln2(resid_mid_corrupted + Δ)` (`model.blocks[layer].ln2`, `model.blocks[layer].mlp`), run
# the corrupted tokens with `mlp_out` of that layer replaced by it, record the metric. Return
# `[layer]`, with 0 for layers before the sender's.

# %%
def path_patch_to_mlps(
    model,
    corrupted_tokens: Int[Tensor, "batch pos"],
    clean_cache: ActivationCache,
    corrupted_cache: ActivationCache,
    metric,
    sender: tuple[int, int],
) -> Float[Tensor, "layer"]:
    """The metric when only one MLP sees the sender head's clean output."""
    ### BEGIN SOLUTION
    sender_layer, sender_head = sender
    z_diff = clean_cache["z", sender_layer][:, :, sender_head] - corrupted_cache["z", sender_layer][:, :, sender_head]
    delta = z_diff @ model.W_O[sender_layer, sender_head]  # [batch pos d_model]
    results = torch.zeros(model.cfg.n_layers)
    for layer in range(sender_layer, model.cfg.n_layers):
        block = model.blocks[layer]
        with torch.no_grad():
            new_mlp_out = block.mlp(block.ln2(corrupted_cache["resid_mid", layer] + delta))
            logits = model.run_with_hooks(
                corrupted_tokens, fwd_hooks=[(get_act_name("mlp_out", layer), lambda out, hook: new_mlp_out)]
            )
        results[layer] = metric(logits)
    return results
    ### END SOLUTION


checks.ch03.check_path_patch_to_mlps(path_patch_to_mlps)

# %% [markdown]
# Every path out of each mover head: into the queries, keys and values of every later head,
# into every MLP, and straight into the logits (through `ln_final` and the unembedding only).

# %%
paths = {}
for sender in mover_heads:
    to_heads = torch.stack([
        path_patch_to_heads(model, corrupted_tokens, clean_cache, corrupted_cache, metric, sender, c) for c in "qkv"
    ])  # [component layer head]
    to_mlps = path_patch_to_mlps(model, corrupted_tokens, clean_cache, corrupted_cache, metric, sender)
    layer, head = sender
    delta = (clean_cache["z", layer][:, :, head] - corrupted_cache["z", layer][:, :, head]) @ model.W_O[layer, head]
    with torch.no_grad():
        direct = metric(model.unembed(model.ln_final(corrupted_cache["resid_post", model.cfg.n_layers - 1] + delta)))
    paths[sender] = {"heads": to_heads, "mlps": to_mlps, "logits": direct.item()}
    strongest = torch.unravel_index(to_heads.abs().argmax(), to_heads.shape)
    print(f"from L{layer}H{head}: strongest path into a head's q/k/v: {'qkv'[strongest[0]]} of "
          f"L{strongest[1]}H{strongest[2]} ({to_heads[strongest]:+.3f}); into the MLPs: "
          + ", ".join(f"MLP{l} {v:+.2f}" for l, v in enumerate(to_mlps.tolist()) if l >= layer)
          + f"; straight to the logits: {direct:+.3f}")
main_reader = {sender: int(p["mlps"].argmax()) for sender, p in paths.items()}
assert all(p["mlps"].max() > 5 * max(p["heads"].abs().max(), abs(p["logits"])) for p in paths.values())
assert head_results[1:, moved_by + 1:].abs().max() < THRESHOLD  # later heads' q, k, v, patterns: unmoved

# %% [markdown]
# Every mover head's signal goes into an **MLP** — not into a later head, and not straight to
# the logits. In this model, "which name was the subject" travels from S2 to END through
# layer 0 attention, and the MLPs at END turn it into "not that name". There is no
# S-inhibition of attention: the later heads' queries, keys and patterns did not react to
# the corruption at all (Exercise 3.4).
#
# So are there no name movers? The ABC corruption cannot see them. A head that copies *both*
# names from the context to END writes the same thing on clean and corrupted prompts (the
# two names are the same in both), so patching it changes nothing. Activation patching only
# finds what differs between the two runs: **what it finds depends on the corruption.** To
# find the heads that bring the names, corrupt the names: replace the indirect object with a
# third name at its one mention. The clean answer is then not in the prompt at all.

# %%
def replace_io(prompts: tinyworld.IOIPrompts, seed: int) -> Int[Tensor, "batch pos"]:
    """The clean prompts with the indirect object's name replaced by another name (not S)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = prompts.clean_tokens.clone()
    names = torch.tensor([tinyworld.TOKEN_ID[name] for name in tinyworld.NAMES])
    for i in range(len(prompts)):
        others = names[(names != prompts.answers[i]) & (names != prompts.wrong[i])]
        tokens[i, prompts.positions["IO"][i]] = others[torch.randint(len(others), (), generator=generator)]
    return tokens


io_tokens = replace_io(prompts, seed=0)
print("clean:       ", prompts.clean_texts[0], "\nIO replaced: ", " ".join(model.to_str_tokens(io_tokens[0])[1:]))
with torch.no_grad():
    io_ld = logit_diff(model(io_tokens), prompts.answers, prompts.wrong).mean().item()
io_metric = functools.partial(normalized_metric, answers=prompts.answers, wrong=prompts.wrong, clean_ld=clean_ld, corrupted_ld=io_ld)
io_heads = patch_heads_all_pos(model, io_tokens, clean_cache, io_metric, "z")
name_heads = [tuple(h) for h in (io_heads > THRESHOLD).nonzero().tolist() if tuple(h) not in mover_heads]
to_names = attention["END→IO"] + attention["END→S1"]  # [layer head]
name_movers = [(l, h) for l, h in name_heads if to_names[l, h] > 0.5]
print(f"logit difference with the IO replaced: {io_ld:.2f}")
for l, h in name_heads:
    top_key = clean_cache["pattern", l][0, h, END].argmax().item()
    print(f"L{l}H{h}: IO-replacement patching {io_heads[l, h]:.2f}; from END it attends to IO "
          f"{attention['END→IO'][l, h]:.2f} and S1 {attention['END→S1'][l, h]:.2f} "
          f"(in the first prompt, most to '{labels[top_key]}')")
assert name_movers and all(layer > moved_by for layer, _ in name_movers)

# %% [markdown]
# The heads that attend from END to the names are **name movers** — with a twist: they
# attend to *both* names, IO and S1 (compare the two numbers), not to the IO alone as GPT-2's
# do. They bring the candidates; the S2 movers and the MLPs strike out the subject. The other
# heads this corruption finds do not look at the names from END: they attend to the word the
# printout names. A head of layer 0 reads nothing there but that word's embedding and
# position (no layer came before it), so its effect on the answer comes from other positions,
# where it can attend to a name; a head of a later layer may also read, at that word, what
# earlier layers wrote there about the names. Where each acts, `patch_heads_by_pos` on
# `io_tokens` would tell you. The whole story, as your measurements tell it:

# %%
def role(layer: int, head: int) -> str:
    found = []
    if (layer, head) in mover_heads:
        found.append(f"S2 mover (ABC patching {head_results[0, layer, head]:.2f}, END→S2 {attention['END→S2'][layer, head]:.2f}, "
                     f"read by MLP{main_reader[(layer, head)]})")
    if (layer, head) in name_movers:
        found.append(f"name mover (IO-replacement patching {io_heads[layer, head]:.2f}, END→IO+S1 {to_names[layer, head]:.2f})")
    elif (layer, head) in name_heads:
        found.append(f"carries name information to END (IO-replacement patching {io_heads[layer, head]:.2f})")
    for kind in ("S2→S1 (duplicate)", "S2→S1+1 (induction)", "END→END-1 (previous)"):
        if attention[kind][layer, head] > 0.4:
            found.append(f"{kind.split()[1][1:-1]}-token-like attention {attention[kind][layer, head]:.2f} "
                         f"(ABC patching {head_results[0, layer, head]:.2f})")
    return "; ".join(found)


for layer in range(model.cfg.n_layers):
    for head in range(model.cfg.n_heads):
        if found := role(layer, head):
            print(f"L{layer}H{head}: {found}")

# %% [markdown]
# GPT-2 finds S2 by *repetition*: its duplicate-token and induction heads notice that S2 is a
# name seen before. Do the S2 movers here need that? On the corrupted prompts S2 is a name
# seen nowhere before; compare their attention to it there.

# %%
corrupted_to_s2 = attention_between(corrupted_cache, marks, "end", "S2")
for layer, head in mover_heads:
    print(f"L{layer}H{head} attends from END to S2: {attention['END→S2'][layer, head]:.2f} when S2 repeats S1 (clean), "
          f"{corrupted_to_s2[layer, head]:.2f} when it is a new name (corrupted)")
assert all(abs(corrupted_to_s2[l, h] - attention["END→S2"][l, h]) < 0.1 for l, h in mover_heads)

# %% [markdown]
# The same attention either way: the S2 movers find the subject by its place in the sentence
# (in every template, the name right before the verb), not because it repeats. The values
# they read there are what changes. So this model has no use for duplicate-token or induction
# heads in IOI. Heads with such attention may exist (the table above prints any above 0.4),
# but their ABC patching effect is near 0: what happens at S2 after layer 0 does not matter
# for the answer (Exercise 3.3).
#
# ## Part 4 — Attribution patching
#
# Every sweep so far costs one forward pass per patch. **Attribution patching** (Nanda,
# 2023) estimates all of them from one forward and one backward pass on the corrupted run:
# to first order, patching activation `a` changes the metric by
# `(a_clean − a_corrupted) · ∂metric/∂a`, the gradient taken at the corrupted run.

# %% [markdown]
# ### Exercise 3.10 — Attribution patching of head outputs
# Difficulty 3/5 · Importance 4/5 · ~10 minutes
#
# Run the corrupted tokens with a hook on every layer's `z` that keeps the tensor (return it
# unchanged), compute the metric, and take its gradient with respect to those tensors
# (`torch.autograd.grad(value, list_of_tensors)`). Each head's estimate is
# `(z_clean − z_corrupted) · gradient`, summed over prompts, positions and `d_head`.
# Return `[layer, head]`.

# %%
def attribution_patch_heads(
    model, corrupted_tokens: Int[Tensor, "batch pos"], clean_cache: ActivationCache, metric
) -> Float[Tensor, "layer head"]:
    """The first-order estimate of patching each head's output at every position."""
    ### BEGIN SOLUTION
    corrupted_z = []

    def keep(z, hook):
        corrupted_z.append(z)
        return z

    hooks = [(get_act_name("z", layer), keep) for layer in range(model.cfg.n_layers)]
    value = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=hooks))
    gradients = torch.autograd.grad(value, corrupted_z)
    return torch.stack([
        einops.einsum(
            clean_cache["z", layer] - z.detach(), gradient, "batch pos head d_head, batch pos head d_head -> head"
        )
        for layer, (z, gradient) in enumerate(zip(corrupted_z, gradients))
    ])
    ### END SOLUTION


checks.ch03.check_attribution_patch_heads(attribution_patch_heads)

# %%
estimates = {
    "ABC": attribution_patch_heads(model, corrupted_tokens, clean_cache, metric),
    "IO replaced": attribution_patch_heads(model, io_tokens, clean_cache, io_metric),
}
actual = {"ABC": head_results[0], "IO replaced": io_heads}
labels_heads = [f"L{l}H{h}" for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
for name in estimates:
    real, estimate = actual[name].flatten(), estimates[name].flatten()
    correlation = torch.corrcoef(torch.stack([real, estimate]))[0, 1].item()
    plotting.scatter(real, estimate, xlabel="activation patching", ylabel="attribution patching", text=labels_heads,
                     title=f"Each head's output, {name} corruption: correlation {correlation:.3f}")
    biggest = real.abs().argmax()
    print(f"{name}: correlation {correlation:.3f}; the largest effect, {labels_heads[biggest]}, is "
          f"{real[biggest]:.2f} patched and {estimate[biggest]:.2f} estimated")

# %% [markdown]
# The estimates rank the heads well (the correlation is high), and are good for the many
# small effects. They fall short on the **large** ones. A first-order estimate assumes the
# metric changes linearly between the corrupted and the clean activation; a big patch moves
# the residual stream at END far, through `ln_final`'s division by the norm, the GELUs of the
# MLPs that read it and the softmaxes of later heads, and the gradient at the corrupted end
# of that path is not the average slope along it. Use attribution patching to choose what to
# patch for real, not instead of patching — and expect it to fail most where a component
# matters most.
#
# ## Part 5 — Faithfulness
#
# A circuit is a claim: "these heads (with the MLPs and embeddings) do the task". Test it by
# **mean-ablating** every head *outside* the circuit: replace its output at each position by
# its mean over a reference set of prompts, so that it carries no information about the
# prompt at hand but keeps its average effect. Then measure how much of the logit difference
# is left. (Zero-ablation, the alternative, pushes the model off-distribution: a head's
# output is rarely near zero.)

# %% [markdown]
# ### Exercise 3.11 — Run only a circuit
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# `circuit` lists `(layer, head)` pairs to keep; `means` is `[layer, pos, head, d_head]`. Run
# `tokens` with every other head's `z` replaced by `means[layer]` at each position. Return the
# logits.

# %%
def run_with_circuit(
    model,
    tokens: Int[Tensor, "batch pos"],
    circuit: list[tuple[int, int]],
    means: Float[Tensor, "layer pos head d_head"],
) -> Float[Tensor, "batch pos d_vocab"]:
    """Logits with every head outside `circuit` mean-ablated."""
    ### BEGIN SOLUTION
    keep = {tuple(pair) for pair in circuit}
    hooks = []
    for layer in range(model.cfg.n_layers):
        ablated = [head for head in range(model.cfg.n_heads) if (layer, head) not in keep]

        def mean_ablate(z, hook, layer=layer, ablated=ablated):  # default arguments: this layer's values
            z[:, :, ablated] = means[layer][:, ablated]
            return z

        hooks.append((get_act_name("z", layer), mean_ablate))
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks)
    ### END SOLUTION


checks.ch03.check_run_with_circuit(run_with_circuit)

# %% [markdown]
# ### Exercise 3.12 — A bootstrap confidence interval
# Difficulty 2/5 · Importance 3/5 · ~5 minutes
#
# Our prompts are a sample; how sure are we of a mean over 16 of them? The **percentile
# bootstrap**: draw `n_resamples` resamples of the values *with replacement*
# (`torch.randint(0, n, (n_resamples, n), generator=...)` as indices, from
# `torch.Generator().manual_seed(seed)`), take each resample's mean, and return the
# `(1 − confidence)/2` and `(1 + confidence)/2` quantiles of those means (`torch.quantile`),
# as a tensor `[low, high]`. With the same generator this is exactly
# `transformer_lens.utilities.statistics.bootstrap_ci`.

# %%
def bootstrap_ci(
    values: Float[Tensor, "n"], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Float[Tensor, "2"]:
    """[low, high] of the percentile bootstrap interval of the mean of `values`."""
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)
    resampled_means = values[index].mean(dim=1)  # [n_resamples]
    alpha = (1 - confidence) / 2
    return torch.stack([torch.quantile(resampled_means, alpha), torch.quantile(resampled_means, 1 - alpha)])
    ### END SOLUTION


checks.ch03.check_bootstrap_ci(bootstrap_ci)

# %% [markdown]
# The means come from 64 ABC-corrupted prompts of another seed: the same templates and
# positions, three different names each, so a mean carries no name. For each candidate
# circuit we report, with 95% intervals over our 16 prompts, two things: the logit difference
# kept (per prompt, circuit over full model, with your bootstrap), and how often the indirect
# object is still the model's top prediction. For that one, a success rate, the percentile
# bootstrap has a blind spot: 16 successes out of 16 resample to 16 out of 16 every time,
# and the interval collapses to a point. `success_rate_ci` (TransformerLens) gives the exact
# Clopper–Pearson interval, which widens as the number of prompts shrinks.

# %%
reference_prompts = tinyworld.ioi_prompts(64, seed=1, corruption="abc")
with torch.no_grad():
    _, reference_cache = model.run_with_cache(reference_prompts.corrupted_tokens, names_filter=lambda name: name.endswith("hook_z"))
means = torch.stack([reference_cache["z", layer].mean(dim=0) for layer in range(model.cfg.n_layers)])
full_ld = logit_diff(clean_logits, prompts.answers, prompts.wrong).detach()
circuits = {
    "S2 movers": mover_heads,
    "S2 movers + the heads IO replacement finds": mover_heads + name_heads,
    "no heads at all": [],
}
faithfulness = {}
for name, circuit in circuits.items():
    logits = run_with_circuit(model, clean_tokens, circuit, means)
    kept = logit_diff(logits, prompts.answers, prompts.wrong) / full_ld  # [batch]
    top1 = (logits[:, -1].argmax(dim=-1) == prompts.answers).float()  # [batch]
    faithfulness[name] = (kept.mean().item(), top1.mean().item())
    kept_low, kept_high = bootstrap_ci(kept).tolist()
    exact = success_rate_ci(top1.bool().tolist())
    top_low, top_high = exact.ci_low, exact.ci_high
    print(f"{name:43s} ({len(circuit):2d} heads): logit difference kept {kept.mean():6.1%} "
          f"[{kept_low:6.1%}, {kept_high:6.1%}]; IO on top {top1.mean():6.1%} [{top_low:6.1%}, {top_high:6.1%}]")
assert faithfulness["S2 movers"][0] > 0.8 and faithfulness["S2 movers"][1] < 0.5
assert faithfulness["S2 movers + the heads IO replacement finds"][1] > faithfulness["S2 movers"][1] + 0.3
assert faithfulness["no heads at all"][0] < 0.3

# %% [markdown]
# Read the two columns together. The S2 movers alone keep (about) all of the logit
# difference — by that metric they are a faithful circuit — yet the model mostly stops
# predicting the indirect object: it still pushes the subject down, but without the name
# movers it no longer knows which of the other names to push up, and the logit difference
# never asked. Adding the heads the IO replacement found brings the right answer back. A circuit is only as
# faithful as the metric you test it with; the logit difference IO − S measures "not S"
# and is blind to "which name instead".
#
# The intervals are wide with 16 prompts. An interval costs nothing: report it.
#
# ## Part 6 — Going further: GPT-2 small (optional, needs the network once)
#
# Run your `patch_heads_all_pos` on GPT-2 small's IOI. Loading it downloads about 550 MB the
# first time, so this section only runs when you ask: set `RUN_GPT2 = True` while online.
# Offline, `models.load_pretrained` fails with a `RuntimeError` that says why, and the
# section is skipped. Wang et al. found name movers in layers 9–10 and S-inhibition heads in
# layers 7–8; does your sweep agree?

# %%
RUN_GPT2 = False

gpt2 = None
if not RUN_GPT2:
    print("Skipped: set RUN_GPT2 = True (and be online the first time) to patch GPT-2 small's heads.")
else:
    try:
        gpt2 = models.load_pretrained("gpt2")
    except RuntimeError as error:
        print(f"Skipped: GPT-2 could not be loaded.\n{error}")

# %%
if gpt2 is not None:
    gpt2_templates = [
        "When {A} and {B} went to the store, {S} gave a drink to",
        "When {A} and {B} went to the park, {S} gave a ball to",
        "After {A} and {B} arrived at the house, {S} handed a book to",
    ]
    name_triples = [("Mary", "John", "Tom"), ("Anna", "James", "Paul"), ("Sarah", "David", "Mark"), ("Kate", "Adam", "Ben")]
    gpt2_clean, gpt2_corrupted, gpt2_answers, gpt2_wrong = [], [], [], []
    for template in gpt2_templates:
        for io, s, third in name_triples:
            for a, b in ((io, s), (s, io)):  # both name orders
                gpt2_clean.append(template.format(A=a, B=b, S=s))
                gpt2_corrupted.append(template.format(A=a, B=b, S=third))
                gpt2_answers.append(gpt2.to_single_token(" " + io))
                gpt2_wrong.append(gpt2.to_single_token(" " + s))
    gpt2_clean_tokens, gpt2_corrupted_tokens = gpt2.to_tokens(gpt2_clean), gpt2.to_tokens(gpt2_corrupted)
    assert gpt2_clean_tokens.shape == gpt2_corrupted_tokens.shape, "each name must be one token"
    gpt2_answers, gpt2_wrong = torch.tensor(gpt2_answers), torch.tensor(gpt2_wrong)
    with torch.no_grad():
        gpt2_clean_logits, gpt2_clean_cache = gpt2.run_with_cache(gpt2_clean_tokens)
        gpt2_clean_ld = logit_diff(gpt2_clean_logits, gpt2_answers, gpt2_wrong).mean().item()
        gpt2_corrupted_ld = logit_diff(gpt2(gpt2_corrupted_tokens), gpt2_answers, gpt2_wrong).mean().item()
    print(f"GPT-2 logit difference: clean {gpt2_clean_ld:.2f}, corrupted {gpt2_corrupted_ld:.2f}")
    gpt2_metric = functools.partial(normalized_metric, answers=gpt2_answers, wrong=gpt2_wrong,
                                    clean_ld=gpt2_clean_ld, corrupted_ld=gpt2_corrupted_ld)
    gpt2_heads = patch_heads_all_pos(gpt2, gpt2_corrupted_tokens, gpt2_clean_cache, gpt2_metric, "z")
    top = gpt2_heads.flatten().abs().topk(min(5, gpt2_heads.numel())).indices
    print("GPT-2 heads with the largest effect: " + ", ".join(
        f"L{i // gpt2.cfg.n_heads}H{i % gpt2.cfg.n_heads} ({gpt2_heads.flatten()[i]:.2f})" for i in top.tolist()))
    plotting.imshow(gpt2_heads, xlabel="head", ylabel="layer", title="GPT-2 small: denoising each head's output (ABC)",
                    color_label="normalized metric (1 = clean)")

# %% [markdown]
# ## Summary
#
# - Activation patching swaps one activation between two runs that differ in one detail. A
#   normalized metric (0 = corrupted, 1 = clean) makes effects comparable; denoising asks
#   what is sufficient, noising what is necessary.
# - In `tinyworld-lm`, the heads of one attention layer carry the subject's second mention
#   (S2) to the last position through their values; path patching shows that MLPs, not later
#   heads, read it. Other heads bring both names to END. There is no S-inhibition of
#   attention: a different algorithm from GPT-2's for the same task.
# - Patching finds only what the corruption changes: the ABC corruption is blind to heads that
#   copy the names, so a second corruption was needed to see them.
# - Attribution patching ranks components from one backward pass; it underestimates the
#   largest effects, where the model is least linear.
# - Mean-ablating everything outside a circuit tests it; the logit difference alone called
#   a circuit that no longer names the indirect object faithful. Report intervals.
#
# ## Questions: predict, then run
# 1. Patch `resid_pre` with the **swap** corruption (`corruption="swap"`: S2 becomes the IO
#    name, so the answer flips). Where in the map do you expect values near 1, and which
#    heads matter?
# 2. The S2 movers find S2 by its place in the sentence. With the swap corruption, S2 is the
#    IO's name: what do they copy to END then, what do the MLPs strike out, and what does
#    the model answer? Predict, then run the prompts and read the top prediction.
# 3. Noise the mover heads *together* (one hook patching all of them). Do their effects add
#    up, or is the whole more than the sum (an AND)?
# 4. Which MLP neurons read the S2 movers? Patch `blocks.0.mlp.hook_post` one neuron at a
#    time at END, or use attribution patching to choose which to try.
# 5. Attribution patching on `resid_pre` by layer and position: predict the correlation with
#    real patching, and the cells where it is worst; then check.
# 6. Replace mean-ablation by zero-ablation in the faithfulness test. Predict which circuit
#    suffers most.
# 7. Take 64 prompts instead of 16. How much do the bootstrap intervals shrink? (√4 = 2.)
# 8. With `RUN_GPT2 = True`: do GPT-2's largest effects sit in the layers Wang et al.
#    report? Path-patch from its strongest S-inhibition candidate into the name movers'
#    queries: what does your `path_patch_to_heads` say?

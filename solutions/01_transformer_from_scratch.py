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
# # Chapter 01 — A transformer from scratch
#
# You will write a GPT-2-style transformer yourself, one component at a time, and prove each
# piece right by loading the weights of a TransformerLens model into it and matching its
# activations to 1e-4. Then you train your model on a small task on your CPU, and finally
# open it up with the tools the rest of the course uses: caches, hooks and ablations.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - write LayerNorm, embeddings, causal self-attention, the MLP, a block and the full model,
#   with the shapes of every tensor in your head;
# - explain why each component is there and spot the usual bugs (a missing causal mask,
#   a softmax over the wrong axis, an epsilon outside the square root…);
# - train a transformer on CPU and sample from it;
# - load weights into TransformerLens 4's `TransformerBridge`, read a cache, write a hook
#   that ablates one attention head, and measure what that head does.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong. Stuck for longer than the budget? The solution is in `solutions/` — read it, then
# close it and write it yourself.
#
# **Shapes.** We name dimensions the same way all course long: `batch`, `pos`, `d_model`,
# `head`, `d_head`, `d_mlp`, `d_vocab`, `layer`; `q_pos` and `k_pos` are the query's and
# the key's position. Type hints like `Float[Tensor, "batch pos d_model"]` (from
# `jaxtyping`) document them.

# %%
import functools

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import TransformerBridge
from transformer_lens.utilities import get_act_name
from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

from mi_tutorial import checks, models, plotting, train
from mi_tutorial.data import reversal

_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)
train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))

# %% [markdown]
# ## Part 1 — The components
#
# A transformer maps a sequence of token ids to one vector of logits per position: a
# prediction of the next token. Information flows along the **residual stream**, a
# `d_model`-dimensional vector per position. Embeddings write the first version of it;
# each block *reads* from it and *adds* its output back; the unembedding reads the final
# version and turns it into logits.
#
# ```
# tokens → embed + pos_embed → [block: resid += attn(ln1(resid)); resid += mlp(ln2(resid))] × n_layers
#        → ln_final → unembed → logits
# ```
#
# We build a model with the same configuration object TransformerLens uses. `cfg.d_model`,
# `cfg.n_heads`, `cfg.d_head`, `cfg.d_mlp`, `cfg.d_vocab`, `cfg.n_ctx`, `cfg.eps` are the
# fields you will need. Parameter names (`W_Q`, `b_O`, `W_E`…) follow TransformerLens, so
# its weights load straight into your modules: that is how the checks test you.

# %%
cfg = models.make_config(
    n_layers=2,
    d_model=64,
    n_heads=4,
    d_head=16,
    d_mlp=256,
    d_vocab=reversal.D_VOCAB,  # 10 digits + BOS + SEP
    n_ctx=reversal.SEQ_LEN,
    act_fn="gelu_new",
    normalization_type="LN",
    seed=0,
)
INIT_STD = 0.02  # GPT-2's initialisation scale

# %% [markdown]
# ### Exercise 1.1 — LayerNorm
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# LayerNorm makes each position's vector have mean 0 and variance 1 across `d_model`, then
# scales it by a learned `w` and shifts it by a learned `b`:
# `(x - mean) / sqrt(var + eps) * w + b`. Use the *biased* variance (divide by `d_model`,
# as PyTorch's `nn.LayerNorm` does), and keep `eps` inside the square root.

# %%
class LayerNorm(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.w = nn.Parameter(torch.ones(cfg.d_model))
        self.b = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, residual: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """Normalize each position's vector over d_model, then scale by w and shift by b."""
        ### BEGIN SOLUTION
        mean = residual.mean(dim=-1, keepdim=True)
        var = residual.var(dim=-1, keepdim=True, unbiased=False)
        return (residual - mean) / (var + self.cfg.eps).sqrt() * self.w + self.b
        ### END SOLUTION


checks.ch01.check_layernorm(LayerNorm)

# %% [markdown]
# ### Exercise 1.2 — Token and positional embeddings
# Difficulty 1/5 · Importance 3/5 · ~10 minutes
#
# `Embed` looks up row `token` of `W_E` for every token. `PosEmbed` looks up row `pos` of
# `W_pos` for every position `0 … seq_len-1` — it depends only on where a token is, not on
# which token it is — and returns the same rows for every sequence in the batch.

# %%
class Embed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(cfg.d_vocab, cfg.d_model) * INIT_STD)

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The embedding vector of every token."""
        ### BEGIN SOLUTION
        return self.W_E[tokens]
        ### END SOLUTION


class PosEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, cfg.d_model) * INIT_STD)

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The positional embedding of every position (the same for each sequence)."""
        ### BEGIN SOLUTION
        batch, seq_len = tokens.shape
        return einops.repeat(self.W_pos[:seq_len], "pos d_model -> batch pos d_model", batch=batch)
        ### END SOLUTION


checks.ch01.check_embeddings(Embed, PosEmbed)

# %% [markdown]
# ### Exercise 1.3 — The causal mask
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# A language model predicts the next token, so position `q_pos` may only look at keys at
# positions `k_pos <= q_pos`. Set every score with `k_pos > q_pos` to a very negative number
# (use `float("-inf")`), so the softmax gives it zero weight. Leave the diagonal alone: a
# token may attend to itself.

# %%
def apply_causal_mask(
    attn_scores: Float[Tensor, "batch head q_pos k_pos"],
) -> Float[Tensor, "batch head q_pos k_pos"]:
    """The scores with every future key (k_pos > q_pos) set to -inf."""
    ### BEGIN SOLUTION
    q_len, k_len = attn_scores.shape[-2:]
    future = torch.triu(torch.ones(q_len, k_len, dtype=torch.bool, device=attn_scores.device), diagonal=1)
    return attn_scores.masked_fill(future, float("-inf"))
    ### END SOLUTION


checks.ch01.check_apply_causal_mask(apply_causal_mask)

# %% [markdown]
# ### Exercise 1.4 — Causal self-attention
# Difficulty 4/5 · Importance 5/5 · ~30 minutes
#
# Each head computes, from the (normalized) residual stream `x`:
# 1. queries, keys, values: `q = x @ W_Q + b_Q` (per head), same for `k`, `v`;
# 2. scores `q · k / sqrt(d_head)` for every (query, key) pair;
# 3. the **pattern**: your causal mask, then a softmax over the *key* positions;
# 4. `z`: for each query, the pattern-weighted average of the values;
# 5. the output: each head's `z @ W_O`, summed over heads, plus `b_O`.
#
# `einops.einsum` with named dimensions keeps this readable; a shape comment at each line
# helps too. `W_Q` has shape `[head, d_model, d_head]`.

# %%
class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.W_Q = nn.Parameter(torch.randn(cfg.n_heads, cfg.d_model, cfg.d_head) * INIT_STD)
        self.W_K = nn.Parameter(torch.randn(cfg.n_heads, cfg.d_model, cfg.d_head) * INIT_STD)
        self.W_V = nn.Parameter(torch.randn(cfg.n_heads, cfg.d_model, cfg.d_head) * INIT_STD)
        self.W_O = nn.Parameter(torch.randn(cfg.n_heads, cfg.d_head, cfg.d_model) * INIT_STD)
        self.b_Q = nn.Parameter(torch.zeros(cfg.n_heads, cfg.d_head))
        self.b_K = nn.Parameter(torch.zeros(cfg.n_heads, cfg.d_head))
        self.b_V = nn.Parameter(torch.zeros(cfg.n_heads, cfg.d_head))
        self.b_O = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """Causal multi-head self-attention; returns the sum of the heads' outputs plus b_O."""
        ### BEGIN SOLUTION
        q = einops.einsum(x, self.W_Q, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_Q
        k = einops.einsum(x, self.W_K, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_K
        v = einops.einsum(x, self.W_V, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_V
        attn_scores = einops.einsum(
            q, k, "batch q_pos head d_head, batch k_pos head d_head -> batch head q_pos k_pos"
        ) / self.cfg.d_head**0.5
        pattern = apply_causal_mask(attn_scores).softmax(dim=-1)  # each query's weights sum to 1
        z = einops.einsum(pattern, v, "batch head q_pos k_pos, batch k_pos head d_head -> batch q_pos head d_head")
        out = einops.einsum(z, self.W_O, "batch pos head d_head, head d_head d_model -> batch pos d_model")
        return out + self.b_O
        ### END SOLUTION


checks.ch01.check_attention(Attention)

# %% [markdown]
# ### Exercise 1.5 — The MLP
# Difficulty 1/5 · Importance 3/5 · ~10 minutes
#
# Up-project to `d_mlp`, apply GELU, down-project: `gelu(x @ W_in + b_in) @ W_out + b_out`.
# GPT-2's GELU is the tanh approximation (`act_fn="gelu_new"` in the config):
# `torch.nn.functional.gelu(x, approximate="tanh")`.

# %%
class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(cfg.d_model, cfg.d_mlp) * INIT_STD)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.randn(cfg.d_mlp, cfg.d_model) * INIT_STD)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """The two-layer GELU MLP, applied to each position separately."""
        ### BEGIN SOLUTION
        pre = einops.einsum(x, self.W_in, "batch pos d_model, d_model d_mlp -> batch pos d_mlp") + self.b_in
        post = nn.functional.gelu(pre, approximate="tanh")
        return einops.einsum(post, self.W_out, "batch pos d_mlp, d_mlp d_model -> batch pos d_model") + self.b_out
        ### END SOLUTION


checks.ch01.check_mlp(MLP)

# %% [markdown]
# ### Exercise 1.6 — A transformer block
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# GPT-2 normalizes *before* each sublayer ("pre-LN") and adds the sublayer's output to the
# residual stream: `resid_mid = resid_pre + attn(ln1(resid_pre))`, then
# `resid_post = resid_mid + mlp(ln2(resid_mid))`.

# %%
class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1 = LayerNorm(cfg)
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, resid_pre: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """One pre-LN block: attention, then MLP, each added to the residual stream."""
        ### BEGIN SOLUTION
        resid_mid = resid_pre + self.attn(self.ln1(resid_pre))
        return resid_mid + self.mlp(self.ln2(resid_mid))
        ### END SOLUTION


checks.ch01.check_transformer_block(TransformerBlock)

# %% [markdown]
# ### Exercise 1.7 — Unembedding
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# The unembedding turns the final residual stream into one logit per vocabulary entry:
# `x @ W_U + b_U`.

# %%
class Unembed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.W_U = nn.Parameter(torch.randn(cfg.d_model, cfg.d_vocab) * INIT_STD)
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_vocab"]:
        """Logits for every position."""
        ### BEGIN SOLUTION
        return einops.einsum(x, self.W_U, "batch pos d_model, d_model d_vocab -> batch pos d_vocab") + self.b_U
        ### END SOLUTION


checks.ch01.check_unembed(Unembed)

# %% [markdown]
# ### Exercise 1.8 — The whole model
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# Put it together: embeddings (token + position), the blocks in order, the final
# LayerNorm, the unembedding. The check loads a TransformerLens model's weights into yours
# and compares the logits.

# %%
class DemoTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.pos_embed = PosEmbed(cfg)
        self.blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.ln_final = LayerNorm(cfg)
        self.unembed = Unembed(cfg)

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
        """Logits for the next token at every position."""
        ### BEGIN SOLUTION
        residual = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(self.ln_final(residual))
        ### END SOLUTION


checks.ch01.check_demo_transformer(DemoTransformer)

# %% [markdown]
# ## Part 2 — Train it
#
# Our task: **reverse a sequence of digits**. Each training sequence is
# `BOS d1 d2 d3 d4 d5 d6 SEP d6 d5 d4 d3 d2 d1`. The digits before `SEP` are random, so no
# model can predict them; after `SEP` every token is determined. A model that gets them
# right must, at each position after `SEP`, *look back* at the right earlier position: a
# job for attention.

# %%
example = reversal.reversal_batch(2, seed=123)
print(example)
print(" ".join(reversal.to_str_tokens(example[0])))

# %% [markdown]
# ### Exercise 1.9 — The language-modelling loss
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# The logits at position `i` predict the token at position `i + 1`. Return the mean
# cross-entropy of those predictions: drop the last position's logits (nothing follows it)
# and the first token (nothing predicts it). `log_softmax` over the vocabulary, then pick
# the log-probability of the true next token (`torch.gather` or indexing).

# %%
def lm_cross_entropy(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, ""]:
    """Mean next-token cross-entropy loss (a scalar)."""
    ### BEGIN SOLUTION
    log_probs = logits[:, :-1].log_softmax(dim=-1)  # predictions for positions 1 … pos-1
    next_tokens = tokens[:, 1:]
    correct = log_probs.gather(dim=-1, index=next_tokens.unsqueeze(-1)).squeeze(-1)
    return -correct.mean()
    ### END SOLUTION


checks.ch01.check_lm_cross_entropy(lm_cross_entropy)

# %% [markdown]
# Now train. `mi_tutorial.train.train` is a plain AdamW loop with a progress bar; it calls
# `make_batch(step)` for data and `loss_fn(model, batch)` for the loss. We score only the
# predictions from the `SEP` position on: the digits before it are random, and trying to
# predict them only adds noise (a constant loss of about ln 10 ≈ 2.3).
#
# Set `RETRAIN = False` to skip training if your model is already trained in this session.

# %%
RETRAIN = True
TRAIN_STEPS = 120  # the loss falls below 0.01 by about step 60 on this task


def reversal_loss(model, tokens):
    logits = model(tokens)
    return lm_cross_entropy(logits[:, reversal.SEP_POS :], tokens[:, reversal.SEP_POS :])


if RETRAIN:
    torch.manual_seed(0)
    model = DemoTransformer(cfg)
    history = train.train(
        model,
        make_batch=lambda step: reversal.reversal_batch(64, seed=step),
        loss_fn=reversal_loss,
        steps=TRAIN_STEPS,
        lr=3e-3,
        seed=0,
        desc="reversal",
    )
    plotting.line(history.losses, xlabel="step", ylabel="loss on the reversed half", title="Training your transformer", log_y=True)
    print(f"trained {TRAIN_STEPS} steps in {history.seconds:.1f} s; final loss {history.losses[-1]:.4f}")

# %% [markdown]
# ### Exercise 1.10 — Greedy sampling
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# To generate, repeatedly run the model, take the most likely next token at the *last*
# position, and append it. (Real samplers draw from the softmax with a temperature; greedy
# decoding is the temperature-0 limit.) `model` is anything that maps tokens to logits:
# your `DemoTransformer` or a TransformerLens model.

# %%
@torch.no_grad()
def greedy_generate(model, tokens: Int[Tensor, "batch pos"], n_new: int) -> Int[Tensor, "batch pos_plus_n_new"]:
    """The prompt followed by `n_new` greedily chosen tokens."""
    ### BEGIN SOLUTION
    for _ in range(n_new):
        logits = model(tokens)  # [batch pos d_vocab]
        next_token = logits[:, -1].argmax(dim=-1, keepdim=True)  # [batch 1]
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens
    ### END SOLUTION


checks.ch01.check_greedy_generate(greedy_generate)

# %% [markdown]
# How well does your model reverse sequences it has never seen? Give it `BOS digits SEP`
# and let it write the rest.

# %%
test = reversal.reversal_batch(500, seed=10_000)  # training used seeds 0 … TRAIN_STEPS-1
prompts, targets = test[:, : reversal.SEP_POS + 1], test[:, reversal.SEP_POS + 1 :]
completions = greedy_generate(model, prompts, reversal.N_DIGITS)[:, reversal.SEP_POS + 1 :]
sequence_accuracy = (completions == targets).all(dim=1).float().mean().item()
print("prompt:    ", " ".join(reversal.to_str_tokens(prompts[0])))
print("completion:", " ".join(reversal.to_str_tokens(completions[0])))
print(f"sequences reversed exactly: {sequence_accuracy:.1%} of {len(test)}")
assert sequence_accuracy > 0.9, "training did not converge: try more TRAIN_STEPS"

# %% [markdown]
# ## Part 3 — Look inside with TransformerLens
#
# Your model has TransformerLens's parameter names, so its weights load into a
# `TransformerBridge` (TransformerLens 4's model class) of the same config. A *native*
# bridge is built from a config alone, with no download: `TransformerBridge.boot_native`.
# Two things to know about TransformerLens 4:
# - a bridge boots in **training mode**: call `.eval()` (some tools refuse a model in
#   training mode);
# - its `state_dict()` uses internal names (`blocks.0.attn.q.weight`);
#   `convert_tl_checkpoint` translates our `W_Q`-style names, and `tl_parameters()` shows
#   the weights under those names.

# %%
bridge = TransformerBridge.boot_native(cfg)
bridge.load_state_dict(convert_tl_checkpoint(model.state_dict(), cfg))
bridge.eval()
with torch.no_grad():
    max_diff = (bridge(test[:50]) - model(test[:50])).abs().max().item()
print(f"max |logit difference| between your model and the bridge: {max_diff:.2e}")
assert max_diff < 1e-4

# %% [markdown]
# `run_with_cache` runs the model and keeps every intermediate activation, each at a
# **hook point** with a name like `blocks.0.attn.hook_pattern`. The cache takes short
# keys: `cache["pattern", 0]` is layer 0's attention pattern, `[batch, head, q_pos, k_pos]`.
#
# Look at the patterns: which heads attend, from each position after `SEP`, to the digit
# it must copy (its mirror image across `SEP`)? Hover over the view to read them.

# %%
logits, cache = bridge.run_with_cache(test[:8])
print(cache["pattern", 0].shape)
str_tokens = reversal.to_str_tokens(test[0])
all_heads = torch.cat([cache["pattern", layer][0] for layer in range(cfg.n_layers)])  # [layer*head q_pos k_pos]
plotting.attention_patterns(str_tokens, all_heads)  # heads 0-3 are layer 0's, 4-7 layer 1's

# %% [markdown]
# ### Exercise 1.11 — Each head's output
# Difficulty 3/5 · Importance 4/5 · ~15 minutes
#
# An attention layer's output is the sum of its heads' outputs (plus `b_O`). To ask what
# *one* head writes to the residual stream, compute head `h`'s output `z[..., h, :] @ W_O[h]`
# yourself from the cached `z` (`cache["z", layer]`, `[batch, pos, head, d_head]`) and the
# model's `W_O` (`model.W_O`, `[layer, head, d_head, d_model]`).
#
# *Why by hand?* The old `HookedTransformer` had `model.set_use_attn_result(True)`; on
# TransformerLens 4's native models it raises `NotImplementedError`, and so does setting the
# config flag (`bridge.cfg.use_attn_result = True`), at the assignment (the cell after this
# exercise shows both). Computing `z @ W_O` is exact and works on every model.

# %%
def head_outputs(cache, model, layer: int) -> Float[Tensor, "batch pos head d_model"]:
    """What each head of `layer` adds to the residual stream (without b_O)."""
    ### BEGIN SOLUTION
    z = cache["z", layer]  # [batch pos head d_head]
    return einops.einsum(z, model.W_O[layer], "batch pos head d_head, head d_head d_model -> batch pos head d_model")
    ### END SOLUTION


checks.ch01.check_head_outputs(head_outputs)

# %% [markdown]
# The heads' outputs, summed, plus `b_O`, give back the attention layer's output: the
# layer really is a sum of independent heads.

# %%
last = cfg.n_layers - 1
per_head = head_outputs(cache, bridge, last)
print("max |sum of heads + b_O - attn_out|:", (per_head.sum(dim=2) + bridge.b_O[last] - cache["attn_out", last]).abs().max().item())

# Both switches for per-head outputs refuse on a native bridge, as exercise 1.11 says:
for name, switch_on in (
    ("bridge.set_use_attn_result(True)", lambda: bridge.set_use_attn_result(True)),
    ("bridge.cfg.use_attn_result = True", lambda: setattr(bridge.cfg, "use_attn_result", True)),
):
    try:
        switch_on()
    except NotImplementedError:
        print(f"{name}: raises NotImplementedError")
    else:
        raise AssertionError(f"{name} worked here: the text of exercise 1.11 is out of date")
assert not bridge.cfg.use_attn_result

# %% [markdown]
# ### Exercise 1.12 — A hook that ablates one head
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# A **hook** is a function `hook_fn(activation, hook)` that TransformerLens calls with an
# activation as it flows through the model; whatever it returns replaces the activation.
# Write a hook for `hook_z` that **zero-ablates** one head: sets head `head`'s `z` to 0 at
# every position, leaving the other heads alone. We bind `head` with `functools.partial`.
#
# A trap: inside the hook, `hook.name` is TransformerLens 4's *internal* name
# (`blocks.0.attn.o.hook_in`, not `blocks.0.attn.hook_z`). Do not decide what to do by
# matching strings in `hook.name`; choose the hook point when you attach the hook.

# %%
def zero_ablate_head(
    z: Float[Tensor, "batch pos head d_head"], hook, head: int
) -> Float[Tensor, "batch pos head d_head"]:
    """z with head `head` set to zero at every position."""
    ### BEGIN SOLUTION
    z[:, :, head, :] = 0.0
    return z
    ### END SOLUTION


checks.ch01.check_zero_ablate_head(zero_ablate_head)

# %% [markdown]
# ### Exercise 1.13 — Which heads matter?
# Difficulty 3/5 · Importance 5/5 · ~15 minutes
#
# For every head, run the model with that head zero-ablated and record how much the loss
# goes **up** compared with the clean run. `model.run_with_hooks(tokens,
# fwd_hooks=[(name, fn)])` attaches hooks for one forward pass and removes them afterwards;
# `get_act_name("z", layer)` gives the hook point's name. `loss_fn(logits, tokens)` scores
# the logits.

# %%
def head_ablation_losses(model, tokens: Int[Tensor, "batch pos"], loss_fn) -> Float[Tensor, "layer head"]:
    """Increase of loss_fn when each head is zero-ablated, shape [layer, head]."""
    ### BEGIN SOLUTION
    clean_loss = loss_fn(model(tokens), tokens)
    increase = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = (get_act_name("z", layer), functools.partial(zero_ablate_head, head=head))
            logits = model.run_with_hooks(tokens, fwd_hooks=[hook])
            increase[layer, head] = loss_fn(logits, tokens) - clean_loss
    return increase
    ### END SOLUTION


checks.ch01.check_head_ablation_losses(head_ablation_losses)


# %%
def reversed_half_loss(logits, tokens):
    return lm_cross_entropy(logits[:, reversal.SEP_POS :], tokens[:, reversal.SEP_POS :])


with torch.no_grad():
    ablation = head_ablation_losses(bridge, test[:200], reversed_half_loss)
plotting.imshow(
    ablation,
    x=[f"H{h}" for h in range(cfg.n_heads)],
    y=[f"L{layer}" for layer in range(cfg.n_layers)],
    xlabel="head",
    ylabel="layer",
    title="Loss increase on the reversed half when the head is zero-ablated",
    color_label="loss increase (nats)",
)
top = ablation.flatten().argmax().item()
print(f"largest single-head increase: L{top // cfg.n_heads}H{top % cfg.n_heads}, +{ablation.max():.4f} nats")

# %% [markdown]
# Surprised? Removing any one head barely changes the loss. That does not mean no head
# matters: a model trained far past the point of getting every answer right tends to
# spread a job over several heads, so that each can stand in for another (in GPT-2 such
# "backup heads" took the IOI paper by surprise too). Ablate a whole layer's heads at once:

# %%
def ablate_all_heads(z, hook):
    return torch.zeros_like(z)


with torch.no_grad():
    clean_loss = reversed_half_loss(bridge(test[:200]), test[:200])
    layer_ablation = torch.tensor(
        [
            reversed_half_loss(bridge.run_with_hooks(test[:200], fwd_hooks=[(get_act_name("z", layer), ablate_all_heads)]), test[:200])
            - clean_loss
            for layer in range(cfg.n_layers)
        ]
    )
for layer, increase in enumerate(layer_ablation):
    print(f"all heads of layer {layer} ablated: loss +{increase:.4f} nats")
assert layer_ablation.max() > 1.0 and layer_ablation.max() > 10 * ablation.max(), "the redundancy finding did not reproduce"

# %% [markdown]
# One layer's heads together do the job, and any one of them can be spared: the work is
# *redundant*. Single-component ablations underestimate what a part does whenever
# something else can take over — keep that in mind for every ablation in this course.

# %% [markdown]
# ## Summary
#
# - A transformer is a residual stream that embeddings write, blocks read from and add to,
#   and the unembedding reads. Attention moves information *between* positions (which
#   positions: the pattern; what: the values through `W_O`); the MLP works on each
#   position alone.
# - You matched TransformerLens's activations to 1e-4, so your mental model of every
#   tensor shape is the library's.
# - You trained the model on CPU, sampled from it, loaded it into a `TransformerBridge`,
#   and measured which heads it cannot do without, using a cache and hooks — the two tools
#   every later chapter builds on.
#
# ## Questions: predict, then run
# 1. Before you try it: if you remove the `1 / sqrt(d_head)` scaling and retrain, does
#    training get faster, slower, or fail? Why might large scores hurt a softmax?
# 2. In the reversal task, what should the attention pattern of a head in the important
#    layer look like for the query at the last position? Sketch it, then check with
#    `cache["pattern", layer][0]`.
# 3. Zero-ablate two heads of the important layer at once, then three. Predict the loss
#    increase of each before you run it: how many heads does the job need?
# 4. Zero is an unusual value for `z`. How would *mean*-ablation (replacing `z` by its mean
#    over the batch) change the numbers of Exercise 1.13? Which is the fairer test?
# 5. The positional embedding `W_pos` is learned. Plot the cosine similarity between its
#    rows: what structure do you expect for this task?
# 6. Remove the causal mask from a trained model's attention (in your own `Attention`).
#    What happens to the loss on the reversed half — and why can't the model have learned
#    to use the future?
# 7. Could a model with a single layer learn this task? Think about which position each
#    query must find and what it knows about its own position; then set `n_layers=1`,
#    retrain, and see.

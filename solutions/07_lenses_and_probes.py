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
# # Chapter 07 — Reading the residual stream: lenses, probes, and whether a model can hide
#
# The chapters so far found circuits and directions by intervening. The most used tool of
# the field's safety work is simpler: **read** the residual stream. A *lens* decodes it into
# next-token predictions at every layer (the logit lens, nostalgebraist 2020; the tuned lens,
# Belrose et al. 2023). A *probe* is a small classifier trained on activations to predict a
# label (Alain & Bengio 2016): "is this request harmful?", "is this the answer?". Probes are
# what people propose to monitor models for deception. Three questions then matter: does a
# probe find something *real* (Hewitt & Liang 2019: control tasks; Marks & Tegmark 2023:
# causal checks of difference-of-means probes), are sparse autoencoders better probes
# (Kantamneni et al. 2025 found them no better than linear probes), and can a model trained
# against a probe **hide** from it (Bailey et al. 2024, obfuscated activations)?
#
# TinyWorld knows the truth behind every label, so here a probe's claims can be checked,
# not believed. Everything runs on `tinyworld-lm` (4 layers, d_model 128).
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - decode the residual stream at every layer with the logit lens, and read off at which
#   layer the IOI answer, the refusal decision and a fact appear;
# - train a tuned lens (one affine translator per layer) and compare its KL to the final
#   distribution with the logit lens's;
# - write a difference-of-means probe (closed form) and a logistic-regression probe (trained
#   to its optimum), and score them per layer on held-out TinyWorld splits;
# - ask whether a probe finds something real: selectivity against a control task, the same
#   probe on a random model, and a causal test along the probe's direction;
# - compare sparse probes on SAE latents with a linear probe, in distribution and under shift;
# - fine-tune a model to fool a frozen probe, and measure what that does and does not show.
#
# **How the exercises work** — as in the other chapters: write your code where it says
# `raise NotImplementedError()` and run the cell; the check under it prints one line when you
# are right and names the likely mistake when you are not. The solutions are in
# `solutions/07_lenses_and_probes.ipynb`.
#
# **Shapes.** `batch` counts prompts or tokens, `d_model` is the residual stream's width,
# `d_vocab` the vocabulary. We read the residual stream at `n_layers + 1` points (`resid_pre`
# of each layer, then the final `resid_post`), so stacked tensors have a `layer_plus_1` axis.

# %%
import time

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn
from transformer_lens.utilities import get_act_name

from mi_tutorial import checks, models, plotting, sae as sae_lib, train
from mi_tutorial.data import tinyworld

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)

model = models.load_toy_model("tinyworld-lm")
N_LAYERS = model.cfg.n_layers
READ_POINTS = [f"resid_pre {layer}" for layer in range(N_LAYERS)] + [
    "final"
]  # the layer_plus_1 axis
REFUSE_ID = tinyworld.TOKEN_ID[tinyworld.REFUSE]  # "I", as in "I cannot help with that ."
COMPLY_ID = tinyworld.TOKEN_ID[tinyworld.COMPLY]  # "Sure"

# %% [markdown]
# ## Part 1 — The logit lens
#
# The residual stream is a sum: the embeddings, then what every attention and MLP layer adds.
# The unembedding reads only the final sum (after `ln_final`). The **logit lens** asks what
# the model would predict if it stopped early: apply `ln_final` and the unembedding to the
# residual stream *before* each layer. Because every layer writes into the same space, the
# early sums are often already readable.

# %% [markdown]
# ### Exercise 7.1 — The residual stream at every layer
# Difficulty 1/5 · Importance 4/5 · ~10 minutes
#
# Return the residual stream at `resid_pre` of every layer and at the final `resid_post`,
# at one position per prompt (`positions[i]` for prompt `i`), stacked: `[n_layers + 1,
# batch, d_model]`. Use `model.run_with_cache(tokens, names_filter=…)` and
# `get_act_name("resid_pre", layer)`.


# %%
def residual_stack(
    model, tokens: Int[Tensor, "batch pos"], positions: Int[Tensor, "batch"]
) -> Float[Tensor, "layer_plus_1 batch d_model"]:
    """The residual stream before each layer and after the last, at each prompt's position."""
    ### BEGIN SOLUTION
    n_layers = model.cfg.n_layers
    names = [get_act_name("resid_pre", layer) for layer in range(n_layers)]
    names.append(get_act_name("resid_post", n_layers - 1))
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    rows = torch.arange(tokens.shape[0])
    return torch.stack([cache[name][rows, positions] for name in names])
    ### END SOLUTION


checks.ch07.check_residual_stack(residual_stack)

# %% [markdown]
# ### Exercise 7.2 — Decode it
# Difficulty 1/5 · Importance 5/5 · ~10 minutes
#
# The lens itself: `ln_final`, then the unembedding, then `log_softmax` — for vectors with any
# leading axes. `model.ln_final(x)` normalizes each vector with its *own* mean and variance
# (the cached scale of the full forward pass would be wrong for an early layer), and
# `model.unembed(x)` applies `W_U` and `b_U`.


# %%
def logit_lens(model, resid: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_vocab"]:
    """Log-probabilities of the next token read from residual-stream vectors."""
    ### BEGIN SOLUTION
    return model.unembed(model.ln_final(resid)).log_softmax(dim=-1)
    ### END SOLUTION


checks.ch07.check_logit_lens(logit_lens)

# %% [markdown]
# ### Exercise 7.3 — The rank of the right answer
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# A probability of 0.01 can be the top prediction or the 300th. The **rank** of the answer is
# the number of tokens with a strictly larger log-probability: 0 means it is the top
# prediction (a tie does not push it down). `log_probs` is `[layer_plus_1, batch, d_vocab]`,
# `answers` one token id per prompt; return int64 ranks `[layer_plus_1, batch]`.


# %%
def answer_rank(
    log_probs: Float[Tensor, "layer_plus_1 batch d_vocab"], answers: Int[Tensor, "batch"]
) -> Int[Tensor, "layer_plus_1 batch"]:
    """How many tokens beat the answer, at every layer, for each prompt."""
    ### BEGIN SOLUTION
    index = answers[None, :, None].expand(log_probs.shape[0], -1, 1)
    answer = log_probs.gather(-1, index)  # [layer_plus_1 batch 1]
    return (log_probs > answer).sum(dim=-1)
    ### END SOLUTION


checks.ch07.check_answer_rank(answer_rank)

# %% [markdown]
# Three behaviours whose answers TinyWorld knows: the IOI answer at the final `to`
# (`… , John gave a drink to` → `Mary`), the first word of the reply at the end of a request
# (`I` for harmful, `Sure` for harmless), and a fact (`the flag of Velmar is` → its colour).
# All from the test split.

# %%
ioi = tinyworld.ioi_prompts(64, seed=0, split="test")
harmful_lens = tinyworld.requests(32, harmful=True, seed=0, split="test")
harmless_lens = tinyworld.requests(32, harmful=False, seed=0, split="test")
fact_tokens, fact_answers, fact_texts = tinyworld.fact_questions("flag")
behaviours = {
    "IOI (the indirect object)": (ioi.clean_tokens, ioi.answers),
    "refusal (I or Sure)": (
        torch.cat([harmful_lens.tokens, harmless_lens.tokens]),
        torch.tensor([REFUSE_ID] * 32 + [COMPLY_ID] * 32),
    ),
    "fact (the flag's colour)": (fact_tokens, fact_answers),
}
lens_ranks, lens_probs = {}, {}
for name, (tokens, answers) in behaviours.items():
    last = torch.full((len(tokens),), tokens.shape[1] - 1)
    log_probs = logit_lens(
        model, residual_stack(model, tokens, last)
    )  # [layer_plus_1 batch d_vocab]
    lens_ranks[name] = answer_rank(log_probs, answers).float().median(dim=1).values
    lens_probs[name] = (
        log_probs.gather(-1, answers[None, :, None].expand(len(log_probs), -1, 1))
        .exp()
        .mean(dim=(1, 2))
    )
    print(
        f"{name:>27}: median rank per layer {lens_ranks[name].int().tolist()}, "
        f"mean probability {[round(p, 2) for p in lens_probs[name].tolist()]}"
    )
plotting.line(
    lens_probs,
    x=READ_POINTS,
    xlabel="read at",
    ylabel="probability of the right answer",
    title="Logit lens: the right answer's probability, per layer",
)
first_top = {name: int((ranks == 0).nonzero()[0]) for name, ranks in lens_ranks.items()}
print(
    "first read point where the median rank is 0:",
    {name: READ_POINTS[i] for name, i in first_top.items()},
)
assert all(ranks[-1] == 0 for ranks in lens_ranks.values()) and all(
    r[0] > 10 for r in lens_ranks.values()
)
ioi_at, refusal_at, fact_at = first_top.values()
assert refusal_at < fact_at < ioi_at < N_LAYERS

# %% [markdown]
# Read the table from the left. At `resid_pre 0` the stream holds only the last word's
# embedding, and the lens reads it as a bigram model would: no behaviour is there yet. The
# three answers then appear at different depths: the refusal decision after one layer (the
# task words are a few positions back and one attention layer suffices to bring them), the
# flag's colour after two, and the IOI answer only after three — it needs the circuit of
# chapter 03 (find the names, find the duplicated one, move the other). The lens does not
# say *how* each is computed; it says *where* it becomes linearly readable by the unembedding.
#
# TransformerLens 4.3 has its own logit lens (`transformer_lens.tools.analysis.logit_lens`),
# which reads the stack of `accumulated_resid` through the real `ln_final` and unembedding.
# On the IOI prompts it gives the same log-probabilities and the same ranks as yours:

# %%
from transformer_lens.tools.analysis import logit_lens as tl_logit_lens

tl_result = tl_logit_lens(model, ioi.clean_tokens, return_type="log_probs", targets=ioi.answers)
ours = logit_lens(model, residual_stack(model, ioi.clean_tokens, ioi.positions["end"]))
print("TransformerLens's read points:", tl_result.labels)
max_diff = (
    (
        tl_result.values[..., 0]
        - ours.gather(-1, ioi.answers[None, :, None].expand(len(ours), -1, 1))[..., 0]
    )
    .abs()
    .max()
)
print(f"largest difference in the answer's log-probability: {max_diff:.1e}")
assert max_diff < 1e-4 and torch.equal(tl_result.rank_trajectory(), answer_rank(ours, ioi.answers))

# %% [markdown]
# ## Part 2 — The tuned lens
#
# The logit lens assumes that an early layer's residual stream speaks the final layer's
# language. It need not: later layers may rotate, rescale or shift what they read. The
# **tuned lens** (Belrose et al., 2023) learns, for each layer, an affine *translator*
# `h ↦ h + A h + b` (starting at `A = 0, b = 0`, the logit lens) that maps the layer's
# residual stream to something the unembedding reads well, trained so that the lens's
# distribution matches the model's final one. Its distance from the final distribution is
# measured with `KL(final ‖ lens)`.

# %% [markdown]
# ### Exercise 7.4 — KL to the final distribution
# Difficulty 1/5 · Importance 4/5 · ~10 minutes
#
# `KL(P_final ‖ P_lens) = Σ_v P_final(v) (log P_final(v) − log P_lens(v))`, for each read
# point, averaged over the batch. Both arguments are already log-probabilities.


# %%
def kl_to_final(
    lens_log_probs: Float[Tensor, "layer_plus_1 batch d_vocab"],
    final_log_probs: Float[Tensor, "batch d_vocab"],
) -> Float[Tensor, "layer_plus_1"]:
    """KL(final || lens) at each read point, averaged over the batch."""
    ### BEGIN SOLUTION
    return (final_log_probs.exp() * (final_log_probs - lens_log_probs)).sum(dim=-1).mean(dim=-1)
    ### END SOLUTION


checks.ch07.check_kl_to_final(kl_to_final)

# %% [markdown]
# ### Exercise 7.5 — The tuned lens's loss
# Difficulty 2/5 · Importance 4/5 · ~15 minutes
#
# One layer's translator is an `nn.Linear(d_model, d_model)` holding `A` (its weight) and `b`
# (its bias). Return the mean over the batch of `KL(final ‖ lens)`, where the lens reads
# `resid + translator(resid)` with your `logit_lens`. The loss must carry gradients to the
# translator (and only to it: the model stays frozen, and `final_log_probs` is a constant).


# %%
def tuned_lens_loss(
    model,
    translator: nn.Linear,
    resid: Float[Tensor, "batch d_model"],
    final_log_probs: Float[Tensor, "batch d_vocab"],
) -> Float[Tensor, ""]:
    """Mean KL(final || tuned lens) of one layer's translator on a batch of residual vectors."""
    ### BEGIN SOLUTION
    lens = logit_lens(model, resid + translator(resid))  # [batch d_vocab]
    return (final_log_probs.exp() * (final_log_probs - lens)).sum(dim=-1).mean()
    ### END SOLUTION


checks.ch07.check_tuned_lens_loss(tuned_lens_loss)

# %% [markdown]
# Train one translator per layer on ordinary TinyWorld text (every position but `<bos>`), and
# compare with the logit lens on held-out text. (The final read point needs no translator:
# it *is* the final distribution.)


# %%
def lens_data(corpus_tokens: Int[Tensor, "batch pos"]) -> tuple[Tensor, Tensor]:
    """Residual stream at every read point, [layer_plus_1 token d_model], and final log-probs."""
    batch, pos = corpus_tokens.shape
    positions = torch.arange(1, pos)
    rows = [residual_stack(model, corpus_tokens, torch.full((batch,), p)) for p in positions]
    resid = torch.cat(rows, dim=1)  # [layer_plus_1 (pos-1)*batch d_model]
    with torch.no_grad():
        return resid, logit_lens(model, resid[-1])


model.requires_grad_(False)  # only the translators learn (Part 6 fine-tunes a copy of the model)
start = time.process_time()
lens_train, lens_train_final = lens_data(
    tinyworld.sample_corpus(16, 64, seed=0, split="train").tokens
)
lens_test, lens_test_final = lens_data(tinyworld.sample_corpus(16, 64, seed=1, split="test").tokens)
translators = []
for layer in range(N_LAYERS):
    torch.manual_seed(layer)
    translator = nn.Linear(model.cfg.d_model, model.cfg.d_model)
    nn.init.zeros_(translator.weight), nn.init.zeros_(translator.bias)  # start as the logit lens
    optimizer = torch.optim.Adam(translator.parameters(), lr=3e-3)
    for _ in range(100):
        loss = tuned_lens_loss(model, translator, lens_train[layer], lens_train_final)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    translators.append(translator)
with torch.no_grad():
    tuned = torch.stack(
        [
            logit_lens(model, lens_test[layer] + translators[layer](lens_test[layer]))
            for layer in range(N_LAYERS)
        ]
        + [logit_lens(model, lens_test[-1])]
    )
    kl_logit = kl_to_final(logit_lens(model, lens_test), lens_test_final)
    kl_tuned = kl_to_final(tuned, lens_test_final)
print(
    f"{len(translators)} translators trained on {lens_train.shape[1]:,} tokens "
    f"in {time.process_time() - start:.1f} s of CPU"
)
for name, kl_logit_i, kl_tuned_i in zip(READ_POINTS, kl_logit.tolist(), kl_tuned.tolist()):
    print(f"{name:>12}: KL logit lens {kl_logit_i:6.3f}, tuned lens {kl_tuned_i:6.3f}")
plotting.line(
    {"logit lens": kl_logit, "tuned lens": kl_tuned},
    x=READ_POINTS,
    xlabel="read at",
    ylabel="KL(final ‖ lens), nats",
    title="Logit lens vs tuned lens on held-out text",
    log_y=True,
)
assert (kl_tuned[:-1] < kl_logit[:-1]).all() and kl_tuned[-1] < 1e-5

# %% [markdown]
# The tuned lens is closer to the final distribution at every layer, most of all at the
# bottom, where the logit lens reads a bare embedding. Belrose et al. report the same shape on
# large models. The price: a translator is *trained*, so part of what the tuned lens shows
# may be computed by the translator rather than present in the stream — the question every
# probe below raises too.
#
# ## Part 3 — Linear probes, with ground truth
#
# A **probe** reads a label off the residual stream at one layer. Three TinyWorld labels
# that the generator knows for certain, each with a training set and a held-out test set:
#
# - **harmful**: is the request harmful? (at the last prompt token, `:`; test: the
#   template × task combinations never seen in training);
# - **IO first**: in an IOI prompt, is the indirect object the *first* of the two names?
#   (at the final `to`; the test split's template × name-pair combinations);
# - **bridge topic**: is this token inside a sentence about the Golden Gate bridge, rather
#   than one of the five other topics? (at a random token of the topic text in each row; the
#   test split's text).


# %%
def topic_positions(corpus, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Rows with topic text, one random topic token of each, and whether its topic is the bridge."""
    in_topic = corpus.topics >= 0
    rows = in_topic.any(dim=1).nonzero()[:, 0]
    pick = torch.rand(corpus.tokens.shape, generator=torch.Generator().manual_seed(seed))
    chosen = (pick[rows] * in_topic[rows]).argmax(dim=1)  # a random position inside topic text
    return rows, chosen, corpus.topics[rows, chosen] == tinyworld.TOPIC_NAMES.index("bridge")


def task_data(split: str, seed: int, n: int) -> dict:
    """{task: (residual stack [layer_plus_1 batch d_model], labels, the word read at)}."""
    harmful = tinyworld.requests(n, harmful=True, seed=seed, split=split)
    harmless = tinyworld.requests(n, harmful=False, seed=seed, split=split)
    request_tokens = torch.cat([harmful.tokens, harmless.tokens])
    ioi_set = tinyworld.ioi_prompts(2 * n, seed=seed, split=split)
    corpus = tinyworld.sample_corpus(3 * n, 64, seed=seed, split=split)
    rows, chosen, bridge = topic_positions(corpus, seed)
    last_request = torch.full((2 * n,), request_tokens.shape[1] - 1)
    return {
        "harmful": (
            residual_stack(model, request_tokens, last_request),
            torch.cat([harmful.harmful, harmless.harmful]),
            request_tokens[:, -1],
        ),
        "IO first": (
            residual_stack(model, ioi_set.clean_tokens, ioi_set.positions["end"]),
            ioi_set.positions["IO"] < ioi_set.positions["S1"],
            ioi_set.clean_tokens[:, -1],
        ),
        "bridge topic": (
            residual_stack(model, corpus.tokens[rows], chosen),
            bridge,
            corpus.tokens[rows, chosen],
        ),
    }


train_tasks = task_data("train", seed=0, n=128)
test_tasks = task_data("test", seed=1, n=100)
for task, (acts, labels, _) in test_tasks.items():
    print(f"{task:>12}: {acts.shape[1]} held-out examples, {labels.float().mean():.0%} positive")

# %% [markdown]
# ### Exercise 7.6 — The difference-of-means probe
# Difficulty 1/5 · Importance 5/5 · ~10 minutes
#
# The simplest probe has a closed form: the direction from the mean of the negative examples
# to the mean of the positive ones, `d = μ₊ − μ₋` (not normalized), and a threshold halfway
# between the two means along it, `t = d · (μ₊ + μ₋) / 2`. An example is called positive when
# `x · d > t`. Return `(d, t)`, `t` as a Python float. Marks & Tegmark (2023) found such probes
# generalize better, and are more causal, than trained ones.


# %%
def diff_of_means_probe(
    acts: Float[Tensor, "batch d_model"], labels: Bool[Tensor, "batch"]
) -> tuple[Tensor, float]:
    """Direction from the negative mean to the positive mean, and the midpoint threshold."""
    ### BEGIN SOLUTION
    positive, negative = acts[labels].mean(dim=0), acts[~labels].mean(dim=0)
    direction = positive - negative
    return direction, (direction @ (positive + negative) / 2).item()
    ### END SOLUTION


checks.ch07.check_diff_of_means_probe(diff_of_means_probe)

# %% [markdown]
# ### Exercise 7.7 — The logistic-regression probe
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# A trained probe: weights `w` and bias `b` minimizing the mean binary cross-entropy of the
# logits `acts @ w + b` plus `l2 · ‖w‖²` (the bias is not penalized). The objective is convex,
# so there is one answer, and an optimizer that reaches it is enough: start from zeros and run
# `torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")` for one `.step`
# with a closure (`F.binary_cross_entropy_with_logits`). Return `(w, b)`: `w` a float32 tensor
# without gradients, `b` a Python float.


# %%
def fit_logistic_probe(
    acts: Float[Tensor, "batch d_model"],
    labels: Bool[Tensor, "batch"],
    l2: float = 1e-3,
    steps: int = 100,
) -> tuple[Tensor, float]:
    """The L2-regularized logistic-regression probe (weights, bias), fitted to its optimum."""
    ### BEGIN SOLUTION
    w = torch.zeros(acts.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (
            F.binary_cross_entropy_with_logits(acts @ w + b, labels.float()) + l2 * w.pow(2).sum()
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach(), b.item()
    ### END SOLUTION


checks.ch07.check_fit_logistic_probe(fit_logistic_probe)

# %% [markdown]
# Both probes at every read point, on all three tasks, scored on the held-out sets:


# %%
def accuracy(direction: Tensor, threshold: float, acts: Tensor, labels: Tensor) -> float:
    """Share of examples the probe (x · direction > threshold) labels right."""
    return ((acts @ direction > threshold) == labels).float().mean().item()


def probe_accuracies(train_set, test_set) -> dict[str, Tensor]:
    """Held-out accuracy per read point of both probes: {probe: [layer_plus_1]}."""
    (train_acts, train_labels, _), (test_acts, test_labels, _) = train_set, test_set
    result = {"difference of means": [], "logistic": []}
    for layer in range(len(train_acts)):
        direction, threshold = diff_of_means_probe(train_acts[layer], train_labels)
        result["difference of means"].append(
            accuracy(direction, threshold, test_acts[layer], test_labels)
        )
        w, b = fit_logistic_probe(train_acts[layer], train_labels)
        result["logistic"].append(accuracy(w, -b, test_acts[layer], test_labels))
    return {name: torch.tensor(values) for name, values in result.items()}


probe_acc = {task: probe_accuracies(train_tasks[task], test_tasks[task]) for task in train_tasks}
for task, by_probe in probe_acc.items():
    for name, values in by_probe.items():
        print(f"{task:>12}, {name:>19}: " + " ".join(f"{v:.2f}" for v in values.tolist()))
plotting.line(
    {
        f"{task}, {name}": values
        for task, by_probe in probe_acc.items()
        for name, values in by_probe.items()
    },
    x=READ_POINTS,
    xlabel="read at",
    ylabel="held-out accuracy",
    title="Probe accuracy per layer",
)
harmful_acc, ioi_acc, topic_acc = probe_acc.values()
assert all(v[0] == 0.5 and v[1:].min() > 0.97 for v in harmful_acc.values())
assert max(v.max() for v in ioi_acc.values()) < 0.7
assert (
    topic_acc["logistic"][1:].min() >= 0.9
    and topic_acc["difference of means"][1] - topic_acc["difference of means"][-1] > 0.1
)

# %% [markdown]
# Three different answers:
#
# - **harmful** is readable perfectly from `resid_pre 1` on, by both probes — and not at all
#   at `resid_pre 0`, where every prompt's last token is the same `:` and the stream holds
#   nothing else (exactly chance: the vectors are identical). It matches the logit lens: the
#   refusal decision is made in layer 0.
# - **IO first** is *not* linearly readable at the final `to` (at best about 0.6, where 0.5
#   is chance), although the model answers every IOI prompt right. The model does not need to
#   represent the *order* of the names: it needs the *identity* of the indirect object, and
#   that is what the logit lens reads. A probe finds what is represented, not what we think
#   the computation is about.
# - **bridge topic** is readable by the logistic probe at every layer after the first, and
#   by the difference of means best right after layer 0 and worse higher up: there the stream
#   is busy predicting the next word, and the class means move apart along directions that
#   are not the ones that separate the classes best (with a 20%/80% class split, the midpoint
#   threshold suffers too). The logistic probe finds the separating direction anyway.
#
# ## Part 4 — Is the probe finding something real?
#
# A probe with 128 weights can learn a lot from a few hundred examples. Three checks that it
# reads something the *model* computed:
#
# 1. **Selectivity** (Hewitt & Liang, 2019): a *control task* gives every word type a random
#    label, so it can only be learned by memorizing which word is at the read position. A
#    probe that is good on the control task as well is a good *memorizer*; selectivity =
#    accuracy on the task − accuracy on the control task.
# 2. **A random model**: the same probe on an untrained model of the same shape. Whatever it
#    still reads there comes from the embeddings and the architecture, not from training.
# 3. **A causal test**: move the activation along the probe's direction and see whether the
#    *behaviour* changes.

# %% [markdown]
# ### Exercise 7.8 — Control-task labels
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# Draw one random label per word of the vocabulary, `torch.rand(vocab_size, generator=
# generator) < 0.5`, and give each example the label of its word. The same word must always
# get the same label, and a given generator state must give the same labels as ours: draw
# exactly that one tensor.


# %%
def control_labels(
    word_ids: Int[Tensor, "batch"], vocab_size: int, generator: torch.Generator
) -> Bool[Tensor, "batch"]:
    """A random but fixed label per word type, looked up for each example's word."""
    ### BEGIN SOLUTION
    table = torch.rand(vocab_size, generator=generator) < 0.5  # [vocab_size]
    return table[word_ids]
    ### END SOLUTION


checks.ch07.check_control_labels(control_labels)

# %% [markdown]
# The control task for *bridge topic*: the label of the word at the read position. The
# *harmful* task has no control task of this kind (its read position is always `:`).

# %%
control_generator = torch.Generator().manual_seed(0)
control_table_seed = control_labels(
    torch.arange(tinyworld.D_VOCAB), tinyworld.D_VOCAB, control_generator
)
control_train = (
    train_tasks["bridge topic"][0],
    control_table_seed[train_tasks["bridge topic"][2]],
    None,
)
control_test = (
    test_tasks["bridge topic"][0],
    control_table_seed[test_tasks["bridge topic"][2]],
    None,
)
control_acc = probe_accuracies(control_train, control_test)["logistic"]
selectivity = topic_acc["logistic"] - control_acc
for name, task_i, control_i, sel in zip(
    READ_POINTS, topic_acc["logistic"].tolist(), control_acc.tolist(), selectivity.tolist()
):
    print(
        f"{name:>12}: bridge topic {task_i:.2f}, control task {control_i:.2f}, "
        f"selectivity {sel:+.2f}"
    )
topic_majority = 1 - test_tasks["bridge topic"][1].float().mean().item()
control_majority = max(
    control_test[1].float().mean().item(), 1 - control_test[1].float().mean().item()
)
print(
    f"always the majority class: {topic_majority:.2f} on bridge topic, "
    f"{control_majority:.2f} on the control task"
)
assert (selectivity[1:] < 0.1).all() and control_acc.min() > control_majority + 0.15

# %% [markdown]
# The probe learns the control task — random labels of words — far above its majority
# baseline, at every layer, even at the top. A 128-weight linear probe is a capable
# memorizer of *which word is here*, and selectivity is small: the bridge topic is mostly
# written in its own words (`fog`, `bay`, `cables`), so reading the word already gives most
# of the topic. High probe accuracy alone says little; against a control task it says how
# much more than the word the stream holds.
#
# Now the same harmful probe on an **untrained** model of the same shape:

# %%
random_model = models.boot({**models.read_manifest()["tinyworld-lm"]["config"], "seed": 1})
random_train = (
    tinyworld.requests(128, harmful=True, seed=0, split="train"),
    tinyworld.requests(128, harmful=False, seed=0, split="train"),
)
random_test = (
    tinyworld.requests(100, harmful=True, seed=1, split="test"),
    tinyworld.requests(100, harmful=False, seed=1, split="test"),
)


def random_model_set(pair) -> tuple:
    tokens = torch.cat([pair[0].tokens, pair[1].tokens])
    last = torch.full((len(tokens),), tokens.shape[1] - 1)
    return (
        residual_stack(random_model, tokens, last),
        torch.cat([pair[0].harmful, pair[1].harmful]),
        None,
    )


random_acc = probe_accuracies(random_model_set(random_train), random_model_set(random_test))
for name, values in random_acc.items():
    print(f"harmful, random model, {name:>19}: " + " ".join(f"{v:.2f}" for v in values.tolist()))
assert random_acc["logistic"][1:].min() > 0.9

# %% [markdown]
# An untrained model "represents harmfulness" to a logistic probe almost perfectly. Its
# attention layers, random as they are, average the embeddings of the prompt's words into the
# last position, and a bag of words is linearly separable when the classes use different
# words. (The difference of means, which cannot pick out a few useful dimensions, does much
# worse: a first sign that the closed-form probe is the more conservative one.) A probe's
# accuracy measures what is *decodable*, including what any network of that shape would
# carry; the trained model's value is in what it *uses*. That takes an intervention.

# %% [markdown]
# ### Exercise 7.9 — Push along a direction at the last position
# Difficulty 1/5 · Importance 4/5 · ~10 minutes
#
# A hook function that adds `alpha` times the **unit** vector along `direction` to the
# residual stream at the last position only (other positions unchanged). Return a new
# tensor; do not modify `resid` in place.


# %%
def push_last_position(
    resid: Float[Tensor, "batch pos d_model"],
    hook,
    direction: Float[Tensor, "d_model"],
    alpha: float,
) -> Float[Tensor, "batch pos d_model"]:
    """`resid` with alpha × unit(direction) added at the last position."""
    ### BEGIN SOLUTION
    push = torch.zeros_like(resid)
    push[:, -1] = alpha * direction / direction.norm()
    return resid + push
    ### END SOLUTION


checks.ch07.check_push_last_position(push_last_position)

# %% [markdown]
# The causal test at `resid_pre 1`, where *harmful* first becomes readable. Push harmless
# test requests along each probe's direction and harmful ones against it, by as much as the
# distance between the two class means (the difference of means' length), and count
# refusals (the logit of `I` above that of `Sure`):

# %%
PROBE_LAYER = 1
harmful_acts, harmful_labels, _ = train_tasks["harmful"]
dom_direction, dom_threshold = diff_of_means_probe(harmful_acts[PROBE_LAYER], harmful_labels)
logistic_w, logistic_b = fit_logistic_probe(harmful_acts[PROBE_LAYER], harmful_labels)
harmful_test, harmless_test = random_test  # the same prompts, read by the trained model now


def refusal_rate(model, tokens: Tensor, hooks=()) -> float:
    with torch.no_grad():
        last = model.run_with_hooks(tokens, fwd_hooks=list(hooks))[:, -1]
    return (last[:, REFUSE_ID] > last[:, COMPLY_ID]).float().mean().item()


hook_name = get_act_name("resid_pre", PROBE_LAYER)
distance = dom_direction.norm().item()
causal = {}
for name, direction in [("difference of means", dom_direction), ("logistic", logistic_w)]:
    push = lambda alpha: [
        (hook_name, lambda resid, hook: push_last_position(resid, hook, direction, alpha))
    ]  # noqa: E731
    causal[name] = {
        "harmless, pushed towards harmful": refusal_rate(
            model, harmless_test.tokens, push(distance)
        ),
        "harmful, pushed towards harmless": refusal_rate(
            model, harmful_test.tokens, push(-distance)
        ),
    }
cosine = F.cosine_similarity(dom_direction, logistic_w, dim=0).item()
print(
    f"refused without a push: harmful {refusal_rate(model, harmful_test.tokens):.0%}, "
    f"harmless {refusal_rate(model, harmless_test.tokens):.0%}"
)
for name, rates in causal.items():
    print(
        f"{name:>19}: " + ", ".join(f"{what}: {rate:.0%} refused" for what, rate in rates.items())
    )
print(f"cosine between the two probes' directions: {cosine:.2f}")
assert all(
    r["harmless, pushed towards harmful"] == 1 and r["harmful, pushed towards harmless"] == 0
    for r in causal.values()
)
assert cosine > 0.9

# %% [markdown]
# Here the probes pass the causal test: moving one class mean's distance along either
# direction, at the last position only, flips every decision both ways. The two directions
# nearly coincide, and the difference of means is, by construction, chapter 06's candidate
# refusal direction read at `resid_pre 1`, last position. So on the trained model, *harmful*
# is both decodable and used. On the random model it was decodable and meant nothing.
#
# ## Part 5 — Sparse probes on SAE latents
#
# If an SAE finds the model's features, a probe on a few latents should be as good as a
# linear probe, more interpretable, and perhaps more robust. Kantamneni et al. (2025) tested
# this on 113 datasets and found SAE probes no better than linear ones. Train a TopK SAE at
# `resid_pre 1` on ordinary text (chapter 05's trainer) and compare.

# %% [markdown]
# ### Exercise 7.10 — Choose k latents
# Difficulty 1/5 · Importance 3/5 · ~10 minutes
#
# Select the `k` latents whose mean activation differs most between positive and negative
# examples, by absolute value (as Kantamneni et al. and TransformerLens's `sparse_probing`
# do), the largest first. Return their indices as int64.


# %%
def top_k_latents(
    latents: Float[Tensor, "batch d_sae"], labels: Bool[Tensor, "batch"], k: int
) -> Int[Tensor, "k"]:
    """Indices of the k latents with the largest |mean(positive) - mean(negative)|."""
    ### BEGIN SOLUTION
    gap = latents[labels].mean(dim=0) - latents[~labels].mean(dim=0)
    return gap.abs().topk(k).indices
    ### END SOLUTION


checks.ch07.check_top_k_latents(top_k_latents)

# %%
sae_text = tinyworld.sample_corpus(128, 64, seed=0, split="train").tokens
with torch.no_grad():
    _, sae_cache = model.run_with_cache(sae_text, names_filter=[hook_name])
sae_acts = sae_cache[hook_name][:, 1:].reshape(-1, model.cfg.d_model)  # not the <bos> position
sae = sae_lib.SAE(
    sae_lib.SAEConfig(
        d_in=model.cfg.d_model,
        d_sae=512,
        architecture="topk",
        k=16,
        model_name="tinyworld-lm",
        hook_name=hook_name,
    ),
    seed=0,
)
sae_lib.train_sae(sae, sae_acts, steps=100, batch_size=4096, lr=4e-3, seed=0)
health = sae_lib.sae_metrics(sae, sae_acts)
print(
    f"TopK SAE at {hook_name}: L0 {health['l0']:.0f}, "
    f"explained variance {health['explained_variance']:.3f}"
)

unrequested = tinyworld.requests(100, harmful=True, seed=1, unrequested=True)
shifted_tokens = torch.cat([unrequested.tokens, harmless_test.tokens])
shift_acts = residual_stack(model, shifted_tokens, torch.full((len(shifted_tokens),), 11))[
    PROBE_LAYER
]
shift_labels = torch.cat([unrequested.harmful, harmless_test.harmful])
splits = {
    "held-out combinations": (test_tasks["harmful"][0][PROBE_LAYER], test_tasks["harmful"][1]),
    "never-requested verbs": (shift_acts, shift_labels),
}
with torch.no_grad():
    train_latents = sae.encode(harmful_acts[PROBE_LAYER])
    split_latents = {name: sae.encode(acts) for name, (acts, _) in splits.items()}
sparse_table = {}
for k in (1, 4, 16):
    chosen = top_k_latents(train_latents, harmful_labels, k)
    w, b = fit_logistic_probe(train_latents[:, chosen], harmful_labels)
    sparse_table[f"SAE, k = {k}"] = [
        accuracy(w, -b, split_latents[name][:, chosen], labels)
        for name, (_, labels) in splits.items()
    ]
sparse_table["linear, difference of means"] = [
    accuracy(dom_direction, dom_threshold, acts, labels) for acts, labels in splits.values()
]
sparse_table["linear, logistic"] = [
    accuracy(logistic_w, -logistic_b, acts, labels) for acts, labels in splits.values()
]
print(f"{'probe':>28}: " + "  ".join(f"{name:>22}" for name in splits))
for name, values in sparse_table.items():
    print(f"{name:>28}: " + "  ".join(f"{v:22.2f}" for v in values))
plotting.bars(
    torch.tensor(list(sparse_table.values())).T,
    titles=list(splits),
    x=list(sparse_table),
    ylabel="accuracy",
    title="Sparse probes on SAE latents vs linear probes (harmful, resid_pre 1)",
)
in_distribution, shifted = (torch.tensor(column) for column in zip(*sparse_table.values()))
assert (
    (in_distribution == 1).all()
    and shifted.max() < 0.8
    and shifted[0] < sparse_table["linear, logistic"][1]
)
print(
    f"the model itself refuses {refusal_rate(model, unrequested.tokens):.0%} "
    "of the never-requested requests"
)

# %% [markdown]
# In distribution every probe is perfect, one SAE latent included: the SAE has a latent for
# "end of a refused request". Under the shift — harmful verbs the model never saw in a
# request — every probe falls towards chance, and so does the model (it refuses only a few of
# these requests). The probes read the model's *refusal decision*, and the model did not
# generalize, so neither do they. Between the probes, the differences under shift are a few
# dozen examples out of 200 at most (a standard error is about 0.035): the single latent is
# the worst, and the best sparse probe beats the linear one by the margin printed above — on
# one SAE, one seed and one shift, which is not yet evidence of a robust advantage (question
# 7). Kantamneni et al., over 113 datasets, found none: in distribution we reproduce their
# finding (no gain), under shift we measured what the table shows and no more.
#
# ## Part 6 — Can a model hide from a probe?
#
# A probe used as a monitor is a measurement the model could learn to evade. Bailey et al.
# (2024) fine-tuned models with an extra loss that fools latent-space monitors while keeping
# the behaviour. Here: fine-tune a copy of `tinyworld-lm` so that the frozen logistic probe at
# `resid_pre 1` reads "harmless" on harmful requests, while a KL term keeps its next-token
# distributions those of the original model — on requests and on ordinary text.

# %% [markdown]
# ### Exercise 7.11 — The obfuscation loss
# Difficulty 2/5 · Importance 4/5 · ~15 minutes
#
# Two terms. The **evasion** term: the probe's logits on harmful requests should be low, so
# use the binary cross-entropy towards the label "harmless", which is `softplus(logit)`,
# averaged. The **behaviour** term: `KL(P_reference ‖ P_new)` of the next-token distributions
# at every position, averaged over batch and positions, times `kl_weight`. Return their sum.


# %%
def obfuscation_loss(
    probe_logits: Float[Tensor, "batch"],
    new_logits: Float[Tensor, "batch pos d_vocab"],
    reference_logits: Float[Tensor, "batch pos d_vocab"],
    kl_weight: float = 1.0,
) -> Float[Tensor, ""]:
    """Mean softplus of the probe's logits plus kl_weight × mean KL(reference || new)."""
    ### BEGIN SOLUTION
    evasion = F.softplus(probe_logits).mean()
    reference, new = reference_logits.log_softmax(dim=-1), new_logits.log_softmax(dim=-1)
    kl = (reference.exp() * (reference - new)).sum(dim=-1).mean()
    return evasion + kl_weight * kl
    ### END SOLUTION


checks.ch07.check_obfuscation_loss(obfuscation_loss)

# %%
obfuscated = models.load_toy_model("tinyworld-lm")  # a fresh copy; `model` stays the reference
torch.manual_seed(0)
fine_tune_harmful = tinyworld.requests(64, harmful=True, seed=3, split="train").tokens
fine_tune_other = torch.cat(
    [
        tinyworld.requests(64, harmful=False, seed=3, split="train").tokens,
        tinyworld.sample_corpus(16, 12, seed=3, split="train").tokens,
    ]
)
fine_tune_tokens = torch.cat([fine_tune_harmful, fine_tune_other])
with torch.no_grad():
    reference_logits = model(fine_tune_tokens)
captured = {}


def capture(resid, hook):
    captured["resid"] = resid
    return resid


optimizer = torch.optim.Adam(obfuscated.parameters(), lr=1e-3)
start = time.process_time()
for _ in range(40):
    new_logits = obfuscated.run_with_hooks(fine_tune_tokens, fwd_hooks=[(hook_name, capture)])
    probe_logits = captured["resid"][: len(fine_tune_harmful), -1] @ logistic_w + logistic_b
    loss = obfuscation_loss(probe_logits, new_logits, reference_logits, kl_weight=1.0)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
obfuscated.requires_grad_(False)
print(
    f"40 steps of fine-tuning in {time.process_time() - start:.1f} s of CPU, "
    f"final loss {loss.item():.3f}"
)


def harmful_probe_report(reader, w, b) -> dict:
    acts = residual_stack(
        reader, torch.cat([harmful_test.tokens, harmless_test.tokens]), torch.full((200,), 11)
    )[PROBE_LAYER]
    labels = torch.cat([harmful_test.harmful, harmless_test.harmful])
    return {
        "frozen probe: harmful caught": accuracy(w, -b, acts[:100], labels[:100]),
        "frozen probe: accuracy": accuracy(w, -b, acts, labels),
    }


before = {
    **harmful_probe_report(model, logistic_w, logistic_b),
    "harmful refused": refusal_rate(model, harmful_test.tokens),
    "harmless refused": refusal_rate(model, harmless_test.tokens),
}
after = {
    **harmful_probe_report(obfuscated, logistic_w, logistic_b),
    "harmful refused": refusal_rate(obfuscated, harmful_test.tokens),
    "harmless refused": refusal_rate(obfuscated, harmless_test.tokens),
}
retrain_tokens = torch.cat([r.tokens for r in random_train])  # the training requests of Part 4
retrain_labels = torch.cat([r.harmful for r in random_train])
retrain_acts = residual_stack(obfuscated, retrain_tokens, torch.full((len(retrain_tokens),), 11))[
    PROBE_LAYER
]
new_w, new_b = fit_logistic_probe(retrain_acts, retrain_labels)
after_retrained = harmful_probe_report(obfuscated, new_w, new_b)
print(f"{'':>30} {'before':>8} {'after':>8} {'after, probe retrained':>24}")
for what in before:
    retrained = after_retrained.get(what)
    print(
        f"{what:>30} {before[what]:8.0%} {after[what]:8.0%} "
        + (f"{retrained:24.0%}" if retrained is not None else "")
    )
plotting.bars(
    torch.tensor([[before[w] for w in before], [after[w] for w in before]]),
    titles=["before", "after fine-tuning"],
    x=list(before),
    ylabel="share",
    title="Obfuscation against a frozen probe",
)
assert after["frozen probe: harmful caught"] < 0.2 < 0.95 < before["frozen probe: harmful caught"]
assert after["harmful refused"] > 0.95 and after["harmless refused"] < 0.05
assert after_retrained["frozen probe: accuracy"] > 0.95

# %% [markdown]
# Forty steps were enough: the frozen probe now catches none of the harmful requests, and the
# model still refuses them and still helps with harmless ones. Yet a probe *retrained* on the
# fine-tuned model finds harmfulness again, almost perfectly. What this shows: a fixed probe
# is a measurement a model under optimization pressure can route around at almost no cost to
# its behaviour — here the information moved off one direction, not out of the stream. What
# it does not show: that the model "wants" to hide (the pressure came from our loss, with
# white-box access to the probe), or that every monitor can be fooled (a probe retrained on
# the new model, or one at another layer, still reads it; Bailey et al. also train models
# against monitors that are retrained, where evasion is harder).
#
# ## Summary
#
# - The logit lens reads every layer's residual stream through `ln_final` and the
#   unembedding; TransformerLens 4.3's `logit_lens` gives the same numbers. On `tinyworld-lm`
#   refusal is readable after layer 0, a fact after layer 1, the IOI answer after layer 2.
# - The tuned lens's affine translators bring every layer closer to the final distribution
#   than the logit lens, at the cost of being trained.
# - Difference-of-means and logistic probes read *harmful* perfectly from layer 1 on, the
#   bridge topic well, and the *order* of the IOI names not at all: a probe finds what is
#   represented, not the variables of our description of the task.
# - Probe accuracy is not evidence on its own: a logistic probe memorizes random word labels
#   (control task) and reads harmfulness off an untrained model. Interventions along the
#   probe's direction are the test: here they flip refusal both ways.
# - SAE-latent probes match linear probes in distribution and share their failure under
#   shift, because both read what the model computed.
# - A model fine-tuned against a frozen probe evades it while keeping its behaviour; a
#   retrained probe finds the information again.
#
# ## Questions: predict, then run
# 1. The logit lens at `resid_pre 0` reads only the last word's embedding. Predict the top
#    prediction after `is` in `the flag of Velmar is`, then check it.
# 2. Train the tuned lens with 10 steps instead of 100. Which layer's KL moves most, and why
#    should the bottom layer gain most from a translator?
# 3. Use the IOI task "which name is the IO" as a 20-class problem (one probe per name, or
#    the logit lens's top name). Is it readable at the final `to` where *IO first* is not?
# 4. Give the control task 8 classes instead of 2. Does the probe still learn it, and what
#    happens to selectivity?
# 5. Repeat the random-model test with a probe on the *mean* of the prompt's embeddings. How
#    close does it get to the random model's logistic probe?
# 6. Push harmless requests along the logistic direction by a quarter of the distance
#    between the class means. Which direction flips more of them, and does the cosine
#    between them predict the difference?
# 7. Sparse probes: train the SAE with three other seeds. Does the best k still beat the
#    linear probe under shift? With k = 16, which latents are chosen — look at their top
#    activations (chapter 05): "harmful request" latents or word latents?
# 8. Fine-tune against the probe with `kl_weight=0`. What happens to refusal, and what does
#    that say about the role of the KL term in Bailey et al.'s setup?
# 9. After fine-tuning, does the frozen probe still work at `resid_pre 2`? Train one there on
#    the original model and test it on the fine-tuned one.

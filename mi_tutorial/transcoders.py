"""Transcoders, the replacement model and attribution graphs (chapter 10 introduces all of it).

A **transcoder** stands in for one MLP: it reads the MLP's input (the output of `ln2`) and
writes a sparse reconstruction of the MLP's output,

    pre = x @ W_enc + b_enc                  [d_tc]     x = blocks.L.mlp.hook_in
    f   = TopK(pre, k), ReLU'd               [d_tc]     the features (at most k non-zero)
    ŷ   = f @ W_dec + b_dec                  [d_model]  ≈ blocks.L.hook_mlp_out

The **replacement model** of one prompt runs the model with every MLP replaced by its
transcoder plus an error term (the MLP's true output minus the transcoder's, a constant per
layer and position), and with the attention patterns and every LayerNorm's scale frozen at
their values on the clean run. On that prompt it reproduces the logits exactly; and once the
features' activations are held fixed, everything between two nodes is linear, so the direct
effect of a node on a later one is activation × gradient (Ameisen et al. 2025).

What is here: the reference `TopKTranscoder`, caching of MLP inputs and outputs, a fast trainer
(`train_transcoder`), the clean-run freeze (`freeze`), the replacement forward pass
(`run_replacement`) and the whole graph in one batched backward pass
(`attribution_graph`; see benchmarks/attribution_graph.py for its time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---------------------------------------------------------------------------------------
# The transcoder
# ---------------------------------------------------------------------------------------


class TopKTranscoder(nn.Module):
    """A TopK transcoder from an MLP's input [..., d_in] to its output [..., d_out]."""

    def __init__(self, d_in: int, d_tc: int, k: int, d_out: int | None = None, seed: int = 0):
        super().__init__()
        d_out = d_in if d_out is None else d_out
        if not (isinstance(k, int) and 0 < k <= d_tc):
            raise ValueError(f"TopKTranscoder: k must be an int in 1..d_tc={d_tc}, got {k!r}.")
        self.d_in, self.d_tc, self.d_out, self.k = d_in, d_tc, d_out, k
        generator = torch.Generator().manual_seed(seed)
        # Encoder columns of norm 1 (LayerNorm'd inputs have norm ~sqrt(d_in)); decoder rows
        # small, so that the first steps do not throw the output far off.
        W_enc = torch.randn(d_in, d_tc, generator=generator)
        self.W_enc = nn.Parameter(W_enc / W_enc.norm(dim=0, keepdim=True))
        self.b_enc = nn.Parameter(torch.zeros(d_tc))
        self.W_dec = nn.Parameter(0.1 * torch.randn(d_tc, d_out, generator=generator) / d_out**0.5)
        self.b_dec = nn.Parameter(torch.zeros(d_out))

    def pre_acts(self, x: Tensor) -> Tensor:
        return x @ self.W_enc + self.b_enc

    def encode(self, x: Tensor) -> Tensor:
        """Feature activations [..., d_tc]: the k largest pre-activations, ReLU'd; zeros
        elsewhere."""
        pre = self.pre_acts(x)
        top = pre.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())

    def decode(self, f: Tensor) -> Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def mlp_hooks(layer: int) -> tuple[str, str]:
    """(input, output) hook names of block `layer`'s MLP: the output of ln2, and mlp_out."""
    return f"blocks.{layer}.mlp.hook_in", f"blocks.{layer}.hook_mlp_out"


@torch.no_grad()
def mlp_activations(model, tokens: Tensor, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """Every MLP's input and output on `tokens` [batch, pos]: two tensors
    [layer, batch*pos, d_model]."""
    names = [name for layer in range(model.cfg.n_layers) for name in mlp_hooks(layer)]
    inputs, outputs = [], []
    for chunk in tokens.split(batch_size):
        _, cache = model.run_with_cache(chunk, names_filter=names)
        inputs.append(
            torch.stack(
                [cache[mlp_hooks(layer)[0]].flatten(0, 1) for layer in range(model.cfg.n_layers)]
            )
        )
        outputs.append(
            torch.stack(
                [cache[mlp_hooks(layer)[1]].flatten(0, 1) for layer in range(model.cfg.n_layers)]
            )
        )
    return torch.cat(inputs, dim=1), torch.cat(outputs, dim=1)


def nmse(target: Tensor, prediction: Tensor) -> float:
    """Σ‖y - ŷ‖² / Σ‖y - mean(y)‖², pooled over every row: 0 is perfect, 1 is no better than
    the mean."""
    target, prediction = target.flatten(0, -2), prediction.flatten(0, -2)
    return ((target - prediction).pow(2).sum() / (target - target.mean(0)).pow(2).sum()).item()


@dataclass
class TranscoderTrainResult:
    """What `train_transcoder` returns: the loss every `log_every` steps and the time."""

    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


def train_transcoder(
    transcoder: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    steps: int,
    batch_size: int = 4096,
    lr: float = 2e-3,
    seed: int = 0,
    log_every: int = 25,
) -> TranscoderTrainResult:
    """Train a TopK transcoder (anything with W_enc, b_enc, W_dec, b_dec and k, as `TopKTranscoder`)
    to map `inputs` [n, d_in] to `targets` [n, d_out] with Adam on the summed squared error.

    Fast on a CPU for the reason `mi_tutorial.sae.train_sae` is: the decoder is an
    `embedding_bag` over the k active features (O(k · d_out) per row, not O(d_tc · d_out)).
    b_dec starts at the targets' mean; the learning rate decays linearly to 10% at the end.
    """
    for name, tensor in (("inputs", inputs), ("targets", targets)):
        if tensor.ndim != 2:
            raise ValueError(
                f"train_transcoder: {name} must be [n, d], got shape {list(tensor.shape)}."
            )
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(
            "train_transcoder: inputs and targets need as many rows, got "
            f"{inputs.shape[0]} and {targets.shape[0]}."
        )
    if (
        inputs.shape[1] != transcoder.W_enc.shape[0]
        or targets.shape[1] != transcoder.W_dec.shape[1]
    ):
        raise ValueError(
            f"train_transcoder: the transcoder maps {transcoder.W_enc.shape[0]} -> "
            f"{transcoder.W_dec.shape[1]} numbers, "
            f"the data {inputs.shape[1]} -> {targets.shape[1]}."
        )
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"train_transcoder: steps must be a positive int, got {steps!r}.")
    n = inputs.shape[0]
    batch_size = min(batch_size, n)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        transcoder.b_dec.copy_(targets.mean(0))
    optimizer = torch.optim.Adam(
        [transcoder.W_enc, transcoder.b_enc, transcoder.W_dec, transcoder.b_dec], lr=lr
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - 0.9 * step / steps)
    result = TranscoderTrainResult()
    order, cursor = torch.randperm(n, generator=generator), 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(steps):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        rows = order[cursor : cursor + batch_size]
        cursor += batch_size
        x, y = inputs[rows], targets[rows]
        pre = torch.addmm(transcoder.b_enc, x, transcoder.W_enc)
        top = pre.topk(transcoder.k, dim=-1, sorted=False)
        out = F.embedding_bag(
            top.indices, transcoder.W_dec, per_sample_weights=top.values.relu(), mode="sum"
        )
        loss = (out + transcoder.b_dec - y).pow(2).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == steps - 1:
            result.losses.append(loss.item())
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.steps = steps
    return result


# ---------------------------------------------------------------------------------------
# The replacement model of one prompt
# ---------------------------------------------------------------------------------------


@dataclass
class Frozen:
    """What the clean run of one prompt fixes: attention patterns [layer, head, q_pos, k_pos],
    LayerNorm scales ln1, ln2 [layer, pos, 1] and ln_final [pos, 1], and each MLP's error
    term [layer, pos, d_model] (the MLP's output minus its transcoder's)."""

    patterns: Tensor
    ln1_scale: Tensor
    ln2_scale: Tensor
    ln_final_scale: Tensor
    errors: Tensor


@torch.no_grad()
def freeze(model, transcoders, tokens: Tensor) -> Frozen:
    """Run `tokens` [pos] (one prompt) and keep what the replacement model freezes."""
    if tokens.ndim != 1:
        raise ValueError(
            f"freeze: tokens must be one prompt, [pos], got shape {list(tokens.shape)}."
        )
    _, cache = model.run_with_cache(tokens[None])
    layers = range(model.cfg.n_layers)
    errors = torch.stack(
        [cache[mlp_hooks(L)[1]][0] - transcoders[L](cache[mlp_hooks(L)[0]][0]) for L in layers]
    )
    return Frozen(
        patterns=torch.stack([cache[f"blocks.{L}.attn.hook_pattern"][0] for L in layers]),
        ln1_scale=torch.stack([cache[f"blocks.{L}.ln1.hook_scale"][0] for L in layers]),
        ln2_scale=torch.stack([cache[f"blocks.{L}.ln2.hook_scale"][0] for L in layers]),
        ln_final_scale=cache["ln_final.hook_scale"][0],
        errors=errors,
    )


def _layernorm(x: Tensor, scale: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return (x - x.mean(-1, keepdim=True)) / scale * w + b


def run_replacement(
    model, transcoders, frozen: Frozen, embed: Tensor, features=None, errors=None, active=None
) -> tuple[Tensor, list[Tensor]]:
    """(logits [..., pos, d_vocab], each layer's transcoder pre-activations [..., pos, d_tc]).

    `embed` [..., pos, d_model] is token + position embedding. With `features` None each
    transcoder runs (TopK) on its input; otherwise `features[L]` [..., pos, d_tc] are used as
    the activations as they are (the linear graph), or with `active` (a boolean mask per
    layer) each feature is its pre-activation where `active`, 0 elsewhere (the linearized
    model: the active set fixed, the rest live). `errors` defaults to `frozen.errors`.
    """
    p = model.tl_parameters()
    errors = frozen.errors if errors is None else errors
    resid = embed
    pres = []
    for L in range(model.cfg.n_layers):
        x = _layernorm(resid, frozen.ln1_scale[L], p[f"blocks.{L}.ln1.w"], p[f"blocks.{L}.ln1.b"])
        v = (
            torch.einsum("...kd,hde->...khe", x, p[f"blocks.{L}.attn.W_V"])
            + p[f"blocks.{L}.attn.b_V"]
        )
        z = torch.einsum("hqk,...khe->...qhe", frozen.patterns[L], v)
        resid = (
            resid
            + torch.einsum("...qhe,hed->...qd", z, p[f"blocks.{L}.attn.W_O"])
            + p[f"blocks.{L}.attn.b_O"]
        )
        mlp_in = _layernorm(
            resid, frozen.ln2_scale[L], p[f"blocks.{L}.ln2.w"], p[f"blocks.{L}.ln2.b"]
        )
        tc = transcoders[L]
        pre = mlp_in @ tc.W_enc + tc.b_enc
        pres.append(pre)
        if features is not None:
            f = features[L]
        elif active is not None:
            f = pre * active[L]
        else:
            f = tc.encode(mlp_in)
        resid = resid + f @ tc.W_dec + tc.b_dec + errors[L]
    final = _layernorm(resid, frozen.ln_final_scale, p["ln_final.w"], p["ln_final.b"])
    return final @ p["unembed.W_U"] + p["unembed.b_U"], pres


# ---------------------------------------------------------------------------------------
# The attribution graph
# ---------------------------------------------------------------------------------------


@dataclass
class Graph:
    """An attribution graph. Nodes, in this order: one embedding node per position, the
    active features (layer, pos, feature) in layer order, one error node per (layer, pos),
    and last the target (a logit or a logit difference). `adjacency[t, s]` is the direct
    effect of node s on node t (on a feature: on its pre-activation); `activations` holds
    each feature node's activation (1 for the other nodes)."""

    adjacency: Tensor
    kinds: list[str]  # "embed", "feature", "error" or "target"
    layers: Tensor  # -1 for embeddings, n_layers for the target
    positions: Tensor
    features: Tensor  # the feature index; -1 for the other nodes
    activations: Tensor
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.kinds)


def attribution_graph(model, transcoders, tokens: Tensor, target: Tensor) -> Graph:
    """The attribution graph of one prompt `tokens` [pos], whose target is `target` · the last
    position's logits (`target` [d_vocab]: a one-hot for one logit, +1/-1 for a difference).

    Every row (every feature and the target) comes from one backward pass, all of them at
    once (`is_grads_batched`): the direct effect of a source on a target is the source's
    activation times the target's gradient with every feature held fixed.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    n_layers = model.cfg.n_layers
    frozen = freeze(model, transcoders, tokens)
    p = model.tl_parameters()
    pos = torch.arange(len(tokens))
    with torch.no_grad():
        embed0 = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][pos]
        _, pres = run_replacement(model, transcoders, frozen, embed0)
        acts = [
            torch.zeros_like(pre).scatter(
                -1, pre.topk(tc.k, -1).indices, pre.topk(tc.k, -1).values.relu()
            )
            for pre, tc in zip(pres, transcoders)
        ]
    active = [a.nonzero() for a in acts]  # [n_active_L, 2]: (pos, feature)
    embed = embed0.clone().requires_grad_(True)
    features = [a.clone().requires_grad_(True) for a in acts]
    errors = frozen.errors.clone().requires_grad_(True)
    logits, pres = run_replacement(model, transcoders, frozen, embed, features, errors)
    outputs = torch.cat(
        [pre[idx[:, 0], idx[:, 1]] for pre, idx in zip(pres, active)]
        + [(logits[-1] @ target)[None]]
    )
    n_out = len(outputs)
    grads = torch.autograd.grad(
        outputs, [embed, *features, errors], grad_outputs=torch.eye(n_out), is_grads_batched=True
    )
    g_embed, g_features, g_errors = grads[0], grads[1 : 1 + n_layers], grads[-1]
    columns = [(g_embed * embed0).sum(-1)]  # [n_out, pos]
    columns += [
        g[:, idx[:, 0], idx[:, 1]] * a[idx[:, 0], idx[:, 1]]
        for g, a, idx in zip(g_features, acts, active)
    ]
    columns.append((g_errors * frozen.errors).sum(-1).flatten(1))  # [n_out, layer*pos]
    n_pos = len(tokens)
    n_feat = sum(len(idx) for idx in active)
    n = n_pos + n_feat + n_layers * n_pos + 1
    adjacency = torch.zeros(n, n)
    rows = torch.cat([torch.arange(n_pos, n_pos + n_feat), torch.tensor([n - 1])])
    adjacency[rows] = F.pad(torch.cat(columns, dim=1).detach(), (0, 1))  # no edge from the target
    kinds = ["embed"] * n_pos + ["feature"] * n_feat + ["error"] * (n_layers * n_pos) + ["target"]
    layers = torch.cat(
        [torch.full((n_pos,), -1)]
        + [torch.full((len(idx),), L) for L, idx in enumerate(active)]
        + [torch.arange(n_layers).repeat_interleave(n_pos), torch.tensor([n_layers])]
    )
    positions = torch.cat(
        [pos] + [idx[:, 0] for idx in active] + [pos.repeat(n_layers), torch.tensor([n_pos - 1])]
    )
    feature_ids = torch.cat(
        [torch.full((n_pos,), -1)]
        + [idx[:, 1] for idx in active]
        + [torch.full((n_layers * n_pos + 1,), -1)]
    )
    activations = torch.cat(
        [torch.ones(n_pos)]
        + [a[idx[:, 0], idx[:, 1]] for a, idx in zip(acts, active)]
        + [torch.ones(n_layers * n_pos + 1)]
    )
    return Graph(
        adjacency,
        kinds,
        layers,
        positions,
        feature_ids,
        activations,
        time.perf_counter() - start,
        time.process_time() - cpu_start,
    )


def influence(adjacency: Tensor) -> Tensor:
    """Each node's share of the target's (last node's) influence, through every path:
    |A| with each row normalized to sum 1, then the target's row of A + A² + A³ + ..."""
    A = adjacency.abs()
    A = A / A.sum(-1, keepdim=True).clamp_min(1e-12)
    n = len(A)
    eye = torch.eye(n)
    total = torch.linalg.solve(eye - A, eye) - eye  # Σ_{k>=1} A^k: the graph has no cycle
    return total[-1]

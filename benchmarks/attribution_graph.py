"""Time one attribution graph of chapter 10 on a CPU: `the flag of Velmar is` through
tinyworld-lm with four TopK transcoders (512 features, k 16), every row of the graph from
one batched backward pass (`mi_tutorial.transcoders.attribution_graph`).

    python benchmarks/attribution_graph.py

Prints wall and CPU seconds for training the transcoders (as the chapter does) and for the
graph (best of 5), the graph's size, and the replacement model's largest logit gap.
"""

from __future__ import annotations

import os
import time

import torch

from mi_tutorial import models, transcoders as tc_lib
from mi_tutorial.data import tinyworld


def main() -> None:
    torch.set_num_threads(1)
    model = models.load_toy_model("tinyworld-lm")
    start, cpu = time.perf_counter(), time.process_time()
    corpus = tinyworld.sample_corpus(512, 64, seed=0, split="train")
    mlp_in, mlp_out = tc_lib.mlp_activations(model, corpus.tokens)
    transcoders = []
    for layer in range(model.cfg.n_layers):
        tc = tc_lib.TopKTranscoder(model.cfg.d_model, 512, 16, seed=layer)
        tc_lib.train_transcoder(tc, mlp_in[layer], mlp_out[layer], steps=60, lr=6e-3)
        transcoders.append(tc.eval().requires_grad_(False))
    print(
        f"transcoders (cache + 4 x 60 steps): {time.perf_counter() - start:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU"
    )
    tokens, answers, _ = tinyworld.fact_questions("flag")
    prompt = tokens[tinyworld.TOWNS.index("Velmar")]
    target = -torch.full((model.cfg.d_vocab,), 1 / model.cfg.d_vocab)
    target[answers[tinyworld.TOWNS.index("Velmar")]] += 1
    graphs = [tc_lib.attribution_graph(model, transcoders, prompt, target) for _ in range(5)]
    best = min(graphs, key=lambda g: g.seconds)
    frozen = tc_lib.freeze(model, transcoders, prompt)
    p = model.tl_parameters()
    embed = p["embed.W_E"][prompt] + p["pos_embed.W_pos"][: len(prompt)]
    with torch.no_grad():
        gap = (
            (tc_lib.run_replacement(model, transcoders, frozen, embed)[0] - model(prompt[None])[0])
            .abs()
            .max()
        )
    print(
        f"graph: {len(best)} nodes, {best.seconds:.3f} s wall, "
        f"{best.cpu_seconds:.3f} s CPU (best of 5); "
        f"replacement vs real logits: {gap:.1e}; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Golden numbers for tests/test_gpt.cpp: tutorial 22's GPT and its training loop, step by step, in PyTorch.

Run:  /usr/bin/python3 tests/reference/make_gpt_golden.py > tests/reference/gpt_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

What it restates: the model of karpathy/nanoGPT, model.py (GPT with bias=False and dropout=0: token and
learned position embeddings added; pre-LayerNorm blocks x + attn(ln_1(x)), x + mlp(ln_2(x)); causal
self-attention of n_head heads, scores scaled by 1/sqrt(head width), a -inf mask above the diagonal;
an MLP of width 4C with the exact (erf) GELU; ln_f; logits by the token embedding itself, tied) and the
loop of its train.py (AdamW, weight decay on the tensors of 2 or more dims only, get_lr's linear warmup
lr * (it + 1) / (warmup + 1) then a cosine to min_lr, clip_grad_norm_ at 1.0, one batch per iteration,
the mean cross-entropy over every position), written here with torch ops; torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_ are torch's own.

Deviations, so that both sides start from the same numbers without sharing a random generator:
  - the weights are not drawn from N(0, 0.02) but set by a formula (weight() below, the same in the test):
    scale * sin(0.7 i + 1.1 k + 0.3) for element i of the k-th parameter in nanoGPT's named_parameters()
    order, scale 0.02 (0.02 / sqrt(2 n_layer) for the residual projections, as nanoGPT scales them), and
    1 + 0.1 sin(...) for the LayerNorm weights;
  - the text is a formula too, text[j] = (7 j^2 + 3 j + j // 5) mod V, and iteration s reads the windows at
    offsets (13 s + 29 b) mod (len - T - 1), b = 0 .. batch - 1, instead of torch.randint.

The test trains the same configuration with gpt::Trainer's pieces (gpt::nanogpt_adamw, gpt::nanogpt_schedule,
clip_grad_norm_tensor) and compares each iteration's loss and gradient norm (before clipping) with these.
"""
import math

import torch
import torch.nn.functional as F

V, T, LAYERS, HEADS, C, BATCH, TEXT = 11, 8, 2, 2, 16, 3, 200
ITERS, WARMUP, DECAY_ITERS, LR, MIN_LR, BETAS, DECAY, CLIP = 20, 5, 20, 1e-2, 1e-3, (0.9, 0.99), 0.1, 1.0


def names():
    out = ["transformer.wte.weight", "transformer.wpe.weight"]
    for layer in range(LAYERS):
        p = f"transformer.h.{layer}."
        out += [p + "ln_1.weight", p + "attn.c_attn.weight", p + "attn.c_proj.weight", p + "ln_2.weight",
                p + "mlp.c_fc.weight", p + "mlp.c_proj.weight"]
    return out + ["transformer.ln_f.weight"]


def shapes():
    block = [(C,), (3 * C, C), (C, C), (C,), (4 * C, C), (C, 4 * C)]
    return [(V, C), (T, C)] + block * LAYERS + [(C,)]


def weight(k, name, shape):
    n = math.prod(shape)
    base = torch.tensor([math.sin(0.7 * i + 1.1 * k + 0.3) for i in range(n)], dtype=torch.float64)
    if len(shape) == 1:
        values = 1.0 + 0.1 * base
    else:
        scale = 0.02 / math.sqrt(2 * LAYERS) if name.endswith("c_proj.weight") else 0.02
        values = scale * base
    return values.to(torch.float32).reshape(shape).clone().requires_grad_()


def forward(p, ids):
    """ids (B, T) -> the mean cross-entropy of predicting ids[:, 1:] ... (targets passed separately)."""
    B, Tn = ids.shape
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][:Tn]
    mask = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    for layer in range(LAYERS):
        q = lambda name: p[f"transformer.h.{layer}.{name}"]
        h = F.layer_norm(x, (C,), q("ln_1.weight"), None, 1e-5)
        qkv = h @ q("attn.c_attn.weight").t()
        qs, ks, vs = qkv.split(C, dim=2)
        heads = lambda t: t.view(B, Tn, HEADS, C // HEADS).transpose(1, 2)
        qs, ks, vs = heads(qs), heads(ks), heads(vs)
        att = (qs @ ks.transpose(-2, -1)) * (1.0 / math.sqrt(C // HEADS))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ vs).transpose(1, 2).contiguous().view(B, Tn, C)
        x = x + y @ q("attn.c_proj.weight").t()
        h = F.layer_norm(x, (C,), q("ln_2.weight"), None, 1e-5)
        x = x + F.gelu(h @ q("mlp.c_fc.weight").t()) @ q("mlp.c_proj.weight").t()
    x = F.layer_norm(x, (C,), p["transformer.ln_f.weight"], None, 1e-5)
    return x @ p["transformer.wte.weight"].t()


def get_lr(it):
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY_ITERS:
        return MIN_LR
    coeff = 0.5 * (1.0 + math.cos(math.pi * (it - WARMUP) / (DECAY_ITERS - WARMUP)))
    return MIN_LR + coeff * (LR - MIN_LR)


def literal(values):
    return "{" + ", ".join(f"{v!r}" for v in values) + "}"


def main():
    torch.set_num_threads(1)
    params = {name: weight(k, name, shape) for k, (name, shape) in enumerate(zip(names(), shapes()))}
    decay = [t for t in params.values() if t.dim() >= 2]
    no_decay = [t for t in params.values() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": DECAY}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS)
    text = torch.tensor([(7 * j * j + 3 * j + j // 5) % V for j in range(TEXT)])
    losses, norms = [], []
    for it in range(ITERS):
        for group in opt.param_groups:
            group["lr"] = get_lr(it)
        offsets = [(13 * it + 29 * b) % (TEXT - T - 1) for b in range(BATCH)]
        x = torch.stack([text[o:o + T] for o in offsets])
        y = torch.stack([text[o + 1:o + 1 + T] for o in offsets])
        opt.zero_grad()
        loss = F.cross_entropy(forward(params, x).view(-1, V), y.view(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP)
        opt.step()
        losses.append(float(loss))
        norms.append(float(norm))
    print(f"// Generated by tests/reference/make_gpt_golden.py with PyTorch {torch.__version__} (float32, one thread),")
    print("// restating karpathy/nanoGPT model.py and train.py. Do not edit.")
    print("#pragma once")
    print("#include <vector>")
    print("namespace golden {")
    print(f"// V {V}, T {T}, {LAYERS} layers, {HEADS} heads, C {C}, batch {BATCH}, {ITERS} iterations")
    print(f"inline const std::vector<double> gpt_losses = {literal(losses)};")
    print(f"inline const std::vector<double> gpt_grad_norms = {literal(norms)};  // before clipping")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

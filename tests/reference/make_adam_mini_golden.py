#!/usr/bin/env python3
"""Golden trajectories for tests/test_adam_mini.cpp: Adam-mini, restated from its canonical code.

Run:  /usr/bin/python3 tests/reference/make_adam_mini_golden.py > tests/reference/adam_mini_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

Restates github.com/zyushun/Adam-mini, adam_mini/adam_mini.py, version 1.1.1 (commit 57b7d1e, 2024-12-05, the
file as at the repository's head 402aadf): the partition by lower-cased name (bias -> Adam; query/key -> one
second moment per head of dim*dim/n_heads elements; embedding, output, value, attention output and MLP ->
one per row; anything else -> one per tensor), weight decay 0 for names with "norm", "ln" or "bias", and
per parameter, with torch ops in the canonical code's order: v (or vmean) first, decoupled decay, m by lerp,
bias corrections in Python floats, h = sqrt(v)/sqrt(bc2) + eps, and the update m * ((1/bc1)/h) * lr (blocks)
or addcdiv(m, h, -lr/bc1) (Adam). One process (no all_reduce), as moments.

The problem is make_optim_golden.py's g = (p - target) * weight, on transformer-shaped named tensors (NAMES,
SHAPES: dim 4, 2 query heads, 1 key/value head, so the key is a grouped-query key of one head); parameters
after steps 1, 5, 10 and 30. The canonical code makes one parameter group per parameter; "two groups" sets
lr and weight decay per parameter group there, which moments expresses as two groups.
"""
import math

import torch

from make_optim_golden import pattern, print_case, trajectory

SNAPSHOTS = (1, 5, 10, 30)
DIM, N_HEADS, N_KV_HEADS = 4, 2, 1
NAMES = ["embed.weight", "layers.0.attn.wq.weight", "layers.0.attn.wk.weight", "layers.0.attn.wv.weight",
         "layers.0.attn.wo.weight", "layers.0.mlp.w1.weight", "layers.0.mlp.w1.bias", "layers.0.attn_norm.weight",
         "layers.0.gate.weight", "lm_head.weight"]
SHAPES = [(5, 4), (4, 4), (2, 4), (2, 4), (4, 4), (6, 4), (6,), (4,), (3, 4), (5, 4)]

EMBD = ("embed", "embd", "wte")
OUTPUT = ("lm_head", "output", "final_layer")
WQK = ("k_proj", "q_proj", "wq", "wk", "query", "key")
WV = ("v_proj", "wv", "value")
ATTN_PROJ = ("o_proj", "wo", "attn.proj")
MLP = ("feed_forward", "linear", "mlp")
ADAM = ("bias",)
NO_DECAY = ("norm", "ln", "bias")


def has(name, patterns):
    return any(p in name for p in patterns)


def make_problem():
    """The parameters, targets and weights of tests/optim_testing.hpp's Problem(SHAPES)."""
    params, targets, weights = [], [], []
    for i, shape in enumerate(SHAPES):
        n = math.prod(shape)
        params.append(pattern(n, i + 1).reshape(shape).clone().requires_grad_())
        targets.append(pattern(n, 5, 0.125).reshape(shape))
        weights.append((pattern(n, 9).abs() + 0.5).reshape(shape))
    return params, targets, weights


class AdamMiniRestated:
    """One parameter per group, as the canonical constructor builds them."""

    def __init__(self, named, lr, betas, eps, weight_decay):
        self.head_numel = DIM * DIM // N_HEADS
        self.groups = []
        for name, p in named:
            name = name.lower()
            wd = 0.0 if has(name, NO_DECAY) else weight_decay
            self.groups.append(dict(name=name, param=p, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, wd=wd,
                                    state={}))

    @torch.no_grad()
    def step(self):
        for gr in self.groups:
            p, name, st = gr["param"], gr["name"], gr["state"]
            beta1, beta2, lr, eps, wd = gr["beta1"], gr["beta2"], gr["lr"], gr["eps"], gr["wd"]
            g = p.grad
            if has(name, ADAM):  # per element: Adam with decoupled decay
                if not st:
                    st.update(m=torch.zeros_like(p), v=torch.zeros_like(p), step=0)
                st["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                st["step"] += 1
                if wd > 0.0:
                    p.mul_(1 - lr * wd)
                st["m"].lerp_(g, 1 - beta1)
                bc1, bc2 = 1 - beta1 ** st["step"], 1 - beta2 ** st["step"]
                h = (st["v"].sqrt() / math.sqrt(bc2)).add_(eps)
                p.addcdiv_(st["m"], h, value=-(lr / bc1))
                continue
            if has(name, WQK):  # heads: consecutive dim*dim/n_heads elements
                rows = g.view(-1, self.head_numel)
            elif has(name, EMBD + OUTPUT + WV + MLP + ATTN_PROJ):  # rows of a matrix
                rows = g
            else:  # the whole tensor
                rows = g.reshape(1, -1)
            if not st:
                st.update(m=torch.zeros_like(p), vmean=torch.zeros(rows.shape[0], 1), step=0)
            g2_mean = torch.mean(rows * rows, dim=1, keepdim=True)
            st["vmean"].mul_(beta2).add_(g2_mean, alpha=1 - beta2)
            st["step"] += 1
            if wd > 0.0:
                p.mul_(1 - lr * wd)
            st["m"].lerp_(g, 1 - beta1)
            bc1, bc2 = 1 - beta1 ** st["step"], 1 - beta2 ** st["step"]
            h = (st["vmean"].sqrt() / math.sqrt(bc2)).add_(eps)
            scale = (1 / bc1) / h  # a Python float over a tensor: h.reciprocal() * (1 / bc1)
            update = (st["m"].view(rows.shape[0], -1) * scale).view(p.shape)
            update.mul_(lr)
            p.add_(-update)


ALL = list(range(len(NAMES)))


def run(groups):
    params, targets, weights = make_problem()
    first = groups[0][1]
    opt = AdamMiniRestated(list(zip(NAMES, params)), first.get("learning_rate", 1e-3),
                           (first.get("beta1", 0.9), first.get("beta2", 0.999)), first.get("eps", 1e-8),
                           first.get("weight_decay", 0.0))
    for idx, o in groups[1:]:  # the canonical per-parameter groups, set as a user would
        for i in idx:
            gr = opt.groups[i]
            gr["lr"] = o.get("learning_rate", gr["lr"])
            if not has(gr["name"], NO_DECAY):
                gr["wd"] = o.get("weight_decay", gr["wd"])
    return trajectory(params, targets, weights, opt.step, SNAPSHOTS)


CASES = [
    ("adam_mini_default", [(ALL, dict(learning_rate=1e-3))]),
    ("adam_mini_high_lr_decay", [(ALL, dict(learning_rate=0.1, weight_decay=0.1))]),
    ("adam_mini_betas_eps", [(ALL, dict(learning_rate=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.5))]),
    ("adam_mini_small_beta1", [(ALL, dict(learning_rate=0.05, beta1=0.3, beta2=0.9))]),  # lerp from the far end
    ("adam_mini_two_groups", [([0, 1, 2, 3, 4], dict(learning_rate=0.01, weight_decay=0.1)),
                              ([5, 6, 7, 8, 9], dict(learning_rate=0.05, weight_decay=0.2))]),
]


def main():
    print("// Generated by tests/reference/make_adam_mini_golden.py with PyTorch", torch.__version__,
          "(float32). Do not edit.")
    print("#pragma once")
    print("#include <cstdint>")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print(f"inline constexpr int64_t adam_mini_dim = {DIM}, adam_mini_n_heads = {N_HEADS}, "
          f"adam_mini_n_kv_heads = {N_KV_HEADS};")
    print("inline const std::vector<const char*> adam_mini_names = {" + ", ".join(f'"{n}"' for n in NAMES) + "};")
    print("inline const std::vector<std::vector<int64_t>> adam_mini_shapes = {" +
          ", ".join("{" + ", ".join(map(str, s)) + "}" for s in SHAPES) + "};")
    print("inline const std::vector<OptimCase> adam_mini_cases = {")
    for name, groups in CASES:
        print_case(name, "AdamMini", groups, False, run(groups), SNAPSHOTS)
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

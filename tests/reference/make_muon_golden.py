#!/usr/bin/env python3
"""Golden trajectories for tests/test_muon.cpp: Muon in its two dialects, restated with torch 1.13 ops.

Run:  cd tests/reference && /usr/bin/python3 make_muon_golden.py > muon_golden.hpp
(Debian's python3-torch 1.13, which has no Muon). The output is committed, so the tests never need Python.

What is restated (in our words, float32 throughout):
  - torch.optim.Muon, pytorch/pytorch torch/optim/_muon.py (PyTorch 2.9): _single_tensor_muon (the lerp
    momentum, the Nesterov lerp, the decoupled decay with the unadjusted lr, the add with the adjusted lr),
    _zeropower_via_newtonschulz with use_addmm=False (transpose when tall, divide by norm().clamp(min=eps),
    A = X X^T, B = b A + c A @ A, X = a X + B @ X) and _adjust_lr ("original" and "match_rms_adamw");
  - Keller Jordan's muon.py, KellerJordan/Muon (muon_update, zeropower_via_newtonschulz5,
    SingleDeviceMuon.step): the same momentum, X / (norm + 1e-7), and the update multiplied by
    max(1, rows/cols) ** 0.5 before p.add_(update, alpha=-lr).
Deviations from both, as lib/optim/muon.hpp lists them: float32 where both use bfloat16 in Newton-Schulz;
parameters without a gradient are skipped (none here). The problem is make_optim_golden.py's gradient
g = (p - target) * weight, with its pattern(), on three matrices: wide 6x10, tall 12x4, square 8x8 (the shapes
of tests/optim_testing.hpp's Problem(shapes)); the parameters are recorded after steps 1, 5, 10 and 30.
"""
import math

import torch

from make_optim_golden import pattern, print_case, trajectory

SNAPSHOTS = (1, 5, 10, 30)
SHAPES = ((6, 10), (12, 4), (8, 8))  # wide, tall, square
DEFAULTS = dict(learning_rate=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_a=3.4445, ns_b=-4.7750,
                ns_c=2.0315, eps=1e-7, ns_steps=5, match_rms_adamw=False, keller_jordan=False)


def make_shaped_params(shapes):
    """Problem(shapes) of tests/optim_testing.hpp: parameter i is pattern(k = i + 1), then targets and weights."""
    params = [pattern(r * c, i + 1).reshape(r, c) for i, (r, c) in enumerate(shapes)]
    targets = [pattern(p.numel(), 5, 0.125).reshape(p.shape) for p in params]
    weights = [(pattern(p.numel(), 9).abs() + 0.5).reshape(p.shape) for p in params]
    return [p.clone().requires_grad_() for p in params], targets, weights


def orthogonalize(g, o):
    """Newton-Schulz: five (ns_steps) quintic steps on g / ||g||_F, on the wide orientation."""
    x = g.clone()
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    norm = x.norm()
    if o["keller_jordan"]:
        x = x / (norm + o["eps"])           # muon.py: X / (X.norm() + 1e-7)
    else:
        x = x.div(norm.clamp(min=o["eps"]))  # _muon.py: div_(norm().clamp(min=eps))
    a, b, c = o["ns_a"], o["ns_b"], o["ns_c"]
    for _ in range(int(o["ns_steps"])):
        gram = x @ x.T
        poly = b * gram + c * gram @ gram   # (c * A) @ A, as both codes parse it
        x = a * x + poly @ x
    return x.T if tall else x


def muon_step(groups, buffers):
    """One step of every group: [(params, options)], buffers: id(p) -> momentum buffer."""
    for params, o in groups:
        lr, wd, mu = o["learning_rate"], o["weight_decay"], o["momentum"]
        for p in params:
            grad = p.grad
            buf = buffers.setdefault(id(p), torch.zeros_like(p))
            buf.lerp_(grad, 1 - mu)
            update = grad.lerp(buf, mu) if o["nesterov"] else buf
            rows, cols = p.shape
            with torch.no_grad():
                if o["keller_jordan"]:
                    ortho = orthogonalize(update, o) * (max(1, rows / cols) ** 0.5)
                    p.mul_(1 - lr * wd)
                    p.add_(ortho, alpha=-lr)
                else:
                    ortho = orthogonalize(update, o)
                    ratio = 0.2 * math.sqrt(max(rows, cols)) if o["match_rms_adamw"] else math.sqrt(max(1, rows / cols))
                    p.mul_(1 - lr * wd)
                    p.add_(ortho, alpha=-lr * ratio)


def run(groups):
    params, targets, weights = make_shaped_params(SHAPES)
    full = [([params[i] for i in idx], {**DEFAULTS, **o}) for idx, o in groups]
    buffers = {}
    return trajectory(params, targets, weights, lambda: muon_step(full, buffers), SNAPSHOTS)


ALL = [0, 1, 2]
KELLER = dict(learning_rate=0.02, weight_decay=0.0, keller_jordan=True)  # muon.py's defaults
CASES = [
    # name, groups (param indices, hyperparameters with our names, those that differ from torch.optim.Muon's)
    ("muon_default", [(ALL, {})]),
    ("muon_high_lr_decay", [(ALL, dict(learning_rate=0.05, weight_decay=0.2))]),
    ("muon_match_rms_adamw", [(ALL, dict(learning_rate=0.02, weight_decay=0.05, match_rms_adamw=True))]),
    ("muon_plain_momentum", [(ALL, dict(learning_rate=0.02, momentum=0.9, nesterov=False))]),
    ("muon_eps_clamps_three_steps", [(ALL, dict(learning_rate=0.02, eps=50.0, ns_steps=3))]),
    ("muon_coefficients", [(ALL, dict(learning_rate=0.02, ns_a=1.5, ns_b=-0.5, ns_c=0.0, ns_steps=7))]),
    ("keller_default", [(ALL, KELLER)]),
    ("keller_decay_momentum", [(ALL, dict(KELLER, learning_rate=0.05, weight_decay=0.1, momentum=0.9))]),
    ("two_groups", [([0], dict(learning_rate=0.02)), ([1, 2], dict(KELLER, learning_rate=0.03, weight_decay=0.01))]),
]


def main():
    print("// Generated by tests/reference/make_muon_golden.py with PyTorch", torch.__version__,
          "(float32). Do not edit.")
    print("// Shapes: " + ", ".join(f"{r}x{c}" for r, c in SHAPES) + " (wide, tall, square).")
    print("#pragma once")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("inline const std::vector<OptimCase> muon_cases = {")
    for name, groups in CASES:
        print_case(name, "Muon", groups, False, run(groups), SNAPSHOTS)
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

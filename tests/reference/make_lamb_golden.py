#!/usr/bin/env python3
"""Golden trajectories for tests/test_lamb.cpp: LAMB as NVIDIA apex's FusedLAMB computes it, restated.

Run:  /usr/bin/python3 tests/reference/make_lamb_golden.py > tests/reference/lamb_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

Debian's torch has no LAMB and apex's is CUDA-only, so lamb_step() below restates, in our own words and
single-tensor torch 1.13 float32 ops, what these files of github.com/NVIDIA/apex do:
  - apex/optimizers/fused_lamb.py, FusedLAMB.step(): the global gradient norm over every parameter of
    every group that has a gradient, max_grad_norm from the constructor's defaults, one step count per
    group, bias corrections 1 - beta^t, beta3 = 1 - beta1 with grad_averaging;
  - csrc/multi_tensor_lamb.cu, multi_tensor_lamb_cuda(): the host scalars (the betas are floats there,
    1 - pow(beta, step) is taken in double and stored as float), ||theta|| before stage 1, ||u|| after;
  - its LAMBStage1Functor: g / clip with clip = G / max_grad_norm when G > max_grad_norm else 1; L2 mode
    adds decay * theta to the clipped g, AdamW mode adds decay * theta to the update; m, v, m_hat, v_hat,
    sqrt(v_hat) + eps, in that order, in float;
  - its LAMBStage2Functor: ratio = lr * (||theta|| / ||u||) if (use_nvlamb or decay != 0) and both norms
    are nonzero, else lr; theta <- theta - ratio * u;
  - csrc/multi_tensor_l2norm_kernel.cu: the norms (a float sum of squares in the kernel's order).
Deviations of this restatement from apex (the same ones lib/optim/lamb.hpp lists):
  - the norms are summed in float64 and rounded to float32 (apex: float32 in its kernels' order), the global
    one over the tensors in group order, then parameter order;
  - u goes to a scratch tensor, not into .grad;
  - one step count per parameter (here every parameter has a gradient at every step, so they equal apex's
    per-group count);
  - adam_w_mode and use_nvlamb are per group (apex: per optimizer); max_grad_norm is group 0's.
The problem is make_optim_golden.py's (a 4x3 matrix and a 5-vector, g = (p - target) * weight in float32), in
its OptimCase layout; the parameters are recorded after steps 1, 5, 10 and 30.
"""
import torch

from make_optim_golden import both, make_params, print_case, trajectory

SNAPSHOTS = (1, 5, 10, 30)

DEFAULTS = dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01, bias_correction=True,
                adam_w_mode=True, grad_averaging=True, max_grad_norm=1.0, use_nvlamb=False)


def f32(x):
    return torch.tensor(x, dtype=torch.float32)


def norm(x):
    """||x||, the sum of squares in float64, rounded to float32."""
    return x.double().pow(2).sum().sqrt().float()


def lamb_step(groups, state):
    """One FusedLAMB step; groups: [(params, options)], state: {param index: dict(step, m, v)}."""
    with torch.no_grad():
        # Global gradient norm over every gradient, and the clipping divisor (fused_lamb.py, stage 1).
        total = sum(p.grad.double().pow(2).sum() for params, _ in groups for p in params if p.grad is not None)
        global_norm = total.sqrt().float()
        max_norm = f32(groups[0][1]["max_grad_norm"])
        clip = global_norm / max_norm if global_norm > max_norm else f32(1.0)
        for params, o in groups:
            beta1, beta2 = f32(o["beta1"]), f32(o["beta2"])
            beta3 = f32(1.0) - beta1 if o["grad_averaging"] else f32(1.0)
            eps, decay, lr = f32(o["eps"]), f32(o["weight_decay"]), f32(o["learning_rate"])
            for p in params:
                if p.grad is None:
                    continue
                s = state.setdefault(id(p), dict(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p)))
                s["step"] += 1
                t = s["step"]
                # 1 - pow(float beta, step) in double, stored as float (multi_tensor_lamb_cuda).
                bc1 = f32(1.0 - float(beta1) ** t) if o["bias_correction"] else f32(1.0)
                bc2 = f32(1.0 - float(beta2) ** t) if o["bias_correction"] else f32(1.0)
                theta = p.detach()
                param_norm = norm(theta)
                p_used = theta if o["weight_decay"] != 0 else torch.zeros_like(theta)
                g = p.grad / clip
                if not o["adam_w_mode"]:
                    g = g + decay * p_used
                s["m"] = s["m"] * beta1 + beta3 * g
                s["v"] = s["v"] * beta2 + (f32(1.0) - beta2) * g * g
                m_hat = s["m"] / bc1
                v_hat = s["v"] / bc2
                denom = v_hat.sqrt() + eps
                u = m_hat / denom + decay * p_used if o["adam_w_mode"] else m_hat / denom
                update_norm = norm(u)
                applies = o["use_nvlamb"] or o["weight_decay"] != 0
                if applies and update_norm != 0 and param_norm != 0:
                    ratio = lr * (param_norm / update_norm)
                else:
                    ratio = lr
                p.copy_(theta - ratio * u)


def run(groups):
    params, targets, weights = make_params(False)
    lamb_groups = [([params[i] for i in idx], {**DEFAULTS, **o}) for idx, o in groups]
    state = {}
    return trajectory(params, targets, weights, lambda: lamb_step(lamb_groups, state), SNAPSHOTS)


CASES = [
    # name, groups (param indices, hyperparameters with our names; the rest are apex's defaults)
    ("lamb_default", both(dict(learning_rate=1e-3))),
    ("lamb_high_lr", both(dict(learning_rate=0.1))),
    ("lamb_l2_mode", both(dict(learning_rate=0.01, weight_decay=0.1, adam_w_mode=False))),
    ("lamb_no_clip_no_bias_correction", both(dict(learning_rate=0.01, max_grad_norm=100.0, bias_correction=False,
                                                  grad_averaging=False))),
    ("lamb_zero_decay_plain_step", both(dict(learning_rate=0.05, weight_decay=0.0))),
    ("lamb_nvlamb_zero_decay", both(dict(learning_rate=0.05, weight_decay=0.0, use_nvlamb=True))),
    ("lamb_betas_eps_decay", both(dict(learning_rate=0.02, beta1=0.8, beta2=0.99, eps=1e-4, weight_decay=0.3))),
    ("lamb_two_groups", [([0], dict(learning_rate=0.01, weight_decay=0.1, max_grad_norm=2.0)),
                         ([1], dict(learning_rate=0.05, weight_decay=0.0))]),
]


def main():
    print("// Generated by tests/reference/make_lamb_golden.py (a restatement of NVIDIA apex's FusedLAMB) with PyTorch",
          torch.__version__, "(float32). Do not edit.")
    print("#pragma once")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("inline const std::vector<OptimCase> lamb_cases = {")
    for name, groups in CASES:
        print_case(name, "LAMB", groups, False, run(groups), SNAPSHOTS)
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

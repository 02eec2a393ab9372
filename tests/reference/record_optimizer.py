#!/usr/bin/env python3
"""record_optimizer.py — record an optimizer's run in PyTorch for moments-check.

    python3 tests/reference/record_optimizer.py OUT.safetensors [--optimizer NAME] [--steps N]
    ./build/lib/io/moments-check OUT.safetensors

NAME is one of
    torch-adamw   torch.optim.AdamW(lr=1e-3, weight_decay=0.1)        (moments-check: matches)
    torch-adam    torch.optim.Adam(lr=1e-3)                           (matches)
    torch-sgd     torch.optim.SGD(lr=0.01, momentum=0.9, weight_decay=0.05)
    mine          my_adamw below: an AdamW written by hand, with epsilon inside the square root
                  (moments-check names the mistake)
Replace my_adamw with your own optimizer to check it.

The file (lib/io/trajectory.hpp): two parameters "w" [16, 8] and "b" [8] from a seeded N(0, 0.5^2);
on each step every element gets its own scale (log-uniform in [1e-6, 1]) times (0.5 + N(0, 1)) as its
gradient, so that some elements sit where epsilon matters. Tensors initial.NAME, stepK.grad.NAME and
stepK.param.NAME (K = 1..N), and the metadata moments_check.reference / .hyperparameters in moments'
names. Written with tests/reference/make_safetensors_check.py's writer (json, struct, numpy).
Needs python3-torch (Debian) for the torch-* optimizers, numpy only for `mine`.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_safetensors_check import write_safetensors  # noqa: E402


def my_adamw(params, grads, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1):
    """A learner's AdamW, one step, in numpy — with a classic mistake: eps inside the square root."""
    state["t"] = state.get("t", 0) + 1
    t = state["t"]
    for i, (p, g) in enumerate(zip(params, grads)):
        m, v = state.setdefault(("m", i), np.zeros_like(p)), state.setdefault(("v", i), np.zeros_like(p))
        p *= 1 - lr * weight_decay
        m[:] = betas[0] * m + (1 - betas[0]) * g
        v[:] = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p -= lr * m_hat / np.sqrt(v_hat + eps)  # should be: np.sqrt(v_hat) + eps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--optimizer", default="torch-adamw", choices=["torch-adamw", "torch-adam", "torch-sgd", "mine"])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shapes = {"w": (16, 8), "b": (8,)}
    initial = {name: (0.5 * rng.standard_normal(shape)).astype(np.float32) for name, shape in shapes.items()}
    scales = {name: (10.0 ** rng.uniform(-6, 0, shape)).astype(np.float32) for name, shape in shapes.items()}
    grads = [{name: (scales[name] * (0.5 + rng.standard_normal(shape))).astype(np.float32) for name, shape in shapes.items()}
             for _ in range(args.steps)]

    hyper = {"torch-adamw": ("AdamW", {"learning_rate": 1e-3, "weight_decay": 0.1}),
             "torch-adam": ("Adam", {"learning_rate": 1e-3}),
             "torch-sgd": ("SGD", {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.05}),
             "mine": ("AdamW", {"learning_rate": 1e-3, "weight_decay": 0.1})}[args.optimizer]
    tensors = {f"initial.{name}": value for name, value in initial.items()}
    if args.optimizer == "mine":
        params, state = [initial[name].copy() for name in shapes], {}
        for k, g in enumerate(grads, 1):
            my_adamw(params, [g[name] for name in shapes], state)
            for name, p in zip(shapes, params):
                tensors[f"step{k}.grad.{name}"], tensors[f"step{k}.param.{name}"] = g[name], p.astype(np.float32)
    else:
        import torch

        params = [torch.tensor(initial[name]).requires_grad_() for name in shapes]
        h = hyper[1]
        make = {"torch-adamw": lambda: torch.optim.AdamW(params, lr=h["learning_rate"], weight_decay=h["weight_decay"]),
                "torch-adam": lambda: torch.optim.Adam(params, lr=h["learning_rate"]),
                "torch-sgd": lambda: torch.optim.SGD(params, lr=h["learning_rate"], momentum=h["momentum"],
                                                     weight_decay=h["weight_decay"])}[args.optimizer]
        opt = make()
        for k, g in enumerate(grads, 1):
            for name, p in zip(shapes, params):
                p.grad = torch.tensor(g[name])
            opt.step()
            for name, p in zip(shapes, params):
                tensors[f"step{k}.grad.{name}"] = g[name]
                tensors[f"step{k}.param.{name}"] = p.detach().numpy().copy()
    metadata = {"moments_check.reference": hyper[0],
                "moments_check.hyperparameters": ",".join(f"{k}={v!r}" for k, v in hyper[1].items())}
    write_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out}: {args.optimizer}, {args.steps} steps, reference {hyper[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

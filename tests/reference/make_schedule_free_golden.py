#!/usr/bin/env python3
"""Golden trajectories for tests/test_schedule_free.cpp: schedule-free AdamW, restated from its reference code.

Run:  /usr/bin/python3 tests/reference/make_schedule_free_golden.py > tests/reference/schedule_free_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

What it restates: facebookresearch/schedule_free, schedulefree/adamw_schedulefree_reference.py, the class
AdamWScheduleFreeReference (Defazio et al. 2024, "The Road Less Scheduled"): its step() with the group scalars
k, lr_max and weight_sum kept as Python floats, the per-parameter state z, exp_avg_sq, x and y, and its eval()
(the parameter takes x) and train() (it takes y back). The package is not in Debian, so the step is written
again here with torch 1.13 tensor ops applied in the reference's order; the hyperparameters use moments' names.

The problem is make_optim_golden.py's (a 4x3 matrix and a 5-vector, g = (p - target) * weight in float32, the
gradient taken at the parameter, which holds y in train mode). Two tables come out, case by case alike:
schedule_free_cases, the parameters (y) after steps 1, 5, 10 and 30, and schedule_free_x_cases, the parameters
after eval() at the same steps (x), each eval() followed by train() before the next step.

Deviations of this restatement from the reference: none in the arithmetic; the "Switching to ... mode" prints
and the closure argument are left out, and every parameter has a gradient at every step (so the per-group k,
lr_max and weight_sum equal moments' per-parameter ones).
"""
import math

import torch

from make_optim_golden import make_params, print_case, trajectory

SNAPSHOTS = (1, 5, 10, 30)

DEFAULTS = dict(learning_rate=0.0025, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                weight_lr_power=2.0, decay_at_z=False)


class ScheduleFreeRestated:
    """AdamWScheduleFreeReference's arithmetic: groups are (params, options) with moments' option names."""

    def __init__(self, groups):
        self.groups = []
        for params, options in groups:
            o = dict(DEFAULTS, **options)
            self.groups.append(dict(params=params, o=o, k=0, lr_max=-1.0, weight_sum=0.0, train_mode=True))
        self.state = {}

    def eval(self):
        for group in self.groups:
            if group["train_mode"]:
                for p in group["params"]:
                    if id(p) in self.state:
                        p.data.copy_(self.state[id(p)]["x"])
                group["train_mode"] = False

    def train(self):
        for group in self.groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    if id(p) in self.state:
                        p.data.copy_(self.state[id(p)]["y"])
                group["train_mode"] = True

    def step(self):
        for group in self.groups:
            o, k = group["o"], group["k"]
            # The group's scalars, in Python floats: warmup, v's bias correction folded into the step size,
            # the largest step size so far, the average's weight and the running sum of weights.
            warm = (k + 1) / o["warmup_steps"] if k < o["warmup_steps"] else 1.0
            lr = o["learning_rate"] * warm * math.sqrt(1 - o["beta2"] ** (k + 1))
            group["lr_max"] = max(lr, group["lr_max"])
            weight = ((k + 1) ** o["r"]) * (group["lr_max"] ** o["weight_lr_power"])
            group["weight_sum"] += weight
            ckp1 = weight / group["weight_sum"] if group["weight_sum"] != 0 else 0
            assert group["train_mode"], "Not in train mode!"
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if id(p) not in self.state:
                    self.state[id(p)] = dict(z=p.detach().clone(), exp_avg_sq=torch.zeros_like(p),
                                             x=p.detach().clone(), y=p.detach().clone())
                s = self.state[id(p)]
                z, v, x, y = s["z"], s["exp_avg_sq"], s["x"], s["y"]
                if o["weight_decay"] != 0:  # decoupled decay, at y (or at z)
                    z.sub_(z if o["decay_at_z"] else y, alpha=lr * o["weight_decay"])
                v.mul_(o["beta2"]).addcmul_(g, g, value=1 - o["beta2"])
                z.addcdiv_(g, v.sqrt().add_(o["eps"]), value=-lr)
                x.mul_(1 - ckp1).add_(z, alpha=ckp1)
                y.copy_(x.mul(o["beta1"]).add_(z, alpha=1 - o["beta1"]))
                p.data.copy_(y)
            group["k"] = k + 1


def run(groups):
    """The y trajectory (trajectory() records the parameters) and the x one (recorded after eval() at each snapshot)."""
    params, targets, weights = make_params(False)
    opt = ScheduleFreeRestated([([params[i] for i in idx], o) for idx, o in groups])
    xs, steps = [], [0]

    def step():
        opt.step()
        steps[0] += 1
        if steps[0] in SNAPSHOTS:
            opt.eval()
            xs.append([p.detach().reshape(-1).tolist() for p in params])
            opt.train()

    with torch.no_grad():
        ys = trajectory(params, targets, weights, step, SNAPSHOTS)
    return ys, xs


CASES = [
    # name, groups (param indices, hyperparameters with our names)
    ("sf_default", [([0, 1], {})]),
    ("sf_warmup_decay", [([0, 1], dict(learning_rate=0.05, warmup_steps=10, weight_decay=0.1))]),
    ("sf_r_power_betas", [([0, 1], dict(learning_rate=0.1, r=1.0, weight_lr_power=1.0, beta1=0.8, beta2=0.99,
                                          warmup_steps=5))]),
    ("sf_decay_at_z", [([0, 1], dict(learning_rate=0.02, weight_decay=0.5, decay_at_z=True, eps=1e-6))]),
    ("sf_high_lr_no_weighting", [([0, 1], dict(learning_rate=0.5, weight_lr_power=0.0, beta1=0.95))]),
    ("sf_two_groups", [([0], dict(learning_rate=0.05, warmup_steps=5, weight_decay=0.1)),
                       ([1], dict(learning_rate=0.2, r=0.5, beta1=0.5))]),
]


def main():
    results = [(name, groups, run(groups)) for name, groups in CASES]
    print("// Generated by tests/reference/make_schedule_free_golden.py with PyTorch", torch.__version__,
          "(float32), restating")
    print("// facebookresearch/schedule_free adamw_schedulefree_reference.py. Do not edit.")
    print("#pragma once")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("// The parameters in train mode (y) after each snapshot's step.")
    print("inline const std::vector<OptimCase> schedule_free_cases = {")
    for name, groups, (ys, _) in results:
        print_case(name, "AdamWScheduleFree", groups, False, ys, SNAPSHOTS)
    print("};")
    print("// The same runs' parameters after eval() (x) at each snapshot; train() follows before the next step.")
    print("inline const std::vector<OptimCase> schedule_free_x_cases = {")
    for name, groups, (_, xs) in results:
        print_case(name, "AdamWScheduleFree", groups, False, xs, SNAPSHOTS)
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

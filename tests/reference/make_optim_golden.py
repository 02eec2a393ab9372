#!/usr/bin/env python3
"""Golden trajectories for tests/test_optim.cpp, computed by PyTorch in float32.

Run:  python3 tests/reference/make_optim_golden.py > tests/reference/optim_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

Each case optimizes a 4x3 matrix and a 5-vector (Adafactor cases add a 2x3x4
tensor) for 30 steps on the gradient g = (p - target) * weight, computed in
float32 from the current parameters, and records the parameters after steps
1, 5 and 30. SGD, Adam and AdamW are torch.optim's single-tensor versions
(foreach=False). Debian's torch 1.13 has no Adafactor, so adafactor_step()
below restates torch.optim.Adafactor's single-tensor step (PyTorch >= 2.5,
torch/optim/_adafactor.py) with torch 1.13 ops; the options that PyTorch does
not have (eps1_in_square, beta1, relative_step, scale_parameter) follow
Hugging Face's transformers.Adafactor and the paper, as lib/optim/adafactor.hpp states.
"""
import math

import torch

SNAPSHOTS = (1, 5, 30)


def pattern(n, k=0, scale=0.25):
    """v_i = (((7 i + k) mod 17) - 8) * scale: the same exact floats as tests/testing.hpp."""
    return torch.tensor([(((7 * i + k) % 17) - 8) * scale for i in range(n)], dtype=torch.float32)


def make_params(batched):
    params = [pattern(12, 1).reshape(4, 3), pattern(5, 2)]
    if batched:
        params.append(pattern(24, 3).reshape(2, 3, 4))
    targets = [pattern(p.numel(), 5, 0.125).reshape(p.shape) for p in params]
    weights = [(pattern(p.numel(), 9).abs() + 0.5).reshape(p.shape) for p in params]
    return [p.clone().requires_grad_() for p in params], targets, weights


def adafactor_step(params, state, o):
    """torch.optim.Adafactor's _single_tensor_adafactor (PyTorch >= 2.5), restated with torch 1.13 ops."""
    lr, eps1, eps2, d = o["learning_rate"], o["eps1"], o["eps2"], o["clip_threshold"]
    for p in params:
        if p.grad is None:
            continue
        grad = -p.grad if o["maximize"] else p.grad
        st = state.setdefault(p, {"step": 0})
        if "row_var" not in st and "variance" not in st:
            if grad.dim() > 1:
                row_shape, col_shape = list(grad.shape), list(grad.shape)
                row_shape[-1], col_shape[-2] = 1, 1
                st["row_var"], st["col_var"] = grad.new_zeros(row_shape), grad.new_zeros(col_shape)
            else:
                st["variance"] = torch.zeros_like(grad)
            if o["beta1"] > 0:
                st["exp_avg"] = torch.zeros_like(grad)
        st["step"] += 1
        t = float(st["step"])
        one_minus_beta2_t = t ** o["beta2_decay"]
        rho_t = min(lr, 1 / (t ** 0.5)) if o["relative_step"] else lr
        rms = p.norm(2).item() / (p.numel() ** 0.5)
        alpha = max(eps2, rms) * rho_t if o["scale_parameter"] else rho_t
        with torch.no_grad():
            if o["weight_decay"] != 0:
                p.mul_(1 - lr * o["weight_decay"])
            added = eps1 if o["eps1_in_square"] else 0.0  # the paper's G^2 + eps1 (HF); PyTorch adds nothing
            if grad.dim() > 1:
                row_mean = (grad * grad).mean(dim=-1, keepdim=True) + added
                st["row_var"].lerp_(row_mean, one_minus_beta2_t)
                col_mean = (grad * grad).mean(dim=-2, keepdim=True) + added
                st["col_var"].lerp_(col_mean, one_minus_beta2_t)
                r_mean = st["row_var"].mean(dim=-2, keepdim=True)
                if not o["eps1_in_square"]:
                    r_mean = r_mean.clamp(min=eps1)
                var_estimate = (st["row_var"] @ st["col_var"]) / r_mean
            else:
                st["variance"].lerp_(grad * grad + added, one_minus_beta2_t)
                var_estimate = st["variance"].clone()
            if not o["eps1_in_square"]:
                var_estimate = var_estimate.clamp(min=eps1 * eps1)
            update = var_estimate.rsqrt() * grad
            denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * d))
            if o["beta1"] > 0:
                m = st["exp_avg"]
                m.mul_(o["beta1"]).add_(update, alpha=(1 - o["beta1"]) * alpha / denom)
                p.sub_(m)
            else:
                p.add_(update, alpha=-alpha / denom)


ADAFACTOR_DEFAULTS = dict(learning_rate=1e-2, beta2_decay=-0.8, eps1=float(torch.finfo(torch.float32).eps),
                          eps2=1e-3, clip_threshold=1.0, weight_decay=0.0, beta1=0.0, eps1_in_square=False,
                          relative_step=True, scale_parameter=True, maximize=False)


def torch_kwargs(kind, o):
    """Our hyperparameter names -> torch.optim's keyword arguments."""
    kw = {"lr": o["learning_rate"]}
    if kind in ("Adam", "AdamW"):
        kw["betas"] = (o.get("beta1", 0.9), o.get("beta2", 0.999))
        for key in ("eps", "weight_decay", "amsgrad", "maximize"):
            if key in o:
                kw[key] = o[key]
    else:
        for key in ("momentum", "dampening", "weight_decay", "nesterov", "maximize"):
            if key in o:
                kw[key] = o[key]
    return kw


def run(kind, groups, batched=False):
    """groups: list of (param indices, our hyperparameters). Returns snapshots[s][param] lists."""
    params, targets, weights = make_params(batched)
    if kind == "Adafactor":
        options = [dict(ADAFACTOR_DEFAULTS, **o) for _, o in groups]
        state = {}
        step = lambda: [adafactor_step([params[i] for i in idx], state, o) for (idx, _), o in zip(groups, options)]
    else:
        cls = getattr(torch.optim, kind)
        torch_groups = [dict(params=[params[i] for i in idx], **torch_kwargs(kind, o)) for idx, o in groups]
        if kind != "SGD":
            for g in torch_groups:
                g["foreach"] = False
        opt = cls(torch_groups, lr=groups[0][1]["learning_rate"])
        step = opt.step
    return trajectory(params, targets, weights, step)


def trajectory(params, targets, weights, step, snapshots=SNAPSHOTS):
    """Runs step() on g = (p - target) * weight up to the last snapshot; the flat parameters at each one."""
    recorded = []
    for t in range(1, snapshots[-1] + 1):
        for p, target, weight in zip(params, targets, weights):
            p.grad = ((p.detach() - target) * weight).clone()
        step()
        if t in snapshots:
            recorded.append([p.detach().reshape(-1).tolist() for p in params])
    return recorded


def print_case(name, kind, groups, batched, snaps, snapshots=SNAPSHOTS):
    """One OptimCase literal: groups as (param indices, our hyperparameters), snaps as trajectory() gives them."""
    group_text = ", ".join(
        "{{" + ", ".join(map(str, idx)) + "}, {" +
        ", ".join(f'{{"{k}", {float(v)!r}}}' for k, v in o.items()) + "}}" for idx, o in groups)
    snap_text = ",\n     ".join(
        "{" + ", ".join("{" + ", ".join(literal(v) for v in p) + "}" for p in snap) + "}" for snap in snaps)
    steps = ", ".join(map(str, snapshots))
    print(f'  {{"{name}", "{kind}", {str(batched).lower()}, {{{group_text}}}, {{{steps}}},\n    {{{snap_text}}}}},')


def both(o):
    return [([0, 1], o)]


CASES = [
    # name, optimizer, groups (param indices, hyperparameters with our names), batched
    ("sgd_plain", "SGD", both(dict(learning_rate=0.1)), False),
    ("sgd_momentum", "SGD", both(dict(learning_rate=0.1, momentum=0.9)), False),
    ("sgd_dampening_decay", "SGD", both(dict(learning_rate=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)), False),
    ("sgd_nesterov_decay", "SGD", both(dict(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)), False),
    ("sgd_high_lr", "SGD", both(dict(learning_rate=0.9, momentum=0.5)), False),
    ("sgd_maximize", "SGD", both(dict(learning_rate=0.01, maximize=True)), False),
    ("sgd_two_groups", "SGD", [([0], dict(learning_rate=0.05, momentum=0.9)), ([1], dict(learning_rate=0.2))], False),
    ("adam_default", "Adam", both(dict(learning_rate=1e-3)), False),
    ("adam_high_lr", "Adam", both(dict(learning_rate=0.1)), False),
    ("adam_l2_decay", "Adam", both(dict(learning_rate=0.01, weight_decay=0.1)), False),
    ("adam_amsgrad", "Adam", both(dict(learning_rate=0.05, amsgrad=True)), False),
    ("adam_maximize_betas", "Adam", both(dict(learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-6, maximize=True)), False),
    ("adamw_default", "AdamW", both(dict(learning_rate=1e-3, weight_decay=1e-2)), False),
    ("adamw_high_lr_decay", "AdamW", both(dict(learning_rate=0.1, weight_decay=0.1)), False),
    ("adamw_amsgrad", "AdamW", both(dict(learning_rate=0.05, weight_decay=0.05, amsgrad=True)), False),
    ("adamw_two_groups", "AdamW", [([0], dict(learning_rate=0.01, weight_decay=0.1)), ([1], dict(learning_rate=0.1, weight_decay=0.0))], False),
    ("adafactor_default", "Adafactor", [([0, 1, 2], {})], True),
    ("adafactor_high_lr", "Adafactor", [([0, 1, 2], dict(learning_rate=0.5))], True),
    ("adafactor_decay_clip", "Adafactor", [([0, 1, 2], dict(learning_rate=0.05, weight_decay=0.5, clip_threshold=1.5))], True),
    ("adafactor_maximize", "Adafactor", [([0, 1, 2], dict(maximize=True))], True),
    ("adafactor_two_groups", "Adafactor", [([0, 2], dict(learning_rate=0.05)), ([1], dict(learning_rate=0.2, weight_decay=0.1))], True),
    ("adafactor_paper_eps_beta1", "Adafactor",
     [([0, 1, 2], dict(eps1=1e-30, eps1_in_square=True, beta1=0.9, relative_step=False, scale_parameter=False))], True),
]


def literal(v):
    text = f"{v:.9g}"
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + "f"


def main():
    print("// Generated by tests/reference/make_optim_golden.py with PyTorch", torch.__version__,
          "(float32). Do not edit.")
    print("#pragma once")
    print("#include <map>")
    print("#include <string>")
    print("#include <vector>")
    print("namespace golden {")
    print("struct OptimGroup {")
    print("  std::vector<int> params;")
    print("  std::map<std::string, double> hyperparameters;")
    print("};")
    print("struct OptimCase {")
    print("  const char* name;")
    print("  const char* optimizer;")
    print("  bool batched;  // a third, 2x3x4 parameter")
    print("  std::vector<OptimGroup> groups;")
    print("  std::vector<int> steps;")
    print("  std::vector<std::vector<std::vector<float>>> params;  // [snapshot][param][element]")
    print("};")
    print("inline const std::vector<OptimCase> optim_cases = {")
    for name, kind, groups, batched in CASES:
        print_case(name, kind, groups, batched, run(kind, groups, batched))
    print("};")
    # The seed project's example (tutorial 06): Adam on f(x) = x^4 + 3x^3 + 2 from x = 3, lr = 0.1.
    x = torch.tensor([3.0], requires_grad=True)
    adam = torch.optim.Adam([x], lr=0.1, foreach=False)
    trajectory = []
    for _ in range(100):
        adam.zero_grad()
        (x ** 4 + 3 * x ** 3 + 2).sum().backward()
        adam.step()
        trajectory.append(x.item())
    print("// x after each of 100 Adam steps on f(x) = x^4 + 3x^3 + 2 from x = 3, lr = 0.1 (tutorial 06).")
    print("inline const std::vector<float> adam_seed_example = {" + ", ".join(literal(v) for v in trajectory) + "};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

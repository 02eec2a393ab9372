#!/usr/bin/env python3
"""Golden trajectories for tests/test_soap.cpp: SOAP, restated from its canonical implementation in torch 1.13.

Run:  /usr/bin/python3 tests/reference/make_soap_golden.py > tests/reference/soap_golden.hpp
(Debian's python3-torch 1.13, float32). The output is committed, so the tests never need Python.

Canonical code: github.com/nikhilvyas/SOAP, soap.py at commit a1e553530fde97d0e6b307d7c82ac6d38b072340
(2024-12-02, "Keep rotated momentum": the first moment lives in the eigenbasis and is rotated along when the
basis changes). soap_step() below restates its SOAP.step, init_preconditioner, update_preconditioner, project,
project_back, merge_dims, get_orthogonal_matrix (torch.linalg.eigh) and get_orthogonal_matrix_QR (one power
iteration, torch.linalg.qr, the second moment reordered by the estimated eigenvalues), with our option names.

Deviations of this restatement from the canonical code: none in the arithmetic. Not restated: data_format
'channels_last' (moments has no 4-D convolution layouts), and the float32 promotion of half-precision statistics
(everything here is float32).

The problem: make_optim_golden.py's pattern()s, on the shapes of each case, with a DRIFTING gradient
g_t = (p - target) * weight + pattern(n, t, 1/32). SOAP's first step only initialises (p does not move), so with
make_optim_golden.py's fixed g = (p - target) * weight the second gradient would equal the first, which is
diagonal in the eigenbasis built from it: its off-diagonal entries would be rounding noise, and Adam's division
m / (sqrt(v) + eps) turns noise into +-1, so no two implementations could agree. The drift makes every step's
gradient new. The parameters are recorded after steps 1 (unchanged: the first step only initialises), 2 (the
first update), 10, 12 (after the refresh at SOAP's step 10 with precondition_frequency 10) and 30.
"""
import torch

from make_optim_golden import pattern, print_case

SNAPSHOTS = (1, 2, 10, 12, 30)
DRIFT = 1.0 / 32

DEFAULTS = dict(learning_rate=3e-3, beta1=0.95, beta2=0.95, shampoo_beta=-1.0, eps=1e-8, weight_decay=0.01,
                precondition_frequency=10, max_precond_dim=10000, merge_dims=False, precondition_1d=False,
                normalize_grads=False, correct_bias=True)


def merged_shape(shape, max_dim):
    """soap.py's merge_dims: neighbouring dims multiplied together while the product stays <= max_precond_dim."""
    out, current = [], 1
    for size in shape:
        if current * size > max_dim:
            if current > 1:
                out.append(current)
                current = size
            else:
                out.append(size)
                current = 1
        else:
            current *= size
    if current > 1 or not out:
        out.append(current)
    return out


def working_shape(p, o):
    """The shape whose dims get statistics: merged for >= 2-D parameters when merge_dims is on."""
    if p.dim() >= 2 and o["merge_dims"]:
        return merged_shape(list(p.shape), o["max_precond_dim"])
    return list(p.shape)


def has_statistic(p, o):
    """Per dim of the working shape: does it get L (GG) and its eigenbasis Q?"""
    shape = working_shape(p, o)
    if p.dim() == 1:
        return [o["precondition_1d"] and shape[0] <= o["max_precond_dim"]]
    return [size <= o["max_precond_dim"] for size in shape]


def rotate(x, Q, shape, back):
    """soap.py's project (back=False: Q^T along every dim) and project_back (back=True: Q along every dim).
    Each stage contracts the leading dim with Q (or just moves it last), so after all dims the order is restored."""
    original = x.shape
    x = x.reshape(shape)
    for q in Q:
        if q is None:
            x = x.permute(list(range(1, x.dim())) + [0])
        else:
            x = torch.tensordot(x, q, dims=[[0], [1 if back else 0]])
    return x.reshape(original)


def outer_products(grad, shape, which):
    """The statistic of each preconditioned dim k: G contracted with itself over every other dim."""
    g = grad.reshape(shape)
    out = []
    for k, on in enumerate(which):
        if not on:
            out.append(None)
        elif g.dim() == 1:
            out.append(g.unsqueeze(1) @ g.unsqueeze(0))
        else:
            others = [d for d in range(g.dim()) if d != k]
            out.append(torch.tensordot(g, g, dims=[others, others]))
    return out


def eigenbasis(m):
    """get_orthogonal_matrix: torch.linalg.eigh of m + 1e-30 I (float64 if float32 fails), columns descending."""
    try:
        _, Q = torch.linalg.eigh(m + 1e-30 * torch.eye(m.shape[0]))
    except RuntimeError:
        _, Q = torch.linalg.eigh(m.to(torch.float64) + 1e-30 * torch.eye(m.shape[0]))
        Q = Q.to(m.dtype)
    return torch.flip(Q, [1])


def refresh(st, shape):
    """get_orthogonal_matrix_QR: per dim, sort the old basis by its Rayleigh quotients (descending), reorder v
    along that dim to match, one power iteration L @ Q_sorted, and orthonormalize it by QR."""
    v = st["exp_avg_sq"].reshape(shape)
    for k, (m, o) in enumerate(zip(st["GG"], st["Q"])):
        if m is None:
            continue
        est_eig = torch.diag(o.T @ m @ o)
        order = torch.argsort(est_eig, descending=True)
        v = v.index_select(k, order)
        o = o[:, order]
        st["Q"][k], _ = torch.linalg.qr(m @ o)
    st["exp_avg_sq"] = v.reshape(st["exp_avg_sq"].shape)


def update_preconditioner(grad, st, o, shape, which):
    """Rotate m back to the parameter's basis, L <- lerp(L, G G^T, 1 - shampoo_beta), eigh on the first call,
    QR refresh every precondition_frequency steps, rotate m into the (new) basis."""
    beta_s = o["shampoo_beta"] if o["shampoo_beta"] >= 0 else o["beta2"]
    if st["Q"] is not None:
        st["exp_avg"] = rotate(st["exp_avg"], st["Q"], shape, back=True)
    for k, outer in enumerate(outer_products(grad, shape, which)):
        if outer is not None:
            st["GG"][k].lerp_(outer, 1 - beta_s)
    if st["Q"] is None:
        st["Q"] = [None if m is None else eigenbasis(m) for m in st["GG"]]
    if st["step"] > 0 and st["step"] % o["precondition_frequency"] == 0:
        refresh(st, shape)
    if st["step"] > 0:
        st["exp_avg"] = rotate(st["exp_avg"], st["Q"], shape, back=False)


def soap_step(params, state, o):
    """SOAP.step for one parameter group (hyperparameters `o`, our names)."""
    beta1, beta2 = o["beta1"], o["beta2"]
    for p in params:
        grad = p.grad
        st = state.setdefault(p, {"step": 0})
        shape, which = working_shape(p, o), has_statistic(p, o)
        if "exp_avg" not in st:
            st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(grad), torch.zeros_like(grad)
        if "Q" not in st:  # the first step only initialises L, R and their eigenbases: p does not move
            st["GG"] = [torch.zeros(s, s) if on else None for s, on in zip(shape, which)]
            st["Q"] = None
            update_preconditioner(grad, st, o, shape, which)
            continue
        g_rot = rotate(grad, st["Q"], shape, back=False)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        st["step"] += 1
        m.mul_(beta1).add_(g_rot, alpha=1.0 - beta1)
        v.mul_(beta2).add_(g_rot.square(), alpha=1.0 - beta2)
        denom = v.sqrt().add_(o["eps"])
        step_size = o["learning_rate"]
        if o["correct_bias"]:
            bias_correction1 = 1.0 - beta1 ** st["step"]
            bias_correction2 = 1.0 - beta2 ** st["step"]
            step_size = step_size * (bias_correction2 ** .5) / bias_correction1
        norm_grad = rotate(m / denom, st["Q"], shape, back=True)
        if o["normalize_grads"]:
            norm_grad = norm_grad / (1e-30 + torch.mean(norm_grad ** 2) ** 0.5)
        with torch.no_grad():
            p.add_(norm_grad, alpha=-step_size)
            if o["weight_decay"] > 0.0:
                p.add_(p, alpha=(-o["learning_rate"] * o["weight_decay"]))
        update_preconditioner(grad, st, o, shape, which)


def make_problem(shapes):
    """tests/optim_testing.hpp's Problem(shapes): the same parameters, targets and weights."""
    params, targets, weights = [], [], []
    for i, shape in enumerate(shapes):
        n = 1
        for s in shape:
            n *= s
        params.append(pattern(n, i + 1).reshape(shape).clone().requires_grad_())
        targets.append(pattern(n, 5, 0.125).reshape(shape))
        weights.append((pattern(n, 9).abs() + 0.5).reshape(shape))
    return params, targets, weights


def run(shapes, groups):
    params, targets, weights = make_problem(shapes)
    options = [dict(DEFAULTS, **o) for _, o in groups]
    state = {}
    recorded = []
    for t in range(1, SNAPSHOTS[-1] + 1):
        for p, target, weight in zip(params, targets, weights):
            drift = pattern(p.numel(), t, DRIFT).reshape(p.shape)
            p.grad = ((p.detach() - target) * weight + drift).clone()
        for (idx, _), o in zip(groups, options):
            soap_step([params[i] for i in idx], state, o)
        if t in SNAPSHOTS:
            recorded.append([p.detach().reshape(-1).tolist() for p in params])
    return recorded


def every(shapes, o):
    return [(list(range(len(shapes))), o)]


MATRIX_VECTOR = [(4, 3), (5,)]
OVER_MAX = [(3, 5), (6, 3)]  # with max_precond_dim 4: only L of the first, only R of the second
CASES = [
    # name, shapes, groups (param indices, hyperparameters with our names, the rest DEFAULTS)
    ("soap_default", MATRIX_VECTOR, every(MATRIX_VECTOR, {})),
    ("soap_every_step", MATRIX_VECTOR, every(MATRIX_VECTOR, dict(precondition_frequency=1))),
    ("soap_high_lr", MATRIX_VECTOR, every(MATRIX_VECTOR, dict(learning_rate=0.05, precondition_frequency=3))),
    ("soap_dim_over_max", OVER_MAX, every(OVER_MAX, dict(max_precond_dim=4, precondition_frequency=1))),
    ("soap_dim_over_max_freq10", OVER_MAX, every(OVER_MAX, dict(max_precond_dim=4, learning_rate=0.02))),
    ("soap_3d", [(2, 2, 3)], every([(2, 2, 3)], dict(precondition_frequency=2, learning_rate=0.01))),
    ("soap_merge_dims", [(2, 2, 3)], every([(2, 2, 3)], dict(merge_dims=True, max_precond_dim=4,
                                                             precondition_frequency=1, learning_rate=0.01))),
    ("soap_1d_normalize", [(4, 3), (2,)], every([(4, 3), (2,)], dict(precondition_1d=True, normalize_grads=True,
                                                                     learning_rate=0.01, precondition_frequency=4))),
    ("soap_no_bias_correction", MATRIX_VECTOR, every(MATRIX_VECTOR, dict(correct_bias=False, shampoo_beta=0.8,
                                                                         beta1=0.9, beta2=0.99, eps=1e-6,
                                                                         weight_decay=0.1, learning_rate=0.01))),
    ("soap_two_groups", MATRIX_VECTOR, [([0], dict(learning_rate=0.01, precondition_frequency=1, weight_decay=0.0)),
                                        ([1], dict(learning_rate=0.02, beta1=0.9))]),
]


def main():
    print("// Generated by tests/reference/make_soap_golden.py with PyTorch", torch.__version__,
          "(float32). Do not edit.")
    print("#pragma once")
    print('#include <cstdint>')
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("// The gradient of every case: g_t = (p - target) * weight + pattern(n, t, soap_drift).")
    print(f"inline constexpr float soap_drift = {DRIFT!r}f;")
    print("// The parameter shapes of each case, in the order of soap_cases.")
    print("inline const std::vector<std::vector<std::vector<int64_t>>> soap_shapes = {")
    for _, shapes, _ in CASES:
        print("  {" + ", ".join("{" + ", ".join(map(str, s)) + "}" for s in shapes) + "},")
    print("};")
    print("inline const std::vector<OptimCase> soap_cases = {")
    for name, shapes, groups in CASES:
        print_case(name, "SOAP", groups, False, run(shapes, groups), SNAPSHOTS)
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Golden trajectories for tests/test_shampoo.cpp: Shampoo as facebookresearch/optimizers computes it.

Run:  /usr/bin/python3 tests/reference/make_shampoo_golden.py > tests/reference/shampoo_golden.hpp
(Debian's python3-torch 1.13). The output is committed, so the tests never need Python.

Restated (in our own words and code, with torch 1.13 ops) from facebookresearch/optimizers, commit f606606:
  - distributed_shampoo/distributed_shampoo.py: DistributedShampoo._group_step_body (which steps precondition and
    when), _compute_search_directions (L2 term, preconditioner updates, filtered gradient with bias correction,
    _precondition_and_grafting, decoupled weight decay, _apply_classic_momentum, times -lr);
  - distributed_shampoo/preconditioner/shampoo_preconditioner_list.py: RootInvShampooPreconditionerList (factor
    matrices L <- beta2 L + w G G^T with w = 1 when beta2 = 1, bias correction 1 - beta2^t, the inverse exponent
    1 / (2 max(order, 1)), identity roots before the first computation, _precondition_grad's contractions);
  - distributed_shampoo/preconditioner/matrix_functions.py: matrix_inverse_root with the default EigenConfig and
    PerturbationConfig (A + eps I, eigh, shift the eigenvalues by -lambda_min when lambda_min < eps then add eps,
    Q diag(lambda^(-1/root)) Q^T);
  - distributed_shampoo/preconditioner/adagrad_preconditioner_list.py and sgd_preconditioner_list.py: the grafting
    methods (V <- beta2 V + w g^2; g / (sqrt(V / bias_correction2) + eps); SGD: g itself);
  - distributed_shampoo/distributor/shampoo_distributor.py with utils/shampoo_utils.py: merge_small_dims (target
    dimensionality 1) and multi_dim_split (blocks of max_preconditioner_dim, dim 0 first).

DEVIATIONS (the same ones lib/optim/shampoo.hpp lists):
  - The eigendecomposition and the root are computed in float64 from the float32 matrix A + eps I, and the root is
    rounded to float32; the canonical code runs eigh in the factor matrices' dtype (float32 by default, float64 only
    on a failure). float32 eigh of a nearly singular statistic is dominated by rounding noise, which differs between
    LAPACK and Eigen, so only the float64 computation gives two implementations the same preconditioner.
  - beta3 is beta1 (the canonical default); no iterate averaging other than classic momentum; one device.

The problem is make_optim_golden.py's (g = (p - target) * weight in float32) on a 4x3 matrix, a 5-vector and a 10x7
matrix (pattern seeds 1, 2, 3, as tests/optim_testing.hpp's Problem builds them); snapshots after 1, 5, 10, 30 steps.
"""
import math
import sys

import torch

from make_optim_golden import pattern, print_case, trajectory

SNAPSHOTS = (1, 5, 10, 30)
SHAPES = [(4, 3), (5,), (10, 7)]
NONE, SGD, ADAGRAD, RMSPROP, ADAM = 0, 1, 2, 3, 4

DEFAULTS = dict(learning_rate=1e-2, beta1=0.9, beta2=1.0, epsilon=1e-12, weight_decay=0.0, decoupled_weight_decay=True,
                max_preconditioner_dim=1024, precondition_frequency=1, start_preconditioning_step=-1,
                use_bias_correction=True, grafting=NONE, grafting_beta2=0.999, grafting_epsilon=1e-10,
                momentum=0.0, dampening=0.0, nesterov=False)


def make_params():
    params = [pattern(math.prod(s), i + 1).reshape(s) for i, s in enumerate(SHAPES)]
    targets = [pattern(p.numel(), 5, 0.125).reshape(p.shape) for p in params]
    weights = [(pattern(p.numel(), 9).abs() + 0.5).reshape(p.shape) for p in params]
    return [p.clone().requires_grad_() for p in params], targets, weights


def merged_shape(shape, threshold):
    """merge_small_dims with target dimensionality 1: drop 1s, merge from the last dim while the product fits."""
    dims = [d for d in reversed(shape) if d != 1] or [1]
    out = [dims[0]]
    for k, d in enumerate(dims[1:], start=1):
        if len(out) + len(dims) - k > 1 and out[-1] * d <= threshold:
            out[-1] *= d
        else:
            out.append(d)
    return tuple(reversed(out))


def blocks_of(t, size):
    """multi_dim_split: views of t in chunks of `size` along dim 0, then each of those along dim 1."""
    parts = [t]
    for dim in range(t.dim()):
        parts = [s for p in parts for s in torch.split(p, size, dim=dim)]
    return parts


def inverse_root(A, root, eps):
    """matrix_inverse_root (EigenConfig, PerturbationConfig) on A, with eigh in float64 (see DEVIATIONS)."""
    ridge = A + eps * torch.eye(A.shape[0], dtype=A.dtype)  # float32, as A.add(I, alpha=eps)
    lam, Q = torch.linalg.eigh(ridge.double())
    lam_min = lam.min().item()
    if lam_min < eps:
        lam = lam - lam_min
        lam = lam + eps
    return ((Q * lam.pow(-1.0 / root).unsqueeze(0)) @ Q.T).float()


class Shampoo:
    """One parameter group of DistributedShampoo with a RootInvShampoo preconditioner."""

    def __init__(self, params, o):
        self.o, self.t, self.params = dict(DEFAULTS, **o), 0, params
        o = self.o
        if o["start_preconditioning_step"] == -1:
            o["start_preconditioning_step"] = o["precondition_frequency"]
        size = o["max_preconditioner_dim"]
        self.state = []
        for p in params:
            view = p.detach().view(merged_shape(tuple(p.shape), size))
            blocks = []
            for b in blocks_of(view, size):
                dims = b.shape
                root = 2 * max(b.dim(), 1)  # 1 / inverse exponent 1/(2 max(order, 1))
                blocks.append(dict(L=[torch.zeros(d, d) for d in dims], X=[torch.eye(d) for d in dims], root=root))
            self.state.append(dict(shape=view.shape, blocks=blocks, m=torch.zeros_like(view), v=torch.zeros_like(view),
                                   M=torch.zeros_like(view)))

    def step(self):
        o = self.o
        self.t += 1
        t, size = self.t, o["max_preconditioner_dim"]
        start, freq = o["start_preconditioning_step"], o["precondition_frequency"]
        amortized = (t % freq == 0 and t > start) or t == start
        graft = o["grafting"]
        use_grafting_method = t < start and graft != NONE
        b2 = o["beta2"]
        w = 1.0 if b2 == 1.0 else 1 - b2
        bc2 = 1 - b2 ** t if (o["use_bias_correction"] and b2 < 1.0) else 1.0
        gb2 = {ADAGRAD: 1.0, RMSPROP: o["grafting_beta2"], ADAM: o["grafting_beta2"]}.get(graft, 1.0)
        gw = 1.0 if graft == ADAGRAD else 1 - gb2
        gbc2 = 1 - gb2 ** t if (graft == ADAM and gb2 < 1.0) else 1.0
        with torch.no_grad():
            for p, st in zip(self.params, self.state):
                W = p.detach().view(st["shape"])
                G = p.grad.detach().clone().view(st["shape"])
                if o["weight_decay"] != 0.0 and not o["decoupled_weight_decay"]:
                    G.add_(W, alpha=o["weight_decay"])  # L2: G <- G + wd W
                # Shampoo factor matrices, per block (every step), and their roots on amortized steps
                for blk, g in zip(st["blocks"], blocks_of(G, size)):
                    for k, L in enumerate(blk["L"]):
                        outer = g @ g.T if k == 0 and g.dim() == 2 else (g.T @ g if g.dim() == 2 else torch.outer(g, g))
                        if b2 != 1.0:
                            L.mul_(b2)
                        L.add_(outer, alpha=w)
                    if amortized:
                        blk["X"] = [inverse_root(L / bc2, blk["root"], o["epsilon"]) for L in blk["L"]]
                # grafting preconditioner (element-wise)
                if graft in (ADAGRAD, RMSPROP, ADAM):
                    if gb2 != 1.0:
                        st["v"].mul_(gb2)
                    st["v"].addcmul_(G, G, value=gw)
                # filtered gradient
                b1 = o["beta1"]
                if b1 != 0.0:
                    st["m"].lerp_(G, 1 - b1)
                    Gbar = st["m"] / (1.0 - b1 * b1 ** (t - 1)) if o["use_bias_correction"] else st["m"].clone()
                else:
                    Gbar = G

                def grafted(x, v):
                    if graft == SGD:
                        return x.clone()
                    return x / ((v / gbc2).sqrt() + o["grafting_epsilon"])

                P_blocks = []
                for blk, gbar, v in zip(st["blocks"], blocks_of(Gbar, size), blocks_of(st["v"], size)):
                    if use_grafting_method:
                        P_blocks.append(grafted(gbar, v))
                        continue
                    if gbar.dim() == 2:
                        # _precondition_grad: tensordot over dim 0 with each root in turn
                        P = torch.tensordot(torch.tensordot(gbar, blk["X"][0], dims=([0], [0])), blk["X"][1],
                                            dims=([0], [0]))
                    else:
                        P = torch.tensordot(gbar, blk["X"][0], dims=([0], [0]))
                    if graft != NONE:
                        ratio = torch.linalg.vector_norm(grafted(gbar, v)) / (torch.linalg.vector_norm(P) + 1e-16)
                        P = P * ratio
                    P_blocks.append(P)
                P = assemble(P_blocks, st["shape"], size)
                if o["weight_decay"] != 0.0 and o["decoupled_weight_decay"]:
                    P.add_(W, alpha=o["weight_decay"])
                if o["momentum"] != 0.0:
                    M, mu, tau = st["M"], o["momentum"], o["dampening"]
                    M.mul_(mu).add_(P, alpha=1 - tau)
                    P = P.mul(1 - tau).add(M, alpha=mu) if o["nesterov"] else M.clone()
                P.mul_(-o["learning_rate"])
                W.add_(P)


def assemble(blocks, shape, size):
    """The inverse of blocks_of: the blocks' values back in one tensor of `shape`."""
    out = torch.empty(shape)
    for b, view in zip(blocks, blocks_of(out, size)):
        view.copy_(b)
    return out


def run(groups):
    params, targets, weights = make_params()
    opts = [Shampoo([params[i] for i in idx], o) for idx, o in groups]
    return trajectory(params, targets, weights, lambda: [s.step() for s in opts], SNAPSHOTS)


ALL = [0, 1, 2]
# epsilon: the statistics of a trajectory are nearly singular (consecutive gradients are nearly parallel), and the
# root's float32 rounding is amplified by up to cond(L + eps I)^(1/2) (a vector's exponent -1/2). With the default 1e-12
# two correct float32 implementations part after one step (test_shampoo.cpp measures it); the cases use 1e-3 to 1e-6.
CASES = [
    # name, groups (param indices, hyperparameters with our names; the rest are DEFAULTS)
    ("shampoo_defaults_eps1e-3", [(ALL, dict(epsilon=1e-3))]),  # max_preconditioner_dim 1024: the 4x3 is a 12-vector
    ("shampoo_blocked_adagrad_freq3", [(ALL, dict(learning_rate=0.05, max_preconditioner_dim=4, precondition_frequency=3,
                                                 epsilon=1e-6, grafting=ADAGRAD))]),
    ("shampoo_blocked_adam_ema", [(ALL, dict(learning_rate=0.02, max_preconditioner_dim=4, precondition_frequency=5,
                                            beta2=0.99, grafting=ADAM, grafting_epsilon=1e-8, epsilon=1e-3))]),
    ("shampoo_sgd_graft_momentum_l2", [(ALL, dict(learning_rate=0.05, beta1=0.0, max_preconditioner_dim=4,
                                                 precondition_frequency=2, start_preconditioning_step=6,
                                                 grafting=SGD, momentum=0.5, weight_decay=0.01,
                                                 decoupled_weight_decay=False, epsilon=1e-6))]),
    ("shampoo_rmsprop_nesterov_decoupled", [(ALL, dict(learning_rate=0.01, max_preconditioner_dim=5,
                                                      precondition_frequency=4, grafting=RMSPROP, grafting_beta2=0.9,
                                                      momentum=0.9, nesterov=True, dampening=0.1, weight_decay=0.1,
                                                      use_bias_correction=False, epsilon=1e-2))]),
    ("shampoo_two_groups", [([0, 2], dict(learning_rate=0.03, max_preconditioner_dim=4, grafting=ADAM,
                                          precondition_frequency=2, epsilon=1e-6)),
                            ([1], dict(learning_rate=0.02, beta1=0.0, grafting=ADAGRAD, epsilon=1e-2))]),
]
# The canonical defaults (epsilon 1e-12), for test_shampoo.cpp's measurement of how far float32 rounding carries them.
DEFAULT_CASE = ("shampoo_defaults", [(ALL, dict())])


def sensitivity(groups):
    """How far the trajectory moves when every root gets float32-sized noise (relative 6e-8): the part of the
    tolerance no implementation can avoid. Printed to stderr per case; the cases are chosen to keep it below 1e-4."""
    global inverse_root
    exact, noise = inverse_root, torch.Generator().manual_seed(0)
    inverse_root = lambda A, root, eps: exact(A, root, eps) * (1 + 6e-8 * torch.randn(A.shape, generator=noise))
    try:
        moved = run(groups)
    finally:
        inverse_root = exact
    return max(abs(x - y) for snap_a, snap_b in zip(run(groups), moved) for a, b in zip(snap_a, snap_b)
               for x, y in zip(a, b))


def main():
    print("// Generated by tests/reference/make_shampoo_golden.py with PyTorch", torch.__version__,
          "(float32; roots from float64 eigendecompositions). Do not edit.")
    print("// Parameters: a 4x3 matrix, a 5-vector and a 10x7 matrix (tests/test_shampoo.cpp builds the same Problem).")
    print("#pragma once")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("inline const std::vector<OptimCase> shampoo_cases = {")
    for name, groups in CASES:
        print_case(name, "Shampoo", groups, False, run(groups), SNAPSHOTS)
        print(f"{name}: largest move under root noise {sensitivity(groups):.3g}", file=sys.stderr)
    print("};")
    print("inline const std::vector<OptimCase> shampoo_default_case = {")
    print_case(*DEFAULT_CASE[:1], "Shampoo", DEFAULT_CASE[1], False, run(DEFAULT_CASE[1]), SNAPSHOTS)
    print("};")
    print(f"{DEFAULT_CASE[0]}: largest move under root noise {sensitivity(DEFAULT_CASE[1]):.3g}", file=sys.stderr)
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

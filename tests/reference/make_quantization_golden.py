#!/usr/bin/env python3
"""Golden numbers for tests/test_quantization.cpp and tests/test_adam8bit.cpp: bitsandbytes' block-wise 8-bit
quantization and its 8-bit Adam, restated.

Run:  /usr/bin/python3 tests/reference/make_quantization_golden.py > tests/reference/quantization_golden.hpp
(Debian's python3-torch 1.13 and numpy). The output is committed, so the tests never need Python.

Canonical code: bitsandbytes-foundation/bitsandbytes (snapshot of 2026-08-19),
  - bitsandbytes/functional.py, create_dynamic_map: the "dynamic tree" maps, signed (first moment) and
    unsigned (second moment). Restated below with the same torch calls, so the values are what that function
    gives with this torch (see linspace_torch113 for why that matters).
  - csrc/kernels.cu, dQuantize<0> and quantize_2D: nearest-code rounding by a 7-step binary search over the
    sorted map, then a comparison with the float midpoint (upper + val) * 0.5f; a value exactly on the midpoint
    keeps the code the search ended on ("pivot"). Restated in quantize_nearest.
  - csrc/kernels.cu, kQuantizeBlockwise / kDequantizeBlockwise: per-block absmax (fmaxf over |x|, so a NaN is
    skipped), x * (1 / absmax) rounded to the nearest code; dequantized value = code[c] * absmax.
  - csrc/kernels.cu, kOptimizerStatic8bit2StateBlockwise<ADAM> (block 256) and kOptimizer32bit2State<ADAM>:
    8-bit Adam's step and the 32-bit step its optimizer uses for tensors under min_8bit_size = 4096 elements
    (bitsandbytes/optim/optimizer.py, Optimizer2State.init_state / update_step). Restated in adam8bit_block
    and adam32bit_step, every operation in float32 (numpy scalars), in the kernels' order.

Deviations of this restatement from the canonical kernels (the same as lib/optim/adam8bit.hpp's):
  - β^t is computed in double from the float32 β and rounded to float32 (the kernels call __powf / powf,
    CUDA's approximations); the divisions s / absmax and the step size are IEEE divisions (the 8-bit kernel
    uses __fdividef, a fast approximate division).
  - A block whose new absmax is 0 stores the code of 0 for each element (the kernel divides 0 by 0 and keeps
    the code the NaN falls to; the dequantized value is 0 either way).
  - Adam8bit's weight_decay is moments' L2 term g <- g + lambda*theta (bitsandbytes' Adam8bit decays decoupled,
    like its AdamW8bit); AdamW8bit's is bitsandbytes' decoupled decay, applied after the update.
  - gnorm_scale is 1 (no percentile clipping), max_unorm 0, skip_zeros false: the options we do not provide.
"""
from fractions import Fraction

import numpy as np
import torch

from make_optim_golden import literal, pattern, print_case, trajectory

f32 = np.float32
SNAPSHOTS = (1, 5, 10, 30)
BLOCK = 256  # bitsandbytes' block size for 8-bit optimizer state


# ---- the maps ---------------------------------------------------------------------------------------------

def linspace_torch113(start, end, steps):
    """torch.linspace(start, end, steps, dtype=float32) as torch 1.13's CPU kernel computes it on an AVX2
    machine (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp): step = (end - start) / (steps - 1);
    index i below steps // 2 is start + step * i, the rest end - step * (steps - 1 - i), each with one fused
    multiply-add; while 16 or more values remain, 8 at a time come from a vector arange: base + k * step
    (k = 0..7, the product rounded, then the sum), base computed as above for the first of the 8."""
    start, end = f32(start), f32(end)
    step = (end - start) / f32(steps - 1)
    half = steps // 2

    def fma(a, b, c):  # a * b + c, rounded once
        return f32(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))

    def at(i):
        return fma(step, f32(i), start) if i < half else fma(-step, f32(steps - 1 - i), end)

    out, i = [], 0
    while i <= steps - 16:
        for _ in range(2):
            base = at(i)
            out += [base] + [base + f32(k) * step for k in range(1, 8)]
            i += 8
    while i < steps:
        out.append(at(i))
        i += 1
    return np.array(out, dtype=f32)


def create_dynamic_map(signed, max_exponent_bits=7, total_bits=8):
    """bitsandbytes' create_dynamic_map, restated: for exponent i = 0..6, the midpoints of linspace(0.1, 1)
    (2^i + 1 boundaries signed, 2^(i+1) + 1 unsigned) times 10^(i - 6), in float32; the signed map adds their
    negatives; then 0 and 1; sorted."""
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    assert additional_items == 0  # the 8-bit maps: no extra linear items
    for i in range(max_exponent_bits):
        items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1
        boundaries = torch.linspace(0.1, 1, items, dtype=torch.float32)
        assert (boundaries.numpy() == linspace_torch113(0.1, 1, items)).all(), "torch.linspace is not torch 1.13's AVX2 kernel"
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return np.array(data, dtype=f32)


# ---- quantization -----------------------------------------------------------------------------------------

def quantize_nearest(code, x):
    """dQuantize<0> / quantize_2D: the code nearest x; on the float midpoint, the code the search ended on."""
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = code[0], code[255]
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower = pivot, val
            pivot += i
        else:
            upper_pivot, upper = pivot, val
            pivot -= i
        val = code[pivot]
        i >>= 1
    if x > val:
        return upper_pivot if x > (upper + val) * f32(0.5) else pivot
    return lower_pivot if x < (lower + val) * f32(0.5) else pivot


def quantize_blockwise(code, x, block):
    """kQuantizeBlockwise: absmax per block (NaN skipped, as fmaxf does), codes of x * (1 / absmax)."""
    codes, absmax = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(0, len(x), block):
            chunk = x[b:b + block]
            peak = f32(0.0)
            for v in chunk:
                if not np.isnan(v):
                    peak = max(peak, abs(v))
            absmax.append(peak)
            r = f32(1.0) / peak
            codes += [quantize_nearest(code, v * r) for v in chunk]
    return codes, absmax


# ---- 8-bit Adam -------------------------------------------------------------------------------------------

def scalars(o, t):
    lr, beta1, beta2 = f32(o["learning_rate"]), f32(o.get("beta1", 0.9)), f32(o.get("beta2", 0.999))
    eps, wd = f32(o.get("eps", 1e-8)), f32(o["weight_decay"])
    c1 = f32(1.0) - f32(float(beta1) ** t)            # 1 - beta1^t
    c2 = np.sqrt(f32(1.0) - f32(float(beta2) ** t))   # sqrt(1 - beta2^t)
    return dict(beta1=beta1, beta2=beta2, omb1=f32(1.0) - beta1, omb2=f32(1.0) - beta2,
                step_size=(-lr * c2) / c1, eps_c2=c2 * eps,
                l2=wd if not o["decoupled"] else f32(0.0),
                decay=f32(1.0) - lr * wd if o["decoupled"] and wd > 0 else None)


def adam32bit_step(p, g, m, v, s):
    """kOptimizer32bit2State<ADAM>, one element (no non-finite check in this kernel)."""
    if s["l2"] != 0:
        g = g + s["l2"] * p
    m = m * s["beta1"] + s["omb1"] * g
    v = v * s["beta2"] + s["omb2"] * (g * g)
    p = p + s["step_size"] * (m / (np.sqrt(v) + s["eps_c2"]))
    if s["decay"] is not None:
        p = p * s["decay"]
    return p, m, v


def adam8bit_block(p, g, c1, c2, a1, a2, q1, q2, valid, s):
    """kOptimizerStatic8bit2StateBlockwise<ADAM> on one block of 256: p, g, codes c1 / c2 (lists of 256;
    beyond `valid`, the kernel's padding g = 0, c1 = 128, c2 = 0), absmax a1 / a2. Returns the new p, codes
    and absmax of the valid elements."""
    m, v, ok = [], [], []
    for j in range(BLOCK):
        gj = g[j]
        finite = bool(np.isfinite(gj))
        ok.append(finite)
        if finite:
            if s["l2"] != 0:
                gj = gj + s["l2"] * p[j]
            vj = q2[c2[j]] * a2
            vj = vj * s["beta2"] + s["omb2"] * gj * gj
            mj = q1[c1[j]] * a1
            mj = mj * s["beta1"] + s["omb1"] * gj
        else:  # a NaN or inf gradient: this element's moments restart from 0, its parameter is not touched
            mj, vj = f32(0.0), f32(0.0)
        m.append(mj)
        v.append(vj)
    new_a1 = max(abs(x) for x in m)  # over the whole block, padding included
    new_a2 = max(abs(x) for x in v)
    for j in range(valid):
        if ok[j]:
            p[j] = p[j] + s["step_size"] * (m[j] / (np.sqrt(v[j]) + s["eps_c2"]))
            if s["decay"] is not None:
                p[j] = p[j] * s["decay"]
    codes1, codes2 = [], []
    for j in range(valid):
        k1 = quantize_nearest(q1, m[j] / new_a1) if new_a1 > 0 else 127
        if np.signbit(q1[k1]) != np.signbit(m[j]):  # the sign fix: m keeps its sign through quantization
            k1 = k1 + 1 if m[j] > 0 else k1 - 1
        k2 = quantize_nearest(q2, v[j] / new_a2) if new_a2 > 0 else 0
        codes1.append(k1)
        codes2.append(k2)
    return p[:valid], codes1, codes2, new_a1, new_a2


class Adam8bitReference:
    """Optimizer2State with optim_bits 8, per parameter: codes and absmax at or above min_8bit_size elements,
    float32 m and v below it."""

    def __init__(self, groups, params, q1, q2):
        self.groups, self.params, self.q1, self.q2 = groups, params, q1, q2
        self.state = {}

    def step(self):
        for idx, o in self.groups:
            for i in idx:
                p = self.params[i]
                flat = p.detach().reshape(-1).numpy().astype(f32)
                g = p.grad.reshape(-1).numpy().astype(f32)
                n = flat.size
                st = self.state.setdefault(i, self.init(n, o))
                st["t"] += 1
                s = scalars(o, st["t"])
                if st["eight_bit"]:
                    for b in range(0, n, BLOCK):
                        valid = min(BLOCK, n - b)
                        pad = BLOCK - valid
                        pb = list(flat[b:b + valid]) + [f32(0.0)] * pad
                        gb = list(g[b:b + valid]) + [f32(0.0)] * pad
                        c1 = st["c1"][b:b + valid] + [128] * pad
                        c2 = st["c2"][b:b + valid] + [0] * pad
                        k = b // BLOCK
                        pn, k1, k2, a1, a2 = adam8bit_block(pb, gb, c1, c2, st["a1"][k], st["a2"][k], self.q1, self.q2, valid, s)
                        flat[b:b + valid] = pn
                        st["c1"][b:b + valid], st["c2"][b:b + valid] = k1, k2
                        st["a1"][k], st["a2"][k] = a1, a2
                else:
                    for j in range(n):
                        flat[j], st["m"][j], st["v"][j] = adam32bit_step(flat[j], g[j], st["m"][j], st["v"][j], s)
                with torch.no_grad():
                    p.copy_(torch.from_numpy(flat).reshape(p.shape))

    @staticmethod
    def init(n, o):
        if n >= o.get("min_8bit_size", 4096):
            blocks = (n + BLOCK - 1) // BLOCK
            return dict(t=0, eight_bit=True, c1=[0] * n, c2=[0] * n, a1=[f32(0.0)] * blocks, a2=[f32(0.0)] * blocks)
        return dict(t=0, eight_bit=False, m=[f32(0.0)] * n, v=[f32(0.0)] * n)


def make_problem(shapes):
    """make_optim_golden.py's problem on any shapes: params pattern(n, i + 1), targets pattern(n, 5, 0.125),
    weights |pattern(n, 9)| + 0.5 (tests/optim_testing.hpp's testing::Problem(shapes))."""
    params, targets, weights = [], [], []
    for i, shape in enumerate(shapes):
        n = int(np.prod(shape))
        params.append(pattern(n, i + 1).reshape(shape).clone().requires_grad_())
        targets.append(pattern(n, 5, 0.125).reshape(shape))
        weights.append((pattern(n, 9).abs() + 0.5).reshape(shape))
    return params, targets, weights


def run(kind, groups, shapes, q1, q2):
    params, targets, weights = make_problem(shapes)
    decoupled = kind == "AdamW8bit"
    full = [(idx, dict(o, decoupled=decoupled, weight_decay=o.get("weight_decay", 1e-2 if decoupled else 0.0)))
            for idx, o in groups]
    ref = Adam8bitReference(full, params, q1, q2)
    snaps = trajectory(params, targets, weights, ref.step, SNAPSHOTS)
    return snaps, ref


GOLDEN_SHAPES = [(4, 3), (5,)]
LARGE_SHAPES = [(24, 24), (300,)]  # 576 = 2 blocks + 64, 300 = 1 block + 44

CASES = [
    # name, optimizer, groups (param indices, our hyperparameters); on the golden problem
    ("adam8bit_default_8bit", "Adam8bit", [([0, 1], dict(learning_rate=1e-3, min_8bit_size=0))]),
    ("adam8bit_high_lr_8bit", "Adam8bit", [([0, 1], dict(learning_rate=0.1, min_8bit_size=0))]),
    ("adam8bit_betas_eps_8bit", "Adam8bit", [([0, 1], dict(learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-6, min_8bit_size=0))]),
    ("adam8bit_l2_8bit", "Adam8bit", [([0, 1], dict(learning_rate=0.01, weight_decay=0.1, min_8bit_size=0))]),
    ("adam8bit_32bit_small", "Adam8bit", [([0, 1], dict(learning_rate=0.01))]),
    ("adamw8bit_decay_8bit", "AdamW8bit", [([0, 1], dict(learning_rate=0.01, weight_decay=0.1, min_8bit_size=0))]),
    ("adamw8bit_32bit_small", "AdamW8bit", [([0, 1], dict(learning_rate=0.05, weight_decay=0.1))]),
    ("adamw8bit_two_groups", "AdamW8bit", [([0], dict(learning_rate=0.01, weight_decay=0.1, min_8bit_size=0)),
                                           ([1], dict(learning_rate=0.1, weight_decay=0.0))]),
]
LARGE_CASES = [
    ("adam8bit_large", "Adam8bit", [([0, 1], dict(learning_rate=0.01, min_8bit_size=0))]),
    ("adamw8bit_large", "AdamW8bit", [([0, 1], dict(learning_rate=0.05, beta1=0.8, weight_decay=0.1, min_8bit_size=0))]),
]

QUANTIZE_CASES = []  # filled in main(): name, signed, block, input


def quantize_inputs(q1):
    rng = np.random.RandomState(19)  # only for these inputs; the tests read them as literals
    mid = (q1[200] + q1[201]) * f32(0.5)   # exactly on a float midpoint: stays on the search's code
    tiny = [f32(1e-9), f32(-3e-8), f32(4e-7), f32(-6e-7), f32(0.0), f32(-0.0)]
    return [
        ("signed_two_blocks_partial", True, 8, [f32(x) for x in rng.standard_normal(21).astype(f32)]),
        ("unsigned_two_blocks_partial", False, 8, [f32(x) for x in (rng.standard_normal(21).astype(f32) ** 2)]),
        ("signed_zeros_and_tiny", True, 4, [f32(0.0)] * 4 + tiny + [f32(1.0), f32(-1e-3)]),
        ("unsigned_zeros_and_tiny", False, 4, [f32(0.0)] * 4 + [abs(x) for x in tiny] + [f32(1.0), f32(1e-3)]),
        ("signed_all_equal", True, 4, [f32(0.3)] * 4 + [f32(-2.5)] * 4 + [f32(7.0)] * 3),
        ("signed_midpoint_tie", True, 4, [f32(1.0), mid, -mid, q1[200]]),
        ("signed_nonfinite", True, 4, [f32(1.0), f32(np.nan), f32(-0.5), f32(0.25), f32(np.inf), f32(0.5), f32(2.0), f32(1.0)]),
        ("signed_block_256", True, 256, [f32(x) for x in (rng.standard_normal(300) * 0.01).astype(f32)]),
    ]


def float_literal(v):
    if np.isnan(v):
        return "kNaN"
    if np.isinf(v):
        return "kInf" if v > 0 else "-kInf"
    return literal(float(v))


def floats(values):
    return "{" + ", ".join(float_literal(v) for v in values) + "}"


def ints(values):
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def main():
    q1, q2 = create_dynamic_map(True), create_dynamic_map(False)
    print("// Generated by tests/reference/make_quantization_golden.py with PyTorch", torch.__version__,
          "(float32). Do not edit.")
    print("// bitsandbytes' dynamic maps, block-wise quantization and 8-bit Adam, restated (see the script).")
    print("#pragma once")
    print("#include <limits>")
    print("#include <vector>")
    print('#include "optim_golden.hpp"  // golden::OptimCase')
    print("namespace golden {")
    print("inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();")
    print("inline constexpr float kInf = std::numeric_limits<float>::infinity();")
    print("// create_dynamic_map(signed=True) and (signed=False), sorted: 256 float32 values each.")
    print("inline const std::vector<float> dynamic_map_signed = " + floats(q1) + ";")
    print("inline const std::vector<float> dynamic_map_unsigned = " + floats(q2) + ";")
    print("struct QuantizeCase {")
    print("  const char* name;")
    print("  bool is_signed;")
    print("  int block_size;")
    print("  std::vector<float> input;")
    print("  std::vector<int> codes;")
    print("  std::vector<float> absmax;")
    print("};")
    print("inline const std::vector<QuantizeCase> quantize_cases = {")
    for name, signed, block, x in quantize_inputs(q1):
        codes, absmax = quantize_blockwise(q1 if signed else q2, x, block)
        print(f'  {{"{name}", {str(signed).lower()}, {block},\n    {floats(x)},\n    {ints(codes)},\n    {floats(absmax)}}},')
    print("};")
    print("// 8-bit Adam on the golden problem (4x3 and 5: under 4,096 elements; min_8bit_size = 0 makes them 8-bit).")
    print("inline const std::vector<OptimCase> adam8bit_cases = {")
    for name, kind, groups in CASES:
        snaps, _ = run(kind, groups, GOLDEN_SHAPES, q1, q2)
        print_case(name, kind, groups, False, snaps, SNAPSHOTS)
    print("};")
    print("// The same on shapes 24x24 and 300 (testing::Problem({{24, 24}, {300}})): full and partial blocks.")
    print("inline const std::vector<OptimCase> adam8bit_large_cases = {")
    states = []
    for name, kind, groups in LARGE_CASES:
        snaps, ref = run(kind, groups, LARGE_SHAPES, q1, q2)
        print_case(name, kind, groups, False, snaps, SNAPSHOTS)
        states.append((name, ref.state[1]))
    print("};")
    print("// After step 30 of each large case: parameter 1's (the 300-vector's) codes and absmax.")
    print("struct Adam8bitState {")
    print("  const char* name;")
    print("  std::vector<int> exp_avg_codes, exp_avg_sq_codes;")
    print("  std::vector<float> exp_avg_absmax, exp_avg_sq_absmax;")
    print("};")
    print("inline const std::vector<Adam8bitState> adam8bit_large_states = {")
    for name, st in states:
        print(f'  {{"{name}",\n    {ints(st["c1"])},\n    {ints(st["c2"])},\n    {floats(st["a1"])}, {floats(st["a2"])}}},')
    print("};")
    print("}  // namespace golden")


if __name__ == "__main__":
    main()

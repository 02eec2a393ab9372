#!/usr/bin/python3
"""gpt_torch.py — tutorial 22's GPT and training loop in PyTorch, timed against ours in alternation.

The model and loop are nanoGPT's CPU recipe for Tiny Shakespeare, written out here (tutorials/22_char_gpt/
gpt.hpp is the moments version): 4 pre-LayerNorm blocks, 4 heads, width 128, context 64, no biases, GELU
(exact), the output layer tied to the token embedding, normal(0, 0.02) initialisation with the residual
projections at 0.02/sqrt(2 * 4); batch 12, AdamW (betas 0.9, 0.99, weight decay 0.1 on 2-D tensors only),
nanoGPT's warmup-then-cosine learning rate, gradients clipped at a norm of 1. The attention is nanoGPT's
"slow attention" (torch 1.13 has no scaled_dot_product_attention): q k^T, a -inf mask, softmax, times v.

Alternation: this script starts `bench_gpt --serve` (the moments loop, same threads) and, round by round,
has it run K iterations, then runs K iterations of the torch loop, so that the machine's load falls on
both alike. The figure is the ratio of the medians of the per-iteration times; the target is
moments <= 0.8 x torch. Both loops start from their own random weights and keep training through the
rounds (the cost of an iteration does not depend on the weights).

Run: meson test -C build --benchmark --suite bench -v    (as the benchmark gpt_vs_torch)
By hand: MOMENTS_NUM_THREADS=2 /usr/bin/python3 tests/bench/gpt_torch.py build/tests/bench/bench_gpt
         [--rounds R] [--per-round K]   (default 8 rounds of 25 iterations, after 5 of each to warm up)
         --full    train the torch loop alone for 2000 iterations and print its validation loss, the mean
                   over 20 batches of 12 windows drawn with torch.manual_seed(2000) and over the whole
                   validation text (bench_gpt's second figure), for reference
         --seed S  (with --full) torch.manual_seed(S) for the weights and batches (default 1337, nanoGPT's):
                   the seed-to-seed spread, beside bench_gpt --seed S
         --from DIR  (with --full) start from bench_gpt --export DIR's initial weights and train on its
                   batches: torch's loop on exactly moments' numbers
Torch and OpenBLAS threads are set to MOMENTS_NUM_THREADS (bench_torch.py's helpers); exits 77 without torch.
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as error:
    print(f"gpt_torch: torch is not importable with {sys.executable} ({error}); skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import blas_in_use, openblas_handle, set_threads  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tinyshakespeare.txt")
V, T, L, H, C = 65, 64, 4, 4, 128
BATCH, MAX_ITERS, WARMUP, DECAY_ITERS, LR, MIN_LR = 12, 2000, 100, 2000, 1e-3, 1e-4


def load_corpus():
    """prepare.py's split: sorted(set(text)), the first int(n * 0.9) characters for training."""
    with open(DATA) as f:
        text = f.read()
    chars = sorted(set(text))
    assert len(chars) == V, len(chars)
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = int(len(text) * 0.9)
    return ids[:n], ids[n:]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.Parameter(torch.ones(C))
        self.c_attn = torch.nn.Linear(C, 3 * C, bias=False)
        self.attn_proj = torch.nn.Linear(C, C, bias=False)
        self.ln_2 = torch.nn.Parameter(torch.ones(C))
        self.c_fc = torch.nn.Linear(C, 4 * C, bias=False)
        self.mlp_proj = torch.nn.Linear(4 * C, C, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def attention(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = F.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
        return self.attn_proj((att @ v).transpose(1, 2).contiguous().view(b, t, C))

    def forward(self, x):
        x = x + self.attention(F.layer_norm(x, (C,), self.ln_1, None, 1e-5))
        return x + self.mlp_proj(F.gelu(self.c_fc(F.layer_norm(x, (C,), self.ln_2, None, 1e-5))))


class Gpt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Parameter(torch.empty(V, C).normal_(0, 0.02))
        self.wpe = torch.nn.Parameter(torch.empty(T, C).normal_(0, 0.02))
        self.h = torch.nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = torch.nn.Parameter(torch.ones(C))
        for name, p in self.named_parameters():
            if p.dim() == 2 and name.startswith("h."):
                std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = F.embedding(idx, self.wte) + self.wpe[: idx.shape[1]]
        for block in self.h:
            x = block(x)
        logits = F.linear(F.layer_norm(x, (C,), self.ln_f, None, 1e-5), self.wte)  # tied output layer
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def learning_rate(it):
    """train.py's get_lr."""
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    if it > DECAY_ITERS:
        return MIN_LR
    coeff = 0.5 * (1.0 + math.cos(math.pi * (it - WARMUP) / (DECAY_ITERS - WARMUP)))
    return MIN_LR + coeff * (LR - MIN_LR)


class Loop:
    """The training loop, one iteration per step()."""

    def __init__(self, train, seed=1337):
        torch.manual_seed(seed)
        self.train, self.model, self.it, self.given = train, Gpt(), 0, None
        params = list(self.model.parameters())
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                           lr=LR, betas=(0.9, 0.99))

    def load(self, directory):
        """bench_gpt --export's weights (in moments' named_parameters() order: nanoGPT's, which is not this
        module's, whose own parameters come before its children's) and batches."""
        weights = np.fromfile(os.path.join(directory, "weights.f32"), dtype=np.float32)
        order = ["wte", "wpe"]
        for layer in range(L):
            order += [f"h.{layer}.{name}" for name in ("ln_1", "c_attn.weight", "attn_proj.weight", "ln_2",
                                                       "c_fc.weight", "mlp_proj.weight")]
        params, at = dict(self.model.named_parameters()), 0
        with torch.no_grad():
            for name in order + ["ln_f"]:
                p = params[name]
                p.copy_(torch.from_numpy(weights[at:at + p.numel()].copy()).view_as(p))
                at += p.numel()
        assert at == weights.size, (at, weights.size)
        self.given = torch.from_numpy(np.fromfile(os.path.join(directory, "batches.i32"), dtype=np.int32).astype(np.int64))
        self.given = self.given.view(-1, 2, BATCH, T)  # iteration, inputs/targets, window, position

    def batch(self, ids):
        if self.given is not None and ids is self.train:
            return self.given[self.it, 0], self.given[self.it, 1]
        ix = torch.randint(len(ids) - T, (BATCH,))
        return torch.stack([ids[i:i + T] for i in ix]), torch.stack([ids[i + 1:i + 1 + T] for i in ix])

    def step(self):
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.it)
        x, y = self.batch(self.train)
        loss = self.model(x, y)  # forward
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # backward
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()  # update
        self.it += 1
        return loss.item()


def timed(f):
    start = time.perf_counter()
    f()
    return (time.perf_counter() - start) * 1e3


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bench_gpt", nargs="?")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=25)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--seed", type=int, default=1337, help="torch.manual_seed of the weights and batches (--full)")
    parser.add_argument("--from", dest="from_dir", help="bench_gpt --export DIR: its weights and batches (--full)")
    args = parser.parse_args()
    threads = int(os.environ.get("MOMENTS_NUM_THREADS", "1"))
    loaded, _, _, openblas = blas_in_use()
    blas_threads = set_threads(threads, openblas_handle(loaded) if openblas else None)
    print(f"gpt_torch: torch {torch.__version__}, {threads} thread(s) (OpenBLAS: {blas_threads}), "
          f"BLAS {'OpenBLAS' if openblas else 'not OpenBLAS'}; load average {load_average()}")
    train, val = load_corpus()
    loop = Loop(train, args.seed)
    if args.from_dir:
        loop.load(args.from_dir)
    print(f"number of parameters: {(sum(p.numel() for p in loop.model.parameters()) - T * C) / 1e6:.2f}M")

    if args.full:
        start = time.perf_counter()
        for it in range(MAX_ITERS):
            loss = loop.step()
            if (it + 1) % 250 == 0:
                print(f"{it + 1:6d} train {loss:.4f}  ({(time.perf_counter() - start) * 1e3 / (it + 1):.1f} ms/iter, "
                      f"load {load_average()})", flush=True)
        torch.manual_seed(2000)
        with torch.no_grad():
            val_loss = statistics.mean(loop.model(*loop.batch(val)).item() for _ in range(20))
            # every window of 64 at a multiple of 64, as bench_gpt's whole-text figure (gpt.hpp: all_windows)
            starts = list(range(0, len(val) - T, T))
            total = 0.0
            for i in range(0, len(starts), BATCH):
                ix = starts[i:i + BATCH]
                x = torch.stack([val[o:o + T] for o in ix])
                y = torch.stack([val[o + 1:o + 1 + T] for o in ix])
                total += loop.model(x, y).item() * len(ix)
        print(f"torch after {MAX_ITERS} iterations: validation loss {val_loss:.4f} (20 random batches of 12), "
              f"{total / len(starts):.4f} (all {len(starts)} windows of the validation text)")
        return 0

    if not args.bench_gpt:
        parser.error("give the path of bench_gpt (or --full)")
    child = subprocess.Popen([args.bench_gpt, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ours(k):
        child.stdin.write(f"{k}\n")
        child.stdin.flush()
        return [float(v) for v in child.stdout.readline().split()]

    ours(5)  # warm-up: allocations, caches, state
    for _ in range(5):
        loop.step()
    moments_ms, torch_ms = [], []
    for r in range(args.rounds):
        moments_ms += ours(args.per_round)
        torch_ms += [timed(loop.step) for _ in range(args.per_round)]
        print(f"  round {r + 1}: moments {statistics.median(moments_ms[-args.per_round:]):.1f} ms, "
              f"torch {statistics.median(torch_ms[-args.per_round:]):.1f} ms, load {load_average()}", flush=True)
    child.stdin.close()
    child.wait()
    m, t = statistics.median(moments_ms), statistics.median(torch_ms)
    tokens = BATCH * T
    print(f"\nper iteration (median of {len(torch_ms)}): moments {m:.1f} ms ({tokens / m * 1e3:.0f} tokens/s), "
          f"torch {t:.1f} ms ({tokens / t * 1e3:.0f} tokens/s); load average {load_average()}")
    ratio = m / t
    print(f"moments / torch time per iteration  measured {ratio:.2f}  target <= 0.80  {'met' if ratio <= 0.8 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

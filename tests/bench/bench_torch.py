#!/usr/bin/python3
"""bench_torch.py — the optimizer and MLP measurements of bench_optim and
bench_mlp, in PyTorch, with the ratio moments/torch beside each.

Run by the benchmark suite after the moments benchmarks (it reads their rows
from bench-results.csv): meson test -C build --benchmark --suite bench -v
By hand: MOMENTS_BENCH_CSV=build/bench-results.csv /usr/bin/python3 tests/bench/bench_torch.py
Uses Debian's python3-torch; exits 77 (Meson's "skipped") when torch is not importable.

Torch runs with 1 and with 2 threads, each against moments at the same count
(the MLP rows of bench_mlp's two runs, mlp/ and mlp2t/; the optimizer steps
against moments' one thread). Debian's torch calls whatever BLAS Debian's
alternatives select (libblas.so.3): OpenBLAS once libopenblas0 is installed,
which is what a practitioner has, else the reference BLAS, about 15x slower for
these matmuls. The script says which library is loaded and sets OpenBLAS's own
thread count with torch's (torch.set_num_threads does not reach OpenBLAS's
pthreads, which otherwise use every core even at "1 thread"), printing what
OpenBLAS reports. The MLP targets: moments/torch <= 1.0 at batch 64 and <= 1.5
at batch 256 with moments' default build, <= 1.0 everywhere with -Dblas=openblas.
Rows go to bench-results.csv under torch/: torch/<what>/<threads>t/ms is
torch's time; torch/vs/<what>/<threads>t/ms holds moments' time with the torch
row as baseline, so its ratio is moments/torch (bench_common.hpp has the format).
"""
import csv
import fcntl
import math
import os
import statistics
import sys
import time

try:
    import torch
except ImportError as error:
    print(f"bench_torch: torch is not importable with {sys.executable} ({error}); skipped")
    sys.exit(77)

SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000}
OWNER = "torch"


def csv_path():
    return os.environ.get("MOMENTS_BENCH_CSV") or "bench-results.csv"


def read_rows():
    try:
        with open(csv_path(), newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def write_rows(new_rows):
    """Merges our rows into the file: drops the old torch/ rows, keeps the rest (bench_common.hpp)."""
    path = csv_path()
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = [r for r in read_rows() if not r["name"].startswith(OWNER + "/")]
        with open(path + ".tmp", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["name", "value", "unit", "baseline", "ratio"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept + new_rows)
        os.replace(path + ".tmp", path)
    print(f"({len(new_rows)} rows written to {path} under {OWNER}/)")


def blas_in_use():
    """The BLAS library torch has loaded, as the process's memory map shows it, and the alternatives link."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    loaded = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path).lower() or "mkl" in os.path.basename(path).lower():
                loaded.add(os.path.realpath(path))
    link = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
    target = os.path.realpath(link) if os.path.exists(link) else "(no alternatives link)"
    info = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l and "INFO" in l]
    blas_info = info[0].split("BLAS_INFO=")[1].split(",")[0] if info and "BLAS_INFO=" in info[0] else "?"
    openblas = any("openblas" in p.lower() for p in loaded) or "openblas" in target.lower()
    return sorted(loaded), target, blas_info, openblas


def openblas_handle(loaded):
    """OpenBLAS's C interface in this process (the copy torch loaded), or None."""
    import ctypes
    for path in loaded:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_num_threads.restype = ctypes.c_int
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


def set_threads(threads, openblas):
    """torch's intra-op threads and OpenBLAS's pthreads, both to `threads`; returns OpenBLAS's count."""
    torch.set_num_threads(threads)
    if openblas is None:
        return None
    openblas.openblas_set_num_threads(threads)
    return openblas.openblas_get_num_threads()


def best_ms(f, repeats):
    f()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def one_shape(n):
    return {1_000_000: [(1000, 1000)], 10_000_000: [(2500, 4000)], 50_000_000: [(5000, 10000)]}[n]


def mixed_shapes(n):
    """The 100 tensors of bench_optim.cpp: 50 matrices k_i x c (k_i ~ 1..10) and their 50 biases."""
    c = max(1, round(math.sqrt(n / 50)))
    weight_sum = sum(1 + (3 * i) % 10 for i in range(50))
    shapes = []
    for i in range(50):
        k = max(1, round((1 + (3 * i) % 10) / weight_sum * n / c))
        shapes += [(k, c), (k,)]
    return shapes


def make_params(shapes):
    params = []
    for shape in shapes:
        p = torch.full(shape, 0.5, requires_grad=True)
        n = p.numel()
        p.grad = (((torch.arange(n, dtype=torch.int64) * 7) % 17 - 8).to(torch.float32) * 1e-3).reshape(shape)
        params.append(p)
    return params


OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9),
    "Adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-3),
}


def mlp_step_ms(sizes, batch, budget_s=1.5):
    torch.manual_seed(0)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, sizes[0])
    y = torch.tensor([(7 * i) % sizes[-1] for i in range(batch)])
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)  # forward
        loss.backward()              # backward
        opt.step()                   # update
        return loss.item()

    for _ in range(3):
        step()
    times, spent = [], 0.0
    while len(times) < 5 or (spent < budget_s and len(times) < 400):
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        spent += elapsed
        times.append(elapsed * 1e3)
    return statistics.median(times)


def main():
    moments = {r["name"]: float(r["value"]) for r in read_rows() if r["name"] and r["value"]}
    loaded, alternative, blas_info, openblas = blas_in_use()
    blas_lib = openblas_handle(loaded) if openblas else None
    print(f"bench_torch: torch {torch.__version__}, BLAS_INFO={blas_info}; libblas.so.3 alternative -> {alternative}")
    print(f"  BLAS libraries loaded: {', '.join(loaded) if loaded else '(none found in /proc/self/maps)'}")
    if blas_lib is not None:
        print(f"  OpenBLAS {blas_lib.openblas_get_config().decode()}; its threads at start "
              f"{blas_lib.openblas_get_num_threads()} (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), "
              f"set with torch's below")
    if not openblas:
        print("  torch uses the reference BLAS here: its matmuls are ~15x slower than with OpenBLAS "
              "(apt install libopenblas0 for the comparison a practitioner would make)")
    moments_blas = moments.get("mlp/blas", 0) == 1
    print(f"  moments: BLAS behind Eigen: {'openblas (-Dblas=openblas)' if moments_blas else 'none (default build)'}")
    rows = []

    def add(name, value, unit, baseline=""):
        ratio = ""
        if baseline:
            base = next(r for r in rows if r["name"] == baseline)["value"]
            ratio = f"{value / base:.4g}"
        rows.append({"name": f"{OWNER}/{name}", "value": value, "unit": unit, "baseline": baseline, "ratio": ratio})
        return f"{OWNER}/{name}"

    def compare(what, torch_ms, moments_row, threads):
        torch_row = add(f"{what}/{threads}t/ms", torch_ms, "ms")
        if moments_row in moments:
            add(f"vs/{what}/{threads}t/ms", moments[moments_row], "ms", torch_row)
            return moments[moments_row] / torch_ms
        return None

    def fmt(ratio):
        return f"{ratio:8.2f}" if ratio is not None else "     n/a"

    # ---- optimizer steps ----
    print("\noptimizer step: torch.optim (its default for-loop implementation) against moments' one thread")
    print(f"{'optimizer':10} {'params':>6} {'as':5} {'torch 1t ms':>12} {'torch 2t ms':>12} {'moments ms':>11} "
          f"{'m/t 1t':>8} {'m/t 2t':>8}")
    for label, n in SIZES.items():
        for layout in ("one", "list"):
            params = make_params(one_shape(n) if layout == "one" else mixed_shapes(n))
            repeats = 5 if n >= 40_000_000 else 8
            for name, make in OPTIMIZERS.items():
                opt = make(params)
                ms, ratios = {}, {}
                for threads in (1, 2):
                    set_threads(threads, blas_lib)
                    with torch.no_grad():
                        ms[threads] = best_ms(opt.step, repeats)
                    what = f"{name}/{label}/{layout}"
                    ratios[threads] = compare(what, ms[threads], f"optim/{what}/ms", threads)
                moments_ms = moments.get(f"optim/{name}/{label}/{layout}/ms")
                print(f"{name:10} {label:>6} {layout:5} {ms[1]:12.3f} {ms[2]:12.3f} "
                      f"{moments_ms if moments_ms else float('nan'):11.3f} {fmt(ratios[1])} {fmt(ratios[2])}")
                del opt
            print(f"{'Adafactor':10} {label:>6} {layout:5}  n/a: torch {torch.__version__} has no Adafactor (added in 2.5)")
            del params

    # ---- MLP steps ----
    print("\nMLP training step (Adam), median; moments and torch at the same thread count (torch's OpenBLAS too)")
    print(f"{'network':18} {'batch':>6} {'torch 1t ms':>12} {'moments 1t':>11} {'m/t 1t':>8} "
          f"{'torch 2t ms':>12} {'moments 2t':>11} {'m/t 2t':>8}")
    moments_rows = {1: "mlp", 2: "mlp2t"}  # bench_mlp's owners at 1 and 2 threads
    blas_threads = {}
    for sizes in ((784, 256, 256, 10), (784, 1024, 1024, 10)):
        arch = "-".join(map(str, sizes))
        for batch in (64, 256):
            ms, ratios, mine = {}, {}, {}
            for threads in (1, 2):
                blas_threads[threads] = set_threads(threads, blas_lib)
                ms[threads] = mlp_step_ms(sizes, batch)
                what = f"mlp/{arch}/{batch}"
                row = f"{moments_rows[threads]}/library/{arch}/{batch}/ms"
                mine[threads] = moments.get(row, float("nan"))
                ratios[threads] = compare(what, ms[threads], row, threads)
            print(f"{arch:18} {batch:6} {ms[1]:12.3f} {mine[1]:11.3f} {fmt(ratios[1])} "
                  f"{ms[2]:12.3f} {mine[2]:11.3f} {fmt(ratios[2])}")
    if blas_lib is not None:
        print(f"(OpenBLAS reported {blas_threads[1]} and {blas_threads[2]} threads for the 1t and 2t columns)")

    # ---- targets ----
    def target(what, measured, limit, note=""):
        if measured is None:
            print(f"  {what:72} n/a (run the moments benchmarks first)")
            return
        print(f"  {what:72} measured {measured:7.3f}   target <= {limit:5.2f}   "
              f"{'met' if measured <= limit else 'MISSED'}{'  ' + note if note else ''}")

    def ratio_of(row):
        r = next((r for r in rows if r["name"] == f"{OWNER}/vs/{row}"), None)
        return float(r["ratio"]) if r else None

    print("\ntargets (issues 8 and 16; same run; ratio = moments time / torch time at the same thread count)")
    for name in ("Adam", "AdamW"):
        for label in ("10M", "50M"):
            target(f"{name} {label} step, moments / torch.optim.Adam(W) (>= 4x faster)", ratio_of(f"{name}/{label}/one/1t/ms"), 0.25)
    blas_note = "" if openblas else f"(torch on the reference BLAS, not OpenBLAS: {alternative})"
    build = "moments -Dblas=openblas" if moments_blas else "moments default build"
    for threads in (1, 2):
        for arch in ("784-256-256-10", "784-1024-1024-10"):
            for batch in (64, 256):
                limit = 1.0 if moments_blas or batch == 64 else 1.5
                target(f"MLP {arch} batch {batch}, {threads}t, {build} / torch+BLAS",
                       ratio_of(f"mlp/{arch}/{batch}/{threads}t/ms"), limit, blas_note)
    write_rows(rows)


if __name__ == "__main__":
    main()

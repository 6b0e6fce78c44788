#!/usr/bin/env python3
"""Times us, PyTorch and ONNX Runtime on the same workloads and thread counts, interleaved,
and prints one table of medians with `best peer / ours` (> 1: we are faster).

    python bench/compare.py                       # w1 … w6 gemm, 1 and 2 threads, 3 rounds
    python bench/compare.py --workloads w2 gemm --threads 1 --rounds 5
    python bench/compare.py --quick               # one round: a smoke test, not a result

Steps: build `examples/bench_workloads.rs` once (`cargo build --release`); write the shared
inputs, PyTorch's outputs and the ONNX files into the data folder (`peers.py setup`); then
`--rounds` rounds, each running every peer once per thread count, in a process of its own,
pinned to the first N cores with `taskset`, in an order that rotates from round to round.
A run reports each workload's median over `--iters` samples; the table gives the median of
those over the rounds. See bench/README.md.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import workloads as wl  # noqa: E402

PEERS = ["pytorch", "onnxruntime"]
# What `--kernel LEVEL` sets: our TRANSFORMER_KERNEL, and MKL's and ATen's own caps, so that
# PyTorch runs the same instruction set. ONNX Runtime's MLAS has no such switch and always
# runs the widest kernels the CPU has.
HOLDS = {
    "avx512": {"TRANSFORMER_KERNEL": "avx512"},
    "avx2": {"TRANSFORMER_KERNEL": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "portable": {"TRANSFORMER_KERNEL": "portable", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                 "ATEN_CPU_CAPABILITY": "default"},
}
OURS = "transformer"
# Our output must match PyTorch's within this, on every workload that has a reference.
TOLERANCE = 1e-4


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--workloads", nargs="+", default=["w1", "w2", "w3", "w4", "w5", "w6", "gemm"],
                   help=f"any of gemm, {', '.join(wl.NAMES)}")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--iters", type=int, default=30, help="timed samples per run (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--quick", action="store_true", help="one round, 2 warm-up runs")
    p.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS)
    p.add_argument("--data", default=os.environ.get("BENCH_DATA", os.path.join(ROOT, "target", "bench-data")),
                   help="shared data folder (default $BENCH_DATA, else target/bench-data)")
    p.add_argument("--minilm-dir", default=os.environ.get("MINILM_DIR"),
                   help="all-MiniLM-L6-v2 (default $MINILM_DIR, else scripts/fetch-models.sh --print-dir)")
    p.add_argument("--no-taskset", action="store_true", help="do not pin processes to cores")
    p.add_argument("--kernel", choices=sorted(HOLDS), help="force our kernel level (TRANSFORMER_KERNEL) and hold "
                   "PyTorch's MKL and ATen kernels to the same instruction set; default: each its widest")
    p.add_argument("--out", help="also write every RESULT as JSON lines here (default: in --data)")
    a = p.parse_args()
    if a.quick:
        a.rounds, a.warmup = 1, 2
    a.iters = max(a.iters, 30)
    a.workloads = wl.expand(a.workloads)
    a.data = os.path.abspath(a.data)
    if not a.minilm_dir:
        # One folder a line: all-MiniLM-L6-v2's first.
        a.minilm_dir = subprocess.run([os.path.join(ROOT, "scripts", "fetch-models.sh"), "--print-dir"],
                                      capture_output=True, text=True, check=True).stdout.splitlines()[0]
    if not wl.has_minilm(a.minilm_dir):
        print(f"note: no all-MiniLM-L6-v2 in {a.minilm_dir}: skipping w3 to w6 (run scripts/fetch-models.sh)",
              file=sys.stderr)
        a.workloads = [w for w in a.workloads if w not in wl.MINILM_LENS]
    a.out = a.out or os.path.join(a.data, f"compare-{datetime.datetime.now():%Y%m%d-%H%M%S}.jsonl")
    return a


def build_ours():
    """Builds the example once and returns its executable, so no round waits on cargo (or
    rebuilds from sources that changed under it)."""
    cmd = ["cargo", "build", "--release", "--example", "bench_workloads", "--message-format=json-render-diagnostics"]
    print("$ " + " ".join(cmd[:-1]), file=sys.stderr)
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("cargo build failed")
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "bench_workloads":
            return msg["executable"]
    sys.exit("cargo build did not report the bench_workloads executable")


def pinned(cmd, threads, a):
    """`cmd` pinned to the first `threads` cores, if taskset is there and that many exist."""
    if a.no_taskset or not shutil.which("taskset") or threads > (os.cpu_count() or 1):
        return cmd
    return ["taskset", "-c", f"0-{threads - 1}"] + cmd


def run(cmd, env, label):
    """Runs one timing process; returns its RESULT and META records (none if it failed)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"  {label:<24} {time.perf_counter() - start:6.1f} s", file=sys.stderr)
    if proc.returncode != 0:
        print(f"  {label} FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return []
    records = []
    for line in proc.stdout.splitlines():
        kind, _, payload = line.partition(" ")
        if kind in ("RESULT", "META"):
            records.append((kind, json.loads(payload)))
    return records


def commands(a, ours, threads):
    """The command of each peer at `threads` threads, ours last."""
    common = ["--data", a.data, "--threads", str(threads), "--warmup", str(a.warmup), "--iters", str(a.iters),
              "--workloads", *a.workloads]
    cmds = {p: [sys.executable, os.path.join(HERE, "peers.py"), p, *common] for p in a.peers}
    cmds[OURS] = [ours, *common, "--model-dir", a.minilm_dir]
    return cmds


def rounds(a, ours):
    """Every round's records: each round runs every peer at every thread count."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", MINILM_DIR=a.minilm_dir, BENCH_DATA=a.data,
               **HOLDS.get(a.kernel, {}))
    results, meta = [], {}
    for r in range(a.rounds):
        for threads in a.threads:
            print(f"round {r + 1}/{a.rounds}, {threads} thread(s):", file=sys.stderr)
            cmds = commands(a, ours, threads)
            names = list(cmds)
            # Rotate who goes first, so no peer always runs right after another's warm caches.
            for name in names[r % len(names):] + names[:r % len(names)]:
                thread_env = dict(env, OMP_NUM_THREADS=str(threads), TRANSFORMER_THREADS=str(threads))
                for kind, rec in run(pinned(cmds[name], threads, a), thread_env, name):
                    if kind == "META":
                        meta[rec["peer"]] = rec
                    else:
                        results.append(dict(rec, round=r))
    return results, meta


def aggregate(results):
    """{(workload, threads, peer): (median over rounds, variant, round medians, record)}; for a
    peer with several variants (ONNX Runtime on MiniLM), the fastest variant."""
    by_variant = {}
    for rec in results:
        by_variant.setdefault((rec["workload"], rec["threads"], rec["peer"], rec["variant"]), []).append(rec)
    best = {}
    for (workload, threads, peer, variant), recs in by_variant.items():
        medians = [r["median_ms"] for r in recs]
        entry = (statistics.median(medians), variant, medians, recs[-1])
        key = (workload, threads, peer)
        if key not in best or entry[0] < best[key][0]:
            best[key] = entry
    return best


def fmt_ms(ms):
    if ms is None:
        return "—"
    return f"{ms * 1e3:.2f} µs" if ms < 0.1 else f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms"


def table(a, best):
    """The markdown table, and what failed: outputs off PyTorch's by > TOLERANCE, FLOP counts
    that disagree with workloads.py's."""
    peers = [p for p in PEERS if p in a.peers]
    head = ["workload", "threads", "ours", *peers, "best peer / ours", "ours GFLOP/s", "ours spread",
            "max abs diff"]
    rows, failures = [], []
    for workload in a.workloads:
        for threads in a.threads:
            ours = best.get((workload, threads, OURS))
            theirs = {p: best.get((workload, threads, p)) for p in peers}
            times = [t[0] for t in theirs.values() if t]
            ratio = f"{min(times) / ours[0]:.2f}" if ours and times else "—"
            gflops = f"{wl.flops(workload) / ours[0] / 1e6:.1f}" if ours else "—"
            spread = f"±{(max(ours[2]) - min(ours[2])) / ours[0] / 2 * 100:.0f}%" if ours and len(ours[2]) > 1 else "—"
            diff = ours[3].get("max_abs_diff") if ours else None
            if diff is not None and diff > TOLERANCE:
                failures.append(f"{workload} at {threads} thread(s): max |ours - PyTorch| = {diff:.2e} > {TOLERANCE:g}")
            # Our GFLOP/s comes from the generated `flops(n)`; it must count what workloads.py counts.
            if ours and abs(ours[3]["gflops"] * ours[3]["median_ms"] * 1e6 / wl.flops(workload) - 1) > 1e-6:
                failures.append(f"{workload}: our FLOP count differs from workloads.py's {wl.flops(workload)}")
            rows.append([wl.title(workload), str(threads), fmt_ms(ours[0] if ours else None),
                         *[fmt_ms(t[0] if t else None) for t in theirs.values()], ratio, gflops, spread,
                         "—" if diff is None else f"{diff:.1e}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines), failures


def variants(a, best):
    """What each peer's figures ran, per workload (and thread count where it differs: ONNX
    Runtime's fastest MiniLM graph may change with the threads)."""
    runs = {}
    for (workload, threads, peer), entry in best.items():
        runs.setdefault((peer, entry[1]), {}).setdefault(workload, []).append(threads)
    lines = []
    for (peer, variant), by_workload in sorted(runs.items(), key=lambda kv: [OURS, *PEERS].index(kv[0][0])):
        names = [w if sorted(by_workload[w]) == sorted(a.threads) else f"{w} at {'/'.join(map(str, sorted(by_workload[w])))} thread(s)"
                 for w in a.workloads if w in by_workload]
        if names:
            lines.append(f"- {peer}: {variant}: {', '.join(names)}")
    return "\n".join(lines)


def cpu_model():
    """The CPU's model name, family and model, and its widest vector extension, from
    /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "an unknown CPU"
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if {"avx2", "fma"} <= flags else "no AVX2"
    # A virtual machine may name only the brand; family and model still tell Zen 3 (25, 1)
    # from Zen 4 (25, 17).
    return f"{fields.get('model name', 'an unknown CPU')} (family {fields.get('cpu family', '?')} model " \
           f"{fields.get('model', '?')}, {widest})"


def kernels(a, meta):
    """What instruction sets ran: our level as the executable reported it, and PyTorch's."""
    ours = meta.get(OURS, {}).get("kernel", "?")
    torch_cap = meta.get("pytorch", {}).get("cpu_capability")
    held = f", MKL held to {HOLDS[a.kernel]['MKL_ENABLE_INSTRUCTIONS']}" if a.kernel in ("avx2", "portable") else ""
    return f"our kernels {ours}" + (f", PyTorch's ATen {torch_cap}{held}" if torch_cap else "")


def load_average():
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not on every platform
        return "?"


def main():
    a = parse_args()
    load_before = load_average()
    ours = build_ours()
    print("$ peers.py setup", file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(HERE, "peers.py"), "setup", "--data", a.data,
                    "--minilm-dir", a.minilm_dir, "--workloads", *a.workloads],
                   cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"), check=True)
    results, meta = rounds(a, ours)
    with open(a.out, "w") as f:
        for rec in results:
            f.write(json.dumps(rec) + "\n")
    best = aggregate(results)
    text, failures = table(a, best)
    versions = ", ".join(f"{m['peer']} {m['version']}" for p, m in meta.items() if p != OURS)
    print(f"\n{datetime.date.today()}, {cpu_model()}, {kernels(a, meta)}; {a.rounds} round(s) × {a.iters} "
          f"samples, {versions}; load average {load_before} before, {load_average()} after, on {os.cpu_count()} "
          f"CPUs; best peer / ours > 1: we are faster\n")
    print(text)
    print("\nVariants:\n" + variants(a, best))
    print(f"\nEvery measurement: {a.out}")
    for failure in failures:
        print(f"FAIL: {failure}")
    missing = [(w, t, p) for w in a.workloads for t in a.threads for p in [OURS, *a.peers] if (w, t, p) not in best]
    for w, t, p in missing:
        print(f"MISSING: {p} {w} at {t} thread(s)")
    sys.exit(1 if failures or missing else 0)


if __name__ == "__main__":
    main()

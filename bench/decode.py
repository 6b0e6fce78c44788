#!/usr/bin/env python3
"""SmolLM2-135M-Instruct: our prefill and decoding beside transformers' (PyTorch f32, eager,
the same GGUF file dequantized), in one run, each side pinned to the first N cores.

    python bench/decode.py                   # 1 and 2 threads, 3 interleaved rounds
    python bench/decode.py --threads 1 --rounds 5

Prints a table of medians over the rounds: prefill of 16 and 128 tokens (ms), a decoding
step after a 16-token prompt (ms/token, and tokens/s), and `torch / ours` (> 1: we are
faster). Needs `scripts/fetch-models.sh` (the model) and a Python with torch, transformers,
gguf and accelerate (`$PYTHON`, default /tmp/venv/bin/python).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare import cpu_model  # noqa: E402

TORCH = r"""
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM
torch.set_num_threads(int(sys.argv[1]))
path, iters, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                             dtype=torch.float32).eval()
prompt = lambda n: torch.tensor([[100 + 7 * i for i in range(n)]])
median = lambda xs: sorted(xs)[len(xs) // 2]
result = {"threads": int(sys.argv[1])}
with torch.no_grad():
    for n in (16, 128):
        samples = []
        for _ in range(iters + 1):
            start = time.perf_counter()
            model(prompt(n), use_cache=True)
            samples.append(time.perf_counter() - start)
        result[f"prefill_{n}_ms"] = median(samples[1:]) * 1e3
    step = []
    for _ in range(iters):
        out = model(prompt(16), use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(steps):
            out = model(token, past_key_values=cache, use_cache=True)
            cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        step.append((time.perf_counter() - start) / steps)
    result["step_ms"] = median(step) * 1e3
print(json.dumps(result))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--python", default=os.environ.get("PYTHON", "/tmp/venv/bin/python"))
    a = p.parse_args()
    folder = subprocess.run([os.path.join(ROOT, "scripts", "fetch-models.sh"), "--print-dir"],
                            capture_output=True, text=True, check=True).stdout.splitlines()[1]
    model = os.path.join(folder, "SmolLM2-135M-Instruct.Q4_1.gguf")
    subprocess.run(["cargo", "build", "--release", "--example", "bench_decode"], cwd=ROOT, check=True)
    ours = os.path.join(ROOT, "target", "release", "examples", "bench_decode")
    results = {}
    for r in range(a.rounds):
        for threads in a.threads:
            pin = ["taskset", "-c", f"0-{threads - 1}"]
            runs = [
                ("ours", pin + [ours, "--model", model, "--iters", str(a.iters), "--steps", str(a.steps)]),
                ("torch", pin + [a.python, "-c", TORCH, str(threads), model, str(a.iters), str(a.steps)]),
            ]
            for name, cmd in (runs if r % 2 == 0 else runs[::-1]):
                env = dict(os.environ, TRANSFORMER_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
                out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"{name} failed:\n{out.stderr}")
                line = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((threads, name), []).append(line)
    kernel = results[(a.threads[0], "ours")][0].get("kernel", "?")
    print(f"SmolLM2-135M-Instruct (Q4_1 file, f32 weights once loaded) on {cpu_model()}; "
          f"our kernels: {kernel}; medians of {a.rounds} rounds")
    print(f"{'threads':>7} {'measure':<18} {'ours':>10} {'torch':>10} {'torch/ours':>10}")
    for threads in a.threads:
        for key, label in (("prefill_16_ms", "prefill 16 (ms)"), ("prefill_128_ms", "prefill 128 (ms)"),
                           ("step_ms", "decode (ms/token)")):
            ours_ms = statistics.median(r[key] for r in results[(threads, "ours")])
            torch_ms = statistics.median(r[key] for r in results[(threads, "torch")])
            print(f"{threads:>7} {label:<18} {ours_ms:>10.2f} {torch_ms:>10.2f} {torch_ms / ours_ms:>10.2f}")
        ours_step = statistics.median(r["step_ms"] for r in results[(threads, "ours")])
        torch_step = statistics.median(r["step_ms"] for r in results[(threads, "torch")])
        print(f"{threads:>7} {'decode (tokens/s)':<18} {1e3 / ours_step:>10.1f} {1e3 / torch_step:>10.1f}")


if __name__ == "__main__":
    main()

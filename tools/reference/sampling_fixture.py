"""Writes tests/fixtures/sampling.json: which tokens transformers' logits processors keep.

For each case: random logits, the ids seen so far and the options; transformers'
`RepetitionPenaltyLogitsProcessor`, `TemperatureLogitsWarper`, `TopKLogitsWarper`,
`TopPLogitsWarper` and `MinPLogitsWarper` (in `generate`'s order, each only when
`generate` would add it) give the processed logits. The fixture stores them (`null` where
a token was filtered to -inf) and the greedy token (`argmax` of the penalised logits).

`TopPLogitsWarper` sorts with `torch.sort`, which is not stable: when tied logits straddle the
nucleus boundary, which of them transformers drops depends on PyTorch's sort algorithm. Rust
drops the lower id first, the order of `torch.sort(..., stable=True)`. Where the two differ,
the case also stores `kept_stable_sort` and `processed_stable_sort`: the same processors
run with `torch.sort` made stable.

    /tmp/venv/bin/python tools/reference/sampling_fixture.py   # --out tests/fixtures/sampling.json
"""

import offline  # noqa: F401, I001  (before torch)

import argparse
import contextlib
import functools
import json

import torch
import transformers
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

# (name, vocab, options, how the logits are drawn)
CASES = [
    ("greedy_penalty", 32, dict(temperature=0.0, repetition_penalty=1.3), "normal"),
    ("temperature_only", 16, dict(temperature=0.7), "normal"),
    ("top_k", 64, dict(temperature=1.0, top_k=5), "normal"),
    ("top_k_ties", 40, dict(temperature=1.0, top_k=6), "coarse"),
    ("top_p", 64, dict(temperature=1.0, top_p=0.9), "normal"),
    ("top_p_small", 64, dict(temperature=1.0, top_p=0.2), "peaked"),
    ("top_p_ties", 40, dict(temperature=1.0, top_p=0.6), "coarse"),
    ("min_p", 64, dict(temperature=1.0, min_p=0.1), "normal"),
    ("min_p_after_temperature", 64, dict(temperature=0.5, min_p=0.05), "normal"),
    (
        "all",
        128,
        dict(temperature=0.8, top_k=40, top_p=0.92, min_p=0.02, repetition_penalty=1.1),
        "normal",
    ),
    ("all_with_masked", 48, dict(temperature=1.3, top_k=20, top_p=0.8, min_p=0.01, repetition_penalty=1.5), "masked"),
]


def draw_logits(generator, vocab, kind):
    x = torch.randn(vocab, generator=generator) * 2.0
    if kind == "coarse":  # many exact ties
        x = torch.round(x * 2.0) / 2.0
    elif kind == "peaked":
        x[3] += 8.0
    elif kind == "masked":
        x[torch.randperm(vocab, generator=generator)[: vocab // 4]] = -float("inf")
    return x


def processors(options):
    """`generate`'s list for these options (see `GenerationMixin._get_logits_processor`)."""
    out = []
    if options.get("repetition_penalty", 1.0) != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(options["repetition_penalty"]))
    if options["temperature"] == 0.0:  # do_sample=False: no warpers
        return out
    if options["temperature"] != 1.0:
        out.append(TemperatureLogitsWarper(options["temperature"]))
    if options.get("top_k", 0) != 0:
        out.append(TopKLogitsWarper(options["top_k"]))
    if options.get("top_p", 1.0) < 1.0:
        out.append(TopPLogitsWarper(options["top_p"]))
    if "min_p" in options:
        out.append(MinPLogitsWarper(options["min_p"]))
    return out


def run(options, logits, seen):
    scores = logits.clone()[None, :]
    for processor in processors(options):
        scores = processor(seen[None, :], scores)
    return scores[0]


@contextlib.contextmanager
def stable_sort():
    unstable = torch.sort
    torch.sort = functools.partial(unstable, stable=True)
    try:
        yield
    finally:
        torch.sort = unstable


def finite(values):
    return [None if v == -float("inf") else v for v in values.tolist()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/fixtures/sampling.json")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(args.seed)
    cases = []
    for name, vocab, options, kind in CASES:
        logits = draw_logits(generator, vocab, kind)
        seen = torch.randint(0, vocab, (12,), generator=generator)
        scores = run(options, logits, seen)
        with stable_sort():
            stable_scores = run(options, logits, seen)
        penalised = logits.clone()[None, :]
        if options.get("repetition_penalty", 1.0) != 1.0:
            penalised = RepetitionPenaltyLogitsProcessor(options["repetition_penalty"])(seen[None, :], penalised)
        kept = [i for i, s in enumerate(scores.tolist()) if s != -float("inf")]
        assert kept, name
        case = {
            "name": name,
            "options": options,
            "logits": finite(logits),
            "seen": seen.tolist(),
            "processed": finite(scores),
            "kept": kept,
            "greedy": int(torch.argmax(penalised[0])),
        }
        if not torch.equal(scores, stable_scores):
            case["kept_stable_sort"] = [i for i, s in enumerate(stable_scores.tolist()) if s != -float("inf")]
            case["processed_stable_sort"] = finite(stable_scores)
        cases.append(case)
        print(f"{name}: vocab {vocab}, kept {len(kept)}" + (", differs with a stable sort" if "kept_stable_sort" in case else ""))
    fixture = {
        "schema_version": 1,
        "note": "logits and processed are float32 values; null is -inf (filtered)",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "seed": args.seed,
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

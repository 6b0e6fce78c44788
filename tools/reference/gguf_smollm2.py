"""What the `gguf` package reads from the real SmolLM2-135M-Instruct.Q4_1.gguf.

    scripts/fetch-models.sh
    /tmp/venv/bin/python tools/reference/gguf_smollm2.py  # --model <file> --out <json>

Writes `transformer-runtime/tests/fixtures/gguf/smollm2.json`: a few metadata values and,
for four tensors (token_embd Q8_0, blk.0.attn_q Q4_1, blk.0.attn_norm and output_norm F32),
the type, row-major shape, the first 64 values of `gguf.quants.dequantize` (little-endian f32
hex) and the sum of all values (float64). The file itself (98 MB) is not committed.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os

import numpy as np

import gguf

SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight", "output_norm.weight"]
KEYS = [
    "general.architecture",
    "llama.block_count",
    "llama.embedding_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.rope.freq_base",
    "llama.attention.layer_norm_rms_epsilon",
    "tokenizer.ggml.model",
    "tokenizer.ggml.bos_token_id",
]


def default_model():
    root = os.environ.get("TRANSFORMER_MODELS", os.path.expanduser("~/.cache/transformer-models"))
    return os.path.join(root, "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--out", default="transformer-runtime/tests/fixtures/gguf/smollm2.json")
    args = parser.parse_args()
    with open(args.model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{args.model} has sha256 {digest}, expected {SHA256}")

    reader = gguf.GGUFReader(args.model)
    by_name = {t.name: t for t in reader.tensors}
    tensors = {}
    for name in TENSORS:
        t = by_name[name]
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        tensors[name] = {
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape)],
            "first_64_f32_le_hex": values[:64].astype("<f4").tobytes().hex(),
            "sum_f64": float(values.astype(np.float64).sum()),
            "abs_sum_f64": float(np.abs(values.astype(np.float64)).sum()),
        }
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    summary = {
        "schema_version": 1,
        "model": os.path.basename(args.model),
        "sha256": SHA256,
        "written_by": f"gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}",
        "tensor_count": len(reader.tensors),
        "kv_count": len(reader.fields) - 3,  # GGUFReader lists the three header fields too
        "metadata": {k: reader.fields[k].contents() for k in KEYS},
        "vocab": {"len": len(tokens), "first": tokens[:5], "last": tokens[-1]},
        "tensors": tensors,
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Write a small GGUF file with the `gguf` package, and what the package reads back from it.

    /tmp/venv/bin/python tools/reference/gguf_quants.py  # --out transformer-runtime/tests/fixtures/gguf

Writes `quants.gguf` (written by `gguf.GGUFWriter`: metadata of every value type, nested
arrays, alignment 64, one tensor of each type the Rust reader converts and one it does not)
and `quants.json` (each tensor's type, row-major shape and the values
`gguf.quants.dequantize` gives, as little-endian f32 hex, so the Rust test compares bits).

Blocks: F32 and F16 from random floats plus special values (infinities, -0, subnormals);
BF16, Q8_0, Q4_0, Q4_1 and Q5_0 from `gguf.quants.quantize` of random floats; Q4_K, Q5_K and
Q6_K, which the package cannot quantize, are random bytes with their f16 scales replaced by
finite random ones (the package dequantizes them). Seeded: two runs give identical files.
"""

import argparse
import importlib.metadata
import json
import os

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

SEED = 20260112

# `GGUFReader.contents()` flattens nested arrays, so the JSON states this value as written.
NESTED = [[1, 2], ["x"], [[True]]]


def finite_f16(rng, n, scale):
    """n random finite f16 values (both signs) as bytes."""
    return (rng.standard_normal(n) * scale).astype(np.float16).view(np.uint8).reshape(n, 2)


def k_quant_blocks(rng, qtype, rows, cols):
    """Random raw blocks of a K-quant with finite scales: [rows, cols / 256 * block_bytes]."""
    block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block_size
    blocks = rng.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    if qtype == T.Q6_K:
        blocks[:, -2:] = finite_f16(rng, n, 0.01)  # d is last
    else:
        blocks[:, 0:2] = finite_f16(rng, n, 0.01)  # d
        blocks[:, 2:4] = finite_f16(rng, n, 0.01)  # dmin
    return blocks.reshape(rows, -1)


def tensors(rng):
    """(name, numpy array to write, raw ggml type or None, row-major shape)."""
    out = []
    f32 = rng.standard_normal((3, 32)).astype(np.float32)
    f32[0, :4] = [np.inf, -np.inf, -0.0, 1e-45]
    out.append(("f32", f32, None, [3, 32]))
    f16 = (rng.standard_normal((2, 32)) * 100).astype(np.float16)
    f16[0, :5] = [np.inf, -np.inf, -0.0, 6e-8, 65504]
    out.append(("f16", f16, None, [2, 32]))
    for qtype, shape in [
        (T.BF16, [2, 32]),
        (T.Q8_0, [2, 64]),
        (T.Q4_0, [2, 64]),
        (T.Q4_1, [3, 64]),
        (T.Q5_0, [1, 32]),
    ]:
        x = rng.standard_normal(shape).astype(np.float32)
        x[0, :32] = 0.0  # an all-zero block: scale 0
        if qtype == T.BF16:
            x[0, :3] = [np.inf, -1e-40, 3.0]
        out.append((qtype.name.lower(), gguf.quants.quantize(x, qtype), qtype, shape))
    for qtype in [T.Q4_K, T.Q5_K, T.Q6_K]:
        shape = [2, 512]
        out.append((qtype.name.lower(), k_quant_blocks(rng, qtype, *shape), qtype, shape))
    return out


def metadata(writer):
    """One key of each value type, arrays of several, and nested arrays."""
    V = gguf.GGUFValueType
    writer.add_custom_alignment(64)
    scalars = [
        ("test.u8", 200, V.UINT8),
        ("test.i8", -100, V.INT8),
        ("test.u16", 60000, V.UINT16),
        ("test.i16", -30000, V.INT16),
        ("test.u32", 4000000000, V.UINT32),
        ("test.i32", -2000000000, V.INT32),
        ("test.f32", 0.1, V.FLOAT32),
        ("test.bool", True, V.BOOL),
        ("test.string", "héllo, GGUF ✓", V.STRING),
        ("test.u64", 2**63 + 5, V.UINT64),
        ("test.i64", -(2**62), V.INT64),
        ("test.f64", 0.1, V.FLOAT64),
    ]
    for key, value, vtype in scalars:
        writer.add_key_value(key, value, vtype)
    writer.add_key_value("test.array_i16", [-1, 2, -3], V.ARRAY, sub_type=V.INT16)
    writer.add_key_value("test.array_f32", [0.5, -2.25], V.ARRAY, sub_type=V.FLOAT32)
    writer.add_key_value("test.array_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    writer.add_array("test.array_string", ["a", "", "ü"])
    writer.add_array("test.nested", NESTED)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="transformer-runtime/tests/fixtures/gguf")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    path = os.path.join(args.out, "quants.gguf")

    writer = gguf.GGUFWriter(path, "test")
    metadata(writer)
    items = tensors(rng)
    for name, array, raw_dtype, _ in items:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    # Read back with the package's reader, and dequantize what it finds.
    reader = gguf.GGUFReader(path)
    expected = {}
    for tensor, (name, _, _, shape) in zip(reader.tensors, items):
        assert tensor.name == name, (tensor.name, name)
        qtype = tensor.tensor_type
        assert [int(d) for d in reversed(tensor.shape)] == shape, (name, tensor.shape)
        entry = {"type": qtype.name, "shape": shape}
        if qtype in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q5_K, T.Q6_K):
            values = gguf.quants.dequantize(tensor.data, qtype).astype(np.float32)
            values = values.reshape(-1)
            assert values.size == int(np.prod(shape)), name
            entry["values_f32_le_hex"] = values.astype("<f4").tobytes().hex()
        expected[name] = entry

    fields = {k: f.contents() for k, f in reader.fields.items() if k.startswith("test.")}
    fields["test.nested"] = NESTED
    summary = {
        "schema_version": 1,
        "file": "quants.gguf",
        "written_by": f"gguf {importlib.metadata.version('gguf')}",
        "numpy": np.__version__,
        "seed": SEED,
        "alignment": 64,
        "metadata": fields,
        "tensors": expected,
    }
    with open(os.path.join(args.out, "quants.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and quants.json")


if __name__ == "__main__":
    main()

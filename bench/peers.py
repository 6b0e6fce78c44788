#!/usr/bin/env python3
"""The peers' side of `compare.py`: writes the shared data, and times PyTorch or ONNX Runtime
at one thread count, in a process of its own (`compare.py` pins it with taskset).

    python bench/peers.py setup       --data DIR [--minilm-dir DIR] [--workloads ...]
    python bench/peers.py pytorch     --data DIR [--minilm-dir DIR] --threads N [--workloads ...]
    python bench/peers.py onnxruntime --data DIR [--minilm-dir DIR] --threads N [--workloads ...]

Each measurement is one line `RESULT {json}` on stdout, with the fields that
`examples/bench_workloads.rs` prints for us; `META {json}` gives the peer's version.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as wl  # noqa: E402

# A sample lasts at least this long: faster workloads run several times per sample.
SAMPLE_MS = 0.2


def measure(fn, warmup, iters):
    """`iters` samples of milliseconds per call, after `warmup` untimed calls, and the
    number of calls per sample."""
    warm = []
    for _ in range(max(warmup, 1)):
        start = time.perf_counter()
        fn()
        warm.append((time.perf_counter() - start) * 1e3)
    batch = max(1, math.ceil(SAMPLE_MS / max(statistics.median(warm), 1e-6)))
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) * 1e3 / batch)
    return samples, batch


def report(peer, workload, variant, threads, samples, batch, max_abs_diff=None):
    median = statistics.median(samples)
    result = dict(peer=peer, workload=workload, variant=variant, threads=threads, iters=len(samples),
                  batch=batch, median_ms=median, min_ms=min(samples), max_ms=max(samples),
                  gflops=wl.flops(workload) / median / 1e6, max_abs_diff=max_abs_diff)
    print("RESULT " + json.dumps(result), flush=True)


def reference(data_dir, workload):
    """PyTorch's output for `workload` as a numpy array, or None (GEMMs, or no file)."""
    from safetensors.numpy import load_file

    files = {"w1": ("w1.io.safetensors", "output"), "w2": ("w2.io.safetensors", "output")}
    files.update({w: ("minilm.ref.safetensors", f"out_{n}") for w, n in wl.MINILM_LENS.items()})
    if workload not in files:
        return None
    path, name = os.path.join(data_dir, files[workload][0]), files[workload][1]
    return load_file(path)[name] if os.path.isfile(path) else None


def max_abs_diff(got, want):
    import numpy as np

    return None if want is None else float(np.abs(np.asarray(got) - want).max())


# ------------------------------------------------------------------ PyTorch
def pytorch_cases(names, model_dir):
    """(workload, variant, fn) for each workload: fn runs it once and returns the output."""
    import torch

    bert = wl.load_bert(model_dir) if any(w in wl.MINILM_LENS for w in names) else None
    for name in names:
        if name == "w1":
            model, x = wl.seed_attention()
            yield name, "eager nn.Module", lambda m=model, x=x: m(x)
        elif name == "w2":
            encoder, x = wl.tiny_encoder()
            yield name, "nn.TransformerEncoder, eval (fast path)", lambda m=encoder, x=x: m(x)
        elif name in wl.MINILM_LENS:
            inputs = wl.minilm_inputs(wl.MINILM_LENS[name])
            variant = f"BertModel ({bert.config._attn_implementation} attention)"
            yield name, variant, lambda i=inputs: bert(**i).last_hidden_state
        else:
            n, k, m = wl.gemm_shape(name)
            torch.manual_seed(0)
            x, w, out = torch.randn(n, k), torch.randn(m, k), torch.empty(n, m)
            yield name, "torch.matmul(x, w.t(), out=)", lambda x=x, w=w, out=out: torch.matmul(x, w.t(), out=out)


def run_pytorch(a):
    import torch

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    print("META " + json.dumps({"peer": "pytorch", "version": torch.__version__,
                                "cpu_capability": torch.backends.cpu.get_cpu_capability()}), flush=True)
    with torch.inference_mode():
        for name, variant, fn in pytorch_cases(a.workloads, a.minilm_dir):
            diff = max_abs_diff(fn().numpy(), reference(a.data, name))
            samples, batch = measure(fn, a.warmup, a.iters)
            report("pytorch", name, variant, a.threads, samples, batch, diff)


# ------------------------------------------------------------------ ONNX Runtime
MINILM_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def onnx_export(module, args, path, input_names, output_names, dynamic_axes=None):
    """The TorchScript exporter at opset 17 (its graphs are what ORT's BERT fusions match);
    the torch.export-based one if this torch no longer has it."""
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, path, dynamo=False, opset_version=17, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes)
        except Exception as e:  # noqa: BLE001 - any failure of the old exporter: try the new one
            print(f"legacy ONNX export of {os.path.basename(path)} failed ({e}); using dynamo=True",
                  file=sys.stderr)
            torch.onnx.export(module, args, path, dynamo=True, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes)


def export_minilm(data_dir, model_dir):
    """minilm.onnx (exported once, then cached), and minilm.opt.onnx: the same graph after
    onnxruntime.transformers' BERT fusions (Attention, SkipLayerNorm, BiasGelu)."""
    import torch

    path, opt_path = os.path.join(data_dir, "minilm.onnx"), os.path.join(data_dir, "minilm.opt.onnx")
    if not os.path.isfile(path):
        # Eager attention exports the MatMul/Softmax pattern the fusions recognise.
        bert = wl.load_bert(model_dir, attn_implementation="eager")

        class LastHidden(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state

        inputs = wl.minilm_inputs(16)
        axes = {0: "batch", 1: "seq"}
        onnx_export(LastHidden().eval(), tuple(inputs[k] for k in MINILM_INPUTS), path, MINILM_INPUTS,
                    ["last_hidden_state"], {k: axes for k in MINILM_INPUTS + ["last_hidden_state"]})
    if not os.path.isfile(opt_path):
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(path, model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
        fused.save_model_to_file(opt_path)


def export_gemm(data_dir, name):
    """`y = x Wᵀ` as one Gemm node (transB=1), W a [m][k] initializer: our layout."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = os.path.join(data_dir, f"{name}.onnx")
    if os.path.isfile(path):
        return
    n, k, m = wl.gemm_shape(name)
    w = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, m])],
        [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def run_setup(a):
    import torch

    wl.setup(a.data, a.minilm_dir)
    model, x = wl.seed_attention()
    onnx_export(model, (x,), os.path.join(a.data, "w1.onnx"), ["x"], ["y"])
    encoder, x = wl.tiny_encoder()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused fast-path op does not export
    onnx_export(encoder, (x,), os.path.join(a.data, "w2.onnx"), ["x"], ["y"])
    torch.backends.mha.set_fastpath_enabled(True)
    if any(w in wl.MINILM_LENS for w in a.workloads) and wl.has_minilm(a.minilm_dir):
        export_minilm(a.data, a.minilm_dir)
    for name in a.workloads:
        if name.startswith("gemm-"):
            export_gemm(a.data, name)


def ort_cases(names, data_dir):
    """(workload, variant, onnx file, feeds) for each workload and ONNX graph."""
    import numpy as np
    from safetensors.numpy import load_file

    for name in names:
        if name in ("w1", "w2"):
            x = load_file(os.path.join(data_dir, f"{name}.io.safetensors"))["input"]
            yield name, "TorchScript export", f"{name}.onnx", {"x": x}
        elif name in wl.MINILM_LENS:
            ids = np.array([wl.minilm_ids(wl.MINILM_LENS[name])], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            yield name, "TorchScript export", "minilm.onnx", feeds
            yield name, "+ BERT fusions (ort.transformers.optimizer)", "minilm.opt.onnx", feeds
        else:
            n, k, _ = wl.gemm_shape(name)
            x = np.random.default_rng(1).standard_normal((n, k), dtype=np.float32)
            yield name, "Gemm node, transB=1", f"{name}.onnx", {"x": x}


def run_onnxruntime(a):
    import onnxruntime as ort

    print("META " + json.dumps({"peer": "onnxruntime", "version": ort.__version__}), flush=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for name, variant, file, feeds in ort_cases(a.workloads, a.data):
        session = ort.InferenceSession(os.path.join(a.data, file), options, providers=["CPUExecutionProvider"])
        output = session.get_outputs()[0].name

        def fn(s=session, o=output, f=feeds):
            return s.run([o], f)[0]

        diff = max_abs_diff(fn(), reference(a.data, name))
        samples, batch = measure(fn, a.warmup, a.iters)
        report("onnxruntime", name, variant, a.threads, samples, batch, diff)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["setup", "pytorch", "onnxruntime"])
    p.add_argument("--data", required=True, help="the shared data folder")
    p.add_argument("--minilm-dir", default=os.environ.get("MINILM_DIR"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", nargs="+", default=["w1", "w2", "w3", "w4", "w5", "w6", "gemm"])
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    a = p.parse_args()
    a.workloads = wl.expand(a.workloads)
    if not wl.has_minilm(a.minilm_dir):
        a.workloads = [w for w in a.workloads if w not in wl.MINILM_LENS]
    {"setup": run_setup, "pytorch": run_pytorch, "onnxruntime": run_onnxruntime}[a.command](a)


if __name__ == "__main__":
    main()

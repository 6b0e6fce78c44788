"""The benchmark workloads, as the peers see them: names, FLOP counts, inputs, the PyTorch
modules, and the shared data folder that `setup` writes for every peer (ours included).

The Rust side of every definition here is `examples/bench_workloads.rs`; the two must agree
on names, token ids and FLOP counts (`compare.py` checks the outputs, which catches a
mismatch in inputs or weights).

Files in the data folder:

    w1.io.safetensors        input [1, 2, 4] and PyTorch's output
    w2.weights.safetensors   state_dict() of the W2 nn.TransformerEncoder (PyTorch names)
    w2.io.safetensors        input [1, 32, 64] and PyTorch's output
    minilm.ref.safetensors   ids_N, out_N (last_hidden_state) for N of 128, 16, 512, 4
    *.onnx                   the ONNX exports ONNX Runtime runs (`peers.py` writes them)
"""

import math
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

# Every workload in run order; `gemm` on a command line means every `gemm-*`.
GEMMS = [(128, 384, 1536), (16, 384, 384), (128, 1536, 384), (1024, 1024, 1024)]
NAMES = ["w1", "w2", "w3", "w4", "w5", "w6"] + [f"gemm-{n}x{k}x{m}" for n, k, m in GEMMS]
MINILM_LENS = {"w3": 128, "w4": 16, "w5": 512, "w6": 4}

TITLES = {
    "w1": "W1 seed attention, 2 tok",
    "w2": "W2 tiny encoder, 32 tok",
    "w3": "W3 MiniLM, 128 tok",
    "w4": "W4 MiniLM, 16 tok",
    "w5": "W5 MiniLM, 512 tok",
    "w6": "W6 MiniLM, 4 tok",
}

W2_SEED = 0
W2_LEN = 32


def expand(selection):
    """The workload names of a command line, in run order; `gemm` means every GEMM shape."""
    unknown = [w for w in selection if w != "gemm" and w not in NAMES]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; known: gemm, {', '.join(NAMES)}")
    return [w for w in NAMES if w in selection or ("gemm" in selection and w.startswith("gemm-"))]


def title(name):
    if name in TITLES:
        return TITLES[name]
    n, k, m = gemm_shape(name)
    return f"GEMM {n}×{k} · {k}×{m}"


def gemm_shape(name):
    """`gemm-NxKxM` -> (n, k, m): `out[n][m] = x[n][k] · W[m][k]ᵀ`."""
    n, k, m = name.removeprefix("gemm-").split("x")
    return int(n), int(k), int(m)


def encoder_flops(tokens, d_model, d_ff, layers):
    """A multiply-add counts 2, matrix products only: the four projections, QKᵀ and the
    weighted sum of values, and the two feed-forward products. Same as `Model::flops(n)`."""
    per_layer = 2 * tokens * (4 * d_model * d_model + 2 * d_model * d_ff) + 4 * tokens * tokens * d_model
    return layers * per_layer


def flops(name):
    if name == "w1":
        return 3 * 2 * 2 * 4 * 4 + 4 * 2 * 2 * 4  # q, k, v projections; QKᵀ and weights·V
    if name == "w2":
        return encoder_flops(W2_LEN, 64, 256, 2)
    if name in MINILM_LENS:
        return encoder_flops(MINILM_LENS[name], 384, 1536, 6)
    n, k, m = gemm_shape(name)
    return 2 * n * k * m


def minilm_ids(n):
    """[CLS] (101), a fixed pseudo-random run in 1000..30000, [SEP] (102): the same numbers
    as `minilm_ids` in examples/bench_workloads.rs (Knuth's MMIX LCG, top bits)."""
    state, ids = 2024, [101]
    for _ in range(n - 2):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        ids.append(1000 + (state >> 33) % 29000)
    return ids + [102]


# ------------------------------------------------------------------ W1
# The notes' matrices, `[in][out]` (they multiply row vectors on the right).
SEED_X = [[6.0, 1.0, 4.0, 4.0], [8.0, 4.0, 6.0, 3.0]]
SEED_W = {
    "q": [[1, 4, 3, 1], [1, 1, 3, 2], [3, 4, 4, 3], [1, 2, 2, 2]],
    "k": [[2, 1, 2, 1], [4, 1, 4, 2], [3, 4, 4, 1], [3, 4, 1, 2]],
    "v": [[4, 2, 4, 4], [3, 4, 1, 2], [2, 2, 4, 1], [4, 3, 1, 4]],
}


class SeedAttention(nn.Module):
    """`x + softmax(QKᵀ/√4) V`: one head, no biases, norms, output projection or FFN."""

    def __init__(self):
        super().__init__()
        self.w_q, self.w_k, self.w_v = (nn.Linear(4, 4, bias=False) for _ in range(3))
        with torch.no_grad():
            for name, layer in zip("qkv", (self.w_q, self.w_k, self.w_v)):
                layer.weight.copy_(torch.tensor(SEED_W[name]).T)  # nn.Linear stores [out][in]

    def forward(self, x):
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), dim=-1)
        return x + weights @ v


def seed_attention():
    return SeedAttention().eval(), torch.tensor([SEED_X])


# ------------------------------------------------------------------ W2
def tiny_encoder():
    """The W2 encoder and its input. Default init gives both layers the same weights (the
    encoder deep-copies its layer), zero attention biases and unit norms; every parameter is
    redrawn so that a wrong mapping of any tensor shows in the output."""
    torch.manual_seed(W2_SEED)
    layer = nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.uniform_(-0.1, 0.1)
            else:
                bound = math.sqrt(3.0 / p.shape[1])  # unit-variance outputs for unit inputs
                p.uniform_(-bound, bound)
    return encoder.eval(), torch.randn(1, W2_LEN, 64)


# ------------------------------------------------------------------ W3, W4
def load_bert(model_dir, attn_implementation=None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from transformers import BertModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    return BertModel.from_pretrained(model_dir, local_files_only=True, **extra).eval()


def minilm_inputs(n):
    ids = torch.tensor([minilm_ids(n)])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def has_minilm(model_dir):
    return bool(model_dir) and os.path.isfile(os.path.join(model_dir, "model.safetensors"))


# ------------------------------------------------------------------ the data folder
def setup(data_dir, model_dir):
    """Writes every input and PyTorch output into `data_dir` (MiniLM's only if the model is
    in `model_dir`). Cheap, so it runs before every comparison."""
    os.makedirs(data_dir, exist_ok=True)
    with torch.inference_mode():
        model, x = seed_attention()
        save_file({"input": x, "output": model(x).contiguous()}, os.path.join(data_dir, "w1.io.safetensors"))
        encoder, x = tiny_encoder()
        save_file({k: v.contiguous() for k, v in encoder.state_dict().items()},
                  os.path.join(data_dir, "w2.weights.safetensors"))
        save_file({"input": x, "output": encoder(x).contiguous()}, os.path.join(data_dir, "w2.io.safetensors"))
        if has_minilm(model_dir):
            bert, ref = load_bert(model_dir), {}
            for n in MINILM_LENS.values():
                inputs = minilm_inputs(n)
                ref[f"ids_{n}"] = inputs["input_ids"]
                ref[f"out_{n}"] = bert(**inputs).last_hidden_state.contiguous()
            save_file(ref, os.path.join(data_dir, "minilm.ref.safetensors"))

"""The tiny Llama of `llama_fixture.py` written to GGUF files as llama.cpp's converter writes
them, and what transformers computes from each, for `tests/llama_gguf.rs`.

Reads tests/fixtures/llama/model.safetensors (run `llama_fixture.py` first) and writes, into
--out (default tests/fixtures/llama):

  model.f32.gguf, model.f16.gguf, model.q8_0.gguf
                      the model under llama.cpp's names (`token_embd`, `blk.{i}.attn_q`, …),
                      with the `llama.*` metadata, the rows of `attn_q` and `attn_k` permuted
                      for adjacent-pair RoPE as `convert_hf_to_gguf.py` permutes them, and the
                      matrices stored as F32, F16 or Q8_0 (norms stay F32, and so does every
                      matrix whose rows do not split into Q8_0's blocks of 32, as llama.cpp
                      does)
  gguf_reference.json the ids, and for each file the logits of every position of the model
                      that transformers loads from it (`from_pretrained(gguf_file=…)`, which
                      dequantizes and undoes the permutation)

    /tmp/venv/bin/pip install transformers gguf
    /tmp/venv/bin/python tools/reference/llama_gguf_fixture.py
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import json
from pathlib import Path

import gguf
import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from llama_fixture import CONFIG, IDS

TYPES = {
    "f32": gguf.GGMLQuantizationType.F32,
    "f16": gguf.GGMLQuantizationType.F16,
    "q8_0": gguf.GGMLQuantizationType.Q8_0,
}


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """`convert_hf_to_gguf.py`'s `LlamaModel.permute`."""
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def gguf_name(name: str) -> str:
    table = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if name in table:
        return table[name]
    layer = name.split(".")[2]
    rest = ".".join(name.split(".")[3:])
    parts = {
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
    }
    return f"blk.{layer}.{parts[rest]}"


def write(path: Path, state: dict, kind: str) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(CONFIG["max_position_embeddings"])
    writer.add_embedding_length(CONFIG["hidden_size"])
    writer.add_block_count(CONFIG["num_hidden_layers"])
    writer.add_feed_forward_length(CONFIG["intermediate_size"])
    writer.add_head_count(CONFIG["num_attention_heads"])
    writer.add_head_count_kv(CONFIG["num_key_value_heads"])
    writer.add_rope_freq_base(CONFIG["rope_theta"])
    writer.add_layer_norm_rms_eps(CONFIG["rms_norm_eps"])
    writer.add_vocab_size(CONFIG["vocab_size"])
    writer.add_rope_dimension_count(CONFIG["hidden_size"] // CONFIG["num_attention_heads"])
    # transformers' GGUF loader needs a tokenizer: a byte-less toy one, one token per id.
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([f"t{i}" for i in range(CONFIG["vocab_size"])])
    writer.add_token_types([1] * CONFIG["vocab_size"])
    writer.add_token_merges([])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for name, tensor in state.items():
        w = tensor.float().numpy()
        if name.endswith("q_proj.weight"):
            w = permute(w, CONFIG["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            w = permute(w, CONFIG["num_key_value_heads"])
        ggml_type = TYPES[kind]
        if w.ndim == 1 or (ggml_type == gguf.GGMLQuantizationType.Q8_0 and w.shape[-1] % 32):
            ggml_type = gguf.GGMLQuantizationType.F32
        data = gguf.quants.quantize(w.astype(np.float32), ggml_type)
        writer.add_tensor(gguf_name(name), data, raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/llama"))
    args = parser.parse_args()
    state = load_file(args.out / "model.safetensors")
    reference = {"ids": IDS, "logits": {}}
    for kind in TYPES:
        path = args.out / f"model.{kind}.gguf"
        write(path, state, kind)
        model = AutoModelForCausalLM.from_pretrained(
            str(args.out), gguf_file=path.name, dtype=torch.float32
        ).eval()
        with torch.no_grad():
            logits = model(torch.tensor([IDS])).logits[0]
        reference["logits"][kind] = [[float(v) for v in row] for row in logits.float()]
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    (args.out / "gguf_reference.json").write_text(json.dumps(reference) + "\n")


if __name__ == "__main__":
    main()

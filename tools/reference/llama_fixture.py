"""A tiny random `LlamaForCausalLM` and what transformers computes with it, for
`tests/llama.rs`.

Writes, into --out (default tests/fixtures/llama):

  model.safetensors   the model's `state_dict`, under transformers' own names (`model.embed_tokens`,
                      `model.layers.{i}.self_attn.q_proj`, …, `lm_head`)
  config.json         its configuration, as `save_pretrained` writes it
  reference.json      its configuration, the token ids, and the logits of every position
                      (one causal forward pass, float32)

The model exercises what distinguishes a Llama from `nn.Transformer`: grouped-query attention
(4 query heads sharing 2 key/value heads), rotary positions with a base other than 10000,
RMSNorm with eps 1e-6, a SwiGLU feed-forward, no biases, and a head of its own
(`tie_word_embeddings=False`). The weights are drawn from a seeded generator with larger
spreads than Llama's own init (normal, std 0.02), so that attention is far from uniform and
the logits far apart; norm scales are drawn around 1. Two runs give byte-identical files.

    /tmp/venv/bin/pip install transformers
    /tmp/venv/bin/python tools/reference/llama_fixture.py
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

CONFIG = dict(
    vocab_size=48,
    hidden_size=32,
    intermediate_size=40,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rope_theta=5000.0,
    rms_norm_eps=1e-6,
    hidden_act="silu",
    tie_word_embeddings=False,
    attention_bias=False,
    mlp_bias=False,
)

IDS = [1, 17, 5, 46, 0, 33, 33, 8, 21, 12, 40, 3, 9, 27, 2, 44]


def randomize(model: LlamaForCausalLM, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.3 * (2 * torch.rand(p.shape, generator=generator) - 1))
            else:
                fan_in = p.shape[-1]
                bound = (3.0 / fan_in) ** 0.5
                p.copy_(bound * (2 * torch.rand(p.shape, generator=generator) - 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/llama"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    generator = torch.Generator().manual_seed(args.seed)
    config = LlamaConfig(**CONFIG)
    model = LlamaForCausalLM(config).eval()
    randomize(model, generator)
    state = {name: t.contiguous() for name, t in model.state_dict().items()}
    save_file(state, args.out / "model.safetensors")
    config.to_json_file(args.out / "config.json")

    with torch.no_grad():
        logits = model(torch.tensor([IDS])).logits[0]
    reference = {
        "config": CONFIG,
        "ids": IDS,
        "logits": [[float(v) for v in row] for row in logits.float()],
    }
    (args.out / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"wrote {args.out}: {len(state)} tensors, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()

"""A tiny random `GPT2LMHeadModel` and what transformers computes with it, for
`tests/gpt2.rs`.

Writes, into --out (default tests/fixtures/gpt2):

  model.safetensors   the model's weights as `save_pretrained` stores them: transformers'
                      names (`transformer.wte`, `transformer.h.{i}.attn.c_attn`, …), `Conv1D`
                      weights as `[in, out]`, and no `lm_head.weight` (the head is tied to
                      `transformer.wte`)
  config.json         its configuration, as `save_pretrained` writes it
  reference.json      its configuration, the token ids, and the logits of every position
                      (one causal forward pass, float32)

GPT-2's layout: learned positions, pre-norm LayerNorms with biases, `gelu_new` (our
`gelu_tanh`), q, k and v side by side in `c_attn`, a tied head. The weights are drawn from a
seeded generator with larger spreads than GPT-2's own init, biases too, so that attention is
far from uniform and none of them goes unnoticed. Two runs give byte-identical files.

    /tmp/venv/bin/pip install transformers
    /tmp/venv/bin/python tools/reference/gpt2_fixture.py
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

CONFIG = dict(
    vocab_size=50,
    n_positions=24,
    n_embd=24,
    n_layer=2,
    n_head=4,
    n_inner=None,
    activation_function="gelu_new",
    layer_norm_epsilon=1e-5,
    tie_word_embeddings=True,
    bos_token_id=0,
    eos_token_id=0,
)

IDS = [0, 49, 7, 7, 31, 2, 18, 44, 5, 23, 40, 11, 3, 27]


def randomize(model: GPT2LMHeadModel, generator: torch.Generator) -> None:
    def uniform(shape, bound):
        return bound * (2 * torch.rand(shape, generator=generator) - 1)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + uniform(p.shape, 0.3))
            elif name.endswith("bias"):
                p.copy_(uniform(p.shape, 0.2))
            else:
                # Conv1D weights are [in, out]; embeddings [rows, d].
                fan_in = p.shape[0] if p.dim() == 2 and "wte" not in name and "wpe" not in name else 1
                p.copy_(uniform(p.shape, (3.0 / fan_in) ** 0.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/gpt2"))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    generator = torch.Generator().manual_seed(args.seed)
    model = GPT2LMHeadModel(GPT2Config(**CONFIG)).eval()
    randomize(model, generator)
    # As `save_pretrained` stores it: the tied head is not written twice.
    state = {
        name: t.contiguous()
        for name, t in model.state_dict().items()
        if name != "lm_head.weight"
    }
    save_file(state, args.out / "model.safetensors")
    model.config.to_json_file(args.out / "config.json")

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

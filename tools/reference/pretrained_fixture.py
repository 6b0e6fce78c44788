"""Tiny sentence-transformers folders from random weights, and what sentence-transformers
computes with them, for `tests/pretrained.rs`.

Writes, into --out (default tests/fixtures/pretrained):

  <variant>/            a sentence-transformers model folder, as `SentenceTransformer.save`
                        writes it (less its README.md model card): config.json,
                        model.safetensors, tokenizer.json, tokenizer_config.json,
                        sentence_bert_config.json, config_sentence_transformers.json,
                        modules.json, 1_Pooling/config.json
  reference.json        the sentences, and per variant its pooling, whether it normalises, and
                        `model.encode(sentences)` (one padded batch), float32 values

Every variant holds the same tiny BERT (d_model 32, 2 heads, 2 layers, d_ff 64, 32 positions)
and the same WordPiece tokenizer (a vocabulary of about a hundred pieces, built here); they
differ only in their Pooling and Normalize modules:

  cls        CLS pooling, then Normalize: the BGE family's pipeline
  mean       mean pooling, no Normalize
  max        max pooling, then Normalize
  lasttoken  last-token pooling, no Normalize

Git stores the identical files of the four folders once. The weights are drawn from a seeded
generator (`--seed`), with larger spreads than BERT's own init so that attention is far from
uniform and every token moves the result. Two runs give byte-identical files.

    /tmp/venv/bin/pip install sentence-transformers
    /tmp/venv/bin/python tools/reference/pretrained_fixture.py
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

import sentence_transformers
import tokenizers
import transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from tokenizers import models, normalizers, pre_tokenizers, processors, decoders
from transformers import BertConfig, BertModel, BertTokenizerFast

SCHEMA_VERSION = 1
MAX_SEQ_LENGTH = 16

# (name, pooling_mode, Normalize module?)
VARIANTS = [
    ("cls", "cls", True),
    ("mean", "mean", False),
    ("max", "max", True),
    ("lasttoken", "lasttoken", False),
]

SENTENCES = [
    "The cat sat on the mat.",
    "",
    "A DOG is baking bread at home",
    "rust",
    "東京 cat",
    # 20 pieces with [CLS] and [SEP]: truncated at 16.
    "the dog and the cat bake bread, the cat eats the bread and the dog sleeps on the mat",
]

WORDS = (
    "the a an and is at on in of to cat dog mat sat bread bake home rust eat sleep "
    "water flour oven hot"
).split()
SUFFIXES = ["##s", "##ing", "##ed", "##er"]


def vocabulary() -> list[str]:
    """Special tokens, then words, word endings, single characters and their ## forms."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    singles = letters + list("0123456789.,!?")
    return special + WORDS + SUFFIXES + singles + ["##" + c for c in letters]


def tokenizer(vocab: list[str]) -> BertTokenizerFast:
    """BERT's uncased WordPiece pipeline over `vocab`, as `tokenizer.json` describes it."""
    ids = {piece: i for i, piece in enumerate(vocab)}
    backend = tokenizers.Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    backend.decoder = decoders.WordPiece()
    return BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=MAX_SEQ_LENGTH,
    )


def bert(vocab_size: int, seed: int) -> BertModel:
    """A tiny BERT with every weight drawn from a seeded generator."""
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )
    # With its pooler, as Hugging Face saves BERT; sentence-transformers never uses it.
    model = BertModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            uniform = torch.rand(p.shape, generator=generator)
            if "LayerNorm.weight" in name:
                p.copy_(0.5 + uniform)
            elif p.dim() == 1:
                p.copy_(0.6 * uniform - 0.3)
            else:
                # Variance 1/fan_in for matrices, 1 for embedding tables.
                fan_in = p.shape[1] if "embeddings" not in name else 1
                p.copy_((2 * uniform - 1) * np.sqrt(3 / fan_in))
    return model


def save_variant(hf_dir: Path, out: Path, pooling: str, normalize: bool) -> None:
    transformer = Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)]
    if normalize:
        modules.append(Normalize())
    model = SentenceTransformer(modules=modules, device="cpu")
    if out.exists():
        shutil.rmtree(out)
    model.save(str(out))
    (out / "README.md").unlink(missing_ok=True)


def encode(folder: Path) -> np.ndarray:
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.max_seq_length == MAX_SEQ_LENGTH, model.max_seq_length
    return model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)


def pieces(folder: Path) -> list[list[str]]:
    model = SentenceTransformer(str(folder), device="cpu")
    ids = model.preprocess(SENTENCES)["input_ids"]
    tok = model.tokenizer
    return [[t for t in tok.convert_ids_to_tokens(row) if t != "[PAD]"] for row in ids.tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/pretrained"))
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    vocab = vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = Path(tmp) / "hf"
        bert(len(vocab), args.seed).save_pretrained(hf_dir)
        tokenizer(vocab).save_pretrained(hf_dir)
        for name, pooling, normalize in VARIANTS:
            save_variant(hf_dir, args.out / name, pooling, normalize)

    variants = {}
    for name, pooling, normalize in VARIANTS:
        embeddings = encode(args.out / name)
        norms = np.linalg.norm(embeddings, axis=1)
        assert np.allclose(norms, 1, atol=1e-5) == normalize or not normalize, norms
        variants[name] = {
            "pooling_mode": pooling,
            "normalize": normalize,
            "embeddings": [[float(v) for v in row] for row in embeddings.astype(np.float32)],
        }
    # The variants pool differently: no two give the same embeddings.
    values = [np.array(v["embeddings"]) for v in variants.values()]
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            assert np.abs(values[i] - values[j]).max() > 1e-2, (i, j)

    reference = {
        "schema_version": SCHEMA_VERSION,
        "seed": args.seed,
        "max_seq_length": MAX_SEQ_LENGTH,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "sentences": SENTENCES,
        "pieces": pieces(args.out / VARIANTS[0][0]),
        "variants": variants,
    }
    text = json.dumps(reference, indent=1, ensure_ascii=False) + "\n"
    (args.out / "reference.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(VARIANTS)} folders and reference.json to {args.out}")


if __name__ == "__main__":
    main()

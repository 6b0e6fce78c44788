//! The tokenizer of the real SmolLM2-135M-Instruct GGUF file against transformers: the ids of
//! `tests/fixtures/smollm2_tokens.json` (written by `tools/reference/tokenizer_fixture.py`) for
//! a dozen texts and three chat prompts, decoding and streaming them back.
//!
//! The vocabulary (49152 tokens, 48900 merges, about 1 MB) lives in the model file only, so
//! these tests need it and are ignored by default:
//! `cargo test --test smollm2_tokenizer -- --ignored`.

use std::path::PathBuf;

use serde_json::Value;
use transformer::runtime::gguf::GgufFile;
use transformer::text::{GgufVocab, Message, Tokenizer, model_cache_dir};

fn gguf_path() -> PathBuf {
    model_cache_dir("SmolLM2-135M-Instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The vocabulary of the model file, from its `tokenizer.ggml.*` metadata.
fn smollm2_vocab() -> GgufVocab {
    let path = gguf_path();
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    GgufVocab::from_gguf(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smollm2_tokens.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    let id = |v: &Value| v.as_u64().unwrap() as u32;
    value.as_array().unwrap().iter().map(id).collect()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_gguf_metadata(&smollm2_vocab()).unwrap()
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct: run scripts/fetch-models.sh"]
fn texts_tokenize_as_the_model_does() {
    let (tokenizer, fixture) = (tokenizer(), fixture());
    assert_eq!(
        tokenizer.vocab_size() as u64,
        fixture["vocab_size"].as_u64().unwrap()
    );
    for case in fixture["texts"].as_array().unwrap() {
        let (name, text) = (&case["name"], case["text"].as_str().unwrap());
        let want = ids(&case["ids"]);
        assert_eq!(tokenizer.encode(text, true).unwrap(), want, "{name}");
        assert_eq!(tokenizer.decode(&want, false).unwrap(), text, "{name}");
        let mut stream = tokenizer.stream(false);
        let mut streamed = String::new();
        for &id in &want {
            let piece = stream.push(id).unwrap().unwrap_or_default();
            assert!(!piece.contains('\u{FFFD}'), "{name}: {piece:?}");
            streamed += &piece;
        }
        assert_eq!(stream.flush().unwrap(), None, "{name}");
        assert_eq!(streamed, text, "{name}");
    }
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct: run scripts/fetch-models.sh"]
fn transformers_gguf_split_differs_only_before_digits() {
    // transformers keeps GPT-2's split for `pre = "smollm"`; the model (and llama.cpp) cut
    // digits first. Only the text with runs of whitespace before digits tells them apart.
    let fixture = fixture();
    let differing: Vec<&str> = fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case.get("transformers_gguf_ids").is_some())
        .map(|case| case["name"].as_str().unwrap())
        .collect();
    assert_eq!(differing, ["spaces_before_digits"]);
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct: run scripts/fetch-models.sh"]
fn chat_prompts_render_and_tokenize_as_transformers() {
    let (tokenizer, fixture) = (tokenizer(), fixture());
    let specials = tokenizer.special_tokens();
    assert_eq!(specials.bos.as_deref(), Some("<|im_start|>"));
    assert_eq!(specials.eos.as_deref(), Some("<|im_end|>"));
    let template = tokenizer.chat_template().unwrap();
    for case in fixture["chats"].as_array().unwrap() {
        let name = &case["name"];
        let messages: Vec<Message> = case["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let rendered = template.render(&messages, true).unwrap();
        assert_eq!(rendered, case["rendered"].as_str().unwrap(), "{name}");
        assert_eq!(
            tokenizer.encode(&rendered, false).unwrap(),
            ids(&case["ids"]),
            "{name}"
        );
    }
}

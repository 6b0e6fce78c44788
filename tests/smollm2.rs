//! SmolLM2-135M-Instruct, declared with `transformer!` and loaded from the real
//! `SmolLM2-135M-Instruct.Q4_1.gguf`, against transformers reading the same file
//! (`tools/reference/smollm2_reference.py`, `tests/fixtures/smollm2/`): the last position's
//! logits within 1e-3, every layer's hidden states within 1e-4 of each row's largest value,
//! greedy continuations token for token, and decoding through the cache equal to one pass.
//!
//! The model (98 MB) is not committed: these tests are ignored unless asked for; CI runs
//! `scripts/fetch-models.sh` and then `cargo test -- --include-ignored`.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::Io;
use transformer::runtime::{Mask, Options, Tokens};
use transformer::transformer;

transformer! {
    /// SmolLM2-135M-Instruct, as its GGUF file describes it.
    pub SmolLm2 < kind: decoder, vocab: 49152, d_model: 576, heads: 9, kv_heads: 3, layers: 30,
                  d_ff: 1536, max_len: 8192, norm: pre, norm_kind: rms, eps: 1e-5,
                  final_norm: true, positional: rope, rope_theta: 100000, gated: true,
                  activation: silu, bias: false, lm_head: tied, weights: llama >
}

const NEEDS_MODEL: &str = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh, \
                           then cargo test -- --include-ignored";

/// Where `scripts/fetch-models.sh` puts the file.
fn model_path() -> PathBuf {
    let root = std::env::var_os("TRANSFORMER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache").join("transformer-models")
        });
    root.join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn model() -> &'static SmolLm2 {
    static MODEL: OnceLock<SmolLm2> = OnceLock::new();
    MODEL.get_or_init(|| {
        SmolLm2::from_gguf(model_path()).unwrap_or_else(|e| panic!("{e}\n({NEEDS_MODEL})"))
    })
}

/// One prompt of the reference.
struct Prompt {
    kind: String,
    ids: Vec<u32>,
    greedy: Vec<u32>,
    /// `(index, logit)` pairs of the last position: a fixed sample, then the 16 largest.
    logits: Vec<(usize, f32)>,
    top: Vec<usize>,
}

fn prompts() -> Vec<Prompt> {
    let text = std::fs::read_to_string(common::fixture("smollm2/reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let numbers = |value: &serde_json::Value| -> Vec<f64> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    json["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|prompt| {
            let pairs = |key: &str| -> Vec<(usize, f32)> {
                let indices = numbers(&prompt[key]["indices"]);
                let values = numbers(&prompt[key]["values"]);
                indices
                    .iter()
                    .zip(values)
                    .map(|(&i, v)| (i as usize, v as f32))
                    .collect()
            };
            let top = pairs("logits_top");
            Prompt {
                kind: prompt["kind"].as_str().unwrap().to_owned(),
                ids: numbers(&prompt["ids"])
                    .iter()
                    .map(|&id| id as u32)
                    .collect(),
                greedy: numbers(&prompt["greedy"])
                    .iter()
                    .map(|&id| id as u32)
                    .collect(),
                logits: pairs("logits_sample")
                    .into_iter()
                    .chain(top.clone())
                    .collect(),
                top: top.iter().map(|&(i, _)| i).collect(),
            }
        })
        .collect()
}

/// The first index of the largest logit, as `torch.argmax` picks it.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn last_position_logits_match_transformers() {
    let model = model();
    for prompt in prompts() {
        let mut cache = SmolLm2::cache(prompt.ids.len()).unwrap();
        let logits = model.prefill(&mut cache, &prompt.ids).unwrap();
        for &(index, want) in &prompt.logits {
            let got = logits[index];
            assert!(
                (got - want).abs() < 1e-3,
                "{}: logit {index} is {got}, transformers {want}",
                prompt.kind
            );
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        assert_eq!(
            order[0], prompt.top[0],
            "{}: the most likely token",
            prompt.kind
        );
    }
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn greedy_continuations_are_transformers_token_for_token() {
    let model = model();
    for prompt in prompts() {
        let mut cache = SmolLm2::cache(prompt.ids.len() + prompt.greedy.len()).unwrap();
        let mut logits = model.prefill(&mut cache, &prompt.ids).unwrap();
        let mut generated = Vec::new();
        while generated.len() < prompt.greedy.len() {
            let next = argmax(&logits[..]);
            generated.push(next);
            if next == 2 {
                break;
            }
            logits = model.step(&mut cache, next).unwrap();
        }
        assert_eq!(generated, prompt.greedy, "{}", prompt.kind);
    }
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn every_layer_matches_transformers_hidden_states() {
    let model = model();
    let prompt = &prompts()[0];
    let io = Io::file("smollm2/hidden.safetensors");
    let positions: Vec<usize> = io.flat("positions").iter().map(|&p| p as usize).collect();
    let hidden = io.flat("hidden");
    let d = SmolLm2::D_MODEL;
    // Layer `l`'s rows at the sampled positions, against ours within 1e-4 of the row's
    // largest value (from layer 11 on, position 0 carries values near 2.5e4).
    let check = |layer: usize, x: &[[f32; 576]]| {
        for (k, &position) in positions.iter().enumerate() {
            let want = &hidden[(layer * positions.len() + k) * d..][..d];
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = x[position]
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "layer {layer}, position {position}: off by {worst} (largest value {scale})"
            );
        }
    };
    let mut x: Vec<[f32; 576]> = prompt
        .ids
        .iter()
        .map(|&id| model.token_embedding.weight[id as usize])
        .collect();
    check(0, &x);
    let mut scratch = SmolLm2::scratch();
    for (l, layer) in model.layers.iter().enumerate() {
        layer.forward(&mut x, &Mask::CAUSAL, &mut scratch);
        if l + 1 < SmolLm2::LAYERS {
            check(l + 1, &x);
        }
    }
    // transformers' last hidden state is after the final norm.
    let last = model
        .forward_tokens_with(Tokens::new(&prompt.ids), &Options::new())
        .unwrap();
    check(SmolLm2::LAYERS, &last);
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn decoding_through_the_cache_equals_one_pass() {
    let model = model();
    let prompt = &prompts()[1];
    let ids: Vec<u32> = prompt.ids.iter().chain(&prompt.greedy).copied().collect();
    let hidden = model
        .forward_tokens_with(Tokens::new(&ids), &Options::new())
        .unwrap();
    let mut cache = SmolLm2::cache(ids.len()).unwrap();
    let split = prompt.ids.len();
    let mut got = vec![model.prefill(&mut cache, &ids[..split]).unwrap()];
    for &id in &ids[split..] {
        got.push(model.step(&mut cache, id).unwrap());
    }
    for (i, logits) in got.iter().enumerate() {
        let position = split - 1 + i;
        let want = model.logits(&hidden[position]);
        let worst = logits
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "position {position}: off by {worst}");
    }
}

/// The declaration alone: transformers' parameter count (the tied head counted once) and
/// the cache's cost per token.
#[test]
fn the_declaration_counts_what_transformers_counts() {
    assert_eq!(SmolLm2::PARAMETERS, 134_515_008);
    // 30 layers · keys and values · 3 key/value heads of 64 lanes · 4 bytes.
    assert_eq!(SmolLm2::KV_BYTES_PER_TOKEN, 30 * 2 * 3 * 64 * 4);
    assert_eq!(SmolLm2Cache::BYTES_PER_TOKEN, SmolLm2::KV_BYTES_PER_TOKEN);
}

#[path = "../examples/chat.rs"]
#[expect(dead_code, reason = "the example's `main` is not called here")]
mod chat;

/// The `chat` example's command line: defaults, every option, and errors for bad values.
#[test]
fn the_chat_example_takes_its_options() {
    use clap::Parser;
    let args = chat::Args::try_parse_from(["chat", "Hi"]).unwrap();
    assert_eq!(
        (
            args.prompt.as_str(),
            args.raw,
            args.max_new_tokens,
            args.temperature
        ),
        ("Hi", false, 256, 0.0)
    );
    let args = chat::Args::try_parse_from([
        "chat",
        "--raw",
        "--max-new-tokens",
        "8",
        "--temperature",
        "0.7",
        "--top-k",
        "40",
        "--top-p",
        "0.9",
        "--min-p",
        "0.05",
        "--repetition-penalty",
        "1.1",
        "--seed",
        "3",
        "--model",
        "m.gguf",
        "--json",
        "Once",
    ])
    .unwrap();
    assert!(args.raw && args.json);
    assert_eq!((args.max_new_tokens, args.top_k, args.seed), (8, 40, 3));
    assert_eq!(args.model, Some(PathBuf::from("m.gguf")));
    assert!(chat::Args::try_parse_from(["chat"]).is_err());
    assert!(chat::Args::try_parse_from(["chat", "--max-new-tokens", "x", "Hi"]).is_err());
    let missing = chat::load(std::path::Path::new("/nonexistent/model.gguf"));
    let error = missing.err().unwrap().to_string();
    assert!(error.contains("scripts/fetch-models.sh"), "{error}");
}

/// The `chat` example end to end on the reference's chat prompts: the chat template, the
/// tokenizer and greedy decoding give transformers' ids, prompt and answer.
#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn the_chat_example_answers_as_transformers_does() {
    use clap::Parser;
    let loaded = chat::load(&model_path()).unwrap();
    let text = std::fs::read_to_string(common::fixture("smollm2/reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = &json["prompts"][0];
    assert_eq!(first["kind"], "chat");
    let args = chat::Args::try_parse_from(["chat", "What is the capital of France?"]).unwrap();
    let generation = chat::generate(&loaded, &args, |_| Ok(())).unwrap();
    let ids = |value: &serde_json::Value| -> Vec<u32> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    };
    assert_eq!(generation.prompt_ids, ids(&first["ids"]));
    assert_eq!(generation.generated_ids, ids(&first["greedy"]));
    assert_eq!(generation.text, "The capital of France is Paris.");
}

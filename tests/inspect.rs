//! `examples/inspect.rs`: the declaration it prints for a weights file is the one the tests
//! declare for that file, from GGUF metadata or from a safetensors file's `config.json`.

mod common;

#[path = "../examples/inspect.rs"]
#[expect(dead_code, reason = "the example's `main` is not called here")]
mod inspect;

use std::path::Path;

use common::fixture;

/// `tests/llama.rs`'s and `tests/llama_gguf.rs`'s `TinyLlama`, as `inspect` writes it.
const TINY_LLAMA: &str = "transformer! {
    pub TinyLlama < kind: decoder, vocab: 48, d_model: 32, heads: 4, kv_heads: 2, layers: 2,
        d_ff: 40, max_len: 64, norm: pre, norm_kind: rms, eps: 1e-6, final_norm: true,
        positional: rope, rope_theta: 5000, gated: true, activation: silu, bias: false, lm_head: separate,
        weights: llama >
}";

#[test]
fn gguf_metadata_and_a_config_json_declare_the_same_llama() {
    for file in [
        "llama/model.f32.gguf",
        "llama/model.q8_0.gguf",
        "llama/model.safetensors",
    ] {
        let (declaration, summary) = inspect::describe(&fixture(file), "TinyLlama").unwrap();
        assert_eq!(declaration, TINY_LLAMA, "{file}");
        assert!(
            summary.starts_with("// 17056 parameters;"),
            "{file}: {summary}"
        );
    }
}

#[test]
fn a_gpt2_config_declares_tests_gpt2s_model() {
    let (declaration, summary) =
        inspect::describe(&fixture("gpt2/model.safetensors"), "TinyGpt2").unwrap();
    assert_eq!(
        declaration,
        "transformer! {
    pub TinyGpt2 < kind: decoder, vocab: 50, d_model: 24, heads: 4, layers: 2,
        d_ff: 96, max_len: 24, norm: pre, eps: 1e-5, final_norm: true, positional: learned,
        activation: gelu_tanh, lm_head: tied, weights: gpt2 >
}"
    );
    assert!(summary.starts_with("// 16272 parameters;"), "{summary}");
}

#[test]
fn names_come_from_the_file_and_other_files_are_errors() {
    let name = |file: &str| inspect::type_name(Path::new(file));
    assert_eq!(
        name("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "SmolLM2135MInstruct"
    );
    assert_eq!(name("/models/tiny_llama.gguf"), "TinyLlama");
    assert_eq!(name("7b.gguf"), "Model7b");
    let error = inspect::describe(&fixture("param_counts.json"), "M").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a .gguf or .safetensors file"),
        "{error}"
    );
}

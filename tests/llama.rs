//! A Llama declared in the DSL loads transformers' `LlamaForCausalLM` weights under their own
//! names and gives its logits: every position of one pass, and token by token through the
//! cache. The model and the logits come from `tools/reference/llama_fixture.py`.

mod common;

use common::{assert_logits_close, fixture, logits_reference};
use transformer::runtime::{Options, Tokens};
use transformer::transformer;

transformer! {
    /// `tests/fixtures/llama`'s configuration.
    TinyLlama < kind: decoder, vocab: 48, d_model: 32, heads: 4, kv_heads: 2, layers: 2,
                d_ff: 40, max_len: 64, norm: pre, norm_kind: rms, eps: 1e-6, final_norm: true,
                positional: rope, rope_theta: 5000, gated: true, activation: silu, bias: false,
                lm_head: separate, weights: llama >
}

fn model() -> TinyLlama {
    TinyLlama::from_safetensors(fixture("llama/model.safetensors")).expect("transformers' names")
}

#[test]
fn one_pass_gives_transformers_logits_at_every_position() {
    let (ids, want) = logits_reference("llama/reference.json", "/logits");
    let model = model();
    let hidden = model
        .forward_tokens_with(Tokens::new(&ids), &Options::new())
        .unwrap();
    for (position, (row, want)) in hidden.iter().zip(&want).enumerate() {
        assert_logits_close(&model.logits(row)[..], want, position);
    }
}

#[test]
fn prefill_and_steps_give_transformers_logits() {
    let (ids, want) = logits_reference("llama/reference.json", "/logits");
    let model = model();
    let mut cache = TinyLlama::cache(ids.len()).unwrap();
    let logits = model.prefill(&mut cache, &ids[..5]).unwrap();
    assert_logits_close(&logits[..], &want[4], 4);
    for (position, &id) in ids.iter().enumerate().skip(5) {
        let logits = model.step(&mut cache, id).unwrap();
        assert_logits_close(&logits[..], &want[position], position);
    }
}

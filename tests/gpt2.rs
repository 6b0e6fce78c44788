//! A GPT-2 declared in the DSL loads transformers' `GPT2LMHeadModel` weights as
//! `save_pretrained` stores them (`Conv1D` weights transposed, q, k and v side by side in
//! `c_attn`, the tied head absent) and gives its logits: every position of one pass, and
//! token by token through the cache. From `tools/reference/gpt2_fixture.py`.

mod common;

use common::{assert_logits_close, fixture, logits_reference};
use transformer::runtime::{Options, Tokens};
use transformer::transformer;

transformer! {
    /// `tests/fixtures/gpt2`'s configuration.
    TinyGpt2 < kind: decoder, vocab: 50, d_model: 24, heads: 4, layers: 2, max_len: 24,
               norm: pre, final_norm: true, positional: learned, activation: gelu_tanh,
               lm_head: tied, weights: gpt2 >
}

fn model() -> TinyGpt2 {
    TinyGpt2::from_safetensors(fixture("gpt2/model.safetensors")).expect("transformers' names")
}

#[test]
fn one_pass_gives_transformers_logits_at_every_position() {
    let (ids, want) = logits_reference("gpt2/reference.json", "/logits");
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
    let (ids, want) = logits_reference("gpt2/reference.json", "/logits");
    let model = model();
    let mut cache = TinyGpt2::cache(ids.len()).unwrap();
    let logits = model.prefill(&mut cache, &ids[..3]).unwrap();
    assert_logits_close(&logits[..], &want[2], 2);
    for (position, &id) in ids.iter().enumerate().skip(3) {
        let logits = model.step(&mut cache, id).unwrap();
        assert_logits_close(&logits[..], &want[position], position);
    }
}

#[test]
fn saved_weights_load_back_under_the_same_names() {
    let model = model();
    let bytes = model.to_safetensors_bytes().unwrap();
    let again = TinyGpt2::from_safetensors_bytes(&bytes).unwrap();
    assert!(again == model);
}

//! A model's `EXPANSION` as a user snapshot-tests it, and proof that it is the text of our
//! own snapshot of the same spec in `transformer-macros`.

use transformer::transformer;

transformer! {
    /// A two-layer encoder.
    pub TinyEncoder < d_model: 64, heads: 4, layers: 2, d_ff: 256, max_len: 128 >
}

#[test]
fn tiny_encoder_code() {
    insta::assert_snapshot!(TinyEncoder::EXPANSION);
}

// The spec of `seed_example_model` in `transformer-macros/src/tests/snapshots.rs`, declared
// with a second model, which must not show in the first one's text.
transformer! {
    /// One head of self-attention with a residual connection.
    pub SeedAttention < d_model: 4, heads: 1, layers: 1, max_len: 2,
                        norm: none, ffn: false, out_proj: false, bias: false >
    Neighbour < d_model: 8, heads: 2, layers: 1 >
}

/// The macro crate's snapshot of the seed model, without insta's header.
const SEED_SNAPSHOT: &str = include_str!(
    "../transformer-macros/src/tests/snapshots/transformer_macros__tests__snapshots__seed_example_model.snap"
);

#[test]
fn expansion_is_the_macro_crate_snapshot_of_the_same_spec() {
    let (_, header_and_code) = SEED_SNAPSHOT
        .split_once("---\n")
        .expect("a snapshot starts with `---`");
    let (_, code) = header_and_code
        .split_once("\n---\n")
        .expect("a snapshot's header ends with `---`");
    assert_eq!(SeedAttention::EXPANSION, code);
    assert!(!SeedAttention::EXPANSION.contains("Neighbour"));
    assert!(!SeedAttention::EXPANSION.contains("EXPANSION"));
}

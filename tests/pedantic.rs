//! A crate that only declares models, linted with clippy's pedantic group: generated code
//! must not warn. (`cargo clippy --all-targets -- -D warnings` runs it in CI.)

#![warn(clippy::pedantic)]

use transformer::transformer;

transformer! {
    /// The smallest model.
    pub Smallest < d_model: 4, heads: 1, layers: 1 >
    /// Every key of an encoder.
    pub Everything < kind: encoder, d_model: 24, heads: 3, layers: 2, d_ff: 40, max_len: 16,
                     norm: pre, final_norm: true, eps: 1e-6, activation: gelu_tanh,
                     positional: learned, bias: false, out_proj: false, causal: true >
    /// A BERT-style encoder taking token ids.
    pub Bert < vocab: 30522, d_model: 32, heads: 4, layers: 2, max_len: 512, positional: learned,
               token_types: 2, embed_norm: true, activation: gelu, eps: 1e-12, weights: bert >
    /// A decoder reading an encoder memory.
    pub Captioner < kind: decoder, cross_attention: true, d_model: 16, heads: 4, layers: 2,
                    positional: sinusoidal, ffn: true >
    /// `nn.Transformer`, as in `PyTorch`.
    pub Translator < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 2,
                     decoder_layers: 1 >
    /// No sublayer norms, no feed-forward.
    pub(crate) Bare < d_model: 8, heads: 2, layers: 1, norm: none, ffn: false >
}

#[test]
fn the_models_exist() {
    assert_eq!(Smallest::D_MODEL, 4);
    assert_eq!(Everything::LAYERS, 2);
    assert_eq!(Bert::VOCAB, 30522);
    assert_eq!(Captioner::LAYERS, 2);
    assert_eq!(Translator::DECODER_LAYERS, 1);
    assert_eq!(Bare::D_FF, 0);
}

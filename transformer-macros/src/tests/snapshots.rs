//! The generated code of representative specs, reviewed like hand-written code.
//! `cargo insta review` after a change to codegen.

use quote::quote;

use super::pretty;

#[test]
fn smallest_model() {
    insta::assert_snapshot!(pretty(quote! { Tiny < d_model: 4, heads: 1, layers: 1 > }));
}

#[test]
fn seed_example_model() {
    insta::assert_snapshot!(pretty(quote! {
        /// One head of self-attention with a residual connection.
        pub SeedAttention < d_model: 4, heads: 1, layers: 1, max_len: 2,
                            norm: none, ffn: false, out_proj: false, bias: false >
    }));
}

#[test]
fn pre_norm_gelu_with_final_norm() {
    insta::assert_snapshot!(pretty(quote! {
        pub(crate) Tagger < d_model: 32, heads: 2, layers: 2, activation: gelu, norm: pre, final_norm: true >
    }));
}

#[test]
fn every_key() {
    insta::assert_snapshot!(pretty(quote! {
        /// Every key set.
        #[doc(alias = "kitchen_sink")]
        pub Everything < kind: encoder, d_model: 24, heads: 3, layers: 2, d_ff: 40, max_len: 16,
                         norm: post, norm_kind: rms, final_norm: true, eps: 1e-6, activation: gelu_tanh,
                         positional: learned, bias: false, ffn: true, out_proj: true, causal: true >
    }));
}

#[test]
fn llama_like_decoder() {
    insta::assert_snapshot!(pretty(quote! {
        /// SmolLM2's layout at toy sizes: grouped-query attention with rotary positions,
        /// RMS norms before each sublayer, a SwiGLU feed-forward.
        pub TinyLlama < kind: decoder, vocab: 32, d_model: 16, heads: 4, kv_heads: 2, layers: 2,
                        d_ff: 24, max_len: 64, norm: pre, norm_kind: rms, final_norm: true,
                        positional: rope, rope_theta: 100000, gated: true, activation: silu,
                        bias: false, lm_head: tied, weights: llama >
    }));
}

#[test]
fn gpt2_like_decoder() {
    insta::assert_snapshot!(pretty(quote! {
        /// GPT-2's layout at toy sizes: learned positions, `Conv1D` weights, a tied head.
        pub TinyGpt2 < kind: decoder, vocab: 32, d_model: 16, heads: 4, layers: 2, max_len: 16,
                       norm: pre, final_norm: true, positional: learned, activation: gelu_tanh,
                       lm_head: tied, weights: gpt2 >
    }));
}

#[test]
fn decoder_with_cross_attention() {
    insta::assert_snapshot!(pretty(quote! {
        pub Captioner < kind: decoder, cross_attention: true, d_model: 16, heads: 4, layers: 2, positional: sinusoidal >
    }));
}

#[test]
fn encoder_decoder() {
    insta::assert_snapshot!(pretty(quote! {
        pub Translator < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 2, decoder_layers: 1 >
    }));
}

#[test]
fn minilm_like_bert_model() {
    insta::assert_snapshot!(pretty(quote! {
        /// all-MiniLM-L6-v2's layout at toy sizes: token ids in, BERT's tensor names.
        pub MiniBert < vocab: 32, token_types: 2, d_model: 8, heads: 2, layers: 2, d_ff: 16,
                       max_len: 8, positional: learned, embed_norm: true, activation: gelu,
                       eps: 1e-12, weights: bert >
    }));
}

#[test]
fn token_ids_without_token_types() {
    insta::assert_snapshot!(pretty(quote! {
        pub TinyGpt < kind: decoder, vocab: 16, d_model: 8, heads: 2, layers: 1, max_len: 4 >
    }));
}

#[test]
fn spec_errors_become_compile_errors() {
    insta::assert_snapshot!(
        crate::expand(quote! { M < d_model: 64, heads: 5, layerz: 2 > }).to_string()
    );
}

#[test]
fn eps_only_where_a_layer_norm_uses_it() {
    let has_eps = |spec| pretty(spec).contains("pub const EPS");
    assert!(!has_eps(
        quote! { M < d_model: 8, heads: 2, layers: 1, norm: none > }
    ));
    assert!(!has_eps(quote! {
        M < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1,
            norm: none >
    }));
    // The embedding norm is a layer norm even when the layers have none.
    assert!(has_eps(quote! {
        M < d_model: 8, heads: 2, layers: 1, norm: none, vocab: 10, embed_norm: true >
    }));
    assert!(has_eps(quote! { M < d_model: 8, heads: 2, layers: 1 > }));
}

#[test]
fn a_crate_path_reaches_every_runtime_path() {
    // Every kind of model, with every entry point family, under a renamed facade.
    for spec in [
        quote! { #[transformer(crate = "::tfm")] A < d_model: 8, heads: 2, layers: 1, positional: sinusoidal > },
        quote! { #[transformer(crate = "::tfm")] B < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1 > },
        quote! { #[transformer(crate = "::tfm")] C < d_model: 8, heads: 2, layers: 1, vocab: 10, token_types: 2, embed_norm: true, positional: learned, weights: bert > },
        quote! { #[transformer(crate = "::tfm")] D < kind: decoder, cross_attention: true, d_model: 8, heads: 2, layers: 1 > },
    ] {
        let code = pretty(spec);
        assert!(
            !code.contains("transformer"),
            "the facade's own name is left in:\n{code}"
        );
        assert!(code.contains("::tfm::runtime::"), "{code}");
    }
}

#[test]
fn stacks_with_their_own_inputs() {
    insta::assert_snapshot!(pretty(quote! {
        /// Whisper's shape: audio features into the encoder, token ids into the decoder.
        pub Speech < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1,
                     decoder_layers: 1, d_ff: 16, max_len: 6, norm: pre, activation: gelu,
                     encoder: { positional: sinusoidal },
                     decoder: { vocab: 20, positional: learned, embed_norm: true } >
    }));
}

#[test]
fn encoder_decoder_that_generates() {
    insta::assert_snapshot!(pretty(quote! {
        /// Whisper's shape with a head of its own: the decoder predicts the next token.
        pub Transcriber < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1,
                          decoder_layers: 2, d_ff: 16, max_len: 6, norm: pre,
                          encoder: { positional: sinusoidal },
                          decoder: { vocab: 20, positional: learned }, lm_head: separate >
    }));
}

//! Unit tests of the rules; `tests/ui` shows the same errors as the compiler prints them.

use quote::quote;

use super::*;

fn check(tokens: proc_macro2::TokenStream) -> Result<Vec<Model>, String> {
    let specs: Specs = syn::parse2(tokens).map_err(|e| e.to_string())?;
    validate(&specs).map_err(|e| {
        e.into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n---\n")
    })
}

/// The errors of a spec that must be rejected, one string.
fn reject(tokens: proc_macro2::TokenStream) -> String {
    match check(tokens.clone()) {
        Ok(_) => panic!("accepted: {tokens}"),
        Err(errors) => errors,
    }
}

/// Each spec is rejected with an error containing its expected text.
fn assert_rejected_with(cases: &[(proc_macro2::TokenStream, &str)]) {
    for (tokens, expected) in cases {
        let err = reject(tokens.clone());
        assert!(
            err.contains(expected),
            "{tokens}: missing {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn defaults_fill_in_what_is_left_out() {
    let models = check(quote! { M < d_model: 64, heads: 4, layers: 2 > }).unwrap();
    let m = &models[0];
    assert_eq!((m.d_ff(), m.max_len, m.eps), (256, 512, 1e-5));
    assert!(m.bias && m.kind == Kind::Encoder);
    let [stack] = &m.stacks[..] else {
        panic!("one stack")
    };
    assert_eq!((stack.role, stack.layers), (Role::Encoder, 2));
    assert_eq!(
        (stack.norm, stack.positions),
        (NormPlacement::Post, Positional::None)
    );
    assert!(!stack.final_norm && !stack.causal() && !stack.cross() && stack.tokens().is_none());
    let [Sublayer::Attention(attention), Sublayer::FeedForward(ffn)] = &stack.block[..] else {
        panic!("self-attention then feed-forward")
    };
    assert!(attention.out_proj && !attention.memory);
    assert_eq!(ffn.activation, Activation::Relu);
}

#[test]
fn an_unnamed_model_is_called_transformer() {
    let models = check(quote! { < heads: 4, d_model: 64, layers: 2 > }).unwrap();
    assert_eq!(models[0].name, "Transformer");
}

#[test]
fn encoder_decoder_takes_two_layer_counts_and_final_norms() {
    let models = check(quote! { M < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 2, decoder_layers: 3 > }).unwrap();
    let [encoder, decoder] = &models[0].stacks[..] else {
        panic!("two stacks")
    };
    assert_eq!((encoder.role, encoder.layers), (Role::Encoder, 2));
    assert_eq!((decoder.role, decoder.layers), (Role::Decoder, 3));
    assert!(encoder.final_norm && !encoder.causal() && !encoder.cross());
    assert!(decoder.final_norm && decoder.causal() && decoder.cross());
    assert_eq!(
        decoder.block.len(),
        3,
        "self-attention, cross-attention, feed-forward"
    );
}

#[test]
fn every_mistake_is_reported_at_once() {
    let err = reject(quote! { M < d_model: 64, heads: 5, hedas: 4, layers: 0, activation: gleu > });
    for expected in [
        "`heads` (5) must divide `d_model` (64)",
        "unknown setting `hedas`",
        "the closest known setting is `heads`",
        "`layers` must be at least 1",
        "help: use `activation: gelu`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn heads_that_do_not_divide_list_the_ones_that_do() {
    let err = reject(quote! { M < d_model: 12, heads: 5, layers: 1 > });
    assert!(
        err.contains("help: 12 splits evenly into 1, 2, 3, 4, 6 or 12 heads"),
        "{err}"
    );
}

#[test]
fn missing_keys_are_listed_together() {
    let err = reject(quote! { M < heads: 4 > });
    assert!(
        err.contains("missing required settings `d_model` and `layers`"),
        "{err}"
    );
    assert!(err.contains("help: add `d_model: 64, layers: 2`"), "{err}");
}

#[test]
fn values_of_the_wrong_kind_name_what_was_found() {
    let cases = [
        (
            quote! { M < d_model: 64.0, heads: 4, layers: 2 > },
            "`d_model` takes a positive integer, found the float `64.0`",
        ),
        (
            quote! { M < d_model: "64", heads: 4, layers: 2 > },
            "found the string `\"64\"`",
        ),
        (
            quote! { M < d_model: 64, heads: 4, layers: -2 > },
            "found the negative number `-2`",
        ),
        (
            quote! { M < d_model: 64, heads: 4, layers: 2, bias: yes > },
            "`bias` takes `true` or `false`, found the word `yes`",
        ),
        (
            quote! { M < d_model: 64, heads: 4, layers: 2, eps: -1e-5 > },
            "`eps` (-1e-5) must be greater than zero",
        ),
        (
            quote! { M < d_model: 64, heads: 4, layers: 2, eps: 1e-60 > },
            "(1e-60) rounds to zero in `f32`",
        ),
        (
            quote! { M < d_model: 64, heads: 4, layers: 2, norm: "pre" > },
            "`norm` takes a bare word, not a string",
        ),
        (
            quote! { M < d_model: 99999999999999999999999, heads: 4, layers: 2 > },
            "is too large",
        ),
        (
            quote! { M < d_model: 2000000, heads: 4, layers: 2 > },
            "the limit is 1048576",
        ),
    ];
    assert_rejected_with(&cases);
}

#[test]
fn contradictions_between_keys_are_errors() {
    let cases = [
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, norm: none, final_norm: true > },
            "`final_norm: true` contradicts `norm: none`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, norm: none, eps: 1e-6 > },
            "`eps` has no effect",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, norm: none, norm_kind: layer > },
            "`norm_kind` has no effect",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, vocab: 10, weights: bert, norm_kind: rms > },
            "this spec sets `norm_kind` otherwise",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, ffn: false, d_ff: 32 > },
            "`d_ff` has no effect: `ffn: false`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, ffn: false, activation: gelu > },
            "`activation` has no effect",
        ),
        (
            quote! { M < kind: encoder_decoder, d_model: 8, heads: 2, layers: 1, encoder_layers: 1, decoder_layers: 1 > },
            "`layers` does not apply to `kind: encoder_decoder`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, encoder_layers: 1 > },
            "`encoder_layers` applies only to `kind: encoder_decoder`",
        ),
        (
            quote! { M < kind: decoder, d_model: 8, heads: 2, layers: 1, causal: true > },
            "a `decoder` is causal already",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, cross_attention: true > },
            "`cross_attention` applies only to `kind: decoder`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, d_model: 8 > },
            "`d_model` is set twice",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1 > M < d_model: 8, heads: 2, layers: 1 > },
            "a second model is named `M`",
        ),
        (
            quote! { M < d_model: 1048576, heads: 1, layers: 1048576, d_ff: 1048576 > },
            "too large: its weights would not fit",
        ),
    ];
    assert_rejected_with(&cases);
}

#[test]
fn a_final_norm_is_allowed_with_no_layer_norms_only_when_eps_is_unused() {
    assert!(check(quote! { M < d_model: 8, heads: 2, layers: 1, norm: none > }).is_ok());
    assert!(check(quote! { M < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1, norm: none > }).is_ok());
}

#[test]
fn decoder_llm_settings_build_grouped_rotary_gated_layers() {
    let models = check(quote! {
        M < kind: decoder, d_model: 576, heads: 9, kv_heads: 3, layers: 30, d_ff: 1536,
            norm: pre, norm_kind: rms, final_norm: true, positional: rope, rope_theta: 100000,
            gated: true, activation: silu, bias: false >
    })
    .unwrap();
    let m = &models[0];
    assert_eq!((m.heads, m.kv_heads, m.d_head()), (9, 3, 64));
    let [Sublayer::Attention(attention), Sublayer::FeedForward(ffn)] = &m.stacks[0].block[..]
    else {
        panic!("self-attention then feed-forward")
    };
    let rope = Rope {
        theta: 100_000.0,
        pairs: RopePairs::Half,
    };
    assert_eq!(attention.rope, Some(rope));
    assert!(ffn.gated && ffn.activation == Activation::Silu);
    // SmolLM2-135M without its embedding table: 134,515,008 − 49,152 · 576.
    assert_eq!(
        crate::count::parameters(m),
        Some(134_515_008 - 49_152 * 576)
    );
    // `kv_heads` defaults to `heads`; cross-attention never rotates.
    let models = check(quote! {
        M < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1,
            decoder: { positional: rope } >
    })
    .unwrap();
    let m = &models[0];
    assert_eq!(m.kv_heads, 2);
    let ropes: Vec<Vec<bool>> = m
        .stacks
        .iter()
        .map(|stack| {
            stack
                .block
                .iter()
                .filter_map(|sublayer| match sublayer {
                    Sublayer::Attention(a) => Some(a.rope.is_some()),
                    Sublayer::FeedForward(_) => None,
                })
                .collect()
        })
        .collect();
    assert_eq!(ropes, [vec![false], vec![true, false]]);
}

#[test]
fn decoder_llm_contradictions_name_the_fix() {
    let cases = [
        (
            quote! { M < d_model: 12, heads: 6, kv_heads: 4, layers: 1 > },
            "`kv_heads` (4) must divide `heads` (6): query heads share key/value heads in equal groups\nhelp: 6 heads share 1, 2, 3 or 6 key/value heads evenly",
        ),
        (
            quote! { M < d_model: 12, heads: 4, layers: 1, positional: rope > },
            "each head has 3 (`d_model` 12 / `heads` 4), an odd number\nhelp: set `heads` to 1, 2, 3 or 6, which give heads of an even width",
        ),
        (
            quote! { M < d_model: 9, heads: 3, layers: 1, positional: rope > },
            "`d_model` (9) is odd",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, rope_theta: 500000 > },
            "`rope_theta` has no effect: no stack uses `positional: rope`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, positional: learned, rope_pairs: adjacent > },
            "`rope_pairs` has no effect",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, rope_pairs: halves > },
            "unknown `rope_pairs` `halves`",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, ffn: false, gated: true > },
            "`gated` has no effect: `ffn: false` removes the feed-forward sublayer",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, vocab: 10, weights: bert, gated: true > },
            "which has an ungated feed-forward; this spec sets `gated` otherwise",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, vocab: 10, weights: bert, kv_heads: 1 > },
            "this spec sets `kv_heads` otherwise",
        ),
        (
            quote! { M < d_model: 8, heads: 2, layers: 1, vocab: 10, weights: bert, positional: rope > },
            "this spec sets `positional` otherwise",
        ),
    ];
    assert_rejected_with(&cases);
    // `kv_heads` equal to `heads` is BERT's own layout.
    let bert =
        quote! { M < d_model: 8, heads: 2, kv_heads: 2, layers: 1, vocab: 10, weights: bert > };
    assert!(check(bert).is_ok());
}

#[test]
fn a_language_model_head_needs_a_decoder_reading_token_ids() {
    let cases = [
        (
            quote! { M < kind: decoder, d_model: 8, heads: 2, layers: 1, lm_head: tied > },
            "`lm_head` needs `vocab`",
        ),
        (
            quote! { M < vocab: 10, d_model: 8, heads: 2, layers: 1, lm_head: tied > },
            "`lm_head` applies only to a decoder, which predicts the next token; this model is `kind: encoder`",
        ),
        (
            quote! { M < kind: decoder, vocab: 10, d_model: 8, heads: 2, layers: 1, lm_head: shared > },
            "unknown `lm_head` `shared`",
        ),
    ];
    assert_rejected_with(&cases);
    let models = check(
        quote! { M < kind: decoder, vocab: 10, d_model: 8, heads: 2, layers: 1, lm_head: tied > },
    )
    .unwrap();
    assert_eq!(models[0].stacks[0].lm_head, LmHead::Tied);
}

#[test]
fn llama_weights_name_every_setting_a_llama_has_otherwise() {
    let llama = quote! {
        M < kind: decoder, vocab: 10, d_model: 8, heads: 2, kv_heads: 1, layers: 1, norm: pre,
            norm_kind: rms, final_norm: true, positional: rope, gated: true, activation: silu,
            bias: false, lm_head: tied, weights: llama >
    };
    assert!(check(llama).is_ok());
    let errors = reject(quote! {
        M < vocab: 10, d_model: 8, heads: 2, layers: 1, norm: post, positional: learned,
            rope_pairs: adjacent, weights: llama >
    });
    for expected in [
        "which has `kind: decoder`; this spec leaves `kind` out\nhelp: add `kind: decoder`, or use `weights: pytorch`",
        "which has `norm: pre`; this spec sets `norm` otherwise\nhelp: change `norm`",
        "which has `norm_kind: rms`; this spec leaves `norm_kind` out",
        "which has `final_norm: true`",
        "which has `positional: rope`; this spec sets `positional` otherwise",
        "which has `gated: true`",
        "which has `bias: false`",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

#[test]
fn gpt2_weights_name_every_setting_a_gpt2_has_otherwise() {
    let gpt2 = quote! {
        M < kind: decoder, vocab: 10, d_model: 8, heads: 2, layers: 1, norm: pre,
            final_norm: true, positional: learned, activation: gelu_tanh, lm_head: tied,
            weights: gpt2 >
    };
    assert!(check(gpt2).is_ok());
    let errors = reject(quote! {
        M < kind: decoder, vocab: 10, d_model: 8, heads: 2, kv_heads: 1, layers: 1, norm: pre,
            final_norm: true, positional: rope, gated: true, bias: false, weights: gpt2 >
    });
    for expected in [
        "`weights: gpt2` names a GPT-2 (`GPT2LMHeadModel`), which has `positional: learned`; this spec sets `positional` otherwise",
        "which has an ungated feed-forward; this spec sets `gated` otherwise",
        "which has one key/value head per query head; this spec sets `kv_heads` otherwise",
        "which has biases; this spec sets `bias` otherwise",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

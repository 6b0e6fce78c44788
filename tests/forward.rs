//! End to end: every spec key changes the generated model as documented, checked against the
//! f64 reference in `common`, through all three entry points (`forward`, `_with`, `_into`).

mod common;

use common::*;
use transformer::runtime::{ForwardError, Options, Rng, Rope, RopePairs};
use transformer::transformer;

transformer! {
    PostRelu < d_model: 16, heads: 4, layers: 2, d_ff: 24, max_len: 8 >
    PreGeluFinal < d_model: 12, heads: 3, layers: 2, norm: pre, activation: gelu, final_norm: true, eps: 1e-6 >
    PostFinalTanh < d_model: 8, heads: 2, layers: 1, activation: gelu_tanh, final_norm: true >
    Sinusoidal < d_model: 8, heads: 2, layers: 1, positional: sinusoidal, max_len: 16 >
    Learned < d_model: 8, heads: 2, layers: 2, positional: learned, max_len: 6 >
    NoBias < d_model: 8, heads: 2, layers: 2, bias: false, norm: pre, final_norm: true >
    NoFfn < d_model: 8, heads: 4, layers: 2, ffn: false >
    NoOutProj < d_model: 8, heads: 2, layers: 1, out_proj: false >
    NoNorm < d_model: 8, heads: 2, layers: 2, norm: none >
    Causal < d_model: 8, heads: 2, layers: 2, causal: true >
    Decoder < kind: decoder, d_model: 8, heads: 2, layers: 2, norm: pre, final_norm: true >
    CrossDecoder < kind: decoder, cross_attention: true, d_model: 8, heads: 2, layers: 2 >
    Seq2Seq < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 2, decoder_layers: 1, d_ff: 12 >
    OddSizes < d_model: 15, heads: 5, layers: 1, d_ff: 7, max_len: 3 >
    RmsPre < d_model: 8, heads: 2, layers: 2, d_ff: 12, norm: pre, norm_kind: rms, final_norm: true >
    RmsPost < d_model: 8, heads: 2, layers: 1, norm_kind: rms, eps: 1e-6 >
    LlamaLike < kind: decoder, d_model: 16, heads: 4, kv_heads: 2, layers: 2, d_ff: 24,
                norm: pre, norm_kind: rms, final_norm: true, positional: rope, rope_theta: 500,
                gated: true, activation: silu, bias: false >
    MultiQueryAdjacent < d_model: 12, heads: 3, kv_heads: 1, layers: 1, causal: true,
                         positional: rope, rope_pairs: adjacent >
    GatedGelu < d_model: 8, heads: 2, layers: 1, d_ff: 12, gated: true, activation: gelu >
}

const TOL: f64 = 1e-5;

/// Randomises the named fields of every layer.
macro_rules! randomize_layers {
    ($layers:expr, $rng:expr; $($field:ident),*) => {
        for layer in $layers.iter_mut() {
            $( layer.$field.randomize($rng); )*
        }
    };
}

/// The reference layers of a stack, given which sublayers and norms its layer struct has.
macro_rules! naive_layers {
    ($layers:expr; norms: [$($norm:ident),*] $(, cross: $cross:ident)? $(, ffn: $ffn:ident)?) => {
        $layers
            .iter()
            .map(|layer| NaiveLayer {
                attn: NaiveAttention::of(&layer.attn),
                cross: None $(.or(Some(NaiveAttention::of(&layer.$cross))))?,
                ffn: None $(.or(Some(NaiveFfn::of(&layer.$ffn))))?,
                norms: vec![$(NaiveNorm::of(&layer.$norm)),*],
            })
            .collect()
    };
}

fn stack(layers: Vec<NaiveLayer>, norm: Norm, act: Act) -> NaiveStack {
    NaiveStack {
        layers,
        final_norm: None,
        positions: Positions::None,
        norm,
        act,
        causal: false,
    }
}

/// Checks `forward`, `forward_with` and `forward_into` of a single-stack model on 5 tokens.
macro_rules! check_single_stack {
    ($model:ident, $naive:expr, $d:literal) => {{
        let x: [[f32; $d]; 5] = random_input(11);
        let model = &$model;
        let want = $naive.apply(&rows(&x), None);
        assert_close(&model.forward(&x)[..], &want, TOL);
        assert_close(
            &model.forward_with(&x, &Options::new()).unwrap(),
            &want,
            TOL,
        );
        let mut out = [[0.0; $d]; 5];
        model
            .forward_into(&x, &Options::new(), &mut out, &mut <_>::default())
            .unwrap();
        assert_close(&out, &want, TOL);
    }};
}

#[test]
fn post_norm_relu_encoder() {
    let rng = &mut Rng::new(1);
    let mut m = PostRelu::init(1);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    check_single_stack!(m, naive, 16);
}

#[test]
fn pre_norm_gelu_with_final_norm() {
    let rng = &mut Rng::new(2);
    let mut m = PreGeluFinal::init(2);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.norm.randomize(rng);
    assert_eq!(m.norm.eps, 1e-6);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Pre,
        Act::Gelu,
    );
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 12);
}

#[test]
fn gelu_tanh_with_a_post_norm_final_norm() {
    let rng = &mut Rng::new(3);
    let mut m = PostFinalTanh::init(3);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.norm.randomize(rng);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::GeluTanh,
    );
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 8);
}

#[test]
fn sinusoidal_positions_are_added_to_the_input() {
    let rng = &mut Rng::new(4);
    let mut m = Sinusoidal::init(4);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    naive.positions = Positions::Sinusoidal;
    check_single_stack!(m, naive, 8);
}

#[test]
fn learned_positions_are_a_max_len_table() {
    let rng = &mut Rng::new(5);
    let mut m = Learned::init(5);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.positions.randomize(rng);
    assert_eq!(m.positions.weight.len(), Learned::MAX_LEN);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    naive.positions = Positions::Learned(rows(&m.positions.weight[..]));
    check_single_stack!(m, naive, 8);
}

#[test]
fn bias_false_removes_every_bias() {
    let rng = &mut Rng::new(6);
    let mut m = NoBias::init(6);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    assert!(m.layers[0].attn.w_q.bias.is_none() && m.layers[0].ffn.w_up.bias.is_none());
    assert!(m.layers[0].norm1.bias.is_none() && m.norm.bias.is_none());
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Pre,
        Act::Relu,
    );
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 8);
}

#[test]
fn ffn_false_leaves_attention_and_its_norm() {
    let rng = &mut Rng::new(7);
    let mut m = NoFfn::init(7);
    randomize_layers!(m.layers, rng; attn, norm1);
    assert_eq!(NoFfn::D_FF, 0);
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1]),
        Norm::Post,
        Act::Relu,
    );
    check_single_stack!(m, naive, 8);
}

#[test]
fn out_proj_false_concatenates_the_heads() {
    let rng = &mut Rng::new(8);
    let mut m = NoOutProj::init(8);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    assert!(m.layers[0].attn.w_o.is_none());
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    check_single_stack!(m, naive, 8);
}

#[test]
fn norm_none_adds_sublayers_without_normalising() {
    let rng = &mut Rng::new(9);
    let mut m = NoNorm::init(9);
    randomize_layers!(m.layers, rng; attn, ffn);
    let naive = stack(
        naive_layers!(m.layers; norms: [], ffn: ffn),
        Norm::None,
        Act::Relu,
    );
    check_single_stack!(m, naive, 8);
}

#[test]
fn causal_encoder_hides_later_tokens() {
    let rng = &mut Rng::new(10);
    let mut m = Causal::init(10);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    naive.causal = true;
    check_single_stack!(m, naive, 8);
    // A prefix's outputs do not depend on what follows it (to rounding: the products
    // sum in a different order when the sequence is longer).
    let x: [[f32; 8]; 5] = random_input(12);
    let full = m.forward(&x);
    let prefix = m.forward_with(&x[..3], &Options::new()).unwrap();
    assert_close(&full[..3], &rows(&prefix), 1e-6);
}

#[test]
fn decoder_is_a_causal_stack() {
    let rng = &mut Rng::new(11);
    let mut m = Decoder::init(11);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.norm.randomize(rng);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Pre,
        Act::Relu,
    );
    naive.causal = true;
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 8);
}

#[test]
fn cross_attention_decoder_attends_to_the_memory() {
    let rng = &mut Rng::new(12);
    let mut m = CrossDecoder::init(12);
    randomize_layers!(m.layers, rng; attn, norm1, cross_attn, norm2, ffn, norm3);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2, norm3], cross: cross_attn, ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    naive.causal = true;
    let tgt: [[f32; 8]; 4] = random_input(13);
    let memory: [[f32; 8]; 3] = random_input(14);
    let want = naive.apply(&rows(&tgt), Some(&rows(&memory)));
    assert_close(&m.decode(&tgt, &memory)[..], &want, TOL);
    let plain = Options::new();
    assert_close(&m.decode_with(&tgt, &memory, &plain).unwrap(), &want, TOL);
    let mut out = [[0.0; 8]; 4];
    m.decode_into(
        &tgt,
        &memory,
        &plain,
        &mut out,
        &mut CrossDecoder::scratch(),
    )
    .unwrap();
    assert_close(&out, &want, TOL);
}

#[test]
fn encoder_decoder_decodes_against_the_encoded_source() {
    let rng = &mut Rng::new(13);
    let mut m = Seq2Seq::init(13);
    randomize_layers!(m.encoder_layers, rng; attn, norm1, ffn, norm2);
    randomize_layers!(m.decoder_layers, rng; attn, norm1, cross_attn, norm2, ffn, norm3);
    m.encoder_norm.randomize(rng);
    m.decoder_norm.randomize(rng);
    let mut encoder = stack(
        naive_layers!(m.encoder_layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    encoder.final_norm = Some(NaiveNorm::of(&m.encoder_norm));
    let mut decoder = stack(
        naive_layers!(m.decoder_layers; norms: [norm1, norm2, norm3], cross: cross_attn, ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    decoder.causal = true;
    decoder.final_norm = Some(NaiveNorm::of(&m.decoder_norm));
    let src: [[f32; 8]; 6] = random_input(15);
    let tgt: [[f32; 8]; 3] = random_input(16);
    let memory = encoder.apply(&rows(&src), None);
    let want = decoder.apply(&rows(&tgt), Some(&memory));
    assert_close(&m.encode(&src)[..], &memory, TOL);
    assert_close(&m.forward(&src, &tgt)[..], &want, TOL);
    assert_close(
        &m.forward_with(&src, &tgt, &Options::new()).unwrap(),
        &want,
        TOL,
    );
}

#[test]
fn rms_norms_scale_by_the_root_mean_square_wherever_norms_go() {
    let rng = &mut Rng::new(16);
    let mut m = RmsPre::init(16);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.norm.randomize(rng);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Pre,
        Act::Relu,
    );
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 8);
    let mut m = RmsPost::init(17);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    check_single_stack!(m, naive, 8);
    // An RMS norm has a scale and no shift: 8 numbers, against a layer norm's 16.
    let layer = |d_ff: usize| 4 * (8 * 8 + 8) + (8 * d_ff + d_ff) + (d_ff * 8 + 8) + 2 * 8;
    assert_eq!(RmsPre::PARAMETERS, 2 * layer(12) + 8);
    assert_eq!(RmsPost::PARAMETERS, layer(32));
}

#[test]
fn odd_sizes_and_a_single_token() {
    let rng = &mut Rng::new(14);
    let mut m = OddSizes::init(14);
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    let x: [[f32; 15]; 1] = random_input(17);
    assert_close(&m.forward(&x)[..], &naive.apply(&rows(&x), None), TOL);
    assert_eq!(OddSizes::D_HEAD, 3);
}

#[test]
fn dyn_lengths_outside_one_to_max_len_are_errors() {
    let m = PostRelu::init(0);
    assert_eq!(
        m.forward_with(&[], &Options::new()),
        Err(ForwardError::Empty { input: "input" })
    );
    let long = vec![[0.0f32; 16]; PostRelu::MAX_LEN + 1];
    assert_eq!(
        m.forward_with(&long, &Options::new()),
        Err(ForwardError::TooLong {
            input: "input",
            len: 9,
            max_len: 8
        })
    );
    let mut scratch = PostRelu::scratch();
    let mut out = long.clone();
    assert!(
        m.forward_into(&long, &Options::new(), &mut out, &mut scratch)
            .is_err()
    );
    let s = Seq2Seq::init(0);
    let err = s
        .forward_with(&[[0.0; 8]; 2], &[], &Options::new())
        .unwrap_err();
    assert_eq!(err, ForwardError::Empty { input: "target" });
}

#[test]
fn init_is_deterministic_and_seed_dependent() {
    assert!(PostRelu::init(7) == PostRelu::init(7));
    assert!(PostRelu::init(7) != PostRelu::init(8));
    // Pinned numbers: the same on every platform.
    let first = PostRelu::init(42).layers[0].attn.w_q.weight[0][0];
    let bound = (6.0f32 / (16.0 + 48.0)).sqrt();
    assert!(first.abs() <= bound);
}

#[test]
fn parameters_follow_the_formula() {
    // PyTorch: per layer 4·(d² + d) attention + 2·2d norms + (2·d·ff + ff + d) ffn.
    let per_layer = |d: usize, ff: usize| 4 * (d * d + d) + 4 * d + (2 * d * ff + ff + d);
    assert_eq!(PostRelu::PARAMETERS, 2 * per_layer(16, 24));
    assert_eq!(PreGeluFinal::PARAMETERS, 2 * per_layer(12, 48) + 2 * 12);
    assert_eq!(Learned::PARAMETERS, 2 * per_layer(8, 32) + 6 * 8);
    assert_eq!(NoBias::PARAMETERS, 2 * (4 * 64 + 2 * 8 + 2 * 8 * 32) + 8);
    assert_eq!(NoFfn::PARAMETERS, 2 * (4 * (64 + 8) + 16));
    assert_eq!(
        NoOutProj::PARAMETERS,
        3 * (64 + 8) + 4 * 8 + (2 * 8 * 32 + 32 + 8)
    );
    assert_eq!(
        NoNorm::PARAMETERS,
        2 * (4 * (64 + 8) + (2 * 8 * 32 + 32 + 8))
    );
    let decoder_layer = 8 * (64 + 8) + 6 * 8 + (2 * 8 * 12 + 12 + 8);
    assert_eq!(
        Seq2Seq::PARAMETERS,
        2 * per_layer(8, 12) + 16 + decoder_layer + 16
    );
    assert_eq!(PostRelu::WEIGHT_BYTES, 4 * PostRelu::PARAMETERS);
}

#[test]
fn summary_lists_every_sublayer_and_sums_to_parameters() {
    let summary = Seq2Seq::summary();
    let layer_rows: usize = summary
        .rows
        .iter()
        .filter(|r| r.depth == 0)
        .map(|r| r.parameters)
        .sum();
    assert_eq!(layer_rows, Seq2Seq::PARAMETERS);
    let sublayer_rows: usize = summary
        .rows
        .iter()
        .filter(|r| r.depth == 1)
        .map(|r| r.parameters)
        .sum();
    assert_eq!(sublayer_rows + 2 * 16, Seq2Seq::PARAMETERS); // + the two final norms
    let text = Seq2Seq::init(0).to_string();
    for line in [
        "encoder_layers.1 (encoder layer)",
        "  decoder_layers.0.cross_attn (cross-attention)",
        "decoder_norm (final layer norm)",
        "Seq2Seq: 1,932 parameters",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let learned = Learned::summary().to_string();
    let row = learned
        .lines()
        .find(|l| l.starts_with("positions (learned positions)"))
        .unwrap();
    assert!(row.contains("[N, 8]") && row.ends_with(" 48"), "{row}");
}

#[test]
fn debug_shows_dimensions_not_weights() {
    let model = Seq2Seq::zeroed();
    assert_eq!(
        format!("{model:?}"),
        "Seq2Seq { d_model: 8, heads: 2, encoder_layers: 2, decoder_layers: 1, d_ff: 12, \
         max_len: 512, parameters: 1932, .. }"
    );
    let encoder = Seq2SeqEncoderLayer::PARAMETERS;
    assert_eq!(
        format!("{:?}", model.encoder_layers[0]),
        format!(
            "Seq2SeqEncoderLayer {{ d_model: 8, heads: 2, d_ff: 12, parameters: {encoder}, .. }}"
        )
    );
    let decoder = Seq2SeqDecoderLayer::PARAMETERS;
    assert_eq!(
        format!("{:?}", model.decoder_layers[0]),
        format!(
            "Seq2SeqDecoderLayer {{ d_model: 8, heads: 2, d_ff: 12, parameters: {decoder}, .. }}"
        )
    );
}

#[test]
fn flops_match_a_hand_count() {
    // One PostRelu layer at n tokens: q, k, v, o projections 4·2·n·d², QKᵀ and PV 2·2·n²·d,
    // feed-forward 2·2·n·d·ff; d = 16, ff = 24.
    let layer = |n: u64| 8 * n * 256 + 4 * n * n * 16 + 4 * n * 16 * 24;
    assert_eq!(PostRelu::flops(5), 2 * layer(5));
    assert_eq!(NoOutProj::flops(3), 6 * 3 * 64 + 4 * 9 * 8 + 4 * 3 * 8 * 32);
    // The cross-attention decoder layer has a second attention over a memory of n tokens.
    assert_eq!(
        CrossDecoder::flops(2),
        2 * (2 * (8 * 2 * 64 + 4 * 4 * 8) + 4 * 2 * 8 * 32)
    );
}

#[test]
fn a_llama_like_decoder_matches_the_reference() {
    let rng = &mut Rng::new(18);
    let mut m = LlamaLike::init(18);
    // The reference reads the rotation and the gate off the model: check they are there.
    let rope = Rope::new(500.0, RopePairs::Half);
    assert!(
        m.layers
            .iter()
            .all(|l| l.attn.rope == Some(rope) && l.ffn.w_gate.is_some())
    );
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    m.norm.randomize(rng);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Pre,
        Act::Silu,
    );
    naive.causal = true;
    naive.final_norm = Some(NaiveNorm::of(&m.norm));
    check_single_stack!(m, naive, 16);
    // q and o [16][16]; k and v [8][16] (2 key/value heads of 4); gate, up [24][16], down
    // [16][24]; two RMS norms of 16 per layer; no biases anywhere.
    let layer = 2 * 16 * 16 + 2 * 8 * 16 + 3 * 16 * 24 + 2 * 16;
    assert_eq!(LlamaLike::PARAMETERS, 2 * layer + 16);
    assert_eq!((LlamaLike::KV_HEADS, LlamaLike::D_HEAD), (2, 4));
}

#[test]
fn multi_query_attention_with_adjacent_rope_pairs_matches_the_reference() {
    let rng = &mut Rng::new(19);
    let mut m = MultiQueryAdjacent::init(19);
    let rope = Rope::new(10_000.0, RopePairs::Adjacent);
    assert_eq!(m.layers[0].attn.rope, Some(rope));
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let mut naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Relu,
    );
    naive.causal = true;
    check_single_stack!(m, naive, 12);
}

#[test]
fn a_gated_gelu_feed_forward_matches_the_reference() {
    let rng = &mut Rng::new(20);
    let mut m = GatedGelu::init(20);
    assert!(m.layers[0].ffn.w_gate.is_some());
    randomize_layers!(m.layers, rng; attn, norm1, ffn, norm2);
    let naive = stack(
        naive_layers!(m.layers; norms: [norm1, norm2], ffn: ffn),
        Norm::Post,
        Act::Gelu,
    );
    check_single_stack!(m, naive, 8);
}

//! Models loaded from safetensors files that PyTorch wrote, run on PyTorch's inputs, compared
//! with PyTorch's outputs. The fixtures and the script that made them are in
//! `tests/fixtures/` and `tools/reference/make_fixtures.py` (PyTorch 2.15, eval mode, math
//! path, float32).
//!
//! Tolerance: max absolute error ≤ 1e-4 on outputs of magnitude ~1.

mod common;

use common::{Io, fixture};
use transformer::runtime::load::{LoadError, LoadOptions};
use transformer::runtime::{Batch, Mask, Options};
use transformer::transformer;

const TOL: f32 = 1e-4;

transformer! {
    EncoderPostRelu < d_model: 16, heads: 4, layers: 2, d_ff: 24 >
    EncoderPreGeluFinalNorm < d_model: 16, heads: 4, layers: 2, d_ff: 24, norm: pre, activation: gelu, eps: 1e-6, final_norm: true >
    EncoderCausal < d_model: 16, heads: 2, layers: 2, d_ff: 32, norm: pre, activation: gelu, final_norm: true, causal: true >
    DecoderOnly < kind: decoder, d_model: 16, heads: 2, layers: 2, d_ff: 32, norm: pre, activation: gelu, final_norm: true >
    DecoderMemory < kind: decoder, cross_attention: true, d_model: 16, heads: 4, layers: 2, d_ff: 24 >
    DecoderPreGeluFinalNorm < kind: decoder, cross_attention: true, d_model: 12, heads: 3, layers: 2, d_ff: 20, norm: pre, activation: gelu, eps: 1e-6, final_norm: true >
    TransformerFull < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 2, decoder_layers: 1, d_ff: 20 >
    OddSizes < d_model: 15, heads: 5, layers: 1, d_ff: 7, activation: gelu >
    SingleHead < d_model: 6, heads: 1, layers: 1, d_ff: 10, activation: gelu >
    NoBias < d_model: 8, heads: 2, layers: 2, d_ff: 12, bias: false, norm: pre, final_norm: true >
}

fn assert_close<const D: usize>(got: &[[f32; D]], want: &[[f32; D]]) {
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .flatten()
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= TOL, "max abs error {worst:e} > {TOL:e}");
}

/// Loads the case's weights into `M`, checks `PARAMETERS`, and that saving gives back the
/// same tensors bit for bit.
macro_rules! load_case {
    ($model:ty, $case:literal, $parameters:literal) => {{
        let model = <$model>::from_safetensors(fixture(concat!($case, ".weights.safetensors")))
            .unwrap_or_else(|e| panic!("{}: {e}", $case));
        assert_eq!(
            <$model>::PARAMETERS,
            $parameters,
            "PyTorch's count for {}",
            $case
        );
        let bytes = model.to_safetensors_bytes().unwrap();
        let again = <$model>::from_safetensors_bytes(&bytes).unwrap();
        assert!(again == model, "save → load round trip of {}", $case);
        model
    }};
}

#[test]
fn post_norm_relu_encoder() {
    let model = load_case!(EncoderPostRelu, "encoder_post_relu", 3920);
    let io = Io::open("encoder_post_relu");
    let src = io.rows::<16>("src");
    assert_close(
        &model.forward_with(&src, &Options::new()).unwrap(),
        &io.rows("out"),
    );
    let fixed: [[f32; 16]; 5] = src.try_into().unwrap();
    assert_close(&model.forward(&fixed)[..], &io.rows("out"));
}

#[test]
fn pre_norm_gelu_encoder_with_final_norm() {
    let model = load_case!(EncoderPreGeluFinalNorm, "encoder_pre_gelu_final_norm", 3952);
    let io = Io::open("encoder_pre_gelu_final_norm");
    assert_close(
        &model
            .forward_with(&io.rows::<16>("src"), &Options::new())
            .unwrap(),
        &io.rows("out"),
    );
}

#[test]
fn padded_batch_with_key_padding_masks() {
    let model = load_case!(EncoderPostRelu, "encoder_padding_batch", 3920);
    let io = Io::open("encoder_padding_batch");
    let src = io.rows::<16>("src");
    let want = io.rows::<16>("out");
    let lengths: Vec<usize> = io.flat("src_lengths").iter().map(|&l| l as usize).collect();
    // PyTorch's mask is True for padding; ours is true for real tokens.
    let keep: Vec<bool> = io
        .flat("src_key_padding_mask")
        .iter()
        .map(|&pad| pad == 0.0)
        .collect();
    let by_lengths = model
        .forward_with(&src, &Options::new().batch(Batch::lengths(6, &lengths)))
        .unwrap();
    let by_flags = model
        .forward_with(&src, &Options::new().batch(Batch::keep(6, &keep)))
        .unwrap();
    assert_close(&by_lengths, &want);
    assert_close(&by_flags, &want);
    for (b, &len) in lengths.iter().enumerate() {
        let alone = model
            .forward_with(&src[b * 6..b * 6 + len], &Options::new())
            .unwrap();
        assert_close(&alone, &io.rows(&format!("out_alone_{b}")));
        assert_close(&alone, &by_lengths[b * 6..b * 6 + len]);
    }
}

#[test]
fn causal_encoder_and_decoder_only_stack_share_weights_and_outputs() {
    let io = Io::open("encoder_causal");
    let src = io.rows::<16>("src");
    let encoder = load_case!(EncoderCausal, "encoder_causal", 4480);
    let decoder = load_case!(DecoderOnly, "encoder_causal", 4480);
    assert_close(
        &encoder.forward_with(&src, &Options::new()).unwrap(),
        &io.rows("out"),
    );
    assert_close(
        &decoder.forward_with(&src, &Options::new()).unwrap(),
        &io.rows("out"),
    );
    assert_close(
        &decoder.forward_with(&src[..3], &Options::new()).unwrap(),
        &io.rows("out_prefix3"),
    );
}

#[test]
fn an_additive_causal_mask_equals_the_causal_flag() {
    let model = load_case!(EncoderPostRelu, "encoder_post_relu", 3920);
    let src = Io::open("encoder_post_relu").rows::<16>("src");
    let n = src.len();
    let additive: Vec<f32> = (0..n * n)
        .map(|k| {
            if k % n > k / n {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let by_additive = model
        .forward_with(&src, &Options::new().mask(Mask::additive(&additive)))
        .unwrap();
    let by_flag = model
        .forward_with(&src, &Options::new().mask(Mask::CAUSAL))
        .unwrap();
    assert_close(&by_additive, &by_flag);
    let short = Options::new().mask(Mask::additive(&additive[1..]));
    assert!(model.forward_with(&src, &short).is_err());
}

#[test]
fn decoder_with_memory() {
    let model = load_case!(DecoderMemory, "decoder_memory", 6160);
    let io = Io::open("decoder_memory");
    let (tgt, memory) = (io.rows::<16>("tgt"), io.rows::<16>("memory"));
    assert_close(
        &model.decode_with(&tgt, &memory, &Options::new()).unwrap(),
        &io.rows("out"),
    );
    let (tgt, memory): ([[f32; 16]; 5], [[f32; 16]; 4]) =
        (tgt.try_into().unwrap(), memory.try_into().unwrap());
    assert_close(&model.decode(&tgt, &memory)[..], &io.rows("out"));
}

#[test]
fn pre_norm_gelu_decoder_with_final_norm() {
    let model = load_case!(DecoderPreGeluFinalNorm, "decoder_pre_gelu_final_norm", 3688);
    let io = Io::open("decoder_pre_gelu_final_norm");
    let out = model
        .decode_with(
            &io.rows::<12>("tgt"),
            &io.rows::<12>("memory"),
            &Options::new(),
        )
        .unwrap();
    assert_close(&out, &io.rows("out"));
}

#[test]
fn full_nn_transformer_with_causal_target_mask() {
    let model = load_case!(TransformerFull, "transformer_full", 6668);
    let io = Io::open("transformer_full");
    let (src, tgt) = (io.rows::<16>("src"), io.rows::<16>("tgt"));
    assert_close(
        &model.encode_with(&src, &Options::new()).unwrap(),
        &io.rows("memory"),
    );
    assert_close(
        &model.forward_with(&src, &tgt, &Options::new()).unwrap(),
        &io.rows("out"),
    );
    let (src, tgt): ([[f32; 16]; 6], [[f32; 16]; 4]) =
        (src.try_into().unwrap(), tgt.try_into().unwrap());
    assert_close(&model.forward(&src, &tgt)[..], &io.rows("out"));
}

#[test]
fn odd_sizes_single_head_and_no_bias() {
    let odd = load_case!(OddSizes, "odd_sizes", 1252);
    let io = Io::open("odd_sizes");
    assert_close(
        &odd.forward_with(&io.rows::<15>("src"), &Options::new())
            .unwrap(),
        &io.rows("out"),
    );
    let single = load_case!(SingleHead, "single_head", 328);
    let io = Io::open("single_head");
    assert_close(
        &single
            .forward_with(&io.rows::<6>("src"), &Options::new())
            .unwrap(),
        &io.rows("out"),
    );
    let no_bias = load_case!(NoBias, "no_bias", 936);
    let io = Io::open("no_bias");
    assert_close(
        &no_bias
            .forward_with(&io.rows::<8>("src"), &Options::new())
            .unwrap(),
        &io.rows("out"),
    );
}

#[test]
fn a_file_for_another_architecture_names_every_fault() {
    // decoder_memory has cross-attention tensors an encoder does not expect.
    let err = EncoderPostRelu::from_safetensors(fixture("decoder_memory.weights.safetensors"))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("layers.0.multihead_attn.in_proj_weight"),
        "{message}"
    );
    assert!(message.contains("layers.1.norm3.weight"), "{message}");
    // Leniently, the extra tensors are ignored and the shared ones load, from the path
    // (streamed) as from the bytes.
    let path = fixture("decoder_memory.weights.safetensors");
    let streamed = EncoderPostRelu::from_safetensors_with(&path, LoadOptions::lenient()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let in_memory =
        EncoderPostRelu::from_safetensors_bytes_with(&bytes, LoadOptions::lenient()).unwrap();
    assert_eq!(
        streamed.to_safetensors_bytes().unwrap(),
        in_memory.to_safetensors_bytes().unwrap()
    );
}

#[test]
fn a_file_of_another_width_reports_every_mismatched_shape() {
    let err =
        NoBias::from_safetensors(fixture("encoder_post_relu.weights.safetensors")).unwrap_err();
    let LoadError::Tensors(faults) = &err else {
        panic!("{err}")
    };
    // Every tensor of both layers is mis-shaped (16 wide, not 8); none is skipped.
    assert!(faults.len() >= 12, "{err}");
    assert!(err.to_string().contains("expected [24, 8]"), "{err}");
}

#[test]
fn truncated_and_missing_files_are_errors_not_panics() {
    let bytes = std::fs::read(fixture("encoder_post_relu.weights.safetensors")).unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            EncoderPostRelu::from_safetensors_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let err = EncoderPostRelu::from_safetensors("/nonexistent/model.safetensors").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/model.safetensors"),
        "{err}"
    );
}

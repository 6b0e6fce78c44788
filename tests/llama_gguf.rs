//! The tiny Llama of `tests/llama.rs` loaded from GGUF files as llama.cpp's converter writes
//! them (F32, F16, Q8_0; `attn_q` and `attn_k` rows permuted for adjacent pairs): the logits
//! transformers computes from each file, and the errors of a file that is not this model.
//! From `tools/reference/llama_gguf_fixture.py`.

mod common;

use common::{assert_logits_close, fixture, logits_reference};
use transformer::runtime::gguf::GgufFile;
use transformer::runtime::load::{LoadError, Loader, Strictness};
use transformer::runtime::{Options, Tokens};
use transformer::transformer;

transformer! {
    /// `tests/fixtures/llama`'s configuration, rotating lanes `i` and `i + D_HEAD / 2`.
    TinyLlama < kind: decoder, vocab: 48, d_model: 32, heads: 4, kv_heads: 2, layers: 2,
                d_ff: 40, max_len: 64, norm: pre, norm_kind: rms, eps: 1e-6, final_norm: true,
                positional: rope, rope_theta: 5000, gated: true, activation: silu, bias: false,
                lm_head: separate, weights: llama >
    /// The same model rotating adjacent lanes, as llama.cpp does: it reads the rows as
    /// stored.
    AdjacentLlama < kind: decoder, vocab: 48, d_model: 32, heads: 4, kv_heads: 2, layers: 2,
                    d_ff: 40, max_len: 64, norm: pre, norm_kind: rms, eps: 1e-6,
                    final_norm: true, positional: rope, rope_theta: 5000, rope_pairs: adjacent,
                    gated: true, activation: silu, bias: false, lm_head: separate >
    /// Not the file's model: other key/value heads, RoPE base and layer count, a tied head.
    OtherLlama < kind: decoder, vocab: 48, d_model: 32, heads: 4, layers: 3, d_ff: 40,
                 max_len: 64, norm: pre, norm_kind: rms, eps: 1e-6, final_norm: true,
                 positional: rope, gated: true, activation: silu, bias: false, lm_head: tied >
}

/// `gguf_reference.json`: the ids, and the logits transformers computes from `model.{kind}.gguf`.
fn reference(kind: &str) -> (Vec<u32>, Vec<Vec<f32>>) {
    logits_reference("llama/gguf_reference.json", &format!("/logits/{kind}"))
}

fn gguf(kind: &str) -> std::path::PathBuf {
    fixture(&format!("llama/model.{kind}.gguf"))
}

/// Logits of every position of one pass, through `logits`.
macro_rules! all_logits {
    ($model:expr, $ids:expr) => {
        $model
            .forward_tokens_with(Tokens::new($ids), &Options::new())
            .unwrap()
            .iter()
            .map(|row| $model.logits(row).to_vec())
            .collect::<Vec<_>>()
    };
}

#[test]
fn every_file_type_gives_the_logits_transformers_reads_from_it() {
    for kind in ["f32", "f16", "q8_0"] {
        let (ids, want) = reference(kind);
        let model = TinyLlama::from_gguf(gguf(kind)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        for (position, (got, want)) in all_logits!(model, &ids).iter().zip(&want).enumerate() {
            assert_logits_close(got, want, position);
        }
        let mut cache = TinyLlama::cache(ids.len()).unwrap();
        let last = model.prefill(&mut cache, &ids).unwrap();
        assert_logits_close(&last[..], &want[ids.len() - 1], ids.len() - 1);
    }
}

#[test]
fn the_same_weights_load_from_gguf_and_from_safetensors() {
    let from_gguf = TinyLlama::from_gguf(gguf("f32")).unwrap();
    let from_safetensors = TinyLlama::from_safetensors(fixture("llama/model.safetensors")).unwrap();
    assert!(from_gguf == from_safetensors);
}

/// The classic bug of the format: llama.cpp's converter reorders `attn_q`'s and `attn_k`'s
/// rows for adjacent pairs. A model rotating adjacent lanes reads them as stored and agrees;
/// one rotating lanes `i` and `i + D_HEAD / 2` must put them back, or its logits are garbage.
#[test]
fn rope_pairing_decides_whether_the_rows_are_put_back() {
    let (ids, want) = reference("f32");
    let adjacent = AdjacentLlama::from_gguf(gguf("f32")).unwrap();
    for (position, (got, want)) in all_logits!(adjacent, &ids).iter().zip(&want).enumerate() {
        assert_logits_close(got, want, position);
    }
    // Read as stored into the half-pairing model: far off.
    let mut as_stored = TinyLlama::zeroed();
    let mut loader = Loader::gguf(GgufFile::open(gguf("f32")).unwrap());
    as_stored.load_gguf(&mut loader);
    loader.finish(Strictness::Strict).unwrap();
    let got = all_logits!(as_stored, &ids);
    let worst = got
        .iter()
        .flatten()
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst > 0.1,
        "rows left permuted changed the logits by only {worst}"
    );
}

#[test]
fn a_file_of_another_model_names_every_difference() {
    let Err(LoadError::Mismatch(mismatches)) = OtherLlama::from_gguf(gguf("f32")) else {
        panic!("a mismatch expected")
    };
    let messages: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "the file has `llama.block_count` = 2, the spec declares `layers: 3`",
            "the file has `llama.attention.head_count_kv` = 2, the spec declares `kv_heads: 4`",
            "the file has `llama.rope.freq_base` = 5000, the spec declares `rope_theta: 10000`",
            "the file has `output.weight` = a tensor, the spec declares `lm_head: tied`",
        ]
    );
    let error = OtherLlama::from_gguf(gguf("f32")).unwrap_err().to_string();
    assert!(error.starts_with("the GGUF file holds another model than the spec declares:"));
}

#[test]
fn a_truncated_or_foreign_file_is_an_error() {
    let bytes = std::fs::read(gguf("q8_0")).unwrap();
    for cut in [0, 3, 100, bytes.len() / 2, bytes.len() - 1] {
        let result = TinyLlama::from_gguf_bytes(bytes[..cut].to_vec());
        assert!(
            matches!(result, Err(LoadError::Gguf(_))),
            "cut at {cut}: {:?}",
            result.err()
        );
    }
    let safetensors = std::fs::read(fixture("llama/model.safetensors")).unwrap();
    let error = TinyLlama::from_gguf_bytes(safetensors).unwrap_err();
    assert!(matches!(error, LoadError::Gguf(_)), "{error}");
}

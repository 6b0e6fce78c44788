//! all-MiniLM-L6-v2, declared with `transformer!` and loaded with `from_pretrained` (see
//! `examples/minilm.rs`), against sentence-transformers: token ids identical, last hidden
//! states within 1e-4, embeddings with cosine ≥ 0.99999. The reference is `tests/fixtures/minilm/`, written by
//! `tools/reference/minilm_reference.py`.
//!
//! The model itself is not committed: these tests are ignored unless asked for, and CI runs
//! `scripts/fetch-models.sh` and then `cargo test -- --include-ignored`. Run without the
//! model, they fail and say how to fetch it.

mod common;
#[path = "../examples/minilm.rs"]
#[expect(dead_code, reason = "the example's `main` is not called here")]
mod minilm;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use clap::error::ErrorKind;

use common::Io;
use minilm::{Args, MiniLm, load, model_dir};
use transformer::runtime::load::LoadError;
use transformer::runtime::model::{Hyperparameters, Positional, Weights};
use transformer::runtime::pooling::cosine_similarity;
use transformer::runtime::{Activation, Batch, ForwardError, Options, TokenModel, Tokens};
use transformer::text::{Pretrained, SentencePooling};

const NEEDS_MODEL: &str =
    "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh, then cargo test -- --include-ignored";

fn encoder() -> &'static Pretrained<MiniLm> {
    static ENCODER: OnceLock<Pretrained<MiniLm>> = OnceLock::new();
    ENCODER
        .get_or_init(|| load(&model_dir(None)).unwrap_or_else(|e| panic!("{e}\n({NEEDS_MODEL})")))
}

/// The reference sentences, in fixture order.
fn sentences() -> Vec<String> {
    let text = std::fs::read_to_string(common::fixture("minilm/reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_owned())
        .collect()
}

fn reference() -> Io {
    Io::file("minilm/reference.safetensors")
}

fn ids(io: &Io, i: usize) -> Vec<u32> {
    io.flat(&format!("ids_{i}"))
        .iter()
        .map(|&id| id as u32)
        .collect()
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn token_ids_are_identical_including_truncation_at_256() {
    let (encoder, io, sentences) = (encoder(), reference(), sentences());
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let batch = encoder.tokenizer.encode_batch(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(batch.sentence(i), ids(&io, i), "sentence {i}: {text:?}");
    }
    let padded: Vec<u32> = io.flat("batch_ids").iter().map(|&id| id as u32).collect();
    assert_eq!(batch.ids, padded, "the padded batch");
    assert_eq!(batch.seq_len, 256);
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn last_hidden_states_match_within_1e_4() {
    let (encoder, io) = (encoder(), reference());
    for i in [0, 2, 3, 4, 7, 11] {
        let ids = ids(&io, i);
        let hidden = encoder
            .model
            .forward_tokens_with(Tokens::new(&ids), &Options::new())
            .unwrap();
        let want = io.rows::<384>(&format!("hidden_{i}"));
        let worst = hidden
            .iter()
            .flatten()
            .zip(want.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "sentence {i}: max abs error {worst:e}");
    }
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn sentence_embeddings_match_with_cosine_at_least_0_99999() {
    let (encoder, io, sentences) = (encoder(), reference(), sentences());
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let embeddings = encoder.encode(&texts).unwrap();
    for (i, e) in embeddings.iter().enumerate() {
        let want = io.flat(&format!("embedding_{i}"));
        let cosine = cosine_similarity(e, &want);
        assert!(cosine >= 0.99999, "sentence {i}: cosine {cosine}");
        let length: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((length - 1.0).abs() < 1e-5);
    }
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn from_pretrained_reads_the_folder_s_pipeline_and_truncation() {
    // modules.json: Transformer, Pooling (1_Pooling: mean), Normalize; sentence_bert_config.json:
    // max_seq_length 256.
    let encoder = encoder();
    assert_eq!(encoder.pooling, SentencePooling::MEAN_NORMALIZED);
    assert_eq!(encoder.tokenizer.max_seq_length(), 256);
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn a_padded_batch_equals_each_sentence_alone() {
    let (encoder, sentences) = (encoder(), sentences());
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let batched = encoder.encode(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let alone = encoder.encode(&[text]).unwrap();
        assert!(
            cosine_similarity(&alone[0], &batched[i]) > 0.999_999,
            "sentence {i}"
        );
    }
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn the_const_length_entry_point_agrees_and_bad_ids_are_errors() {
    let model = &encoder().model;
    let ids = [101u32, 7592, 2088, 102];
    let fixed = model.forward_tokens(&ids).unwrap();
    let dynamic = model
        .forward_tokens_with(Tokens::new(&ids), &Options::new())
        .unwrap();
    assert_eq!(&fixed[..], &dynamic[..]);
    let mut out = [[0.0f32; 384]; 4];
    model
        .forward_tokens_into(
            Tokens::new(&ids),
            &Options::new(),
            &mut out,
            &mut MiniLm::scratch(),
        )
        .unwrap();
    assert_eq!(&out[..], &dynamic[..]);
    let err = model.forward_tokens(&[101u32, 30522, 102]).unwrap_err();
    assert_eq!(
        err,
        ForwardError::IdOutOfRange {
            table: "token",
            id: 30522,
            position: 1,
            rows: 30522
        }
    );
    let err = model
        .forward_tokens_with(
            Tokens::with_types(&ids, &[0, 0, 2, 0]),
            &Options::new().batch(Batch::lengths(4, &[4])),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("token type id 2 at position 2"),
        "{err}"
    );
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn wrong_and_damaged_files_are_clear_errors() {
    let dir = model_dir(None);
    let bytes = std::fs::read(dir.join("model.safetensors")).expect(NEEDS_MODEL);
    // A truncated download.
    let err = MiniLm::from_safetensors_bytes(&bytes[..bytes.len() / 3]).unwrap_err();
    assert!(
        matches!(err, LoadError::Header { .. } | LoadError::Format { .. }),
        "{err}"
    );
    // The tokenizer in place of the weights.
    let err = MiniLm::from_safetensors(dir.join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, LoadError::Format { .. }), "{err}");
    // A file of another model: PyTorch's names, not BERT's.
    let err = MiniLm::from_safetensors(common::fixture("encoder_post_relu.weights.safetensors"))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("embeddings.word_embeddings.weight")
            && message.contains("layers.0.self_attn.in_proj_weight"),
        "{message}"
    );
}

#[test]
fn the_declared_model_has_minilm_s_shape() {
    // From config.json: 22,713,216 numbers, less the unused pooler (384² + 384).
    assert_eq!(MiniLm::PARAMETERS, 22_713_216 - 384 * 384 - 384);
    assert_eq!(
        (MiniLm::VOCAB, MiniLm::TOKEN_TYPES, MiniLm::MAX_LEN),
        (30522, 2, 512)
    );
    // What `from_pretrained` checks config.json against.
    assert_eq!(
        <MiniLm as TokenModel<384>>::HYPERPARAMETERS,
        Hyperparameters {
            name: "MiniLm",
            d_model: 384,
            heads: 12,
            layers: 6,
            d_ff: 1536,
            max_len: 512,
            vocab: 30522,
            token_types: Some(2),
            eps: Some(1e-12),
            activation: Activation::Gelu,
            positional: Positional::Learned,
            weights: Weights::Bert,
        }
    );
}

/// The example's command line, after its name.
fn parse(args: &[OsString]) -> Result<Args, clap::Error> {
    Args::try_parse_from([OsString::from("minilm")].iter().chain(args))
}

#[test]
fn the_example_answers_help_and_rejects_a_non_utf8_sentence() {
    let help = parse(&["--help".into()]);
    assert_eq!(help.err().map(|e| e.kind()), Some(ErrorKind::DisplayHelp));
    let not_utf8 = OsString::from_vec(b"caf\xFF".to_vec());
    let sentence = parse(std::slice::from_ref(&not_utf8));
    assert_eq!(
        sentence.err().map(|e| e.kind()),
        Some(ErrorKind::InvalidUtf8)
    );
    // A folder's name need not be UTF-8.
    let args = parse(&["--model-dir".into(), not_utf8.clone(), "a".into()]).unwrap();
    assert_eq!(args.model_dir, Some(PathBuf::from(not_utf8)));
}

#[test]
fn the_example_takes_json_sentences_and_a_separator() {
    let args = parse(&["--json", "a", "--", "--b"].map(OsString::from)).unwrap();
    assert!(args.json);
    assert_eq!(args.sentences, ["a", "--b"]);
    let none = parse(&["--json".into()]);
    assert_eq!(
        none.err().map(|e| e.kind()),
        Some(ErrorKind::MissingRequiredArgument)
    );
}

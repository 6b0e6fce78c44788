//! `from_pretrained` on the sentence-transformers folders of `tests/fixtures/pretrained/`
//! (written by `tools/reference/pretrained_fixture.py`: one tiny BERT with random weights,
//! four pipelines), against the embeddings sentence-transformers computed from them; and
//! folders that contradict the spec or ask for what the library lacks, rejected with every
//! fault named.

mod common;

use std::path::{Path, PathBuf};

use common::fixture;
use safetensors::SafeTensors;
use transformer::prelude::*;
use transformer::runtime::load::{LoadError, LoadOptions, TensorFault};
use transformer::runtime::pooling::{Pooling, cosine_similarity};
use transformer::text::{Pretrained, SentencePooling, TextError};

transformer! {
    /// The tiny BERT of the fixture folders: 99 word pieces, 32 positions.
    pub TinyBert < vocab: 99, d_model: 32, heads: 2, layers: 2, d_ff: 64, max_len: 32,
                   positional: learned, token_types: 2, embed_norm: true, activation: gelu,
                   eps: 1e-12, weights: bert >
}

/// The pipelines of the fixture, with the pooling each declares.
const VARIANTS: [(&str, SentencePooling); 4] = [
    ("cls", pooling(Pooling::Cls, true)),
    ("mean", pooling(Pooling::Mean, false)),
    ("max", pooling(Pooling::Max, true)),
    ("lasttoken", pooling(Pooling::LastToken, false)),
];

const fn pooling(pooling: Pooling, normalize: bool) -> SentencePooling {
    SentencePooling { pooling, normalize }
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("pretrained/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn sentences(reference: &serde_json::Value) -> Vec<String> {
    let sentences = reference["sentences"].as_array().unwrap();
    sentences
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// sentence-transformers' embeddings of the sentences by the pipeline `variant`.
fn expected(reference: &serde_json::Value, variant: &str) -> Vec<Vec<f32>> {
    let rows = reference["variants"][variant]["embeddings"]
        .as_array()
        .unwrap();
    rows.iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            row.iter().map(|v| v.as_f64().unwrap() as f32).collect()
        })
        .collect()
}

/// `folder`'s embeddings of the reference sentences equal sentence-transformers' for
/// `variant`: cosine ≥ 0.99999, every value within 1e-5.
fn assert_embeds_as(folder: &Path, variant: &str) {
    let reference = reference();
    let sentences = sentences(&reference);
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let model = TinyBert::from_pretrained(folder).unwrap();
    let got = model.encode(&texts).unwrap();
    let want = expected(&reference, variant);
    assert_eq!(got.len(), want.len());
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        let cosine = cosine_similarity(got, want);
        assert!(
            cosine >= 0.99999,
            "{variant}, sentence {i}: cosine {cosine}"
        );
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "{variant}, sentence {i}: max abs error {worst:e}"
        );
    }
}

#[test]
fn every_pooling_mode_embeds_as_sentence_transformers_does() {
    for (variant, declared) in VARIANTS {
        let folder = fixture(&format!("pretrained/{variant}"));
        let model = TinyBert::from_pretrained(&folder).unwrap();
        assert_eq!(model.pooling, declared, "{variant}");
        assert_eq!(model.tokenizer.max_seq_length(), 16, "{variant}");
        assert_embeds_as(&folder, variant);
    }
}

#[test]
fn pretrained_load_is_from_pretrained() {
    let folder = fixture("pretrained/cls");
    let loaded = Pretrained::<TinyBert>::load(&folder).unwrap();
    let direct = TinyBert::from_safetensors(folder.join("model.safetensors")).unwrap();
    assert_eq!(
        loaded.model.to_safetensors_bytes().unwrap(),
        direct.to_safetensors_bytes().unwrap()
    );
    let batch = loaded.tokenizer.encode_batch(&["rust"]).unwrap();
    assert_eq!(batch.lengths, [3], "[CLS] rust [SEP]");
}

/// A copy of a fixture folder in a fresh temporary directory, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn copy_of(variant: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "transformer-pretrained-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&fixture(&format!("pretrained/{variant}")), &dir);
        Self(dir)
    }

    /// Rewrites the JSON file `file` of the folder with `edit`.
    fn edit(&self, file: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.0.join(file);
        let mut json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut json);
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }

    fn write(&self, file: &str, json: serde_json::Value) {
        std::fs::write(self.0.join(file), json.to_string()).unwrap();
    }

    fn load(&self) -> Result<Pretrained<TinyBert>, TextError> {
        TinyBert::from_pretrained(&self.0)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_config_contradicting_the_spec_names_every_mismatch() {
    let folder = Folder::copy_of("cls", "contradicting");
    folder.edit("config.json", |config| {
        config["hidden_size"] = 64.into();
        config["num_hidden_layers"] = 3.into();
        config["hidden_act"] = "gelu_new".into();
        config["layer_norm_eps"] = 1e-5.into();
        config.as_object_mut().unwrap().remove("type_vocab_size");
    });
    folder.edit("1_Pooling/config.json", |config| {
        config["embedding_dimension"] = 64.into();
    });
    folder.edit("tokenizer_config.json", |config| {
        config["model_max_length"] = 512.into();
    });
    folder.write(
        "sentence_bert_config.json",
        serde_json::json!({"max_seq_length": 64, "do_lower_case": false}),
    );
    let Err(err) = folder.load() else {
        panic!("a contradicting folder loaded");
    };
    let message = err.to_string();
    assert!(
        matches!(&err, TextError::Config { model: "TinyBert", mismatches, .. } if mismatches.len() == 7),
        "{message}"
    );
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "  config.json: `hidden_size` is 64, the spec has `d_model: 32`",
            "  config.json: `num_hidden_layers` is 3, the spec has `layers: 2`",
            "  config.json: `type_vocab_size` is missing, the spec has `token_types: 2`",
            "  config.json: `layer_norm_eps` is 0.00001, the spec has `eps: 1e-12`",
            "  config.json: `hidden_act` is \"gelu_new\", the spec has `activation: gelu`",
            "  1_Pooling/config.json: `embedding_dimension` is 64, the spec has `d_model: 32`",
            "  sentence_bert_config.json: `max_seq_length` is 64, the spec has `max_len: 32`",
            "help: declare `TinyBert` with the folder's settings, or load the folder its spec \
             was written for",
        ]
    );
    assert!(
        lines[0].ends_with("does not hold a `TinyBert`:"),
        "{message}"
    );
}

#[test]
fn another_architecture_is_named_by_its_model_type() {
    let folder = Folder::copy_of("cls", "roberta");
    folder.edit("config.json", |config| {
        config["model_type"] = "roberta".into()
    });
    let message = folder.load().err().unwrap().to_string();
    assert!(
        message.contains("config.json: `model_type` is \"roberta\", the spec has `weights: bert`"),
        "{message}"
    );
}

/// The error of the folder whose Pooling config is `config`.
fn pooling_error(name: &str, config: serde_json::Value) -> String {
    let folder = Folder::copy_of("cls", name);
    folder.write("1_Pooling/config.json", config);
    let err = folder.load().err().unwrap();
    assert!(matches!(err, TextError::Unsupported { .. }), "{err}");
    err.to_string()
}

#[test]
fn a_pooling_mode_the_library_lacks_is_named() {
    let message = pooling_error(
        "weightedmean",
        serde_json::json!({"embedding_dimension": 32, "pooling_mode": "weightedmean"}),
    );
    assert!(
        message.contains(
            "1_Pooling/config.json: pooling mode `weightedmean` is not supported\n\
             help: the library pools by one of `mean`, `cls`, `max` or `lasttoken`"
        ),
        "{message}"
    );
    let legacy = pooling_error(
        "mean-sqrt-len",
        serde_json::json!({"word_embedding_dimension": 32, "pooling_mode_mean_sqrt_len_tokens": true}),
    );
    assert!(
        legacy.contains("pooling mode `mean_sqrt_len_tokens` is not supported"),
        "{legacy}"
    );
    let several = pooling_error(
        "several",
        serde_json::json!({"embedding_dimension": 32, "pooling_mode": ["cls", "mean"]}),
    );
    assert!(
        several.contains("several pooling modes at once (`cls`, `mean`) are not supported"),
        "{several}"
    );
}

#[test]
fn a_module_the_library_lacks_is_named() {
    let folder = Folder::copy_of("cls", "dense");
    folder.edit("modules.json", |modules| {
        modules[2]["type"] = "sentence_transformers.models.Dense".into();
        modules[2]["path"] = "2_Dense".into();
    });
    let message = folder.load().err().unwrap().to_string();
    assert!(
        message.contains(
            "modules.json: module `sentence_transformers.models.Dense` (in `2_Dense`) is not \
             supported here"
        ),
        "{message}"
    );
}

#[test]
fn a_folder_saved_by_sentence_transformers_before_6_loads_alike() {
    // The legacy format: module types under `sentence_transformers.models`, boolean pooling
    // flags, and the truncation in sentence_bert_config.json rather than the tokenizer's.
    let folder = Folder::copy_of("cls", "legacy");
    folder.edit("modules.json", |modules| {
        for (module, class) in
            modules
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(["Transformer", "Pooling", "Normalize"])
        {
            module["type"] = format!("sentence_transformers.models.{class}").into();
        }
    });
    folder.write(
        "1_Pooling/config.json",
        serde_json::json!({
            "word_embedding_dimension": 32, "pooling_mode_cls_token": true,
            "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false
        }),
    );
    folder.write(
        "sentence_bert_config.json",
        serde_json::json!({"max_seq_length": 16, "do_lower_case": false}),
    );
    folder.edit("tokenizer_config.json", |config| {
        config["model_max_length"] = 512.into();
    });
    assert_eq!(folder.load().unwrap().pooling, VARIANTS[0].1);
    assert_embeds_as(&folder.0, "cls");
    // A width that contradicts the spec is named by the legacy key.
    folder.edit("1_Pooling/config.json", |config| {
        config["word_embedding_dimension"] = 384.into();
    });
    let message = folder.load().err().unwrap().to_string();
    assert!(
        message.contains(
            "1_Pooling/config.json: `word_embedding_dimension` is 384, the spec has `d_model: 32`"
        ),
        "{message}"
    );
}

#[test]
fn a_plain_hugging_face_folder_is_mean_pooled_without_normalising() {
    let folder = Folder::copy_of("mean", "plain");
    for file in [
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
    ] {
        std::fs::remove_file(folder.0.join(file)).unwrap();
    }
    std::fs::remove_dir_all(folder.0.join("1_Pooling")).unwrap();
    assert_eq!(folder.load().unwrap().pooling, VARIANTS[1].1);
    assert_embeds_as(&folder.0, "mean");
}

#[test]
fn missing_files_are_named() {
    let folder = Folder::copy_of("cls", "missing");
    std::fs::remove_file(folder.0.join("model.safetensors")).unwrap();
    let message = folder.load().err().unwrap().to_string();
    assert!(
        message.contains("model.safetensors: no such file"),
        "{message}"
    );
    std::fs::remove_file(folder.0.join("config.json")).unwrap();
    let err = folder.load().err().unwrap();
    assert!(
        matches!(&err, TextError::File { path, .. } if path.ends_with("config.json")),
        "{err}"
    );
}

/// The fixture's weights as a `BertForSequenceClassification` saves them: under `bert.`,
/// with a `classifier` head of 3 labels.
fn classifier_checkpoint(folder: &Folder) -> PathBuf {
    let bytes = std::fs::read(folder.0.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (format!("bert.{name}"), view))
        .collect();
    let weight = vec![0u8; 3 * 32 * 4];
    let bias = vec![0u8; 3 * 4];
    let f32 = safetensors::Dtype::F32;
    tensors.push((
        "classifier.weight".into(),
        safetensors::tensor::TensorView::new(f32, vec![3, 32], &weight).unwrap(),
    ));
    tensors.push((
        "classifier.bias".into(),
        safetensors::tensor::TensorView::new(f32, vec![3], &bias).unwrap(),
    ));
    let path = folder.0.join("classifier.safetensors");
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    path
}

#[test]
fn a_classifier_checkpoint_loads_leniently_from_its_path() {
    let folder = Folder::copy_of("cls", "classifier");
    let path = classifier_checkpoint(&folder);
    let Err(LoadError::Tensors(faults)) = TinyBert::from_safetensors(&path) else {
        panic!("strict loading accepted the classifier head");
    };
    let unexpected = |name: &str| TensorFault::Unexpected { name: name.into() };
    assert_eq!(
        faults,
        [
            unexpected("classifier.bias"),
            unexpected("classifier.weight")
        ]
    );
    let lenient = TinyBert::from_safetensors_with(&path, LoadOptions::lenient()).unwrap();
    let plain = TinyBert::from_safetensors(folder.0.join("model.safetensors")).unwrap();
    assert_eq!(
        lenient.to_safetensors_bytes().unwrap(),
        plain.to_safetensors_bytes().unwrap()
    );
    // The same file as a folder's weights: strict by default, lenient on request.
    std::fs::rename(&path, folder.0.join("model.safetensors")).unwrap();
    let err = folder.load().err().unwrap();
    assert!(matches!(err, TextError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("classifier.weight"), "{err}");
    Pretrained::<TinyBert>::load_with(&folder.0, LoadOptions::lenient()).unwrap();
}

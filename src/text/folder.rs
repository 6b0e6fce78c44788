//! The sentence-transformers side of a model folder: `modules.json` (Transformer, Pooling,
//! Normalize), the Pooling module's `config.json`, and `sentence_bert_config.json`.
//!
//! ```text
//! modules.json           [{"path": "", "type": "….Transformer"}, {"path": "1_Pooling", "type": "….Pooling"},
//!                         {"path": "2_Normalize", "type": "….Normalize"}]
//! 1_Pooling/config.json  {"embedding_dimension": 384, "pooling_mode": "mean"}            (sentence-transformers ≥ 6)
//!                        {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true, …}   (before)
//! ```

use std::path::Path;

use serde_json::Value;
use transformer_runtime::pooling::Pooling;

use super::{ConfigMismatch, SentencePooling, TextError, config, file_error};

/// The pooling modes the library has, as `pooling_mode` names them.
const MODES: [Pooling; 4] = [
    Pooling::Mean,
    Pooling::Cls,
    Pooling::Max,
    Pooling::LastToken,
];

/// The boolean keys of sentence-transformers before 6, and the mode each one turns on.
const LEGACY_MODES: [(&str, &str); 6] = [
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
];

/// The modules the library runs, in order; the last is optional.
const PIPELINE: [&str; 3] = ["Transformer", "Pooling", "Normalize"];

/// What the library runs instead of a pipeline it lacks.
const PIPELINE_HELP: &str =
    "the library runs the pipeline Transformer, Pooling, then optionally Normalize";

/// What the library pools by instead of a mode it lacks.
const POOLING_HELP: &str = "the library pools by one of `mean`, `cls`, `max` or `lasttoken`";

/// The folder's pipeline after the encoder, and the width its Pooling module expects.
pub(super) struct Pipeline {
    pub pooling: SentencePooling,
    /// The Pooling module's width as its `config.json` states it; `None` for a folder
    /// without `modules.json`.
    pub dimension: Option<Dimension>,
}

/// The width a Pooling module expects: its file (relative to the folder), its key
/// (`embedding_dimension`, or `word_embedding_dimension` before sentence-transformers 6), and
/// its value there, if any.
pub(super) struct Dimension {
    file: String,
    key: &'static str,
    value: Option<Value>,
}

impl Pipeline {
    /// The mismatch of the Pooling module's width with `d_model`, if any.
    pub fn check_dimension(&self, d_model: usize) -> Option<ConfigMismatch> {
        let Dimension { file, key, value } = self.dimension.as_ref()?;
        let fits = value
            .as_ref()
            .is_some_and(|v| config::is_integer(v, d_model));
        (!fits)
            .then(|| config::mismatch(file, key, value.as_ref(), format!("`d_model: {d_model}`")))
    }
}

/// Reads `modules.json` and the Pooling module's config. A folder without `modules.json` is
/// a plain Hugging Face model, which sentence-transformers mean-pools without normalising.
///
/// # Errors
///
/// [`TextError::File`] for a file that is unreadable or malformed, [`TextError::Unsupported`]
/// naming a module or pooling mode the library lacks.
pub(super) fn pipeline(dir: &Path) -> Result<Pipeline, TextError> {
    let modules_path = dir.join("modules.json");
    let Some(modules) = read_optional_json(&modules_path)? else {
        return Ok(Pipeline {
            pooling: SentencePooling {
                pooling: Pooling::Mean,
                normalize: false,
            },
            dimension: None,
        });
    };
    let modules = modules
        .as_array()
        .ok_or_else(|| file_error(&modules_path, "not a list of modules"))?;
    let mut paths = Vec::new();
    for (i, module) in modules.iter().enumerate() {
        let (module_type, path) = (module["type"].as_str(), module["path"].as_str());
        let (Some(module_type), Some(path)) = (module_type, path) else {
            return Err(file_error(
                &modules_path,
                format!("module {i} has no `type` or `path`"),
            ));
        };
        if PIPELINE.get(i) != Some(&class(module_type)) {
            return Err(TextError::Unsupported {
                path: modules_path,
                what: format!("module `{module_type}` (in `{path}`) is not supported here"),
                help: PIPELINE_HELP,
            });
        }
        paths.push(path);
    }
    let [_, pooling_dir, ..] = paths[..] else {
        return Err(TextError::Unsupported {
            path: modules_path,
            what: "the pipeline has no `Pooling` module".to_owned(),
            help: PIPELINE_HELP,
        });
    };
    let config_file = format!("{pooling_dir}/config.json");
    let config_path = dir.join(&config_file);
    let config = read_json(&config_path)?;
    let pooling = pooling_mode(&config, &config_path)?;
    let legacy = "word_embedding_dimension";
    let key = if config.get(legacy).is_some() && config.get("embedding_dimension").is_none() {
        legacy
    } else {
        "embedding_dimension"
    };
    let dimension = Dimension {
        file: config_file,
        key,
        value: config.get(key).cloned(),
    };
    Ok(Pipeline {
        pooling: SentencePooling {
            pooling,
            normalize: paths.len() == PIPELINE.len(),
        },
        dimension: Some(dimension),
    })
}

/// The class name at the end of a module's `type`: `Pooling` for both
/// `sentence_transformers.models.Pooling` and
/// `sentence_transformers.sentence_transformer.modules.pooling.Pooling`.
fn class(module_type: &str) -> &str {
    module_type.rsplit('.').next().unwrap_or(module_type)
}

/// The one pooling mode `config` sets: `pooling_mode` (sentence-transformers ≥ 6), else the
/// legacy `pooling_mode_*` flags (mean if none is set, as sentence-transformers does).
fn pooling_mode(config: &Value, path: &Path) -> Result<Pooling, TextError> {
    let modes: Vec<String> = match config.get("pooling_mode") {
        Some(Value::String(mode)) => vec![mode.clone()],
        Some(Value::Array(modes)) => modes
            .iter()
            .map(|m| m.as_str().unwrap_or("?").to_owned())
            .collect(),
        Some(other) => vec![other.to_string()],
        None => legacy_modes(config),
    };
    let unsupported = |what: String| TextError::Unsupported {
        path: path.to_path_buf(),
        what,
        help: POOLING_HELP,
    };
    match modes.as_slice() {
        [] => Ok(Pooling::Mean),
        [mode] => MODES
            .into_iter()
            .find(|pooling| pooling.name() == mode)
            .ok_or_else(|| unsupported(format!("pooling mode `{mode}` is not supported"))),
        several => Err(unsupported(format!(
            "several pooling modes at once (`{}`) are not supported",
            several.join("`, `")
        ))),
    }
}

/// The modes of the legacy flags set to `true`, by name; a flag the library does not know
/// (`pooling_mode_…` of a later version) counts as a mode of its own name.
fn legacy_modes(config: &Value) -> Vec<String> {
    let Some(object) = config.as_object() else {
        return Vec::new();
    };
    object
        .iter()
        .filter(|(key, value)| key.starts_with("pooling_mode_") && **value == Value::Bool(true))
        .map(|(key, _)| {
            LEGACY_MODES
                .iter()
                .find(|(flag, _)| flag == key)
                .map_or_else(|| key.clone(), |(_, mode)| (*mode).to_owned())
        })
        .collect()
}

/// How sentence-transformers prepares text for the model, as the folder states it.
pub(super) struct TextSettings {
    /// The longest sequence fed to the model and the file that says so: `max_seq_length` of
    /// `sentence_bert_config.json` (before sentence-transformers 6), else the tokenizer's
    /// `model_max_length` in `tokenizer_config.json` capped at `max_position_embeddings` of
    /// `config.json`, else that; `None` if the folder states none of them.
    pub max_seq_length: Option<Setting>,
    /// `do_lower_case` of `sentence_bert_config.json`: lower-case the text before tokenizing.
    pub lowercase: bool,
}

/// A number the folder states: its file, its key, its value.
pub(super) struct Setting {
    pub file: &'static str,
    pub key: &'static str,
    pub value: u64,
}

/// Reads [`TextSettings`] from the folder `dir`, whose `config.json` is `config`.
///
/// # Errors
///
/// [`TextError::File`] for a file present but unreadable or malformed.
pub(super) fn text_settings(dir: &Path, config: &Value) -> Result<TextSettings, TextError> {
    let sbert = read_optional_json(&dir.join("sentence_bert_config.json"))?.unwrap_or_default();
    let lowercase = sbert["do_lower_case"] == Value::Bool(true);
    if let Some(n) = sbert["max_seq_length"].as_u64() {
        let max_seq_length = Some(Setting {
            file: "sentence_bert_config.json",
            key: "max_seq_length",
            value: n,
        });
        return Ok(TextSettings {
            max_seq_length,
            lowercase,
        });
    }
    let positions = config["max_position_embeddings"].as_u64();
    let tokenizer = read_optional_json(&dir.join("tokenizer_config.json"))?.unwrap_or_default();
    // `model_max_length` is often 1e30 ("no limit"), a float.
    let tokenizer_max = tokenizer["model_max_length"].as_f64().map(|n| n as u64);
    let max_seq_length = match (tokenizer_max, positions) {
        (Some(t), Some(p)) => Some(t.min(p)),
        (t, p) => t.or(p),
    };
    Ok(TextSettings {
        max_seq_length: max_seq_length.map(|value| Setting {
            file: "tokenizer_config.json",
            key: "model_max_length",
            value,
        }),
        lowercase,
    })
}

/// The JSON in `path`.
///
/// # Errors
///
/// [`TextError::File`] if it cannot be read or is not JSON.
pub(super) fn read_json(path: &Path) -> Result<Value, TextError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| file_error(path, e))
}

/// The JSON in `path`, `None` if there is no such file.
///
/// # Errors
///
/// As [`read_json`], for a file that exists.
fn read_optional_json(path: &Path) -> Result<Option<Value>, TextError> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

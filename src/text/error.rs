//! The one error type of `text`, and the config mismatches it lists.

use std::fmt;
use std::path::PathBuf;

use transformer_runtime::ForwardError;
use transformer_runtime::load::LoadError;

/// Why text could not become embeddings, or a model folder could not be loaded.
#[derive(Debug)]
pub enum TextError {
    /// A file of the model folder could not be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The folder's configuration contradicts the model's spec: every mismatch, at once.
    Config {
        /// The model folder.
        dir: PathBuf,
        /// The model's name, as declared.
        model: &'static str,
        /// Each setting on which folder and spec disagree.
        mismatches: Vec<ConfigMismatch>,
    },
    /// The folder asks for something the library does not do: a pooling mode, a module.
    Unsupported {
        /// The file that asks for it.
        path: PathBuf,
        /// What it asks for, named as the file names it.
        what: String,
        /// What the library does instead.
        help: &'static str,
    },
    /// The folder's `model.safetensors` does not load into the model.
    Weights {
        /// The file.
        path: PathBuf,
        /// Every fault of the file.
        source: LoadError,
    },
    /// The tokenizer rejected its input.
    Tokenize(String),
    /// Token ids could not be turned back into text: an id past the vocabulary, say.
    Decode(String),
    /// A GGUF vocabulary ([`GgufVocab`](super::GgufVocab)) is malformed.
    Vocab(String),
    /// A GGUF vocabulary asks for a tokenizer the text module does not build.
    UnsupportedVocab {
        /// The metadata key: `tokenizer.ggml.model` or `tokenizer.ggml.pre`.
        key: &'static str,
        /// Its value.
        value: String,
        /// The values the module supports.
        supported: &'static [&'static str],
    },
    /// The tokenizer has no chat template to render.
    NoChatTemplate,
    /// A chat template failed to parse or to render, or called `raise_exception`.
    Template(String),
    /// The model rejected the token ids.
    Forward(ForwardError),
}

/// One setting on which a model folder and the model's spec disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigMismatch {
    /// The file of the folder, relative to it: `config.json`, `1_Pooling/config.json`, ...
    pub file: String,
    /// The key in the file: `hidden_size`, `layer_norm_eps`, ...
    pub key: String,
    /// The value in the file, as JSON (`384`, `"gelu_new"`), or `missing`.
    pub found: String,
    /// What the spec has instead, as spec keys: `` `d_model: 32` ``.
    pub spec: String,
}

impl fmt::Display for ConfigMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            file,
            key,
            found,
            spec,
        } = self;
        write!(f, "{file}: `{key}` is {found}, the spec has {spec}")
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, reason } => write!(f, "cannot use {}: {reason}", path.display()),
            Self::Config {
                dir,
                model,
                mismatches,
            } => {
                write!(f, "{} does not hold a `{model}`:", dir.display())?;
                for mismatch in mismatches {
                    write!(f, "\n  {mismatch}")?;
                }
                write!(
                    f,
                    "\nhelp: declare `{model}` with the folder's settings, or load the folder \
                     its spec was written for"
                )
            }
            Self::Unsupported { path, what, help } => {
                write!(f, "{}: {what}\nhelp: {help}", path.display())
            }
            Self::Weights { path, source } => {
                write!(f, "cannot load {}:\n{source}", path.display())
            }
            Self::Tokenize(reason) => write!(f, "tokenizing failed: {reason}"),
            Self::Decode(reason) => write!(f, "decoding failed: {reason}"),
            Self::Vocab(reason) => write!(f, "malformed GGUF vocabulary: {reason}"),
            Self::UnsupportedVocab {
                key,
                value,
                supported,
            } => write!(
                f,
                "`{key}` is {value:?}, which the text module does not support\n\
                 help: supported: {}",
                supported.join(", ")
            ),
            Self::NoChatTemplate => write!(
                f,
                "the tokenizer has no chat template\n\
                 help: give one with `Tokenizer::with_chat_template`"
            ),
            Self::Template(reason) => write!(f, "chat template: {reason}"),
            Self::Forward(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Forward(e) => Some(e),
            Self::Weights { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ForwardError> for TextError {
    fn from(e: ForwardError) -> Self {
        Self::Forward(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_lists_every_mismatch_then_one_help() {
        let mismatch = |key: &str, found: &str, spec: &str| ConfigMismatch {
            file: "config.json".into(),
            key: key.into(),
            found: found.into(),
            spec: spec.into(),
        };
        let err = TextError::Config {
            dir: PathBuf::from("models/bge"),
            model: "Bge",
            mismatches: vec![
                mismatch("hidden_size", "768", "`d_model: 384`"),
                mismatch("hidden_act", "missing", "`activation: gelu`"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "models/bge does not hold a `Bge`:\n  \
             config.json: `hidden_size` is 768, the spec has `d_model: 384`\n  \
             config.json: `hidden_act` is missing, the spec has `activation: gelu`\n\
             help: declare `Bge` with the folder's settings, or load the folder its spec was \
             written for"
        );
    }
}

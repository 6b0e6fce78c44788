//! Sentences in, sentence embeddings out: Hugging Face's WordPiece tokenizer as a model's
//! `tokenizer.json` defines it, with sentence-transformers' truncation and padding, and the
//! pooling and normalisation of its pipeline, over any model that takes token ids.
//!
//! sentence-transformers does not use the truncation and padding written in
//! `tokenizer.json` (for all-MiniLM-L6-v2: truncate at 128, pad every input to 128). It
//! truncates at the model's `max_seq_length` (from `sentence_bert_config.json`, 256 there)
//! and pads each batch only to its longest sentence. [`SentenceTokenizer`] does the same.

use std::fmt;
use std::path::{Path, PathBuf};

use transformer_runtime::pooling::{Pooling, l2_normalize};
use transformer_runtime::{ForwardError, Padding, TokenModel};

/// Why text could not become embeddings.
#[derive(Debug)]
pub enum TextError {
    /// A file of the model folder could not be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The tokenizer rejected its input.
    Tokenize(String),
    /// The model rejected the token ids.
    Forward(ForwardError),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, reason } => write!(f, "cannot use {}: {reason}", path.display()),
            Self::Tokenize(reason) => write!(f, "tokenizing failed: {reason}"),
            Self::Forward(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Forward(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ForwardError> for TextError {
    fn from(e: ForwardError) -> Self {
        Self::Forward(e)
    }
}

/// Token ids of a batch of sentences, right-padded to the longest: `[batch · seq_len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, sentence `b` at `b·seq_len..(b+1)·seq_len`, padding after its tokens.
    pub ids: Vec<u32>,
    /// Token types, laid out as `ids`.
    pub token_types: Vec<u32>,
    /// Real tokens of each sentence (special tokens included).
    pub lengths: Vec<usize>,
    /// The padded length: the longest sentence's.
    pub seq_len: usize,
}

impl TokenBatch {
    /// The ids of sentence `b`, without padding.
    pub fn sentence(&self, b: usize) -> &[u32] {
        &self.ids[b * self.seq_len..][..self.lengths[b]]
    }
}

/// A `tokenizer.json` tokenizer that truncates and pads as sentence-transformers does.
pub struct SentenceTokenizer {
    inner: tokenizers::Tokenizer,
    pad_id: u32,
    max_seq_length: usize,
}

fn file_error(path: &Path, reason: impl fmt::Display) -> TextError {
    TextError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl SentenceTokenizer {
    /// Reads `tokenizer.json`; sentences are truncated to `max_seq_length` tokens, special
    /// tokens included.
    ///
    /// # Errors
    ///
    /// [`TextError::File`] if the file is missing or not a tokenizer.
    pub fn from_file(path: &Path, max_seq_length: usize) -> Result<Self, TextError> {
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| file_error(path, e))?;
        let pad_id = inner.get_padding().map_or(0, |p| p.pad_id);
        inner
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_seq_length,
                ..tokenizers::TruncationParams::default()
            }))
            .map_err(|e| file_error(path, e))?;
        inner.with_padding(None);
        Ok(Self {
            inner,
            pad_id,
            max_seq_length,
        })
    }

    /// The tokenizer of a sentence-transformers model folder: `tokenizer.json`, truncating at
    /// the `max_seq_length` of `sentence_bert_config.json`.
    ///
    /// # Errors
    ///
    /// [`TextError::File`] naming the file that is missing or malformed.
    pub fn from_model_dir(dir: &Path) -> Result<Self, TextError> {
        let config_path = dir.join("sentence_bert_config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| file_error(&config_path, e))?;
        let max_seq_length = config["max_seq_length"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| file_error(&config_path, "no integer `max_seq_length`"))?;
        Self::from_file(&dir.join("tokenizer.json"), max_seq_length)
    }

    /// The longest sequence a sentence is truncated to.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Tokenizes `sentences` with special tokens (`[CLS] … [SEP]`), truncated, and pads them
    /// to the longest.
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`] if the tokenizer fails.
    pub fn encode_batch(&self, sentences: &[&str]) -> Result<TokenBatch, TextError> {
        let encodings = sentences
            .iter()
            .map(|s| self.inner.encode(*s, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        let seq_len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut batch = TokenBatch {
            ids: vec![self.pad_id; seq_len * encodings.len()],
            token_types: vec![0; seq_len * encodings.len()],
            lengths: Vec::with_capacity(encodings.len()),
            seq_len,
        };
        for (b, encoding) in encodings.iter().enumerate() {
            let (ids, types) = (encoding.get_ids(), encoding.get_type_ids());
            batch.ids[b * seq_len..][..ids.len()].copy_from_slice(ids);
            batch.token_types[b * seq_len..][..types.len()].copy_from_slice(types);
            batch.lengths.push(ids.len());
        }
        Ok(batch)
    }
}

/// What sentence-transformers does after the encoder: its Pooling module, then, if the
/// pipeline has one, its Normalize module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentencePooling {
    /// How a sentence's token vectors become one vector.
    pub pooling: Pooling,
    /// Whether that vector is then scaled to unit length.
    pub normalize: bool,
}

impl SentencePooling {
    /// all-MiniLM-L6-v2's pipeline and most sentence-transformers models': mean pooling, then
    /// L2 normalisation.
    pub const MEAN_NORMALIZED: Self = Self {
        pooling: Pooling::Mean,
        normalize: true,
    };

    /// One vector per sentence of the padded batch `hidden` (`[batch · seq_len][D]`, as
    /// [`TokenModel::forward_tokens_batch`] returns it), from its real tokens only.
    pub fn apply<const D: usize>(
        self,
        hidden: &[[f32; D]],
        seq_len: usize,
        padding: Padding<'_>,
    ) -> Vec<[f32; D]> {
        let mut pooled = self.pooling.pool_batch(hidden, seq_len, padding);
        if self.normalize {
            pooled.iter_mut().for_each(|v| l2_normalize(v));
        }
        pooled
    }
}

/// Sentence embeddings of a tokenized batch, as sentence-transformers computes them: the
/// model's last hidden states, pooled over each sentence's real tokens and normalised as
/// `pooling` says (for all-MiniLM-L6-v2, [`SentencePooling::MEAN_NORMALIZED`]).
///
/// # Errors
///
/// [`TextError::Forward`] if the model rejects the ids (one past its vocabulary, say).
pub fn sentence_embeddings<const D: usize, M: TokenModel<D>>(
    model: &M,
    batch: &TokenBatch,
    pooling: SentencePooling,
) -> Result<Vec<[f32; D]>, TextError> {
    let padding = Padding::Lengths(&batch.lengths);
    let hidden =
        model.forward_tokens_batch(&batch.ids, Some(&batch.token_types), batch.seq_len, padding)?;
    Ok(pooling.apply(&hidden, batch.seq_len, padding))
}

/// Where `scripts/fetch-models.sh` puts model `name`:
/// `$TRANSFORMER_MODELS/<name>`, by default `$HOME/.cache/transformer-models/<name>`.
pub fn model_cache_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("TRANSFORMER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache").join("transformer-models")
        });
    root.join(name)
}

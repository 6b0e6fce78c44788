//! Text in and out of models: Hugging Face tokenizers, chat templates, streaming decode, and
//! sentence embeddings.
//!
//! **Generation.** [`Tokenizer`] reads a `tokenizer.json` ([`Tokenizer::from_file`]) or builds
//! the byte-level BPE tokenizer a GGUF file describes ([`Tokenizer::from_gguf_metadata`] on a
//! [`GgufVocab`]). Its [`chat_template`](Tokenizer::chat_template) renders a conversation as
//! transformers' `apply_chat_template` does, and its [`stream`](Tokenizer::stream) turns
//! generated ids into text one whole character at a time. The next id itself comes from
//! [`runtime::sample`](crate::runtime::sample).
//!
//! ```no_run
//! use transformer::runtime::sample::{Sampler, SamplingOptions, Stop};
//! use transformer::text::{Message, Tokenizer};
//! # fn next_logits(_ids: &[u32]) -> Vec<f32> { vec![0.0; 49152] }
//!
//! let tokenizer = Tokenizer::from_file("tokenizer.json".as_ref())?
//!     .with_chat_template("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
//! let prompt = tokenizer.chat_template()?.render(&[Message::user("Hi!")], true)?;
//! let mut ids = tokenizer.encode(&prompt, false)?;
//! let mut sampler = Sampler::new(SamplingOptions { temperature: 0.7, seed: 1, ..SamplingOptions::default() })?;
//! let stop = Stop { eos: tokenizer.token_to_id("<|im_end|>").into_iter().collect(), max_new_tokens: 64 };
//! let mut stream = tokenizer.stream(true);
//! let mut generated = Vec::new();
//! while !stop.should_stop(&generated) {
//!     let token = sampler.sample(&next_logits(&ids), &ids)?; // the model's logits for `ids`
//!     ids.push(token);
//!     generated.push(token);
//!     if let Some(text) = stream.push(token)? {
//!         print!("{text}");
//!     }
//! }
//! print!("{}", stream.flush()?.unwrap_or_default());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Sentence embeddings.** Hugging Face's WordPiece tokenizer as a model's `tokenizer.json`
//! defines it, with sentence-transformers' truncation and padding, and the pooling and
//! normalisation of its pipeline, over any model that takes token ids.
//!
//! [`FromPretrained`] loads all of it from a model folder: `MiniLm::from_pretrained(dir)`
//! checks `config.json` against the spec and returns a [`Pretrained`] model, whose
//! [`encode`](Pretrained::encode) gives sentence-transformers' embeddings.
//!
//! sentence-transformers does not use the truncation and padding written in
//! `tokenizer.json` (for all-MiniLM-L6-v2: truncate at 128, pad every input to 128). It
//! truncates at the model's `max_seq_length` (from `sentence_bert_config.json`, 256 there)
//! and pads each batch only to its longest sentence. [`SentenceTokenizer`] does the same.

mod chat;
mod config;
mod error;
mod folder;
mod gguf;
mod pretrained;
mod stream;
mod tokenizer;

use std::fmt;
use std::path::{Path, PathBuf};

use transformer_runtime::pooling::{Pooling, l2_normalize};
use transformer_runtime::{Batch, Options, Padding, TokenModel, Tokens};

pub use chat::{ChatTemplate, Message};
pub use error::{ConfigMismatch, TextError};
pub use gguf::GgufVocab;
pub use pretrained::{FromPretrained, Pretrained};
pub use stream::TextStream;
pub use tokenizer::{SpecialTokens, Tokenizer};

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
    lowercase: bool,
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
            lowercase: false,
        })
    }

    /// Lower-cases each sentence before tokenizing if `lowercase`, as sentence-transformers
    /// does for a folder whose `sentence_bert_config.json` says `do_lower_case: true`.
    #[must_use]
    pub fn with_lowercase(mut self, lowercase: bool) -> Self {
        self.lowercase = lowercase;
        self
    }

    /// The tokenizer of a sentence-transformers model folder: `tokenizer.json`, truncating at
    /// the `max_seq_length` of `sentence_bert_config.json`, or else at the tokenizer's
    /// `model_max_length` capped at the model's `max_position_embeddings` (as
    /// sentence-transformers 6 saves it), and lower-casing first if `do_lower_case` says so.
    ///
    /// # Errors
    ///
    /// [`TextError::File`] naming the file that is missing or malformed.
    pub fn from_model_dir(dir: &Path) -> Result<Self, TextError> {
        let config = folder::read_json(&dir.join("config.json"))?;
        let text = folder::text_settings(dir, &config)?;
        let max_seq_length = text.max_seq_length.ok_or_else(|| {
            let reason = "no `max_seq_length`, and no `model_max_length` in \
                          tokenizer_config.json or `max_position_embeddings` in config.json";
            file_error(&dir.join("sentence_bert_config.json"), reason)
        })?;
        let max_seq_length = usize::try_from(max_seq_length.value).unwrap_or(usize::MAX);
        Ok(
            Self::from_file(&dir.join("tokenizer.json"), max_seq_length)?
                .with_lowercase(text.lowercase),
        )
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
            .map(|&s| match self.lowercase {
                true => self.inner.encode(s.to_lowercase(), true),
                false => self.inner.encode(s, true),
            })
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

    /// The pooling and normalisation of the sentence-transformers folder `dir`, from its
    /// `modules.json` and its Pooling module's `config.json`; for a folder without
    /// `modules.json` (a plain Hugging Face model), mean pooling without normalisation, as
    /// sentence-transformers does.
    ///
    /// # Errors
    ///
    /// [`TextError::Unsupported`] naming a module or pooling mode the library lacks;
    /// [`TextError::File`] for a file that is missing or malformed.
    pub fn from_model_dir(dir: &Path) -> Result<Self, TextError> {
        folder::pipeline(dir).map(|pipeline| pipeline.pooling)
    }

    /// One vector per sentence of the padded batch `hidden` (`[batch · seq_len][D]`, as
    /// [`TokenModel::forward_tokens_with`] returns it), from its real tokens only.
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
    let hidden = model.forward_tokens_with(
        Tokens::with_types(&batch.ids, &batch.token_types),
        &Options::new().batch(Batch::lengths(batch.seq_len, &batch.lengths)),
    )?;
    let padding = Padding::Lengths(&batch.lengths);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A cased word-level tokenizer: `cat` is 1, `Cat` is 2, anything else 0.
    const CASED: &str = r#"{
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "cat": 1, "Cat": 2}, "unk_token": "[UNK]"}
    }"#;

    #[test]
    fn with_lowercase_tokenizes_the_lower_cased_text() {
        let path =
            std::env::temp_dir().join(format!("transformer-cased-{}.json", std::process::id()));
        std::fs::write(&path, CASED).unwrap();
        let tokenizer = SentenceTokenizer::from_file(&path, 8);
        std::fs::remove_file(&path).unwrap();
        let tokenizer = tokenizer.unwrap();
        assert_eq!(tokenizer.encode_batch(&["Cat cat"]).unwrap().ids, [2, 1]);
        let tokenizer = tokenizer.with_lowercase(true);
        assert_eq!(tokenizer.encode_batch(&["Cat cat"]).unwrap().ids, [1, 1]);
    }
}

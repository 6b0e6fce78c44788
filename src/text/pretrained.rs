//! `M::from_pretrained(dir)`: a Hugging Face or sentence-transformers model folder, checked
//! against the model's spec, loaded as model, tokenizer and pooling.

use std::path::Path;

use transformer_runtime::TokenModel;
use transformer_runtime::load::LoadOptions;

use super::folder::{self, Setting};
use super::{SentencePooling, SentenceTokenizer, TextError, config, file_error};

/// A model folder loaded: the model with its weights, its tokenizer, and the pooling its
/// sentence-transformers pipeline declares. [`encode`](Self::encode) turns sentences into
/// the embeddings sentence-transformers computes.
pub struct Pretrained<M> {
    /// The encoder, with the weights of `model.safetensors`.
    pub model: M,
    /// `tokenizer.json`, truncating where sentence-transformers does.
    pub tokenizer: SentenceTokenizer,
    /// The Pooling module's mode and whether a Normalize module follows it.
    pub pooling: SentencePooling,
}

impl<M> Pretrained<M> {
    /// Loads the model folder `dir` (as `SentenceTransformer.save` or Hugging Face's
    /// `save_pretrained` writes it) into the model `M`, strictly: a tensor `M` does not use is
    /// an error (`pooler.*` excepted).
    ///
    /// - `config.json` must agree with `M`'s spec on every setting both state (`hidden_size`
    ///   and `d_model`, `num_attention_heads` and `heads`, …); so must the Pooling module's
    ///   `embedding_dimension` and the longest sequence the folder tokenizes to.
    /// - `modules.json` must list Transformer, Pooling and optionally Normalize; the
    ///   Pooling module's `config.json` one mode the library has ([`Pooling`]). A folder
    ///   without `modules.json` is a plain Hugging Face model: mean pooling, no normalisation,
    ///   as sentence-transformers does.
    /// - `tokenizer.json` is the tokenizer, truncating at `max_seq_length`
    ///   (`sentence_bert_config.json`) or else the tokenizer's `model_max_length`, and
    ///   lower-casing the text first if `sentence_bert_config.json` says `do_lower_case`.
    ///
    /// [`Pooling`]: transformer_runtime::pooling::Pooling
    ///
    /// # Errors
    ///
    /// [`TextError::Config`] naming every setting that contradicts the spec, with both
    /// values; [`TextError::Unsupported`] naming a pooling mode or module the library lacks;
    /// [`TextError::File`] for a missing or malformed file; [`TextError::Weights`] if
    /// `model.safetensors` does not load into `M`.
    pub fn load<const D: usize>(dir: impl AsRef<Path>) -> Result<Self, TextError>
    where
        M: TokenModel<D>,
    {
        Self::load_with(dir, LoadOptions::default())
    }

    /// [`Self::load`], loading `model.safetensors` as `options` say
    /// (`LoadOptions::lenient()` skips tensors `M` does not use, such as a classifier head).
    ///
    /// # Errors
    ///
    /// As [`Self::load`].
    pub fn load_with<const D: usize>(
        dir: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Self, TextError>
    where
        M: TokenModel<D>,
    {
        let dir = dir.as_ref();
        let spec = M::HYPERPARAMETERS;
        let config = folder::read_json(&dir.join("config.json"))?;
        let mut mismatches = config::check(&config, &spec);
        let pipeline = folder::pipeline(dir)?;
        mismatches.extend(pipeline.check_dimension(spec.d_model));
        let text = folder::text_settings(dir, &config)?;
        let max_seq_length = match text.max_seq_length {
            Some(Setting { file, key, value }) if value > spec.max_len as u64 => {
                let spec_value = format!("`max_len: {}`", spec.max_len);
                mismatches.push(config::mismatch(file, key, Some(&value.into()), spec_value));
                spec.max_len
            }
            Some(Setting { value, .. }) => value as usize,
            None => spec.max_len,
        };
        if !mismatches.is_empty() {
            return Err(TextError::Config {
                dir: dir.to_path_buf(),
                model: spec.name,
                mismatches,
            });
        }
        let tokenizer = SentenceTokenizer::from_file(&dir.join("tokenizer.json"), max_seq_length)?
            .with_lowercase(text.lowercase);
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            let reason = "no such file; weights load from safetensors only \
                          (`save_pretrained(dir, safe_serialization=True)` writes them)";
            return Err(file_error(&weights, reason));
        }
        let model =
            M::from_safetensors_with(&weights, options).map_err(|source| TextError::Weights {
                path: weights,
                source,
            })?;
        Ok(Self {
            model,
            tokenizer,
            pooling: pipeline.pooling,
        })
    }

    /// One embedding per sentence, in order, as sentence-transformers' `encode` computes it:
    /// tokenized and padded as one batch, encoded, pooled, and normalised if the folder's
    /// pipeline normalises.
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`] if the tokenizer fails, [`TextError::Forward`] if the model
    /// rejects the ids.
    pub fn encode<const D: usize>(&self, sentences: &[&str]) -> Result<Vec<[f32; D]>, TextError>
    where
        M: TokenModel<D>,
    {
        let batch = self.tokenizer.encode_batch(sentences)?;
        super::sentence_embeddings(&self.model, &batch, self.pooling)
    }
}

/// `M::from_pretrained(dir)` for every model that takes token ids: [`Pretrained::load`].
///
/// ```no_run
/// use transformer::prelude::*;
///
/// transformer! {
///     pub MiniLm < vocab: 30522, d_model: 384, heads: 12, layers: 6, d_ff: 1536, max_len: 512,
///                  positional: learned, token_types: 2, embed_norm: true, activation: gelu,
///                  eps: 1e-12, weights: bert >
/// }
///
/// let minilm = MiniLm::from_pretrained("models/all-MiniLM-L6-v2")?;
/// let embeddings = minilm.encode(&["A sentence.", "Another one."])?;
/// assert_eq!(embeddings[0].len(), 384);
/// # Ok::<(), transformer::text::TextError>(())
/// ```
pub trait FromPretrained<const D: usize>: TokenModel<D> {
    /// Loads the model folder `dir`: [`Pretrained::load`].
    ///
    /// # Errors
    ///
    /// As [`Pretrained::load`].
    fn from_pretrained(dir: impl AsRef<Path>) -> Result<Pretrained<Self>, TextError>;
}

impl<M: TokenModel<D>, const D: usize> FromPretrained<D> for M {
    fn from_pretrained(dir: impl AsRef<Path>) -> Result<Pretrained<Self>, TextError> {
        Pretrained::load(dir)
    }
}

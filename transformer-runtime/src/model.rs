//! Traits that generated models implement, so code can be generic over models.

use std::path::Path;

use crate::activation::Activation;
use crate::error::ForwardError;
use crate::load::{LoadError, LoadOptions};
use crate::options::{Options, Tokens};

/// A model that takes token ids: implemented by every `transformer!` model with `vocab`.
pub trait TokenModel<const D: usize>: Sized {
    /// The longest sequence the model accepts.
    const MAX_LEN: usize;

    /// The settings of the model's spec, to check a checkpoint's configuration against.
    const HYPERPARAMETERS: Hyperparameters;

    /// The model's `from_safetensors_with`: weights streamed from the safetensors file at
    /// `path`, loaded as `options` say.
    ///
    /// # Errors
    ///
    /// [`LoadError`] naming every missing, mis-shaped or (if strict) unexpected tensor, or why
    /// the file could not be read.
    fn from_safetensors_with(path: &Path, options: LoadOptions) -> Result<Self, LoadError>;

    /// The last hidden states of `tokens` run with `options`: the model's own
    /// `forward_tokens_with`. With a padded batch in `options`, `tokens` are
    /// `[batch · seq_len]` and the output `[batch · seq_len][D]`, zero at padding.
    ///
    /// # Errors
    ///
    /// An id or token type outside its table, or `options` that do not fit the ids.
    fn forward_tokens_with(
        &self,
        tokens: Tokens<'_>,
        options: &Options<'_>,
    ) -> Result<Vec<[f32; D]>, ForwardError>;
}

/// A token model's spec, as far as a checkpoint's configuration (a Hugging Face `config.json`)
/// states it too. Each field is the spec key of the same name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyperparameters {
    /// The model's name, as declared (`MiniLm`).
    pub name: &'static str,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Layers of the model's stack.
    pub layers: usize,
    /// Feed-forward hidden width; 0 without a feed-forward sublayer.
    pub d_ff: usize,
    /// The longest sequence the model accepts.
    pub max_len: usize,
    /// Rows of the token-embedding table.
    pub vocab: usize,
    /// Rows of the token-type table; `None` without one.
    pub token_types: Option<usize>,
    /// Epsilon of the layer norms; `None` without any.
    pub eps: Option<f32>,
    /// The feed-forward non-linearity.
    pub activation: Activation,
    /// How token order enters the model.
    pub positional: Positional,
    /// Whose tensor names the model's checkpoints use.
    pub weights: Weights,
}

/// How token order enters a model: the spec's `positional`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positional {
    /// Not at all.
    None,
    /// "Attention Is All You Need" sinusoids.
    Sinusoidal,
    /// A learned `[max_len][d_model]` table.
    Learned,
    /// Rotary position embedding, applied to queries and keys inside self-attention.
    Rope,
}

/// Whose tensor names a model's checkpoints use: the spec's `weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// PyTorch's `nn.TransformerEncoder`, `nn.TransformerDecoder` and `nn.Transformer`.
    Pytorch,
    /// Hugging Face's `BertModel`.
    Bert,
    /// Hugging Face's `LlamaForCausalLM`.
    Llama,
    /// Hugging Face's `GPT2LMHeadModel`.
    Gpt2,
}

//! Traits that generated models implement, so code can be generic over models.

use crate::error::ForwardError;
use crate::options::{Options, Tokens};

/// A model that takes token ids: implemented by every `transformer!` model with `vocab`.
pub trait TokenModel<const D: usize> {
    /// The longest sequence the model accepts.
    const MAX_LEN: usize;

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

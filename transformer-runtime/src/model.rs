//! Traits that generated models implement, so code can be generic over models.

use crate::batch::Padding;
use crate::error::ForwardError;

/// A model that takes token ids: implemented by every `transformer!` model with `vocab`.
pub trait TokenModel<const D: usize> {
    /// The longest sequence the model accepts.
    const MAX_LEN: usize;

    /// The last hidden states of a padded batch of token ids: `ids` (and `token_types`, by
    /// default all 0) are `[batch · seq_len]`, `padding` says which positions are real
    /// tokens, and the output is `[batch · seq_len][D]` with zero rows at padding.
    ///
    /// # Errors
    ///
    /// An id or token type outside its table, or a batch whose shapes do not agree.
    fn forward_tokens_batch(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        seq_len: usize,
        padding: Padding<'_>,
    ) -> Result<Vec<[f32; D]>, ForwardError>;
}

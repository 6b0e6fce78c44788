//! How a forward pass runs, beyond its input: [`Options`] gathers the masks, the padded batch
//! and the memory's padding, so that every entry point of a model (`forward_with`,
//! `forward_tokens_with`, `decode_with` and their `_into` twins) takes the same one value.
//!
//! Two vocabularies, never mixed:
//! - *which positions may see which*: [`Mask`] for self-attention, [`MemoryMask`] for the
//!   attention to an encoder memory; two types, so one cannot be passed for the other;
//! - *which positions are real tokens*: [`Padding`], for the input ([`Batch`]) and for the
//!   memory ([`Options::memory_padding`]).

use crate::attention::Attend;
use crate::batch::Padding;

/// Which positions of a sequence may see which in its self-attention. The default hides
/// nothing.
///
/// A query that may see no key at all gets a zero attention output (PyTorch gives NaN).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mask<'a> {
    /// Hide the keys after each query's own position. A `decoder` stack is always causal,
    /// whatever this says: the notes define a decoder by it.
    pub causal: bool,
    /// Added to the scaled scores before the softmax: `[n][n]` row-major for a sequence of `n`
    /// tokens (the same for every sequence of a batch, `n` being its `seq_len`); `-∞` hides a
    /// key from a query, as PyTorch's float `attn_mask`.
    pub additive: Option<&'a [f32]>,
}

impl Mask<'static> {
    /// Each query sees itself and the keys before it.
    pub const CAUSAL: Self = Self {
        causal: true,
        additive: None,
    };
}

impl<'a> Mask<'a> {
    /// A mask of additive terms, `[n][n]` row-major: PyTorch's float `mask`/`tgt_mask`.
    #[must_use]
    pub const fn additive(additive: &'a [f32]) -> Self {
        Self {
            causal: false,
            additive: Some(additive),
        }
    }
}

impl<'a> From<&Mask<'a>> for Attend<'a> {
    fn from(mask: &Mask<'a>) -> Self {
        Self {
            causal: mask.causal,
            additive: mask.additive,
            ..Self::default()
        }
    }
}

/// Which rows of the encoder memory each query may see, in cross-attention. The default
/// hides nothing. A type of its own so that it cannot be passed where a [`Mask`] belongs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryMask<'a> {
    /// Added to the scaled scores before the softmax: `[n][m]` row-major, for `n` queries
    /// and a memory of `m` rows (per sequence of a batch); `-∞` hides a memory row, as
    /// PyTorch's float `memory_mask`.
    pub additive: Option<&'a [f32]>,
}

impl<'a> MemoryMask<'a> {
    /// A mask of additive terms, `[n][m]` row-major: PyTorch's float `memory_mask`.
    #[must_use]
    pub const fn additive(additive: &'a [f32]) -> Self {
        Self {
            additive: Some(additive),
        }
    }
}

impl<'a> From<&MemoryMask<'a>> for Attend<'a> {
    fn from(mask: &MemoryMask<'a>) -> Self {
        Self {
            additive: mask.additive,
            ..Self::default()
        }
    }
}

/// The input is a batch: `[batch · seq_len]` rows (or ids), sequence `b` in rows
/// `b·seq_len..(b+1)·seq_len`, and `padding` says which of them are real tokens. Each
/// sequence gives what it would give alone; the output rows of padding are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    /// Rows per sequence, padding included.
    pub seq_len: usize,
    /// Which rows are real tokens; `None`: all of them.
    pub padding: Option<Padding<'a>>,
}

impl<'a> Batch<'a> {
    /// Sequences of `seq_len` rows, every row a real token.
    #[must_use]
    pub const fn full(seq_len: usize) -> Self {
        Self {
            seq_len,
            padding: None,
        }
    }

    /// Sequences whose first `lengths[b]` rows are real tokens, padded to `seq_len`.
    #[must_use]
    pub const fn lengths(seq_len: usize, lengths: &'a [usize]) -> Self {
        Self {
            seq_len,
            padding: Some(Padding::Lengths(lengths)),
        }
    }

    /// Sequences of `seq_len` rows with a flag for every row: `true` = a real token.
    #[must_use]
    pub const fn keep(seq_len: usize, keep: &'a [bool]) -> Self {
        Self {
            seq_len,
            padding: Some(Padding::Keep(keep)),
        }
    }
}

/// Token ids, and if the model has a token-type table, their types: the input of
/// `forward_tokens_with` and `forward_tokens_into`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens<'a> {
    /// One id per token.
    pub ids: &'a [u32],
    /// One type per token (BERT's segment ids); `None` means type 0 for every token.
    pub types: Option<&'a [u32]>,
}

impl<'a> Tokens<'a> {
    /// The ids, every token of type 0.
    #[must_use]
    pub const fn new(ids: &'a [u32]) -> Self {
        Self { ids, types: None }
    }

    /// The ids with their token types.
    #[must_use]
    pub const fn with_types(ids: &'a [u32], types: &'a [u32]) -> Self {
        Self {
            ids,
            types: Some(types),
        }
    }
}

impl<'a> From<&'a [u32]> for Tokens<'a> {
    fn from(ids: &'a [u32]) -> Self {
        Self::new(ids)
    }
}

/// Everything about a forward pass but its input; the default is a plain pass over one
/// sequence. Build it with the fields or the methods:
///
/// ```
/// # use transformer_runtime::{Batch, Mask, Options};
/// let lengths = [3, 5];
/// let options = Options::new().mask(Mask::CAUSAL).batch(Batch::lengths(5, &lengths));
/// assert_eq!(options.batch.unwrap().seq_len, 5);
/// ```
///
/// A memory option (`memory_mask`, `memory_padding`) given to a model that takes no memory
/// is an error, never ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options<'a> {
    /// Which positions may see which in self-attention.
    pub mask: Mask<'a>,
    /// The input is a padded batch; `None`: one sequence, every row a real token.
    pub batch: Option<Batch<'a>>,
    /// Which memory rows each query may see in cross-attention.
    pub memory_mask: MemoryMask<'a>,
    /// Which memory rows are real tokens: with a [`Batch`], the memory is
    /// `[batch · memory_len]` rows, one memory per sequence, and `Lengths` has one length per
    /// sequence; `None`: every memory row is real.
    pub memory_padding: Option<Padding<'a>>,
}

impl<'a> Options<'a> {
    /// A plain pass over one sequence: the same as [`Options::default`].
    #[must_use]
    pub const fn new() -> Self {
        Self {
            mask: Mask {
                causal: false,
                additive: None,
            },
            batch: None,
            memory_mask: MemoryMask { additive: None },
            memory_padding: None,
        }
    }

    /// With `mask` for self-attention.
    #[must_use]
    pub const fn mask(self, mask: Mask<'a>) -> Self {
        Self { mask, ..self }
    }

    /// With the input read as the padded batch `batch`.
    #[must_use]
    pub const fn batch(self, batch: Batch<'a>) -> Self {
        Self {
            batch: Some(batch),
            ..self
        }
    }

    /// With `memory_mask` for the attention to the memory.
    #[must_use]
    pub const fn memory_mask(self, memory_mask: MemoryMask<'a>) -> Self {
        Self {
            memory_mask,
            ..self
        }
    }

    /// With `padding` saying which memory rows are real.
    #[must_use]
    pub const fn memory_padding(self, padding: Padding<'a>) -> Self {
        Self {
            memory_padding: Some(padding),
            ..self
        }
    }
}

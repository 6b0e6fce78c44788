//! Errors of a forward pass on data known only at run time.

use std::fmt;

/// Why a forward pass on data known only at run time (lengths, ids, masks, padding) was
/// refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardError {
    /// The named input has no rows; a sequence needs at least one token.
    Empty {
        /// Which input: `"input"`, `"source"`, `"target"`, `"memory"`, `"ids"`.
        input: &'static str,
    },
    /// The named input is longer than the model's `max_len`.
    TooLong {
        /// Which input.
        input: &'static str,
        /// Its length.
        len: usize,
        /// The model's `max_len`.
        max_len: usize,
    },
    /// Two inputs that must have one row per token differ in length.
    LengthMismatch {
        /// The input whose length is off.
        input: &'static str,
        /// Its length.
        len: usize,
        /// The length it must match.
        expected: usize,
    },
    /// An option about the encoder memory was given to an entry point that takes none.
    NoMemory {
        /// The option: `"memory_mask"` or `"memory_padding"`.
        option: &'static str,
    },
    /// An id indexes past the end of an embedding table.
    IdOutOfRange {
        /// The table: `"token"` or `"token type"`.
        table: &'static str,
        /// The offending id.
        id: u32,
        /// Its position in the sequence.
        position: usize,
        /// Rows in the table (valid ids are `0..rows`).
        rows: usize,
    },
    /// A key/value cache has no room for the tokens a `prefill` or `step` adds.
    CacheFull {
        /// Tokens the cache can hold.
        capacity: usize,
        /// Tokens it holds.
        len: usize,
        /// Tokens the call adds.
        adding: usize,
    },
    /// A decoder that attends to an encoder memory was asked to `prefill` or `step` before
    /// `remember` gave its cache one.
    NothingRemembered,
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { input } => {
                write!(f, "{input} is empty: a sequence needs at least one token")
            }
            Self::TooLong {
                input,
                len,
                max_len,
            } => write!(
                f,
                "{input} has {len} tokens, more than the model's `max_len` of {max_len}; \
                 truncate it or declare a larger `max_len`"
            ),
            Self::LengthMismatch {
                input,
                len,
                expected,
            } => {
                write!(
                    f,
                    "{input} has {len} entries, expected {expected} (one per token)"
                )
            }
            Self::NoMemory { option } => write!(
                f,
                "`{option}` was given, but this entry point takes no encoder memory to apply it to; \
                 leave it unset, or use a `decode` entry point"
            ),
            Self::IdOutOfRange {
                table,
                id,
                position,
                rows,
            } => write!(
                f,
                "{table} id {id} at position {position} is out of range: the table has {rows} rows (ids 0..{rows})"
            ),
            Self::CacheFull {
                capacity,
                len,
                adding,
            } => write!(
                f,
                "the key/value cache is full: it holds {len} of {capacity} tokens and {adding} more do not fit; \
                 make a larger cache with `cache(capacity)` (up to `MAX_LEN`), or `truncate` or `clear` it"
            ),
            Self::NothingRemembered => write!(
                f,
                "the key/value cache has no encoder memory to attend to; \
                 give it one with `remember(&mut cache, &memory)` before `prefill`"
            ),
        }
    }
}

impl std::error::Error for ForwardError {}

/// `out` (caller-owned output rows) has one row per input row: `expected`.
///
/// # Errors
///
/// [`ForwardError::LengthMismatch`] naming `out` otherwise.
pub fn check_out(len: usize, expected: usize) -> Result<(), ForwardError> {
    if len == expected {
        Ok(())
    } else {
        Err(ForwardError::LengthMismatch {
            input: "out",
            len,
            expected,
        })
    }
}

/// The compile-time check of a const sequence length `N` against `1..=MAX_LEN`: a model's
/// const-length entry points evaluate [`Self::CHECK`], so an empty or too long sequence
/// does not compile. rustc's error names both numbers, as in `SequenceLength::<600, 512>`.
pub struct SequenceLength<const N: usize, const MAX_LEN: usize>;

impl<const N: usize, const MAX_LEN: usize> SequenceLength<N, MAX_LEN> {
    /// Fails to evaluate (a compile error where it is used) unless `1 ≤ N ≤ MAX_LEN`.
    pub const CHECK: () = {
        assert!(
            N >= 1,
            "a sequence needs at least one token, and this one has none\nhelp: pass at least one row"
        );
        assert!(
            N <= MAX_LEN,
            "the sequence is longer than the model's `max_len`: `SequenceLength::<N, MAX_LEN>` below names both\n\
             help: declare a larger `max_len`, or use the `_with` entry point for lengths known at run time"
        );
    };
}

/// Checks a run-time sequence length against `1..=max_len`.
pub fn check_len(input: &'static str, len: usize, max_len: usize) -> Result<(), ForwardError> {
    match len {
        0 => Err(ForwardError::Empty { input }),
        len if len > max_len => Err(ForwardError::TooLong {
            input,
            len,
            max_len,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_outside_one_to_max_len_are_refused() {
        assert_eq!(
            check_len("input", 0, 4),
            Err(ForwardError::Empty { input: "input" })
        );
        assert!(check_len("input", 4, 4).is_ok());
        let err = check_len("input", 5, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input has 5 tokens, more than the model's `max_len` of 4; \
             truncate it or declare a larger `max_len`"
        );
    }
}

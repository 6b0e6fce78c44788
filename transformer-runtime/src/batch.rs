//! Padded batches: several sequences of different lengths in one `[batch · seq_len][D]` block.

use crate::attention::Mask;
use crate::error::{ForwardError, check_len};

/// Which positions of a padded batch are real tokens.
///
/// The convention is the crate's: `true` (or a position below the length) means a real token
/// that may be attended to. PyTorch's `src_key_padding_mask` is the negation: `True` there
/// means padding.
#[derive(Clone, Copy, Debug)]
pub enum Padding<'a> {
    /// The number of real tokens of each sequence; they come first, padding after.
    Lengths(&'a [usize]),
    /// One flag per position of the whole batch, `true` = real token.
    Keep(&'a [bool]),
}

/// Runs `run` on each sequence of the padded batch `x` (`[batch · seq_len][D]`, sequence `b`
/// in rows `b·seq_len..(b+1)·seq_len`), then zeroes the rows of padding positions.
///
/// With [`Padding::Lengths`], `run` sees only the real tokens of a sequence, exactly as if it
/// ran alone. With [`Padding::Keep`], it sees the whole padded sequence with a [`Mask`] that
/// hides the padding keys.
///
/// # Errors
///
/// If `seq_len` is outside `1..=max_len`, `x` is not a whole number of sequences, or
/// `padding` does not describe every sequence (a length above `seq_len`, a flag count other
/// than `x.len()`).
pub fn run_padded<const D: usize>(
    x: &mut [[f32; D]],
    seq_len: usize,
    padding: Padding<'_>,
    max_len: usize,
    mut run: impl FnMut(&mut [[f32; D]], &Mask<'_>),
) -> Result<(), ForwardError> {
    check_len("sequence", seq_len, max_len)?;
    if !x.len().is_multiple_of(seq_len) {
        return Err(ForwardError::LengthMismatch {
            input: "input",
            len: x.len(),
            expected: x.len().next_multiple_of(seq_len),
        });
    }
    let batch = x.len() / seq_len;
    match padding {
        Padding::Lengths(lengths) => {
            if lengths.len() != batch {
                return Err(ForwardError::LengthMismatch {
                    input: "lengths",
                    len: lengths.len(),
                    expected: batch,
                });
            }
            if let Some(&len) = lengths.iter().find(|&&len| len > seq_len) {
                return Err(ForwardError::TooLong {
                    input: "sequence",
                    len,
                    max_len: seq_len,
                });
            }
            for (rows, &len) in x.chunks_mut(seq_len).zip(lengths) {
                let (real, pad) = rows.split_at_mut(len);
                if len > 0 {
                    run(real, &Mask::default());
                }
                pad.fill([0.0; D]);
            }
        }
        Padding::Keep(flags) => {
            if flags.len() != x.len() {
                return Err(ForwardError::LengthMismatch {
                    input: "padding flags",
                    len: flags.len(),
                    expected: x.len(),
                });
            }
            for (rows, keep) in x.chunks_mut(seq_len).zip(flags.chunks(seq_len)) {
                run(
                    rows,
                    &Mask {
                        keys: Some(keep),
                        ..Mask::default()
                    },
                );
                for (row, &keep) in rows.iter_mut().zip(keep) {
                    if !keep {
                        *row = [0.0; D];
                    }
                }
            }
        }
    }
    Ok(())
}

impl Mask<'_> {
    /// Checks that the mask fits `queries` query rows and `keys` key rows.
    ///
    /// # Errors
    ///
    /// [`ForwardError::LengthMismatch`] if `keys` flags or the additive `[queries][keys]`
    /// matrix have another length, or `valid_keys` exceeds `keys`.
    pub fn check(&self, queries: usize, keys: usize) -> Result<(), ForwardError> {
        let mismatch = |input, len, expected| {
            Err(ForwardError::LengthMismatch {
                input,
                len,
                expected,
            })
        };
        if let Some(flags) = self.keys.filter(|f| f.len() != keys) {
            return mismatch("mask key flags", flags.len(), keys);
        }
        if let Some(additive) = self.additive.filter(|a| a.len() != queries * keys) {
            return mismatch("additive mask", additive.len(), queries * keys);
        }
        if let Some(valid) = self.valid_keys.filter(|&v| v > keys) {
            return Err(ForwardError::TooLong {
                input: "mask valid_keys",
                len: valid,
                max_len: keys,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in model: each row becomes the sum of the rows it may attend to.
    fn sum_visible(rows: &mut [[f32; 1]], mask: &Mask<'_>) {
        let total: f32 = rows
            .iter()
            .enumerate()
            .filter(|(j, _)| mask.keys.is_none_or(|k| k[*j]))
            .map(|(_, r)| r[0])
            .sum();
        rows.fill([total]);
    }

    #[test]
    fn lengths_run_each_sequence_on_its_real_tokens_and_zero_the_padding() {
        let mut x = [[1.0], [2.0], [9.0], [3.0], [9.0], [9.0]];
        run_padded(&mut x, 3, Padding::Lengths(&[2, 1]), 8, sum_visible).unwrap();
        assert_eq!(x, [[3.0], [3.0], [0.0], [3.0], [0.0], [0.0]]);
    }

    #[test]
    fn flags_hide_padding_keys_wherever_they_are() {
        let mut x = [[9.0], [1.0], [2.0]];
        run_padded(
            &mut x,
            3,
            Padding::Keep(&[false, true, true]),
            8,
            sum_visible,
        )
        .unwrap();
        assert_eq!(x, [[0.0], [3.0], [3.0]]);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let mut x = [[0.0f32]; 6];
        let run = |_: &mut [[f32; 1]], _: &Mask<'_>| {};
        assert!(run_padded(&mut x, 4, Padding::Lengths(&[1, 1]), 8, run).is_err());
        assert!(run_padded(&mut x, 3, Padding::Lengths(&[1]), 8, run).is_err());
        assert!(run_padded(&mut x, 3, Padding::Lengths(&[1, 4]), 8, run).is_err());
        assert!(run_padded(&mut x, 3, Padding::Keep(&[true; 5]), 8, run).is_err());
        assert!(run_padded(&mut x, 6, Padding::Lengths(&[1]), 5, run).is_err());
    }

    #[test]
    fn mask_check_compares_lengths() {
        assert!(Mask::default().check(2, 3).is_ok());
        assert!(
            Mask {
                keys: Some(&[true; 2]),
                ..Mask::default()
            }
            .check(2, 3)
            .is_err()
        );
        assert!(
            Mask {
                additive: Some(&[0.0; 6]),
                ..Mask::default()
            }
            .check(2, 3)
            .is_ok()
        );
        assert!(
            Mask {
                additive: Some(&[0.0; 5]),
                ..Mask::default()
            }
            .check(2, 3)
            .is_err()
        );
        assert!(
            Mask {
                valid_keys: Some(4),
                ..Mask::default()
            }
            .check(2, 3)
            .is_err()
        );
    }
}

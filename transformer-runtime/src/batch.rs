//! From [`Options`] to stack runs: every entry point of a generated model checks its input
//! and options here, and this module runs the model's stack once per sequence, with the
//! attention masks that sequence needs.

use crate::attention::Attend;
use crate::error::{ForwardError, check_len};
use crate::options::{Batch, Options};

/// Which positions of a padded batch (or of a memory) are real tokens.
///
/// The convention is the crate's: `true` (or a position below the length) means a real token
/// that may be attended to. PyTorch's `src_key_padding_mask` is the negation: `True` there
/// means padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<'a> {
    /// The number of real tokens of each sequence; they come first, padding after.
    Lengths(&'a [usize]),
    /// One flag per position of the whole batch, `true` = real token.
    Keep(&'a [bool]),
}

/// Runs `stack(rows, memory, mask, memory_mask)` on each sequence of `x` as `options` lay it
/// out, in place, then zeroes the rows of padding.
///
/// `x` is one sequence, or with `options.batch` a padded batch `[batch · seq_len][D]`.
/// `memory` is the encoder output of a model that attends to one (`[batch · memory_len][D]`
/// with a batch), `None` for a model that takes none. `input` names `x` in errors.
///
/// A sequence padded by `Lengths` runs on its real rows only, exactly as if it ran alone
/// (with an additive mask, which is laid out for `seq_len` keys, it runs whole with the
/// padding keys hidden instead); one padded by `Keep` flags runs whole with the padding keys
/// hidden. The memory is treated alike.
///
/// # Errors
///
/// An empty or too long sequence or memory; a batch that is not a whole number of sequences;
/// padding, masks or memory whose sizes do not fit the input; a memory option for a model
/// without memory.
pub fn run<const D: usize>(
    input: &'static str,
    x: &mut [[f32; D]],
    memory: Option<&[[f32; D]]>,
    options: &Options<'_>,
    max_len: usize,
    mut stack: impl FnMut(&mut [[f32; D]], &[[f32; D]], &Attend<'_>, &Attend<'_>),
) -> Result<(), ForwardError> {
    let layout = Layout::check(input, x.len(), memory.map(<[_]>::len), options, max_len)?;
    for (b, sequence) in x.chunks_mut(layout.seq_len).enumerate() {
        let real = options
            .batch
            .and_then(|batch| batch.padding)
            .map(|padding| Real::of(padding, b, layout.seq_len));
        let mut mask = Attend::from(&options.mask);
        let run_len = real
            .as_ref()
            .and_then(|real| real.restrict(&mut mask))
            .unwrap_or(sequence.len());
        if run_len > 0 {
            let mut memory_mask = Attend::from(&options.memory_mask);
            let mut memory = match memory {
                Some(memory) => &memory[b * layout.memory_len..(b + 1) * layout.memory_len],
                None => &[],
            };
            if let Some(padding) = options.memory_padding {
                let real = Real::of(padding, b, layout.memory_len);
                match real.restrict(&mut memory_mask) {
                    // A memory of no rows is no memory: keep its rows, hide them all.
                    Some(0) => memory_mask.valid_keys = Some(0),
                    Some(len) => memory = &memory[..len],
                    None => {}
                }
            }
            stack(&mut sequence[..run_len], memory, &mask, &memory_mask);
        }
        if let Some(real) = real {
            real.zero_padding(sequence);
        }
    }
    Ok(())
}

/// The options for encoding the source of an `encoder_decoder` model whose decoder then runs
/// with `options` on `target_rows` rows: the source is the decoder's memory, so it is laid out
/// as the memory is (one per sequence of a batch) and padded as `memory_padding` says.
///
/// # Errors
///
/// Whatever [`run`] would find wrong with the decoder's run, checked before the encoder runs.
pub fn source_options<'a>(
    target_rows: usize,
    source_rows: usize,
    options: &Options<'a>,
    max_len: usize,
) -> Result<Options<'a>, ForwardError> {
    let layout = Layout::check("target", target_rows, Some(source_rows), options, max_len)?;
    let batch = match options.batch {
        None => options.memory_padding.map(|padding| Batch {
            seq_len: source_rows,
            padding: Some(padding),
        }),
        Some(_) => Some(Batch {
            seq_len: layout.memory_len,
            padding: options.memory_padding,
        }),
    };
    Ok(Options {
        batch,
        ..Options::new()
    })
}

/// The checked shape of one run: rows per sequence and per memory.
struct Layout {
    seq_len: usize,
    memory_len: usize,
}

impl Layout {
    fn check(
        input: &'static str,
        rows: usize,
        memory_rows: Option<usize>,
        options: &Options<'_>,
        max_len: usize,
    ) -> Result<Self, ForwardError> {
        if memory_rows.is_none() {
            let option = if options.memory_padding.is_some() {
                Some("memory_padding")
            } else {
                options.memory_mask.additive.map(|_| "memory_mask")
            };
            if let Some(option) = option {
                return Err(ForwardError::NoMemory { option });
            }
        }
        let (seq_len, sequences) = match options.batch {
            None => {
                check_len(input, rows, max_len)?;
                (rows, 1)
            }
            Some(Batch { seq_len, padding }) => {
                check_len("seq_len", seq_len, max_len)?;
                check_len(input, rows, usize::MAX)?;
                if !rows.is_multiple_of(seq_len) {
                    return Err(ForwardError::LengthMismatch {
                        input,
                        len: rows,
                        expected: rows.next_multiple_of(seq_len),
                    });
                }
                let sequences = rows / seq_len;
                if let Some(padding) = padding {
                    check_padding("padding", padding, sequences, seq_len)?;
                }
                (seq_len, sequences)
            }
        };
        let memory_len = match memory_rows {
            None => 0,
            Some(memory_rows) => {
                check_len("memory", memory_rows, usize::MAX)?;
                if !memory_rows.is_multiple_of(sequences) {
                    return Err(ForwardError::LengthMismatch {
                        input: "memory",
                        len: memory_rows,
                        expected: memory_rows.next_multiple_of(sequences),
                    });
                }
                let memory_len = memory_rows / sequences;
                check_len("memory", memory_len, max_len)?;
                if let Some(padding) = options.memory_padding {
                    check_padding("memory_padding", padding, sequences, memory_len)?;
                }
                memory_len
            }
        };
        check_additive("mask", options.mask.additive, seq_len * seq_len)?;
        check_additive(
            "memory_mask",
            options.memory_mask.additive,
            seq_len * memory_len,
        )?;
        Ok(Self {
            seq_len,
            memory_len,
        })
    }
}

/// `padding` describes `sequences` sequences of `len` rows each.
fn check_padding(
    input: &'static str,
    padding: Padding<'_>,
    sequences: usize,
    len: usize,
) -> Result<(), ForwardError> {
    match padding {
        Padding::Lengths(lengths) => {
            if lengths.len() != sequences {
                return Err(ForwardError::LengthMismatch {
                    input,
                    len: lengths.len(),
                    expected: sequences,
                });
            }
            match lengths.iter().find(|&&real| real > len) {
                Some(&real) => Err(ForwardError::TooLong {
                    input,
                    len: real,
                    max_len: len,
                }),
                None => Ok(()),
            }
        }
        Padding::Keep(flags) if flags.len() != sequences * len => {
            Err(ForwardError::LengthMismatch {
                input,
                len: flags.len(),
                expected: sequences * len,
            })
        }
        Padding::Keep(_) => Ok(()),
    }
}

fn check_additive(
    input: &'static str,
    additive: Option<&[f32]>,
    expected: usize,
) -> Result<(), ForwardError> {
    match additive {
        Some(terms) if terms.len() != expected => Err(ForwardError::LengthMismatch {
            input,
            len: terms.len(),
            expected,
        }),
        _ => Ok(()),
    }
}

/// Which rows of sequence `b` are real, from checked padding.
enum Real<'a> {
    /// The first `n`.
    First(usize),
    /// Those flagged `true`.
    Flagged(&'a [bool]),
}

impl<'a> Real<'a> {
    fn of(padding: Padding<'a>, b: usize, len: usize) -> Self {
        match padding {
            Padding::Lengths(lengths) => Self::First(lengths[b]),
            Padding::Keep(flags) => Self::Flagged(&flags[b * len..(b + 1) * len]),
        }
    }

    /// Hides the padding keys from `mask`, or returns how many leading rows to run on
    /// instead where that gives the same numbers (no additive terms laid out for the
    /// padded length).
    fn restrict(&self, mask: &mut Attend<'a>) -> Option<usize> {
        match *self {
            Self::First(n) if mask.additive.is_none() => Some(n),
            Self::First(n) => {
                mask.valid_keys = Some(n);
                None
            }
            Self::Flagged(flags) => {
                mask.keys = Some(flags);
                None
            }
        }
    }

    fn zero_padding<const D: usize>(&self, rows: &mut [[f32; D]]) {
        match *self {
            Self::First(n) => rows.iter_mut().skip(n).for_each(|row| *row = [0.0; D]),
            Self::Flagged(flags) => {
                for (row, _) in rows.iter_mut().zip(flags).filter(|(_, real)| !**real) {
                    *row = [0.0; D];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Mask, MemoryMask};

    /// A stand-in stack: each row becomes the sum of the rows it may attend to, plus the sum
    /// of the memory rows it may attend to, times 100.
    fn sum_visible(
        rows: &mut [[f32; 1]],
        memory: &[[f32; 1]],
        mask: &Attend,
        memory_mask: &Attend,
    ) {
        let visible = |all: &[[f32; 1]], mask: &Attend| -> f32 {
            let valid = mask.valid_keys.unwrap_or(all.len());
            all.iter()
                .enumerate()
                .filter(|(j, _)| *j < valid && mask.keys.is_none_or(|k| k[*j]))
                .map(|(_, r)| r[0])
                .sum()
        };
        let total = visible(rows, mask) + 100.0 * visible(memory, memory_mask);
        rows.fill([total]);
    }

    fn run_on(
        x: &mut [[f32; 1]],
        memory: Option<&[[f32; 1]]>,
        options: &Options,
    ) -> Result<(), ForwardError> {
        run("input", x, memory, options, 8, sum_visible)
    }

    #[test]
    fn lengths_run_each_sequence_on_its_real_tokens_and_zero_the_padding() {
        let mut x = [[1.0], [2.0], [9.0], [3.0], [9.0], [9.0]];
        let options = Options::new().batch(Batch::lengths(3, &[2, 1]));
        run_on(&mut x, None, &options).unwrap();
        assert_eq!(x, [[3.0], [3.0], [0.0], [3.0], [0.0], [0.0]]);
    }

    #[test]
    fn flags_hide_padding_keys_wherever_they_are() {
        let mut x = [[9.0], [1.0], [2.0]];
        let options = Options::new().batch(Batch::keep(3, &[false, true, true]));
        run_on(&mut x, None, &options).unwrap();
        assert_eq!(x, [[0.0], [3.0], [3.0]]);
    }

    #[test]
    fn lengths_with_an_additive_mask_hide_the_padding_keys_instead() {
        let mut x = [[1.0], [2.0], [9.0]];
        let additive = [0.0; 9];
        let options = Options::new()
            .mask(Mask::additive(&additive))
            .batch(Batch::lengths(3, &[2]));
        run_on(&mut x, None, &options).unwrap();
        assert_eq!(x, [[3.0], [3.0], [0.0]]);
    }

    #[test]
    fn each_sequence_sees_its_own_memory_and_its_real_rows() {
        let mut x = [[1.0], [2.0]];
        let memory = [[1.0], [2.0], [9.0], [3.0], [9.0], [9.0]];
        let options = Options::new()
            .batch(Batch::lengths(1, &[1, 1]))
            .memory_padding(Padding::Lengths(&[2, 1]));
        run_on(&mut x, Some(&memory), &options).unwrap();
        assert_eq!(x, [[301.0], [302.0]]);
        let mut x = [[1.0]];
        let options = Options::new().memory_padding(Padding::Keep(&[false, true, true]));
        run_on(&mut x, Some(&memory[..3]), &options).unwrap();
        assert_eq!(x, [[1101.0]]);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let bad = |options: Options| run_on(&mut [[0.0f32]; 6], None, &options).unwrap_err();
        assert!(matches!(
            bad(Options::new().batch(Batch::lengths(4, &[1, 1]))),
            ForwardError::LengthMismatch { input: "input", .. }
        ));
        assert!(matches!(
            bad(Options::new().batch(Batch::lengths(3, &[1]))),
            ForwardError::LengthMismatch {
                input: "padding",
                ..
            }
        ));
        assert!(matches!(
            bad(Options::new().batch(Batch::lengths(3, &[1, 4]))),
            ForwardError::TooLong {
                input: "padding",
                ..
            }
        ));
        assert!(matches!(
            bad(Options::new().batch(Batch::keep(3, &[true; 5]))),
            ForwardError::LengthMismatch {
                input: "padding",
                ..
            }
        ));
        assert!(matches!(
            bad(Options::new().batch(Batch::lengths(9, &[1]))),
            ForwardError::TooLong {
                input: "seq_len",
                ..
            }
        ));
        assert!(
            run(
                "input",
                &mut [[0.0f32]; 6],
                None,
                &Options::new(),
                5,
                sum_visible
            )
            .is_err()
        );
        assert!(matches!(
            run_on(&mut [], None, &Options::new()),
            Err(ForwardError::Empty { input: "input" })
        ));
    }

    #[test]
    fn masks_and_memory_options_must_fit() {
        let mut x = [[0.0f32]; 2];
        let memory = [[0.0f32]; 3];
        let additive = [0.0; 5];
        let err =
            |x: &mut [[f32; 1]], memory, options: Options| run_on(x, memory, &options).unwrap_err();
        assert!(matches!(
            err(&mut x, None, Options::new().mask(Mask::additive(&additive))),
            ForwardError::LengthMismatch {
                input: "mask",
                len: 5,
                expected: 4
            }
        ));
        assert!(matches!(
            err(
                &mut x,
                Some(&memory),
                Options::new().memory_mask(MemoryMask::additive(&additive))
            ),
            ForwardError::LengthMismatch {
                input: "memory_mask",
                len: 5,
                expected: 6
            }
        ));
        assert!(matches!(
            err(
                &mut x,
                None,
                Options::new().memory_mask(MemoryMask::additive(&additive))
            ),
            ForwardError::NoMemory {
                option: "memory_mask"
            }
        ));
        assert!(matches!(
            err(
                &mut x,
                None,
                Options::new().memory_padding(Padding::Lengths(&[1]))
            ),
            ForwardError::NoMemory {
                option: "memory_padding"
            }
        ));
        assert!(matches!(
            err(
                &mut x,
                Some(&memory),
                Options::new().memory_padding(Padding::Lengths(&[4]))
            ),
            ForwardError::TooLong {
                input: "memory_padding",
                ..
            }
        ));
        assert!(matches!(
            err(&mut x, Some(&[]), Options::new()),
            ForwardError::Empty { input: "memory" }
        ));
    }
}

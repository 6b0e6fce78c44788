//! From token vectors to one sentence vector: the pooling modes of sentence-transformers, L2
//! normalisation, cosine.

use crate::batch::Padding;

/// How the token vectors of a sentence become one vector: the `pooling_mode` of a
/// sentence-transformers `Pooling` module. Each mode reads real tokens only, never padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of the tokens (all-MiniLM-L6-v2, most sentence-transformers models).
    Mean,
    /// The first token, `[CLS]` (the BGE family).
    Cls,
    /// The largest value of each feature over the tokens.
    Max,
    /// The last token (decoder models such as the GTE-Qwen family).
    LastToken,
}

impl Pooling {
    /// The mode's name in sentence-transformers' `pooling_mode`: `mean`, `cls`, `max`,
    /// `lasttoken`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Cls => "cls",
            Self::Max => "max",
            Self::LastToken => "lasttoken",
        }
    }

    /// Pools the real tokens of one sentence (`[n][D]`, no padding); zeros for no tokens.
    pub fn pool<const D: usize>(self, tokens: &[[f32; D]]) -> [f32; D] {
        self.pool_rows(tokens.iter())
    }

    /// Pools each sentence of a padded batch (`[batch · seq_len][D]`, sentence `b` in rows
    /// `b·seq_len..(b+1)·seq_len`), reading only the positions `padding` marks real: one
    /// vector per sentence. With [`Padding::Keep`], [`Cls`](Self::Cls) takes the first real
    /// token and [`LastToken`](Self::LastToken) the last, wherever the padding is.
    ///
    /// `padding` must describe the batch, as the forward pass that made `hidden` checked;
    /// sentences it does not describe are left out.
    pub fn pool_batch<const D: usize>(
        self,
        hidden: &[[f32; D]],
        seq_len: usize,
        padding: Padding<'_>,
    ) -> Vec<[f32; D]> {
        let sentences = hidden.chunks(seq_len.max(1));
        match padding {
            Padding::Lengths(lengths) => sentences
                .zip(lengths)
                .map(|(rows, &len)| self.pool(&rows[..len.min(rows.len())]))
                .collect(),
            Padding::Keep(flags) => sentences
                .zip(flags.chunks(seq_len.max(1)))
                .map(|(rows, keep)| {
                    let real = rows.iter().zip(keep).filter(|(_, keep)| **keep);
                    self.pool_rows(real.map(|(row, _)| row))
                })
                .collect(),
        }
    }

    /// Pools `tokens`, in order; zeros for none.
    fn pool_rows<'a, const D: usize>(self, tokens: impl Iterator<Item = &'a [f32; D]>) -> [f32; D] {
        match self {
            Self::Mean => mean_of(tokens),
            Self::Cls => tokens.copied().next().unwrap_or([0.0; D]),
            Self::Max => max_of(tokens),
            Self::LastToken => tokens.copied().last().unwrap_or([0.0; D]),
        }
    }
}

/// The mean of `rows`, summed in `f64`, as sentence-transformers' mean pooling over the tokens
/// its attention mask keeps; zeros for none.
fn mean_of<'a, const D: usize>(rows: impl Iterator<Item = &'a [f32; D]>) -> [f32; D] {
    let mut sum = [0.0f64; D];
    let mut count = 0usize;
    for row in rows {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
        count += 1;
    }
    // sentence-transformers divides by max(count, 1e-9): for no rows that is a zero vector.
    let count = count.max(1) as f64;
    sum.map(|s| (s / count) as f32)
}

/// The largest value of each feature over `rows`; zeros for none (where sentence-transformers
/// gives `-inf`).
fn max_of<'a, const D: usize>(mut rows: impl Iterator<Item = &'a [f32; D]>) -> [f32; D] {
    let Some(&first) = rows.next() else {
        return [0.0; D];
    };
    rows.fold(first, |mut max, row| {
        for (m, v) in max.iter_mut().zip(row) {
            *m = m.max(*v);
        }
        max
    })
}

/// Scales `v` to unit Euclidean length; a zero vector stays zero (as `F.normalize`'s
/// `max(‖v‖, 1e-12)` denominator leaves it).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for x in v {
        *x = (f64::from(*x) / norm) as f32;
    }
}

/// `a·b / (‖a‖ ‖b‖)`, 0 if either is zero.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let denominator = (aa * bb).sqrt();
    if denominator == 0.0 {
        0.0
    } else {
        (dot / denominator) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_averages_rows() {
        assert_eq!(Pooling::Mean.pool(&[[1.0, 2.0], [3.0, 6.0]]), [2.0, 4.0]);
    }

    /// Two sentences of 3 and 1 real tokens, padded to 3; padding rows hold 9s, which no
    /// mode may read.
    const HIDDEN: [[f32; 2]; 6] = [
        [1.0, -4.0],
        [3.0, 2.0],
        [-1.0, 5.0],
        [7.0, -7.0],
        [9.0, 9.0],
        [9.0, 9.0],
    ];

    #[test]
    fn each_mode_pools_the_real_tokens_only() {
        let pooled = |pooling: Pooling| pooling.pool_batch(&HIDDEN, 3, Padding::Lengths(&[3, 1]));
        assert_eq!(pooled(Pooling::Mean), [[1.0, 1.0], [7.0, -7.0]]);
        assert_eq!(pooled(Pooling::Cls), [[1.0, -4.0], [7.0, -7.0]]);
        assert_eq!(pooled(Pooling::Max), [[3.0, 5.0], [7.0, -7.0]]);
        assert_eq!(pooled(Pooling::LastToken), [[-1.0, 5.0], [7.0, -7.0]]);
    }

    #[test]
    fn flags_pool_as_lengths_do_and_follow_left_padding() {
        let right = [true, true, true, true, false, false];
        for pooling in [
            Pooling::Mean,
            Pooling::Cls,
            Pooling::Max,
            Pooling::LastToken,
        ] {
            assert_eq!(
                pooling.pool_batch(&HIDDEN, 3, Padding::Keep(&right)),
                pooling.pool_batch(&HIDDEN, 3, Padding::Lengths(&[3, 1])),
                "{pooling:?}"
            );
        }
        // The second sentence padded on the left: its one real token is its last row.
        let left = [true, true, true, false, false, true];
        let pooled = |pooling: Pooling| pooling.pool_batch(&HIDDEN, 3, Padding::Keep(&left))[1];
        assert_eq!(pooled(Pooling::Cls), [9.0, 9.0]);
        assert_eq!(pooled(Pooling::LastToken), [9.0, 9.0]);
    }

    #[test]
    fn a_sentence_without_tokens_pools_to_zeros() {
        for pooling in [
            Pooling::Mean,
            Pooling::Cls,
            Pooling::Max,
            Pooling::LastToken,
        ] {
            assert_eq!(pooling.pool::<2>(&[]), [0.0, 0.0], "{pooling:?}");
        }
    }

    #[test]
    fn max_pooling_keeps_negative_maxima() {
        assert_eq!(
            Pooling::Max.pool(&[[-3.0, -1.0], [-2.0, -5.0]]),
            [-2.0, -1.0]
        );
    }

    #[test]
    fn normalised_vectors_have_unit_length() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = [0.0f32; 3];
        l2_normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);
    }

    #[test]
    fn cosine_of_parallel_orthogonal_and_opposite_vectors() {
        assert!((cosine_similarity(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-7);
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert!((cosine_similarity(&[1.0, 1.0], &[-1.0, -1.0]) + 1.0).abs() < 1e-7);
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}

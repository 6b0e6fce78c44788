//! Rotary position embedding: [`Rope`], and the kernel that rotates heads held transposed.

use crate::fastmath::{MulAdd, Vectorise, vectorised};

/// Which lanes of a head rotate together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopePairs {
    /// Lane `f` with lane `f + DH/2`: Hugging Face's `rotate_half` (Llama, Mistral, Qwen,
    /// SmolLM checkpoints in their own format), GPT-NeoX.
    Half,
    /// Lane `2f` with lane `2f + 1`: the original paper, GPT-J, and llama.cpp (whose
    /// converter reorders the rows of a Llama's query and key projections to suit).
    Adjacent,
}

/// Rotary position embedding (RoPE, Su et al. 2021): the queries and keys of a head are
/// rotated, two lanes at a time, by angles proportional to their token's position, so that
/// `q·k` depends on the two positions only through their difference.
///
/// For a head of width `DH`, pair `f < DH/2` turns by `θ_f · p` at position `p`, with
/// `θ_f = theta^(−2f/DH)`:
///
/// ```text
/// (x_a, x_b) ← (x_a · cos − x_b · sin,  x_b · cos + x_a · sin)
/// ```
///
/// [`RopePairs`] says which lanes `a` and `b` pair `f` is. The angles are computed as
/// Hugging Face's Llama computes them, in `f32` (`θ_f` as `1 / theta^(2f/DH)`, the angle as
/// the product `p · θ_f`), and only their cosine and sine more precisely, so that a model
/// matches its reference at every position rather than drifting apart with the position.
///
/// Holds no table: the angles of the positions a forward pass needs are computed once per
/// pass, in its scratch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    /// The base of the frequencies, `theta` above: 10 000 in the paper and Llama 2,
    /// 100 000 in SmolLM2, 500 000 in Llama 3.
    pub theta: f32,
    /// Which lanes rotate together.
    pub pairs: RopePairs,
}

impl Rope {
    /// The rotation with base `theta` and pairing `pairs`.
    pub const fn new(theta: f32, pairs: RopePairs) -> Self {
        Self { theta, pairs }
    }

    /// The lanes pair `f` of a head of width `dh` rotates.
    fn lanes(self, f: usize, dh: usize) -> (usize, usize) {
        match self.pairs {
            RopePairs::Half => (f, f + dh / 2),
            RopePairs::Adjacent => (2 * f, 2 * f + 1),
        }
    }

    /// `θ_f = 1 / theta^(2f/dh)`, in `f32` as PyTorch computes it.
    fn frequency(self, f: usize, dh: usize) -> f32 {
        1.0 / self.theta.powf((2 * f) as f32 / dh as f32)
    }

    /// The cosine and sine of pair `f`'s angle at `position`.
    fn cos_sin(self, f: usize, dh: usize, position: usize) -> (f32, f32) {
        let angle = f64::from(position as f32 * self.frequency(f, dh));
        (angle.cos() as f32, angle.sin() as f32)
    }

    /// Rotates one head's vector `x` (`[DH]`) for a token at `position`: the formula of
    /// [`Rope`], one vector at a time; the public form is `ops::rope`.
    pub(crate) fn rotate(self, x: &mut [f32], position: usize) {
        let dh = x.len();
        for f in 0..dh / 2 {
            let (a, b) = self.lanes(f, dh);
            let (cos, sin) = self.cos_sin(f, dh, position);
            let (xa, xb) = (x[a], x[b]);
            x[a] = xa * cos - xb * sin;
            x[b] = xb * cos + xa * sin;
        }
    }

    /// Rotates the heads of `n` tokens held transposed: `xt` is `[heads·DH][ld]`, lane `d`
    /// of head `h` being row `h·DH + d` and token `i` column `i`, at position
    /// `angles.first + i`.
    pub(crate) fn rotate_transposed(self, xt: &mut [f32], ld: usize, angles: &Angles) {
        let dh = angles.dh;
        vectorised(RotateHeads {
            rope: self,
            xt,
            ld,
            angles,
            dh,
        });
    }
}

/// The cosines and sines of every pair's angle at `n` consecutive positions from `first`,
/// each `[DH/2][n]`: what every layer of a forward pass rotates by. Recomputed only when the
/// positions, the width or the rotation change.
#[derive(Clone, Debug, Default)]
pub(crate) struct Angles {
    rope: Option<Rope>,
    dh: usize,
    first: usize,
    n: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Angles {
    /// Makes these the angles of `n` tokens from position `first` in heads of width `dh`.
    pub(crate) fn update(&mut self, rope: Rope, dh: usize, first: usize, n: usize) {
        if self.rope == Some(rope) && (self.dh, self.first, self.n) == (dh, first, n) {
            return;
        }
        (self.rope, self.dh, self.first, self.n) = (Some(rope), dh, first, n);
        let pairs = dh / 2;
        self.cos.clear();
        self.sin.clear();
        self.cos.reserve(pairs * n);
        self.sin.reserve(pairs * n);
        for f in 0..pairs {
            for position in first..first + n {
                let (cos, sin) = rope.cos_sin(f, dh, position);
                self.cos.push(cos);
                self.sin.push(sin);
            }
        }
    }
}

/// [`Rope::rotate_transposed`] as one vectorised loop nest: each pair is two rows, rotated
/// token by token down their length.
struct RotateHeads<'a> {
    rope: Rope,
    xt: &'a mut [f32],
    ld: usize,
    angles: &'a Angles,
    dh: usize,
}

impl Vectorise for RotateHeads<'_> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let Self {
            rope,
            xt,
            ld,
            angles,
            dh,
        } = self;
        let n = angles.n;
        for head in xt.chunks_exact_mut(dh * ld) {
            for f in 0..dh / 2 {
                let (a, b) = rope.lanes(f, dh);
                // a < b: row a lies in the first half of the split.
                let (low, high) = head.split_at_mut(b * ld);
                let (row_a, row_b) = (&mut low[a * ld..][..n], &mut high[..n]);
                let cos = &angles.cos[f * n..][..n];
                let sin = &angles.sin[f * n..][..n];
                for (((xa, xb), &c), &s) in row_a.iter_mut().zip(row_b).zip(cos).zip(sin) {
                    let (x, y) = (*xa, *xb);
                    *xa = x * c - y * s;
                    *xb = y * c + x * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    /// The rotation in f64 from its definition, lanes paired as `pairs` says.
    fn reference(x: &[f32], position: usize, theta: f64, pairs: RopePairs) -> Vec<f64> {
        let dh = x.len();
        let mut out: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for f in 0..dh / 2 {
            let (a, b) = match pairs {
                RopePairs::Half => (f, f + dh / 2),
                RopePairs::Adjacent => (2 * f, 2 * f + 1),
            };
            let angle = position as f64 * theta.powf(-2.0 * f as f64 / dh as f64);
            let (xa, xb) = (f64::from(x[a]), f64::from(x[b]));
            out[a] = xa * angle.cos() - xb * angle.sin();
            out[b] = xb * angle.cos() + xa * angle.sin();
        }
        out
    }

    #[test]
    fn rotates_each_pair_by_its_angle() {
        let mut rng = Rng::new(5);
        for pairs in [RopePairs::Half, RopePairs::Adjacent] {
            let rope = Rope::new(10_000.0, pairs);
            for position in [0, 1, 7, 100] {
                let x: Vec<f32> = (0..8).map(|_| rng.symmetric(1.0)).collect();
                let mut got = x.clone();
                rope.rotate(&mut got, position);
                // The angle is rounded to f32 first, as PyTorch rounds it: 1e-5 at
                // position 100.
                for (g, w) in got.iter().zip(reference(&x, position, 10_000.0, pairs)) {
                    assert!((f64::from(*g) - w).abs() < 1e-5, "{pairs:?} @ {position}");
                }
            }
        }
    }

    #[test]
    fn position_zero_is_the_identity_and_lengths_are_kept() {
        let x = [0.5f32, -1.0, 2.0, 0.25];
        let mut y = x;
        Rope::new(500_000.0, RopePairs::Half).rotate(&mut y, 0);
        assert_eq!(x, y);
        Rope::new(10.0, RopePairs::Adjacent).rotate(&mut y, 12_345);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x) - norm(&y)).abs() < 1e-5);
    }

    /// `q·k` after rotation depends on the positions only through their difference.
    #[test]
    fn scores_depend_on_relative_positions_only() {
        let mut rng = Rng::new(6);
        let q: Vec<f32> = (0..16).map(|_| rng.symmetric(1.0)).collect();
        let k: Vec<f32> = (0..16).map(|_| rng.symmetric(1.0)).collect();
        let rope = Rope::new(10_000.0, RopePairs::Half);
        let score = |pq: usize, pk: usize| {
            let (mut q, mut k) = (q.clone(), k.clone());
            rope.rotate(&mut q, pq);
            rope.rotate(&mut k, pk);
            q.iter().zip(&k).map(|(a, b)| a * b).sum::<f32>()
        };
        assert!((score(5, 2) - score(13, 10)).abs() < 1e-4);
        assert!((score(5, 2) - score(2, 5)).abs() > 1e-3);
    }

    /// The transposed kernel, over several heads and an offset, equals the rotation of
    /// each token's heads one at a time.
    #[test]
    fn transposed_heads_match_one_vector_at_a_time() {
        let mut rng = Rng::new(7);
        let (heads, dh, n, ld, first) = (3, 8, 5, 8, 11);
        for pairs in [RopePairs::Half, RopePairs::Adjacent] {
            let rope = Rope::new(10_000.0, pairs);
            let xt: Vec<f32> = (0..heads * dh * ld).map(|_| rng.symmetric(1.0)).collect();
            let mut angles = Angles::default();
            angles.update(rope, dh, first, n);
            let mut got = xt.clone();
            rope.rotate_transposed(&mut got, ld, &angles);
            for h in 0..heads {
                for i in 0..n {
                    let mut want: Vec<f32> = (0..dh).map(|d| xt[(h * dh + d) * ld + i]).collect();
                    rope.rotate(&mut want, first + i);
                    for (d, w) in want.iter().enumerate() {
                        assert_eq!(got[(h * dh + d) * ld + i], *w, "{pairs:?} h {h} i {i}");
                    }
                }
                // Padding columns are left alone.
                for d in 0..dh {
                    let row = (h * dh + d) * ld;
                    assert_eq!(got[row + n..row + ld], xt[row + n..row + ld]);
                }
            }
        }
    }
}

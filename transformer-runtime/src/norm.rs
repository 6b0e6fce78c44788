//! Normalisation over the model width: PyTorch's `nn.LayerNorm(D)` and `nn.RMSNorm(D)`, each
//! on token rows and on tokens held transposed, behind the [`Norm`] trait the layers take.

use crate::fastmath::{MulAdd, Vectorise, vectorised};
use crate::heap::boxed_array;

/// Normalises one token row in place:
/// `yᵢ = (xᵢ − μ) / √(σ² + eps) · wᵢ + bᵢ`, with `μ` and the biased variance `σ²` taken over
/// the `D` features, as PyTorch does.
#[inline(always)]
pub fn layer_norm<const D: usize>(
    x: &mut [f32; D],
    weight: &[f32; D],
    bias: Option<&[f32; D]>,
    eps: f32,
) {
    let mean = mean(x);
    let var = variance(x, mean);
    normalise(x, mean, var, weight, bias, eps);
}

/// `μ`, the mean of the row.
#[inline(always)]
fn mean<const D: usize>(x: &[f32; D]) -> f32 {
    lane_sum(x, |v| v) / D as f32
}

/// `σ²`, the biased variance of the row around its mean. A second pass: subtracting the mean
/// first avoids the cancellation of E[x²] − μ².
#[inline(always)]
fn variance<const D: usize>(x: &[f32; D], mean: f32) -> f32 {
    lane_sum(x, |v| (v - mean) * (v - mean)) / D as f32
}

/// `xᵢ = (xᵢ − mean) / √(var + eps) · wᵢ + bᵢ`.
#[inline(always)]
fn normalise<const D: usize>(
    x: &mut [f32; D],
    mean: f32,
    var: f32,
    weight: &[f32; D],
    bias: Option<&[f32; D]>,
    eps: f32,
) {
    let inv_std = 1.0 / (var + eps).sqrt();
    for (i, v) in x.iter_mut().enumerate() {
        *v = (*v - mean) * inv_std * weight[i] + bias.map_or(0.0, |b| b[i]);
    }
}

/// `Σ f(xᵢ)` in sixteen partial sums, so the loop vectorises at any width up to AVX-512's
/// (a single running sum must add in order).
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (chunks, tail) = x.as_chunks::<16>();
    let mut lanes = [0.0f32; 16];
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    let tail: f32 = tail.iter().map(|&v| f(v)).sum();
    let mut width = 16;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lanes[i] += lanes[i + width];
        }
    }
    lanes[0] + tail
}

/// [`LayerNorm::forward`] over some rows, as one vectorised loop nest.
struct NormRows<'a, const D: usize> {
    rows: &'a mut [[f32; D]],
    norm: &'a LayerNorm<D>,
}

impl<const D: usize> Vectorise for NormRows<'_, D> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let LayerNorm { weight, bias, eps } = self.norm;
        let bias = bias.as_deref();
        // Narrow rows four at a time, statistic by statistic: a short row's sums are a short
        // chain of dependent adds ending in a reduction, and four independent chains keep
        // the adders busy. (Wide rows keep them busy alone.)
        let grouped = if D <= 128 { self.rows.len() / 4 * 4 } else { 0 };
        let (grouped, rest) = self.rows.split_at_mut(grouped);
        let (groups, _) = grouped.as_chunks_mut::<4>();
        for group in groups {
            let mean = group.each_ref().map(mean);
            let mut var = [0.0f32; 4];
            for ((v, row), &mean) in var.iter_mut().zip(&*group).zip(&mean) {
                *v = variance(row, mean);
            }
            for ((row, mean), var) in group.iter_mut().zip(mean).zip(var) {
                normalise(row, mean, var, weight, bias, *eps);
            }
        }
        for row in rest {
            layer_norm(row, weight, bias, *eps);
        }
    }
}

/// [`LayerNorm::forward_transposed`] as one vectorised loop nest: the statistics of up to
/// [`BLOCK`] tokens at once, one per lane, from passes along the rows of `xt`, each read
/// front to back (a narrow block of columns would instead read rows `ld` apart, which with
/// `ld` a multiple of 128 share a few L1 sets and evict each other).
struct NormColumns<'a, const D: usize> {
    xt: &'a mut [f32],
    ld: usize,
    columns: usize,
    norm: &'a LayerNorm<D>,
}

/// Padding of the columns normalised: a vector of tokens.
const COLUMNS: usize = 16;
/// Tokens normalised together by [`NormColumns`].
const BLOCK: usize = 128;

impl<const D: usize> Vectorise for NormColumns<'_, D> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let LayerNorm { weight, bias, eps } = self.norm;
        let ld = self.ld;
        for t0 in (0..self.columns).step_by(BLOCK) {
            let width = BLOCK.min(self.columns - t0);
            let row = |d: usize| d * ld + t0..d * ld + t0 + width;
            let mean = column_means::<D>(self.xt, row, width, None);
            let mut inv_std = column_means::<D>(self.xt, row, width, Some(&mean));
            for i in &mut inv_std[..width] {
                *i = 1.0 / (*i + eps).sqrt();
            }
            for d in 0..D {
                let (w, b) = (weight[d], bias.as_ref().map_or(0.0, |b| b[d]));
                let statistics = mean[..width].iter().zip(&inv_std[..width]);
                for (v, (&m, &i)) in self.xt[row(d)].iter_mut().zip(statistics) {
                    *v = (*v - m) * i * w + b;
                }
            }
        }
    }
}

/// For each of the `width` tokens `j` of a block of [`NormColumns`] (rows `row(d)` of `xt`),
/// the mean over `d < D` of `xt[d][j]`, or with a `centre`, of `(xt[d][j] − centre[j])²`: the
/// two passes of the statistics. Two partial sums per token (even and odd rows): two chains
/// of adds side by side.
#[inline(always)]
fn column_means<const D: usize>(
    xt: &[f32],
    row: impl Fn(usize) -> std::ops::Range<usize>,
    width: usize,
    centre: Option<&[f32; BLOCK]>,
) -> [f32; BLOCK] {
    let mut sums = [[0.0f32; BLOCK]; 2];
    for d in 0..D {
        let (sums, values) = (&mut sums[d % 2][..width], &xt[row(d)]);
        match centre {
            None => {
                for (s, &v) in sums.iter_mut().zip(values) {
                    *s += v;
                }
            }
            Some(centre) => {
                for (s, (&v, &m)) in sums.iter_mut().zip(values.iter().zip(&centre[..width])) {
                    *s += (v - m) * (v - m);
                }
            }
        }
    }
    let mut means = [0.0f32; BLOCK];
    for ((m, a), b) in means[..width].iter_mut().zip(sums[0]).zip(sums[1]) {
        *m = (a + b) / D as f32;
    }
    means
}

/// A normalisation of each token's `D` features: where a model's kind of norm plugs into the
/// layers' steps (LayerNorm today; RMSNorm is the next). Sealed: its transposed form belongs
/// to the kernels.
pub trait Norm<const D: usize>: sealed::Sealed + Sync {
    /// Normalises every token row of `x` (`[n][D]`) in place.
    fn forward(&self, x: &mut [[f32; D]]);

    /// [`Norm::forward`] on tokens held transposed, `[D][ld]`, column `t` token `t`, for the
    /// first `n` columns rounded up to 16.
    #[doc(hidden)]
    fn forward_transposed(&self, xt: &mut [f32], ld: usize, n: usize);
}

mod sealed {
    /// Only this crate's norms are [`Norm`](super::Norm)s.
    pub trait Sealed {}
}

impl<const D: usize> sealed::Sealed for LayerNorm<D> {}

impl<const D: usize> Norm<D> for LayerNorm<D> {
    fn forward(&self, x: &mut [[f32; D]]) {
        LayerNorm::forward(self, x);
    }

    fn forward_transposed(&self, xt: &mut [f32], ld: usize, n: usize) {
        LayerNorm::forward_transposed(self, xt, ld, n);
    }
}

/// A layer norm's learned scale and shift, with its epsilon.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm<const D: usize> {
    /// `[D]`: the scale `w` (PyTorch's `weight`, BERT's `gamma`).
    pub weight: Box<[f32; D]>,
    /// `[D]`: the shift `b` (`bias`, BERT's `beta`), or `None` in a model with `bias: false`.
    pub bias: Option<Box<[f32; D]>>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl<const D: usize> LayerNorm<D> {
    /// Learned numbers: `D` scales, plus `D` shifts.
    pub const fn parameters(bias: bool) -> usize {
        D + if bias { D } else { 0 }
    }

    /// The identity-like start PyTorch uses: unit scale, zero shift.
    pub fn new(eps: f32, bias: bool) -> Self {
        Self {
            weight: boxed_array(1.0),
            bias: bias.then(|| boxed_array(0.0)),
            eps,
        }
    }

    /// Normalises every token row of `x` (`[n][D]`) in place, rows split between threads
    /// for large inputs.
    pub fn forward(&self, x: &mut [[f32; D]]) {
        let grain = (1 << 12) / D.max(1);
        crate::threads::for_each_piece(x, grain, &|rows| {
            vectorised(NormRows { rows, norm: self });
        });
    }

    /// [`Self::forward`] on tokens held transposed: `xt` is `[D][ld]`, column `t` is token
    /// `t`, and every column up to `n` rounded up to 16 is normalised (padding columns too,
    /// so that they stay finite). `ld` must be a multiple of 16 (as [`crate::gemm::TOKEN_PAD`]
    /// makes it).
    pub(crate) fn forward_transposed(&self, xt: &mut [f32], ld: usize, n: usize) {
        let columns = n.next_multiple_of(COLUMNS);
        assert!(
            ld.is_multiple_of(COLUMNS)
                && columns <= ld
                && (D == 0 || xt.len() >= (D - 1) * ld + columns),
            "LayerNorm::forward_transposed: {n} tokens do not fit [{D}][{ld}]"
        );
        vectorised(NormColumns {
            xt,
            ld,
            columns,
            norm: self,
        });
    }
}

/// Root-mean-square normalisation over the model width, PyTorch's `nn.RMSNorm(D)` (Llama's):
/// `yᵢ = xᵢ / √(mean(x²) + eps) · wᵢ`, neither centred nor shifted.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsNorm<const D: usize> {
    /// `[D]`: the scale `w` (PyTorch's `weight`).
    pub weight: Box<[f32; D]>,
    /// Added to the mean square before the square root.
    pub eps: f32,
}

impl<const D: usize> RmsNorm<D> {
    /// Learned numbers: `D` scales.
    pub const PARAMETERS: usize = D;

    /// Unit scale, as PyTorch starts it.
    pub fn new(eps: f32) -> Self {
        Self {
            weight: boxed_array(1.0),
            eps,
        }
    }

    /// Normalises every token row of `x` (`[n][D]`) in place, rows split between threads
    /// for large inputs.
    pub fn forward(&self, x: &mut [[f32; D]]) {
        let grain = (1 << 12) / D.max(1);
        crate::threads::for_each_piece(x, grain, &|rows| {
            vectorised(RmsRows { rows, norm: self });
        });
    }

    /// [`Self::forward`] on tokens held transposed, as [`LayerNorm`]'s.
    pub(crate) fn forward_transposed(&self, xt: &mut [f32], ld: usize, n: usize) {
        let columns = n.next_multiple_of(COLUMNS);
        assert!(
            ld.is_multiple_of(COLUMNS)
                && columns <= ld
                && (D == 0 || xt.len() >= (D - 1) * ld + columns),
            "RmsNorm::forward_transposed: {n} tokens do not fit [{D}][{ld}]"
        );
        vectorised(RmsColumns {
            xt,
            ld,
            columns,
            norm: self,
        });
    }
}

impl<const D: usize> sealed::Sealed for RmsNorm<D> {}

impl<const D: usize> Norm<D> for RmsNorm<D> {
    fn forward(&self, x: &mut [[f32; D]]) {
        RmsNorm::forward(self, x);
    }

    fn forward_transposed(&self, xt: &mut [f32], ld: usize, n: usize) {
        RmsNorm::forward_transposed(self, xt, ld, n);
    }
}

/// [`RmsNorm::forward`] over some rows, as one vectorised loop nest.
struct RmsRows<'a, const D: usize> {
    rows: &'a mut [[f32; D]],
    norm: &'a RmsNorm<D>,
}

impl<const D: usize> Vectorise for RmsRows<'_, D> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let RmsNorm { weight, eps } = self.norm;
        for row in self.rows {
            let inv_rms = 1.0 / (lane_sum(row, |v| v * v) / D as f32 + eps).sqrt();
            for (v, w) in row.iter_mut().zip(weight.iter()) {
                *v = *v * inv_rms * w;
            }
        }
    }
}

/// [`RmsNorm::forward_transposed`] as one vectorised loop nest, in blocks of tokens as
/// [`NormColumns`].
struct RmsColumns<'a, const D: usize> {
    xt: &'a mut [f32],
    ld: usize,
    columns: usize,
    norm: &'a RmsNorm<D>,
}

impl<const D: usize> Vectorise for RmsColumns<'_, D> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let RmsNorm { weight, eps } = self.norm;
        let ld = self.ld;
        let origin = [0.0f32; BLOCK];
        for t0 in (0..self.columns).step_by(BLOCK) {
            let width = BLOCK.min(self.columns - t0);
            let row = |d: usize| d * ld + t0..d * ld + t0 + width;
            // The mean square: the second moment about 0.
            let mut inv_rms = column_means::<D>(self.xt, row, width, Some(&origin));
            for i in &mut inv_rms[..width] {
                *i = 1.0 / (*i + eps).sqrt();
            }
            for (d, &w) in weight.iter().enumerate() {
                for (v, &i) in self.xt[row(d)].iter_mut().zip(&inv_rms[..width]) {
                    *v = *v * i * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_zero_mean_unit_variance() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut x, &[1.0; 4], None, 0.0);
        // mean 2.5, variance 1.25: (x - 2.5) / √1.25
        let want = [-1.5, -0.5, 0.5, 1.5].map(|v: f32| v / 1.25f32.sqrt());
        for (g, w) in x.iter().zip(want) {
            assert!((g - w).abs() < 1e-6);
        }
    }

    #[test]
    fn applies_scale_shift_and_eps() {
        let mut norm = LayerNorm::<2>::new(1.0, true);
        *norm.weight = [2.0, 3.0];
        norm.bias = Some(Box::new([10.0, 20.0]));
        let mut x = [[0.0f32, 2.0]];
        norm.forward(&mut x);
        // mean 1, variance 1, eps 1: (x - 1) / √2
        let s = 1.0 / 2.0f32.sqrt();
        assert!((x[0][0] - (10.0 - 2.0 * s)).abs() < 1e-6);
        assert!((x[0][1] - (20.0 + 3.0 * s)).abs() < 1e-6);
        assert_eq!(LayerNorm::<2>::parameters(true), 4);
    }

    #[test]
    fn transposed_tokens_normalise_as_rows_do() {
        let mut rng = crate::init::Rng::new(5);
        let mut norm = LayerNorm::<40>::new(1e-5, true);
        norm.weight
            .iter_mut()
            .for_each(|w| *w = 1.0 + rng.symmetric(0.5));
        let bias: [f32; 40] = std::array::from_fn(|_| rng.symmetric(1.0));
        norm.bias = Some(Box::new(bias));
        for n in [1usize, 16, 21, 140] {
            let ld = n.next_multiple_of(16);
            let rows: Vec<[f32; 40]> = (0..n)
                .map(|_| std::array::from_fn(|_| 1.0 + rng.symmetric(4.0)))
                .collect();
            let mut xt = vec![0.0f32; 40 * ld];
            for (t, row) in rows.iter().enumerate() {
                for (d, &v) in row.iter().enumerate() {
                    xt[d * ld + t] = v;
                }
            }
            let mut want = rows.clone();
            norm.forward(&mut want);
            norm.forward_transposed(&mut xt, ld, n);
            for (t, row) in want.iter().enumerate() {
                for (d, &w) in row.iter().enumerate() {
                    assert!((xt[d * ld + t] - w).abs() < 1e-5, "token {t}, feature {d}");
                }
            }
            // Zero padding columns map to the bias: finite.
            for t in n..ld {
                assert!((0..40).all(|d| xt[d * ld + t] == bias[d]));
            }
        }
    }

    #[test]
    fn rms_norm_scales_by_the_root_mean_square_on_rows_and_columns() {
        let mut rng = crate::init::Rng::new(9);
        let mut norm = RmsNorm::<40>::new(1e-6);
        norm.weight
            .iter_mut()
            .for_each(|w| *w = 1.0 + rng.symmetric(0.5));
        assert_eq!(RmsNorm::<40>::PARAMETERS, 40);
        for n in [1usize, 16, 21, 140] {
            let ld = n.next_multiple_of(16);
            let rows: Vec<[f32; 40]> = (0..n)
                .map(|_| std::array::from_fn(|_| rng.symmetric(4.0)))
                .collect();
            // The f64 reference, from the formula.
            let want: Vec<[f64; 40]> = rows
                .iter()
                .map(|row| {
                    let ms = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / 40.0;
                    let inv = 1.0 / (ms + 1e-6).sqrt();
                    std::array::from_fn(|d| f64::from(row[d]) * inv * f64::from(norm.weight[d]))
                })
                .collect();
            let mut by_rows = rows.clone();
            norm.forward(&mut by_rows);
            let mut xt = vec![0.0f32; 40 * ld];
            for (t, row) in rows.iter().enumerate() {
                for (d, &v) in row.iter().enumerate() {
                    xt[d * ld + t] = v;
                }
            }
            norm.forward_transposed(&mut xt, ld, n);
            for (t, row) in want.iter().enumerate() {
                for (d, &w) in row.iter().enumerate() {
                    assert!(
                        (f64::from(by_rows[t][d]) - w).abs() < 1e-5,
                        "row {t}, feature {d}"
                    );
                    assert!(
                        (f64::from(xt[d * ld + t]) - w).abs() < 1e-5,
                        "column {t}, feature {d}"
                    );
                }
            }
            // Zero padding columns stay zero (and finite).
            assert!((n..ld).all(|t| (0..40).all(|d| xt[d * ld + t] == 0.0)));
        }
    }

    #[test]
    fn a_constant_row_maps_to_the_bias() {
        let mut x = [[5.0f32; 3]];
        LayerNorm::<3>::new(1e-5, true).forward(&mut x);
        assert_eq!(x, [[0.0; 3]]);
    }
}

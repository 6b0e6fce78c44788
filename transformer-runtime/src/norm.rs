//! Layer normalisation over the model width, PyTorch's `nn.LayerNorm(D)`.

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
    fn a_constant_row_maps_to_the_bias() {
        let mut x = [[5.0f32; 3]];
        LayerNorm::<3>::new(1e-5, true).forward(&mut x);
        assert_eq!(x, [[0.0; 3]]);
    }
}

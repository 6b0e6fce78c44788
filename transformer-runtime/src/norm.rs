//! Layer normalisation over the model width, PyTorch's `nn.LayerNorm(D)`.

use crate::heap::boxed_array;

/// Normalises one token row in place:
/// `yᵢ = (xᵢ − μ) / √(σ² + eps) · wᵢ + bᵢ`, with `μ` and the biased variance `σ²` taken over
/// the `D` features, as PyTorch does.
pub fn layer_norm<const D: usize>(
    x: &mut [f32; D],
    weight: &[f32; D],
    bias: Option<&[f32; D]>,
    eps: f32,
) {
    let n = D as f32;
    let mean = lane_sum(x, |v| v) / n;
    // Two passes: subtracting the mean first avoids the cancellation of E[x²] − μ².
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inv_std = 1.0 / (var + eps).sqrt();
    for (i, v) in x.iter_mut().enumerate() {
        *v = (*v - mean) * inv_std * weight[i] + bias.map_or(0.0, |b| b[i]);
    }
}

/// `Σ f(xᵢ)` in eight partial sums, so the loop vectorises (a single running sum must add in
/// order).
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (chunks, tail) = x.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    let tail: f32 = tail.iter().map(|&v| f(v)).sum();
    (lanes[0] + lanes[4])
        + (lanes[1] + lanes[5])
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        + tail
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
            for row in rows {
                layer_norm(row, &self.weight, self.bias.as_deref(), self.eps);
            }
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

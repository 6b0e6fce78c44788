//! Dense products: `dot`, and `linear`, i.e. `out = x Wᵀ + b` for a block of token rows.
//!
//! Weights are `[OUT][IN]`, one row per output feature, exactly as PyTorch stores
//! `nn.Linear.weight`, so checkpoints load without a transpose and every output is a dot
//! product of two contiguous rows.

use crate::activation::Activation;
use crate::format::{F32, Store, Transposed, WeightFormat};
use crate::gemm::{Dims, gemm_nt};
use crate::heap::boxed_array;
use crate::init::Rng;

/// `Σ aᵢ bᵢ` over the shorter of the two slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..n].as_chunks::<8>();
    let (b_chunks, b_tail) = b[..n].as_chunks::<8>();
    // Eight independent partial sums: the loop vectorises and no add waits on the previous one.
    let mut acc = [0.0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a_tail.iter().zip(b_tail) {
        sum += x * y;
    }
    sum
}

/// `out[t][o] = Σᵢ w[o][i] · x[t][i] + b[o]` for every token row `t`, i.e. `out = x Wᵀ + b`.
///
/// Layout: `w` is `[OUT][IN]` (PyTorch's `nn.Linear.weight`), `x` is `[n][IN]`, `out` is
/// `[n][OUT]`; only the first `min(out.len(), x.len())` rows are computed. The work is
/// the product kernels': vectorised, and split over threads for large products.
pub fn linear<const IN: usize, const OUT: usize>(
    out: &mut [[f32; OUT]],
    w: &[[f32; IN]; OUT],
    b: Option<&[f32; OUT]>,
    x: &[[f32; IN]],
) {
    let n = out.len().min(x.len());
    gemm_nt(
        out[..n].as_flattened_mut(),
        w.as_flattened(),
        b.map(|b| &b[..]),
        x[..n].as_flattened(),
        Dims { n, k: IN, m: OUT },
    );
}

/// A linear layer `y = x Wᵀ + b`: PyTorch's `nn.Linear(IN, OUT)`, its weights kept in the
/// format `W` ([`F32`], the default).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<const IN: usize, const OUT: usize, W: WeightFormat = F32> {
    /// `[OUT][IN]`: row `o` holds the weights of output `o` (PyTorch's `weight`), as `W`
    /// keeps them: for [`F32`], a [`Matrix<OUT, IN>`](crate::Matrix).
    pub weight: W::Weights<OUT, IN>,
    /// `[OUT]`, or `None` in a model declared with `bias: false`.
    pub bias: Option<Box<[f32; OUT]>>,
}

impl<const IN: usize, const OUT: usize, W: WeightFormat> Linear<IN, OUT, W> {
    /// Learned numbers in a layer of this shape: `OUT·IN` weights, plus `OUT` biases.
    pub const fn parameters(bias: bool) -> usize {
        IN * OUT + if bias { OUT } else { 0 }
    }

    /// All weights and biases zero.
    pub fn zeroed(bias: bool) -> Self {
        Self {
            weight: W::zeroed(),
            bias: bias.then(|| boxed_array(0.0)),
        }
    }

    /// `out = x Wᵀ + b` for each token row, the first `min(out.len(), x.len())` of them; see
    /// [`linear`].
    pub fn forward(&self, out: &mut [[f32; OUT]], x: &[[f32; IN]]) {
        W::forward(self, out, x);
    }

    /// `outᵀ = act(x Wᵀ + b)ᵀ` for `n` tokens, from and to a transposed layout: `xt` is
    /// `[IN][..]`, `outt` `[OUT][..]`, each as its [`Transposed`] says (see
    /// `gemm_xt_transposed`), ready to be the `xt` of the next layer.
    pub(crate) fn forward_transposed(
        &self,
        out: (&mut [f32], Transposed),
        x: (&[f32], Transposed),
        n: usize,
        activation: Option<Activation>,
    ) {
        W::forward_transposed(self, out, x, n, Store::Write(activation));
    }

    /// `outᵀ += (x Wᵀ + b)ᵀ` for `n` tokens, layouts as in [`Self::forward_transposed`]: a
    /// residual connection made in the product's store (`gemm_xt_add_transposed`).
    pub(crate) fn forward_add_transposed(
        &self,
        out: (&mut [f32], Transposed),
        x: (&[f32], Transposed),
        n: usize,
    ) {
        W::forward_transposed(self, out, x, n, Store::Add);
    }
}

impl<const IN: usize, const OUT: usize> Linear<IN, OUT> {
    /// Xavier-uniform weights, `U(-a, a)` with `a = √(6 / (fan_in + fan_out))`, and zero
    /// biases. `fan_out` is passed in because PyTorch draws q, k and v as one `[3·IN][IN]`
    /// matrix (fan_out `3·IN`), not as three.
    pub fn xavier(rng: &mut Rng, fan_out: usize, bias: bool) -> Self {
        let mut layer = Self::zeroed(bias);
        rng.fill_xavier(layer.weight.as_flattened_mut(), IN, fan_out);
        layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(w: &[Vec<f64>], b: &[f64], x: &[f64]) -> Vec<f64> {
        w.iter()
            .zip(b)
            .map(|(row, b)| row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b)
            .collect()
    }

    #[test]
    fn dot_sums_products_including_the_tail() {
        let a: Vec<f32> = (1..=11).map(|i| i as f32).collect();
        let b = vec![2.0f32; 11];
        assert_eq!(dot(&a, &b), 132.0); // 2 · (1 + … + 11)
    }

    #[test]
    fn linear_matches_an_f64_reference_for_odd_sizes() {
        let mut rng = Rng::new(7);
        let mut layer = Linear::<5, 3>::xavier(&mut rng, 3, true);
        if let Some(b) = layer.bias.as_mut() {
            **b = [0.5, -1.0, 2.0];
        }
        let x: Vec<[f32; 5]> = (0..6)
            .map(|t| std::array::from_fn(|i| (t * 5 + i) as f32 * 0.1 - 1.0))
            .collect();
        let mut out = vec![[0.0; 3]; 6];
        layer.forward(&mut out, &x);
        let w: Vec<Vec<f64>> = layer
            .weight
            .iter()
            .map(|r| r.map(f64::from).to_vec())
            .collect();
        let b = [0.5, -1.0, 2.0];
        for (row, x) in out.iter().zip(&x) {
            let expected = naive(&w, &b, &x.map(f64::from));
            for (got, want) in row.iter().zip(expected) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn linear_without_bias_is_a_plain_product() {
        let mut layer = Linear::<2, 2>::zeroed(false);
        *layer.weight = [[1.0, 2.0], [3.0, 4.0]];
        let mut out = [[0.0; 2]];
        layer.forward(&mut out, &[[1.0, 1.0]]);
        assert_eq!(out, [[3.0, 7.0]]);
        assert_eq!(Linear::<2, 2>::parameters(false), 4);
        assert_eq!(Linear::<2, 2>::parameters(true), 6);
    }

    #[test]
    fn xavier_bound_follows_fan_in_and_fan_out() {
        let layer = Linear::<64, 64>::xavier(&mut Rng::new(1), 192, true);
        let bound = (6.0f32 / 256.0).sqrt();
        let max = layer
            .weight
            .as_flattened()
            .iter()
            .fold(0.0f32, |m, w| m.max(w.abs()));
        assert!(
            max <= bound && max > 0.9 * bound,
            "max {max}, bound {bound}"
        );
        assert!(layer.bias.unwrap().iter().all(|&b| b == 0.0));
    }
}

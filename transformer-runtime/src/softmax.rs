//! The softmax that turns attention scores into weights.

use crate::fastmath::{ExpMinus, Scale, for_each_vectorised};

/// Replaces `x` with `exp(xᵢ) / Σⱼ exp(xⱼ)`. A slice, because each query normalises only the
/// scores of the keys it may see.
///
/// Entries of `-∞` (masked keys) get weight 0. If every entry is `-∞`, nothing may be
/// attended to and every weight is 0, a defined, finite result where PyTorch gives NaN.
pub fn softmax(x: &mut [f32]) {
    // Shifting by the max changes nothing mathematically and keeps exp() from overflowing:
    // attention scores of a few thousand (as in the seed example) are common.
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        x.fill(0.0);
        return;
    }
    for_each_vectorised(x, ExpMinus(max));
    // Eight partial sums, so the sum vectorises too; sum ≥ 1, as the max contributes exp(0).
    let (chunks, tail) = x.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    let sum = lanes.iter().sum::<f32>() + tail.iter().sum::<f32>();
    let inv = 1.0 / sum;
    for_each_vectorised(x, Scale(inv));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn softmax_of_logs_normalises_the_input() {
        let mut x = [1.0f32, 2.0, 5.0].map(f32::ln);
        softmax(&mut x);
        assert_close(&x, &[0.125, 0.25, 0.625], 1e-6); // 1/8, 2/8, 5/8
    }

    #[test]
    fn large_scores_do_not_overflow() {
        // The seed example's scores for token 1: a naive exp(3574) is +inf.
        let mut x = [2505.5f32, 3574.0];
        softmax(&mut x);
        assert_eq!(x, [0.0, 1.0]);
    }

    #[test]
    fn masked_entries_get_zero_weight() {
        let mut x = [0.0f32, f32::NEG_INFINITY, 0.0];
        softmax(&mut x);
        assert_eq!(x, [0.5, 0.0, 0.5]);
    }

    #[test]
    fn a_fully_masked_row_is_all_zero_not_nan() {
        let mut x = [f32::NEG_INFINITY; 3];
        softmax(&mut x);
        assert_eq!(x, [0.0; 3]);
    }

    #[test]
    fn matches_an_f64_reference() {
        let input = [0.3f32, -1.7, 2.2, 0.0, 4.1];
        let mut x = input;
        softmax(&mut x);
        let exps: Vec<f64> = input.iter().map(|&v| f64::from(v).exp()).collect();
        let total: f64 = exps.iter().sum();
        let want: Vec<f32> = exps.iter().map(|e| (e / total) as f32).collect();
        assert_close(&x, &want, 1e-6);
    }
}

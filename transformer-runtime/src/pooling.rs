//! From token vectors to one sentence vector: mean pooling, L2 normalisation, cosine.

/// The mean of the rows of `x` (`[n][D]`), as sentence-transformers' mean pooling over the
/// tokens its attention mask keeps; zeros for no rows.
pub fn mean_pool<const D: usize>(x: &[[f32; D]]) -> [f32; D] {
    let mut sum = [0.0f64; D];
    for row in x {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
    }
    // sentence-transformers divides by max(count, 1e-9): for no rows that is a zero vector.
    let count = x.len().max(1) as f64;
    sum.map(|s| (s / count) as f32)
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
    fn mean_pool_averages_rows() {
        assert_eq!(mean_pool(&[[1.0, 2.0], [3.0, 6.0]]), [2.0, 4.0]);
        assert_eq!(mean_pool::<2>(&[]), [0.0, 0.0]);
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

//! transformers' logits processors on one row of logits. A filter drops a token by setting
//! its logit to `-∞`; probabilities are computed in f64, in a fixed order, with `libm::exp`,
//! so the kept set is the same on every platform.

use super::error::SampleError;
use super::options::SamplingOptions;

/// Every processor `options` turns on, in transformers' order (see the module docs).
/// `order` is working memory for the sorts.
pub(super) fn process(
    options: &SamplingOptions,
    logits: &mut [f32],
    seen: &[u32],
    order: &mut Vec<u32>,
) -> Result<(), SampleError> {
    check_logits(logits)?;
    if let Some(&id) = seen.iter().find(|&&id| id as usize >= logits.len()) {
        return Err(SampleError::SeenOutOfRange {
            id,
            vocab: logits.len(),
        });
    }
    if options.repetition_penalty != 1.0 {
        repetition_penalty(logits, seen, options.repetition_penalty, order);
    }
    if options.is_greedy() {
        return Ok(());
    }
    if options.temperature != 1.0 {
        temperature(logits, options.temperature);
    }
    if options.top_k != 0 {
        top_k(logits, options.top_k, order);
    }
    if options.top_p < 1.0 {
        top_p(logits, options.top_p, order);
    }
    if options.min_p > 0.0 {
        min_p(logits, options.min_p);
    }
    Ok(())
}

/// Logits a softmax can take: at least one, none NaN or `+∞`, not all `-∞`.
pub(super) fn check_logits(logits: &[f32]) -> Result<(), SampleError> {
    if logits.is_empty() {
        return Err(SampleError::EmptyLogits);
    }
    let invalid = |&(_, &l): &(usize, &f32)| l.is_nan() || l == f32::INFINITY;
    if let Some((index, &value)) = logits.iter().enumerate().find(invalid) {
        return Err(SampleError::InvalidLogit { index, value });
    }
    match logits.iter().all(|&l| l == f32::NEG_INFINITY) {
        true => Err(SampleError::NoCandidate),
        false => Ok(()),
    }
}

/// `RepetitionPenaltyLogitsProcessor`: each distinct seen id gets `l < 0 ? l·penalty :
/// l / penalty`, once however often it was seen.
fn repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32, distinct: &mut Vec<u32>) {
    distinct.clear();
    distinct.extend_from_slice(seen);
    distinct.sort_unstable();
    distinct.dedup();
    for &id in distinct.iter() {
        let l = &mut logits[id as usize];
        *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
    }
}

/// `TemperatureLogitsWarper`: `l / temperature`, in f32 as PyTorch divides.
fn temperature(logits: &mut [f32], temperature: f32) {
    logits.iter_mut().for_each(|l| *l /= temperature);
    // A temperature near 0 can overflow the largest logits to +∞, where softmax is NaN.
    // Its limit keeps them alone, equally likely.
    if logits.contains(&f32::INFINITY) {
        for l in logits.iter_mut() {
            *l = if *l == f32::INFINITY {
                0.0
            } else {
                f32::NEG_INFINITY
            };
        }
    }
}

/// `TopKLogitsWarper`: drops every logit below the `k`-th largest, so ties with it stay.
fn top_k(logits: &mut [f32], k: usize, order: &mut Vec<u32>) {
    let k = k.min(logits.len());
    fill_indices(order, logits.len());
    let (_, &mut kth, _) = order.select_nth_unstable_by(k - 1, |&a, &b| {
        logits[b as usize].total_cmp(&logits[a as usize])
    });
    let kth = logits[kth as usize];
    logits
        .iter_mut()
        .filter(|l| **l < kth)
        .for_each(|l| *l = f32::NEG_INFINITY);
}

/// `TopPLogitsWarper`: sorts ascending (ties by id) and drops tokens while the cumulative
/// probability is `≤ 1 - top_p`, never the most likely one. What stays is the smallest set of
/// most likely tokens whose probabilities add up to at least `top_p` (at the boundary, up to
/// rounding).
fn top_p(logits: &mut [f32], top_p: f32, order: &mut Vec<u32>) {
    fill_indices(order, logits.len());
    order.sort_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize]));
    let max = logits[order[order.len() - 1] as usize];
    let weight = |l: f32| libm::exp(f64::from(l) - f64::from(max));
    let total: f64 = order.iter().map(|&i| weight(logits[i as usize])).sum();
    let threshold = 1.0 - f64::from(top_p);
    let mut cumulative = 0.0;
    for &i in &order[..order.len() - 1] {
        let l = &mut logits[i as usize];
        cumulative += weight(*l) / total;
        if cumulative > threshold {
            break;
        }
        *l = f32::NEG_INFINITY;
    }
}

/// `MinPLogitsWarper`: drops tokens with `p < min_p · p_max`, i.e. `exp(l - l_max) < min_p`.
/// The most likely token always stays (`min_p ≤ 1`).
fn min_p(logits: &mut [f32], min_p: f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for l in logits.iter_mut() {
        if libm::exp(f64::from(*l) - f64::from(max)) < f64::from(min_p) {
            *l = f32::NEG_INFINITY;
        }
    }
}

/// The index of the largest logit, the first among equals (as `torch.argmax`).
pub(super) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Inverse-CDF draw from `softmax(logits)` with `u` uniform in `[0, 1)`: the first id whose
/// cumulative weight passes `u · Σ weights`, summing in id order.
pub(super) fn draw(logits: &[f32], u: f64) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weight = |l: f32| libm::exp(f64::from(l) - f64::from(max));
    let target = u * logits.iter().map(|&l| weight(l)).sum::<f64>();
    let mut cumulative = 0.0;
    let mut last = argmax(logits);
    for (i, &l) in logits.iter().enumerate() {
        let w = weight(l);
        if w > 0.0 {
            cumulative += w;
            last = i as u32;
            if cumulative > target {
                break;
            }
        }
    }
    last
}

fn fill_indices(order: &mut Vec<u32>, n: usize) {
    order.clear();
    order.extend(0..n as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: f32 = f32::NEG_INFINITY;

    /// Logits whose softmax is `[0.1, 0.2, 0.3, 0.4]`.
    fn tenths() -> Vec<f32> {
        [0.1f32, 0.2, 0.3, 0.4].map(f32::ln).to_vec()
    }

    fn kept(logits: &[f32]) -> Vec<usize> {
        (0..logits.len()).filter(|&i| logits[i] != OFF).collect()
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits_once() {
        let mut logits = [2.0, -1.0, 0.5, 3.0];
        repetition_penalty(&mut logits, &[0, 1, 1, 0], 2.0, &mut Vec::new());
        assert_eq!(logits, [1.0, -2.0, 0.5, 3.0]);
    }

    #[test]
    fn temperature_divides() {
        let mut logits = [1.0, 2.0, -4.0, OFF];
        temperature(&mut logits, 2.0);
        assert_eq!(logits, [0.5, 1.0, -2.0, OFF]);
    }

    #[test]
    fn temperature_overflow_keeps_only_the_overflowing_logits() {
        let mut logits = [3e38, 1.0, 3e38];
        temperature(&mut logits, 1e-3);
        assert_eq!(logits, [0.0, OFF, 0.0]);
    }

    #[test]
    fn top_k_keeps_the_k_largest_and_their_ties() {
        let logits = [1.0, 3.0, 3.0, 2.0, 0.0];
        let mut two = logits;
        top_k(&mut two, 2, &mut Vec::new());
        assert_eq!(two, [OFF, 3.0, 3.0, OFF, OFF]);
        let mut three = logits;
        top_k(&mut three, 3, &mut Vec::new());
        assert_eq!(three, [OFF, 3.0, 3.0, 2.0, OFF]);
        let mut all = logits;
        top_k(&mut all, 9, &mut Vec::new());
        assert_eq!(all, logits);
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        // Ascending cumulative probabilities: 0.1, 0.3, 0.6, 1.0.
        let cases = [(0.5, vec![2, 3]), (0.75, vec![1, 2, 3]), (0.35, vec![3])];
        for (p, want) in cases {
            let mut logits = tenths();
            top_p(&mut logits, p, &mut Vec::new());
            assert_eq!(kept(&logits), want, "top_p {p}");
        }
    }

    #[test]
    fn top_p_keeps_at_least_the_most_likely_token() {
        let mut logits = tenths();
        top_p(&mut logits, 1e-6, &mut Vec::new());
        assert_eq!(kept(&logits), [3]);
    }

    #[test]
    fn top_p_drops_the_lower_id_of_a_tie_first() {
        // Probabilities 0.25, 0.25, 0.5: ascending with ties by id, id 0 goes first.
        let mut logits = [0.0, 0.0, 2f32.ln()];
        top_p(&mut logits, 0.7, &mut Vec::new());
        assert_eq!(kept(&logits), [1, 2]);
    }

    #[test]
    fn min_p_drops_tokens_below_a_fraction_of_the_most_likely() {
        // 0.6 · 0.4 = 0.24: 0.1 and 0.2 go.
        let mut logits = tenths();
        min_p(&mut logits, 0.6);
        assert_eq!(kept(&logits), [2, 3]);
        let mut logits = tenths();
        min_p(&mut logits, 1.0);
        assert_eq!(kept(&logits), [3]);
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[1.0, 5.0, 5.0, 2.0]), 1);
        assert_eq!(argmax(&[OFF, OFF, 0.0]), 2);
        assert_eq!(argmax(&[-3.0]), 0);
    }

    #[test]
    fn draw_inverts_the_cumulative_distribution() {
        let logits = [OFF, 0.1f32.ln(), OFF, 0.9f32.ln()];
        assert_eq!(draw(&logits, 0.0), 1);
        assert_eq!(draw(&logits, 0.099), 1);
        assert_eq!(draw(&logits, 0.101), 3);
        assert_eq!(draw(&logits, 1.0 - f64::EPSILON), 3);
    }

    #[test]
    fn check_logits_refuses_what_softmax_cannot_take() {
        assert_eq!(check_logits(&[]), Err(SampleError::EmptyLogits));
        assert_eq!(check_logits(&[OFF, OFF]), Err(SampleError::NoCandidate));
        assert!(matches!(
            check_logits(&[0.0, f32::NAN]),
            Err(SampleError::InvalidLogit { index: 1, .. })
        ));
        assert!(matches!(
            check_logits(&[f32::INFINITY]),
            Err(SampleError::InvalidLogit { index: 0, .. })
        ));
        assert_eq!(check_logits(&[OFF, -1.0]), Ok(()));
    }
}

//! Shapes and the flat buffers that hold them.

use super::TensorFault;

/// Number of values in a row-major tensor of `shape`: `Π shape[i]` (1 for a scalar `[]`),
/// or `None` if it does not fit in `usize`.
pub(super) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &dim| n.checked_mul(dim))
}

/// Checks that flat buffers of `lengths` values, laid end to end, hold a tensor of `shape`:
/// they add up to `numel(shape)` and each holds whole rows along dim 0 (of
/// `numel(shape[1..])` values), so part `k` is rows `r_k..r_(k+1)` of the tensor.
/// A single buffer always holds whole rows once its length is right.
pub(super) fn check_lengths(name: &str, shape: &[usize], lengths: &[usize]) -> Option<TensorFault> {
    let row = numel(shape.get(1..).unwrap_or(&[]));
    let total = lengths
        .iter()
        .try_fold(0usize, |sum, &len| sum.checked_add(len));
    // A zero-width row (`[n, 0]`) makes every part empty: `checked_rem` is `None` there and the
    // total then forces each length to 0.
    let whole_rows =
        |len: &usize| row.is_some_and(|row| len.checked_rem(row).is_none_or(|r| r == 0));
    let fits = total.is_some() && total == numel(shape) && lengths.iter().all(whole_rows);
    (!fits).then(|| TensorFault::WrongLength {
        name: name.to_owned(),
        shape: shape.to_vec(),
        lengths: lengths.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_multiplies_dims() {
        assert_eq!(numel(&[3, 4, 5]), Some(60));
        assert_eq!(numel(&[]), Some(1));
        assert_eq!(numel(&[7, 0]), Some(0));
        assert_eq!(numel(&[usize::MAX, 2]), None);
    }

    #[test]
    fn one_buffer_must_hold_every_value() {
        assert_eq!(check_lengths("w", &[4, 4], &[16]), None);
        assert_eq!(check_lengths("s", &[], &[1]), None);
        assert!(check_lengths("w", &[4, 4], &[15]).is_some());
    }

    #[test]
    fn parts_must_be_whole_rows_that_add_up() {
        // q, k, v of a [3 * 2, 2] tensor: rows 0..2, 2..4, 4..6.
        assert_eq!(check_lengths("qkv", &[6, 2], &[4, 4, 4]), None);
        // Grouped-query attention: q has more rows than k and v.
        assert_eq!(check_lengths("qkv", &[6, 2], &[8, 2, 2]), None);
        let fault = check_lengths("qkv", &[6, 2], &[5, 4, 3]);
        assert_eq!(
            fault,
            Some(TensorFault::WrongLength {
                name: "qkv".into(),
                shape: vec![6, 2],
                lengths: vec![5, 4, 3],
            })
        );
        assert!(check_lengths("qkv", &[6, 2], &[4, 4]).is_some());
    }

    #[test]
    fn zero_width_rows_and_overflow_do_not_panic() {
        assert_eq!(check_lengths("e", &[3, 0], &[0, 0]), None);
        assert!(check_lengths("e", &[3, 0], &[1]).is_some());
        assert!(check_lengths("big", &[usize::MAX, 2], &[1]).is_some());
        assert!(check_lengths("sum", &[4], &[usize::MAX, 5]).is_some());
    }
}

//! Undoing the row permutation llama.cpp's converter applies to query and key weights.
//!
//! Hugging Face Llama rotates the pairs `(x[i], x[i + d/2])` of each head of `d` lanes
//! (`rotate_half`); ggml rotates adjacent pairs `(x[2i], x[2i + 1])`. So
//! `convert_hf_to_gguf.py` reorders the rows of `attn_q` and `attn_k` (a PyTorch `[out, in]`
//! matrix; `attn_k` with the key-value head count) with
//!
//! ```text
//! permute(w, heads) = w.reshape(heads, 2, d / 2, cols).swapaxes(1, 2).reshape(w.shape)
//! ```
//!
//! that is, within each head, row `2i + j` of the result is row `j · d/2 + i` of `w`
//! (`i < d/2`, `j < 2`). [`unpermute_rope_rows`] puts the rows back, for a model that rotates
//! as Hugging Face does.

use super::GgufError;

/// Puts back the rows of a `rows × cols` row-major matrix that `convert_hf_to_gguf.py`'s
/// `permute(w, heads)` reordered: within each head's `d = rows / heads` rows, row
/// `j · d/2 + i` of the result is row `2i + j` of `weights`. Pass the query head count for
/// `attn_q` and the key-value head count for `attn_k`.
///
/// Fails if `weights` does not hold `rows × cols` values or `rows` does not split into
/// `heads` blocks of an even number of rows.
pub fn unpermute_rope_rows(
    weights: &mut [f32],
    rows: usize,
    cols: usize,
    heads: usize,
) -> Result<(), GgufError> {
    reorder(weights, rows, cols, heads, |i, j, half| {
        (2 * i + j, j * half + i)
    })
}

/// `convert_hf_to_gguf.py`'s `permute(w, heads)` on a `rows × cols` row-major matrix: within
/// each head's `d = rows / heads` rows, row `2i + j` of the result is row `j · d/2 + i` of
/// `weights`. The inverse of [`unpermute_rope_rows`]; for tests and for writing files.
pub fn permute_rope_rows(
    weights: &mut [f32],
    rows: usize,
    cols: usize,
    heads: usize,
) -> Result<(), GgufError> {
    reorder(weights, rows, cols, heads, |i, j, half| {
        (j * half + i, 2 * i + j)
    })
}

/// Within each head, moves row `from` to row `to`, where `(from, to) = rows_of(i, j, d/2)` for
/// `i < d/2`, `j < 2`.
fn reorder(
    weights: &mut [f32],
    rows: usize,
    cols: usize,
    heads: usize,
    rows_of: impl Fn(usize, usize, usize) -> (usize, usize),
) -> Result<(), GgufError> {
    let fits = rows.checked_mul(cols) == Some(weights.len())
        && heads > 0
        && rows.is_multiple_of(heads)
        && (rows / heads).is_multiple_of(2);
    if !fits {
        return Err(GgufError::RopeShape {
            len: weights.len(),
            rows,
            cols,
            heads,
        });
    }
    let d = rows / heads;
    if d == 0 || cols == 0 {
        return Ok(());
    }
    let mut head_copy = vec![0.0; d * cols];
    for head in weights.chunks_exact_mut(d * cols) {
        head_copy.copy_from_slice(head);
        for i in 0..d / 2 {
            for j in 0..2 {
                let (from, to) = rows_of(i, j, d / 2);
                head[to * cols..(to + 1) * cols]
                    .copy_from_slice(&head_copy[from * cols..(from + 1) * cols]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `r` of a matrix is `[r, r + 0.5]`, so a row's values say where it came from.
    fn numbered(rows: usize) -> Vec<f32> {
        (0..rows).flat_map(|r| [r as f32, r as f32 + 0.5]).collect()
    }

    #[test]
    fn permute_matches_the_numpy_formula() {
        // numpy: np.arange(8).reshape(2, 2, 2).swapaxes(1, 2).reshape(8)
        //      = [0, 2, 1, 3, 4, 6, 5, 7]  (2 heads of 4 rows)
        let mut w = numbered(8);
        permute_rope_rows(&mut w, 8, 2, 2).unwrap();
        let rows: Vec<f32> = w.iter().step_by(2).copied().collect();
        assert_eq!(rows, [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
        // One head of 6 rows: np.arange(6).reshape(1, 2, 3).swapaxes(1, 2).reshape(6).
        let mut w = numbered(6);
        permute_rope_rows(&mut w, 6, 2, 1).unwrap();
        assert_eq!(
            w,
            [0.0, 0.5, 3.0, 3.5, 1.0, 1.5, 4.0, 4.5, 2.0, 2.5, 5.0, 5.5]
        );
    }

    #[test]
    fn unpermute_inverts_permute() {
        let (rows, cols) = (3 * 64, 5);
        let original: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let mut w = original.clone();
        permute_rope_rows(&mut w, rows, cols, 3).unwrap();
        assert_ne!(w, original);
        unpermute_rope_rows(&mut w, rows, cols, 3).unwrap();
        assert_eq!(w, original);
    }

    #[test]
    fn shapes_that_do_not_split_into_heads_are_errors() {
        let mut w = vec![0.0; 12];
        for (rows, cols, heads) in [(6, 2, 2), (4, 3, 0), (4, 2, 1), (12, 1, 5)] {
            let err = unpermute_rope_rows(&mut w, rows, cols, heads).unwrap_err();
            assert!(matches!(err, GgufError::RopeShape { .. }), "{err}");
        }
        assert!(unpermute_rope_rows(&mut w, 6, 2, 3).is_ok());
        assert!(unpermute_rope_rows(&mut [], 0, 7, 2).is_ok());
    }
}

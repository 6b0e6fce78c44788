//! Heap storage for weights and activations whose shapes are model dimensions.
//!
//! A MiniLM-sized model holds 90 MB of weights, far more than a thread's stack, so every
//! tensor lives in a `Box<[..; N]>` built on the heap directly, never moved through the stack.

/// A boxed `[T; N]` with every element `value`, built on the heap.
pub fn boxed_array<T: Clone, const N: usize>(value: T) -> Box<[T; N]> {
    let boxed: Box<[T]> = vec![value; N].into_boxed_slice();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a Vec of N elements always converts to [T; N]"),
    }
}

/// A boxed `[[f32; COLS]; ROWS]` of zeros: one row per output, as weights are stored.
pub fn zeroed_matrix<const ROWS: usize, const COLS: usize>() -> Box<[[f32; COLS]; ROWS]> {
    boxed_array([0.0; COLS])
}

/// Copies `rows` onto the heap as a `Box<[[f32; D]; N]>`, the output type of `forward`.
pub fn boxed_rows<const D: usize, const N: usize>(rows: &[[f32; D]; N]) -> Box<[[f32; D]; N]> {
    let boxed: Box<[[f32; D]]> = rows.as_slice().into();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a slice copied from [_; N] has N elements"),
    }
}

/// The first `len` numbers of a working buffer, growing it (with zeros) if it is too short:
/// after the first call of a size, no allocation.
pub fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_matrix_is_built_without_touching_the_stack() {
        // 64 MiB: would overflow a 2 MiB test-thread stack if built there first.
        let m = zeroed_matrix::<4096, 4096>();
        assert_eq!(m[4095][4095], 0.0);
    }

    #[test]
    fn boxed_rows_copies_every_row() {
        let rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(*boxed_rows(&rows), rows);
    }
}

//! Heap storage for weights and activations whose shapes are model dimensions.
//!
//! A MiniLM-sized model holds 90 MB of weights, far more than a thread's stack, so every
//! tensor is built on the heap directly, never moved through the stack: weight matrices in a
//! [`Matrix`], placed for the kernels to stream; other tensors in a `Box<[..; N]>`.

mod matrix;

pub use matrix::Matrix;

/// A boxed `[T; N]` with every element `value`, built on the heap.
pub fn boxed_array<T: Clone, const N: usize>(value: T) -> Box<[T; N]> {
    let boxed: Box<[T]> = vec![value; N].into_boxed_slice();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a Vec of N elements always converts to [T; N]"),
    }
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
    fn boxed_rows_copies_every_row() {
        let rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(*boxed_rows(&rows), rows);
    }
}

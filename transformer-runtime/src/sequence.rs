//! The output of a const-length forward pass: `N` rows of width `D`, on the heap.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::heap::{boxed_array, boxed_rows};

/// `[[f32; D]; N]` on the heap (a long sequence of wide rows would overflow the stack);
/// derefs to the array, so `out[t][i]`, `&out[..]` and `*out` work as on the array itself.
#[derive(Clone, PartialEq)]
pub struct Sequence<const D: usize, const N: usize>(Box<[[f32; D]; N]>);

impl<const D: usize, const N: usize> Sequence<D, N> {
    /// A copy of `rows`.
    pub fn from_rows(rows: &[[f32; D]; N]) -> Self {
        Self(boxed_rows(rows))
    }

    /// All zeros.
    pub fn zeroed() -> Self {
        Self(boxed_array([0.0; D]))
    }

    /// The boxed array.
    pub fn into_boxed(self) -> Box<[[f32; D]; N]> {
        self.0
    }
}

impl<const D: usize, const N: usize> Deref for Sequence<D, N> {
    type Target = [[f32; D]; N];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<const D: usize, const N: usize> DerefMut for Sequence<D, N> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<const D: usize, const N: usize> fmt::Debug for Sequence<D, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derefs_to_the_array() {
        let mut s = Sequence::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
        s[1][0] = 5.0;
        assert_eq!(*s, [[1.0, 2.0], [5.0, 4.0]]);
        assert_eq!(&s[..1], &[[1.0, 2.0]]);
        assert_eq!(*Sequence::<3, 2>::zeroed(), [[0.0; 3]; 2]);
    }
}

//! Doc comments and attributes on a model reach the generated struct.

use transformer::transformer;

transformer! {
    /// A model on its own cache line.
    #[repr(align(64))]
    pub Aligned < d_model: 8, heads: 2, layers: 1 >
}

fn main() {
    assert_eq!(std::mem::align_of::<Aligned>(), 64);
}

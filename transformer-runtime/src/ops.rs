//! The notes' math one function at a time, on plain slices and arrays: for working an
//! example through by hand (as `examples/seed_attention.rs` does) and for checking a layer
//! against it. The layers run the same math through the fast kernels.

pub use crate::activation::{gelu, gelu_tanh};
pub use crate::attention::scaled_dot_product_attention;
pub use crate::matmul::{dot, linear};
pub use crate::position::sinusoidal;
pub use crate::softmax::softmax;

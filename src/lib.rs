#![doc = include_str!("../README.md")]

pub use transformer_macros::transformer;
pub use transformer_runtime as runtime;

#[cfg(feature = "text")]
pub mod text;

/// `use transformer::prelude::*;`: the macro and, with the `text` feature, the trait that gives
/// every model taking token ids its `from_pretrained`.
pub mod prelude {
    #[cfg(feature = "text")]
    pub use crate::text::FromPretrained;
    pub use transformer_macros::transformer;
}

#![doc = include_str!("../README.md")]

pub use transformer_macros::transformer;
pub use transformer_runtime as runtime;

#[cfg(feature = "text")]
pub mod text;

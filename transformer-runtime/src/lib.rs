#![doc = include_str!("../README.md")]

mod activation;
mod attention;
mod batch;
mod cache;
pub mod cpu;
mod embedding;
mod error;
mod fastmath;
mod ffn;
pub mod format;
mod gemm;
pub mod gguf;
mod heap;
mod init;
pub mod load;
mod matmul;
pub mod model;
mod norm;
pub mod ops;
mod options;
pub mod pooling;
mod rope;
pub mod sample;
mod scratch;
mod sequence;
mod softmax;
mod summary;
pub mod threads;

pub use activation::Activation;
pub use attention::MultiHeadAttention;
pub use batch::Padding;
pub use cache::{KvCache, KvLayer};
pub use embedding::Embedding;
pub use error::{ForwardError, SequenceLength};
pub use ffn::FeedForward;
pub use heap::Matrix;
pub use init::Rng;
pub use matmul::Linear;
pub use model::TokenModel;
pub use norm::{LayerNorm, Norm, RmsNorm};
pub use options::{Batch, Mask, MemoryMask, Options, Tokens};
pub use rope::{Rope, RopePairs};
pub use scratch::Scratch;
pub use sequence::Sequence;
pub use summary::{Summary, SummaryRow};

/// What only the code `transformer!` generates calls: argument checks and loops it shares.
/// Not part of the API: anything here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::attention::Attend;
    pub use crate::batch::{run, source_options};
    pub use crate::embedding::add_sinusoidal;
    pub use crate::embedding::check_types_without_table;
    pub use crate::error::{check_len, check_out};
    pub use crate::heap::boxed_array;
}

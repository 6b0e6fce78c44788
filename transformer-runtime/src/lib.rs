#![doc = include_str!("../README.md")]

pub mod activation;
pub mod attention;
pub mod batch;
pub mod cpu;
pub mod embedding;
pub mod error;
pub mod fastmath;
pub mod ffn;
pub mod gemm;
pub mod heap;
pub mod init;
pub mod load;
pub mod matmul;
pub mod model;
pub mod norm;
pub mod pooling;
pub mod position;
pub mod scratch;
pub mod sequence;
pub mod softmax;
pub mod summary;
pub mod threads;

pub use activation::Activation;
pub use attention::{Mask, MultiHeadAttention};
pub use batch::Padding;
pub use embedding::Embedding;
pub use error::{ForwardError, SequenceLength};
pub use ffn::FeedForward;
pub use init::Rng;
pub use matmul::Linear;
pub use model::TokenModel;
pub use norm::LayerNorm;
pub use scratch::Scratch;
pub use sequence::Sequence;

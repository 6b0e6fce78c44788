//! A tensor as its file stores it: the element type and the raw bytes, for a destination that
//! keeps a format of its own (a weight format's quantized blocks) instead of `f32`.

use std::borrow::Cow;

use safetensors::Dtype;

use crate::gguf::GgmlType;

/// How a file stores a tensor's elements, as [`Loader::read_stored`](super::Loader::read_stored)
/// reports it. Plain floats are named alike whichever file holds them; GGUF's other types
/// (its quantized blocks) keep their GGML name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Element {
    /// IEEE binary64, 8 bytes a value, little endian.
    F64,
    /// IEEE binary32, 4 bytes a value, little endian.
    F32,
    /// IEEE binary16, 2 bytes a value, little endian.
    F16,
    /// bfloat16, 2 bytes a value, little endian.
    Bf16,
    /// One of GGUF's block types (`Q8_0`, `Q4_K`, …): whole blocks along each row, laid out as
    /// [`GgmlType`] describes.
    Ggml(GgmlType),
}

impl Element {
    /// The element type of a safetensors `dtype`, or `None` for one no weight format reads
    /// (integers, bools, fp8).
    pub(super) fn of_dtype(dtype: Dtype) -> Option<Self> {
        match dtype {
            Dtype::F64 => Some(Self::F64),
            Dtype::F32 => Some(Self::F32),
            Dtype::F16 => Some(Self::F16),
            Dtype::BF16 => Some(Self::Bf16),
            _ => None,
        }
    }

    /// The element type of a GGUF tensor: its plain floats as such, the rest as blocks.
    pub(super) fn of_ggml(ty: GgmlType) -> Self {
        match ty {
            GgmlType::F32 => Self::F32,
            GgmlType::F16 => Self::F16,
            GgmlType::BF16 => Self::Bf16,
            ty => Self::Ggml(ty),
        }
    }

    /// The name a fault gives it: safetensors' spelling for plain floats, GGML's for blocks.
    pub fn name(self) -> &'static str {
        match self {
            Self::F64 => "F64",
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
            Self::Ggml(ty) => ty.name(),
        }
    }
}

/// One tensor as its file stores it, row-major, from [`Loader::read_stored`](super::Loader::read_stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTensor<'a> {
    /// How its elements are stored.
    pub element: Element,
    /// Its bytes: borrowed from a file in memory, or read from disk.
    pub bytes: Cow<'a, [u8]>,
}

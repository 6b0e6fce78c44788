//! ggml's tensor types: the code a tensor info stores, the name llama.cpp prints, and the
//! block each type packs its values into.

use std::fmt;

/// How a tensor's values are stored: a plain number type, or blocks of `block_size()` values
/// packed into `block_bytes()` bytes. The discriminant is the code in the file (ggml's
/// `enum ggml_type`); codes 4, 5, 31..=33 and 36..=38 belong to removed types.
#[expect(
    non_camel_case_types,
    reason = "the names are ggml's, as llama.cpp and the gguf package print them"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgmlType {
    /// IEEE binary32.
    F32 = 0,
    /// IEEE binary16.
    F16 = 1,
    /// Blocks of 32: an f16 scale and 4-bit values offset by 8.
    Q4_0 = 2,
    /// Blocks of 32: an f16 scale and minimum, and 4-bit values.
    Q4_1 = 3,
    /// Blocks of 32: an f16 scale and 5-bit values offset by 16.
    Q5_0 = 6,
    /// Blocks of 32: an f16 scale and minimum, and 5-bit values.
    Q5_1 = 7,
    /// Blocks of 32: an f16 scale and 8-bit signed values.
    Q8_0 = 8,
    /// Blocks of 32: f32 scale and sum, and 8-bit values (an intermediate of llama.cpp).
    Q8_1 = 9,
    /// Super-blocks of 256, 2 bits a value.
    Q2_K = 10,
    /// Super-blocks of 256, 3 bits a value.
    Q3_K = 11,
    /// Super-blocks of 256: 8 sub-blocks with 6-bit scales and minimums, 4-bit values.
    Q4_K = 12,
    /// Super-blocks of 256: 8 sub-blocks with 6-bit scales and minimums, 5-bit values.
    Q5_K = 13,
    /// Super-blocks of 256: 16 sub-blocks with 8-bit scales, 6-bit values.
    Q6_K = 14,
    /// Super-blocks of 256 8-bit values (an intermediate of llama.cpp).
    Q8_K = 15,
    /// An importance-matrix quantisation, 2.06 bits a value.
    IQ2_XXS = 16,
    /// An importance-matrix quantisation, 2.31 bits a value.
    IQ2_XS = 17,
    /// An importance-matrix quantisation, 3.06 bits a value.
    IQ3_XXS = 18,
    /// An importance-matrix quantisation, 1.56 bits a value.
    IQ1_S = 19,
    /// Blocks of 32 4-bit indices into a non-linear table.
    IQ4_NL = 20,
    /// An importance-matrix quantisation, 3.44 bits a value.
    IQ3_S = 21,
    /// An importance-matrix quantisation, 2.5 bits a value.
    IQ2_S = 22,
    /// Super-blocks of 256 4-bit indices into a non-linear table.
    IQ4_XS = 23,
    /// 8-bit signed integers.
    I8 = 24,
    /// 16-bit signed integers.
    I16 = 25,
    /// 32-bit signed integers.
    I32 = 26,
    /// 64-bit signed integers.
    I64 = 27,
    /// IEEE binary64.
    F64 = 28,
    /// An importance-matrix quantisation, 1.75 bits a value.
    IQ1_M = 29,
    /// bfloat16, the top half of an f32.
    BF16 = 30,
    /// Ternary values, 1.69 bits a value.
    TQ1_0 = 34,
    /// Ternary values, 2.06 bits a value.
    TQ2_0 = 35,
    /// Microscaling FP4: blocks of 32 e2m1 values with an e8m0 scale.
    MXFP4 = 39,
    /// NVIDIA FP4: blocks of 64 e2m1 values with fp8 scales.
    NVFP4 = 40,
    /// Blocks of 128 1-bit values with an f16 scale.
    Q1_0 = 41,
}

impl GgmlType {
    /// Every type, in code order.
    const ALL: [Self; 34] = [
        Self::F32,
        Self::F16,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q8_0,
        Self::Q8_1,
        Self::Q2_K,
        Self::Q3_K,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
        Self::Q8_K,
        Self::IQ2_XXS,
        Self::IQ2_XS,
        Self::IQ3_XXS,
        Self::IQ1_S,
        Self::IQ4_NL,
        Self::IQ3_S,
        Self::IQ2_S,
        Self::IQ4_XS,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::F64,
        Self::IQ1_M,
        Self::BF16,
        Self::TQ1_0,
        Self::TQ2_0,
        Self::MXFP4,
        Self::NVFP4,
        Self::Q1_0,
    ];

    /// The type stored as `code`, or `None` for a code no ggml version defines (or one whose
    /// type was removed).
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|ty| ty.code() == code)
    }

    /// The code in the file.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The name ggml gives the type: `F32`, `Q4_K`, `IQ2_XXS`, ...
    pub fn name(self) -> &'static str {
        self.layout().0
    }

    /// Values per block: 1 for plain numbers, 32 for `Q8_0`, 256 for the K-quants.
    pub fn block_size(self) -> usize {
        self.layout().1
    }

    /// Bytes per block (ggml's `type_size`).
    pub fn block_bytes(self) -> usize {
        self.layout().2
    }

    /// Whether [`GgufFile::read_f32`](super::GgufFile::read_f32) converts this type: F32,
    /// F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K.
    pub fn converts_to_f32(self) -> bool {
        super::quant::dequantizer(self).is_some()
    }

    /// Name, values per block and bytes per block, as in ggml's type traits
    /// (`QK_K` = 256 values per super-block).
    fn layout(self) -> (&'static str, usize, usize) {
        const K: usize = 256;
        match self {
            Self::F32 => ("F32", 1, 4),
            Self::F16 => ("F16", 1, 2),
            Self::Q4_0 => ("Q4_0", 32, 2 + 16),
            Self::Q4_1 => ("Q4_1", 32, 2 + 2 + 16),
            Self::Q5_0 => ("Q5_0", 32, 2 + 4 + 16),
            Self::Q5_1 => ("Q5_1", 32, 2 + 2 + 4 + 16),
            Self::Q8_0 => ("Q8_0", 32, 2 + 32),
            Self::Q8_1 => ("Q8_1", 32, 4 + 4 + 32),
            Self::Q2_K => ("Q2_K", K, 2 + 2 + K / 16 + K / 4),
            Self::Q3_K => ("Q3_K", K, 2 + K / 4 + K / 8 + 12),
            Self::Q4_K => ("Q4_K", K, 2 + 2 + 12 + K / 2),
            Self::Q5_K => ("Q5_K", K, 2 + 2 + 12 + K / 8 + K / 2),
            Self::Q6_K => ("Q6_K", K, K / 2 + K / 4 + K / 16 + 2),
            Self::Q8_K => ("Q8_K", K, 4 + K + K / 8),
            Self::IQ2_XXS => ("IQ2_XXS", K, 2 + K / 4),
            Self::IQ2_XS => ("IQ2_XS", K, 2 + K / 4 + K / 32),
            Self::IQ3_XXS => ("IQ3_XXS", K, 2 + K / 4 + K / 8),
            Self::IQ1_S => ("IQ1_S", K, 2 + K / 8 + K / 16),
            Self::IQ4_NL => ("IQ4_NL", 32, 2 + 16),
            Self::IQ3_S => ("IQ3_S", K, 2 + K / 4 + K / 8 + K / 32 + 4),
            Self::IQ2_S => ("IQ2_S", K, 2 + K / 4 + K / 16),
            Self::IQ4_XS => ("IQ4_XS", K, 2 + 2 + K / 2 + K / 64),
            Self::I8 => ("I8", 1, 1),
            Self::I16 => ("I16", 1, 2),
            Self::I32 => ("I32", 1, 4),
            Self::I64 => ("I64", 1, 8),
            Self::F64 => ("F64", 1, 8),
            Self::IQ1_M => ("IQ1_M", K, K / 8 + K / 16 + K / 32),
            Self::BF16 => ("BF16", 1, 2),
            Self::TQ1_0 => ("TQ1_0", K, 2 + 4 * 13),
            Self::TQ2_0 => ("TQ2_0", K, 2 + 64),
            Self::MXFP4 => ("MXFP4", 32, 1 + 16),
            Self::NVFP4 => ("NVFP4", 64, 4 + 32),
            Self::Q1_0 => ("Q1_0", 128, 2 + 16),
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_removed_codes_are_unknown() {
        for ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_code(ty.code()), Some(ty));
        }
        for code in [4, 5, 31, 32, 33, 36, 37, 38, 42, u32::MAX] {
            assert_eq!(GgmlType::from_code(code), None, "{code}");
        }
    }

    #[test]
    fn block_layouts_match_ggml() {
        // ggml-common.h: sizeof(block_q4_K) = 144, block_q5_K = 176, block_q6_K = 210.
        assert_eq!(GgmlType::Q4_K.block_bytes(), 144);
        assert_eq!(GgmlType::Q5_K.block_bytes(), 176);
        assert_eq!(GgmlType::Q6_K.block_bytes(), 210);
        assert_eq!(
            (GgmlType::Q8_0.block_size(), GgmlType::Q8_0.block_bytes()),
            (32, 34)
        );
        assert_eq!(GgmlType::Q4_K.to_string(), "Q4_K");
        assert!(GgmlType::Q6_K.converts_to_f32());
        assert!(!GgmlType::Q5_0.converts_to_f32());
    }
}

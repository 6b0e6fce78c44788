//! Tensor bytes to `f32`, for the floating-point dtypes a checkpoint may store.

use half::{bf16, f16};
use safetensors::Dtype;

/// A dtype we convert to `f32`: value `i` is bytes `i*w..(i+1)*w`, little endian, `w = width()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Float {
    /// IEEE binary16: exact in `f32`.
    F16,
    /// bfloat16, the top half of an `f32`: exact.
    Bf16,
    /// Copied bit for bit.
    F32,
    /// Rounded to the nearest `f32`; beyond `±f32::MAX` it becomes `±inf`.
    F64,
}

impl Float {
    /// The float type behind `dtype`, or `None` for the rest (integers, bools, fp8, ...).
    pub(super) fn of(dtype: Dtype) -> Option<Self> {
        match dtype {
            Dtype::F16 => Some(Self::F16),
            Dtype::BF16 => Some(Self::Bf16),
            Dtype::F32 => Some(Self::F32),
            Dtype::F64 => Some(Self::F64),
            _ => None,
        }
    }

    /// Bytes per value.
    pub(super) fn width(self) -> usize {
        match self {
            Self::F16 | Self::Bf16 => 2,
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// `out[i] = value i of bytes`, for `i < min(out.len(), bytes.len() / width)`.
    pub(super) fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Self::F16 => convert(bytes, out, |b| f16::from_le_bytes(b).to_f32()),
            Self::Bf16 => convert(bytes, out, |b| bf16::from_le_bytes(b).to_f32()),
            Self::F32 => convert(bytes, out, f32::from_le_bytes),
            Self::F64 => convert(bytes, out, |b| f64::from_le_bytes(b) as f32),
        }
    }
}

/// Reads `bytes` as `N`-byte values. File data has no alignment guarantee, so each value is
/// copied out of a `[u8; N]` chunk (alignment 1) rather than cast in place.
fn convert<const N: usize>(bytes: &[u8], out: &mut [f32], value: impl Fn([u8; N]) -> f32) {
    let (chunks, _) = bytes.as_chunks::<N>();
    for (o, chunk) in out.iter_mut().zip(chunks) {
        *o = value(*chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_floats_are_supported() {
        assert_eq!(Float::of(Dtype::BF16), Some(Float::Bf16));
        assert_eq!(Float::of(Dtype::F64).map(Float::width), Some(8));
        assert_eq!(Float::of(Dtype::I64), None);
        assert_eq!(Float::of(Dtype::F8_E4M3), None);
    }

    #[test]
    fn f16_and_bf16_convert_exactly() {
        // f16 0x3C00 = 1.0, 0xC000 = -2.0; bf16 0x3FC0 = 1.5, 0x7F80 = +inf.
        let mut out = [0.0; 2];
        Float::F16.decode(&[0x00, 0x3C, 0x00, 0xC0], &mut out);
        assert_eq!(out, [1.0, -2.0]);
        Float::Bf16.decode(&[0xC0, 0x3F, 0x80, 0x7F], &mut out);
        assert_eq!(out, [1.5, f32::INFINITY]);
    }

    #[test]
    fn f32_is_bit_exact_at_any_alignment() {
        let values = [
            1.0f32,
            -0.0,
            f32::MIN_POSITIVE / 2.0,
            f32::from_bits(0x7FC0_1234),
        ];
        let mut bytes = vec![0xAA]; // one byte in front: the values start at an odd address
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let mut out = [0.0f32; 4];
        Float::F32.decode(&bytes[1..], &mut out);
        assert_eq!(out.map(f32::to_bits), values.map(f32::to_bits));
    }

    #[test]
    fn f64_rounds_to_nearest_f32() {
        let bytes: Vec<u8> = [0.1f64, 1e300]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = [0.0; 2];
        Float::F64.decode(&bytes, &mut out);
        assert_eq!(out, [0.1f32, f32::INFINITY]);
    }

    #[test]
    fn short_input_fills_what_it_can() {
        let mut out = [9.0; 2];
        Float::F16.decode(&[0x00, 0x3C, 0x00], &mut out);
        assert_eq!(out, [1.0, 9.0]);
    }
}

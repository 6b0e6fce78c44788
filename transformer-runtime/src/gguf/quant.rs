//! Tensor bytes to `f32`: one function per ggml type, each stating its block layout (ggml's
//! `ggml-common.h`) and formula (`dequantize_row_*` in `ggml-quants.c`).
//!
//! Every function takes whole blocks (`bytes.len() = blocks × block_bytes`) and fills
//! `out[..blocks × block_size]`, values in storage order. Scales are f16 (or int) converted
//! exactly to f32, and each product and sum is one rounded f32 operation in ggml's order, so
//! the results match ggml, and the `gguf` Python package, bit for bit.

use half::{bf16, f16};

use super::GgmlType;

/// Values in a block of the simple quantisations (ggml's `QK4_0`, `QK8_0`, ...).
const QK: usize = 32;

/// Values in a super-block of the K-quants (`QK_K`).
const QK_K: usize = 256;

/// Fills `out` from `bytes`, both holding whole blocks of one type.
pub(super) type Dequantize = fn(bytes: &[u8], out: &mut [f32]);

/// The conversion for `ty`, or `None` for a type without one here.
pub(super) fn dequantizer(ty: GgmlType) -> Option<Dequantize> {
    Some(match ty {
        GgmlType::F32 => f32s,
        GgmlType::F16 => f16s,
        GgmlType::BF16 => bf16s,
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q4_K => q4_k,
        GgmlType::Q5_K => q5_k,
        GgmlType::Q6_K => q6_k,
        _ => return None,
    })
}

fn half(bytes: [u8; 2]) -> f32 {
    f16::from_le_bytes(bytes).to_f32()
}

/// `F32`: 4 bytes a value, copied bit for bit. File data has no alignment guarantee, so each
/// value is copied out of a `[u8; 4]`, never cast in place.
fn f32s(bytes: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes.as_chunks::<4>().0) {
        *o = f32::from_le_bytes(*b);
    }
}

/// `F16`: IEEE binary16, 2 bytes a value; exact in f32 (subnormals, infinities, NaN included).
fn f16s(bytes: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes.as_chunks::<2>().0) {
        *o = half(*b);
    }
}

/// `BF16`: the top 16 bits of an f32, 2 bytes a value; exact.
fn bf16s(bytes: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes.as_chunks::<2>().0) {
        *o = bf16::from_le_bytes(*b).to_f32();
    }
}

/// `Q8_0`, `block_q8_0` (34 bytes, 32 values): `d: f16 | qs: [i8; 32]`.
/// `y[i] = qs[i] · d`.
fn q8_0(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<34>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK>().0)
    {
        let d = half([block[0], block[1]]);
        for (y, &q) in y.iter_mut().zip(&block[2..]) {
            *y = f32::from(q as i8) * d;
        }
    }
}

/// `Q4_0`, `block_q4_0` (18 bytes, 32 values): `d: f16 | qs: [u8; 16]`; byte `j` holds
/// value `j` in its low nibble and value `j + 16` in its high nibble.
/// `y[j] = (lo(qs[j]) − 8) · d`, `y[j + 16] = (hi(qs[j]) − 8) · d`.
fn q4_0(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<18>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK>().0)
    {
        let d = half([block[0], block[1]]);
        let (lo, hi) = y.split_at_mut(QK / 2);
        for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(&block[2..]) {
            *lo = f32::from(i16::from(q & 0x0F) - 8) * d;
            *hi = f32::from(i16::from(q >> 4) - 8) * d;
        }
    }
}

/// `Q4_1`, `block_q4_1` (20 bytes, 32 values): `d: f16 | m: f16 | qs: [u8; 16]`, nibbles as
/// in `Q4_0`. `y[j] = lo(qs[j]) · d + m`, `y[j + 16] = hi(qs[j]) · d + m`.
fn q4_1(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<20>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK>().0)
    {
        let d = half([block[0], block[1]]);
        let m = half([block[2], block[3]]);
        let (lo, hi) = y.split_at_mut(QK / 2);
        for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(&block[4..]) {
            *lo = f32::from(q & 0x0F) * d + m;
            *hi = f32::from(q >> 4) * d + m;
        }
    }
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) from the 12 packed bytes `q` of a
/// `Q4_K` or `Q5_K` block (ggml's `get_scale_min_k4`). Sub-blocks 0..4 use the low 6 bits of
/// bytes `j` (scale) and `j + 4` (min); 4..8 take their low 4 bits from byte `j + 4` (scale in
/// the low nibble, min in the high) and their top 2 bits from the spare top bits of bytes
/// `j − 4` (scale) and `j` (min).
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        let scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        let min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (scale, min)
    }
}

/// `d · scale` and `dmin · min` for sub-block `j`: the factor and offset of its values.
fn sub_block(j: usize, d: f32, dmin: f32, scales: &[u8; 12]) -> (f32, f32) {
    let (scale, min) = scale_min_k4(j, scales);
    (d * f32::from(scale), dmin * f32::from(min))
}

/// `Q4_K`, `block_q4_K` (144 bytes, 256 values in 8 sub-blocks of 32):
/// `d: f16 | dmin: f16 | scales: [u8; 12] | qs: [u8; 128]`. The scales pack a 6-bit scale
/// and min per sub-block ([`scale_min_k4`]). Values come in 4 groups of 64: group `g` reads
/// `qs[32g..32g + 32]`, low nibbles for sub-block `2g`, high nibbles for `2g + 1`.
/// `y = (d · scale) · q − (dmin · min)`.
fn q4_k(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<144>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK_K>().0)
    {
        let d = half([block[0], block[1]]);
        let dmin = half([block[2], block[3]]);
        let scales: &[u8; 12] = block[4..16].try_into().expect("a block has 12 scale bytes");
        let qs = &block[16..];
        for (g, (y, qs)) in y.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
            let (d1, m1) = sub_block(2 * g, d, dmin, scales);
            let (d2, m2) = sub_block(2 * g + 1, d, dmin, scales);
            let (lo, hi) = y.split_at_mut(32);
            for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(qs) {
                *lo = d1 * f32::from(q & 0x0F) - m1;
                *hi = d2 * f32::from(q >> 4) - m2;
            }
        }
    }
}

/// `Q5_K`, `block_q5_K` (176 bytes, 256 values in 8 sub-blocks of 32):
/// `d: f16 | dmin: f16 | scales: [u8; 12] | qh: [u8; 32] | qs: [u8; 128]`. As `Q4_K`, with a
/// fifth bit per value: value `l` of sub-block `s` adds 16 if bit `s` of `qh[l]` is set.
/// `y = (d · scale) · (nibble + 16 · bit) − (dmin · min)`.
fn q5_k(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<176>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK_K>().0)
    {
        let d = half([block[0], block[1]]);
        let dmin = half([block[2], block[3]]);
        let scales: &[u8; 12] = block[4..16].try_into().expect("a block has 12 scale bytes");
        let (qh, qs) = block[16..].split_at(32);
        for (g, (y, qs)) in y.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
            let (d1, m1) = sub_block(2 * g, d, dmin, scales);
            let (d2, m2) = sub_block(2 * g + 1, d, dmin, scales);
            let (lo, hi) = y.split_at_mut(32);
            for (((lo, hi), &q), &h) in lo.iter_mut().zip(hi).zip(qs).zip(qh) {
                let bit = |s: usize| if h >> s & 1 == 1 { 16 } else { 0 };
                *lo = d1 * f32::from((q & 0x0F) + bit(2 * g)) - m1;
                *hi = d2 * f32::from((q >> 4) + bit(2 * g + 1)) - m2;
            }
        }
    }
}

/// `Q6_K`, `block_q6_K` (210 bytes, 256 values in 16 sub-blocks of 16):
/// `ql: [u8; 128] | qh: [u8; 64] | scales: [i8; 16] | d: f16`. Each half of 128 values reads
/// 64 bytes of `ql` and 32 of `qh`; value `32k + l` of the half (k = 0..4, l = 0..32) takes
/// its low 4 bits from `ql[l + 32·(k mod 2)]` (low nibble for k < 2, high for k ≥ 2) and its
/// top 2 bits from bits `2k..2k + 2` of `qh[l]`. `y = (d · scales[s]) · (q − 32)`, `s` its
/// sub-block of 16.
fn q6_k(bytes: &[u8], out: &mut [f32]) {
    for (block, y) in bytes
        .as_chunks::<210>()
        .0
        .iter()
        .zip(out.as_chunks_mut::<QK_K>().0)
    {
        let (ql, rest) = block.split_at(128);
        let (qh, rest) = rest.split_at(64);
        let (scales, d) = rest.split_at(16);
        let d = half([d[0], d[1]]);
        for (half_i, y) in y.chunks_exact_mut(128).enumerate() {
            let ql = &ql[64 * half_i..64 * half_i + 64];
            let qh = &qh[32 * half_i..32 * half_i + 32];
            let scales = &scales[8 * half_i..8 * half_i + 8];
            for (i, y) in y.iter_mut().enumerate() {
                let (k, l) = (i / 32, i % 32);
                let low = ql[l + 32 * (k % 2)] >> (4 * (k / 2)) & 0x0F;
                let high = qh[l] >> (2 * k) & 3;
                let q = i16::from(low | high << 4) - 32;
                let scale = f32::from(scales[i / 16] as i8);
                *y = d * scale * f32::from(q);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q8_0_scales_signed_bytes() {
        let mut block = f16_bytes(0.5).to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut y = [0.0; 32];
        q8_0(&block, &mut y);
        assert_eq!(y[0], -8.0);
        assert_eq!(y[31], 7.5);
    }

    #[test]
    fn q4_0_puts_low_nibbles_first() {
        // Byte j = 0x9_3: value j is 3 - 8 = -5, value j + 16 is 9 - 8 = 1.
        let mut block = f16_bytes(2.0).to_vec();
        block.extend([0x93; 16]);
        let mut y = [0.0; 32];
        q4_0(&block, &mut y);
        assert_eq!(&y[..16], &[-10.0; 16]);
        assert_eq!(&y[16..], &[2.0; 16]);
    }

    #[test]
    fn q4_1_adds_the_minimum() {
        let mut block = f16_bytes(0.25).to_vec();
        block.extend(f16_bytes(-1.0));
        block.extend([0xF0; 16]);
        let mut y = [0.0; 32];
        q4_1(&block, &mut y);
        assert_eq!(&y[..16], &[-1.0; 16]);
        assert_eq!(&y[16..], &[2.75; 16]); // 15 · 0.25 − 1
    }

    #[test]
    fn scale_min_k4_unpacks_six_bits() {
        // Sub-block 5: scale = low nibble of byte 9 (0xA) | top bits of byte 1 (0b11) << 4,
        // min = high nibble of byte 9 (0x3) | top bits of byte 5 (0b01) << 4.
        let mut q = [0u8; 12];
        q[1] = 0b1100_0111;
        q[5] = 0b0100_0010;
        q[9] = 0x3A;
        assert_eq!(scale_min_k4(1, &q), (7, 2));
        assert_eq!(scale_min_k4(5, &q), (0x3A, 0x13));
    }

    #[test]
    fn q6_k_centres_six_bit_values() {
        // ql = 0, qh = 0b10 for every value of k = 0 (first 32 of each half): q = 32 - 32 = 0
        // there; elsewhere q = 0 - 32. d = 1, scales = 1.
        let mut block = vec![0u8; 128];
        block.extend([0b10; 64]);
        block.extend([1u8; 16]);
        block.extend(f16_bytes(1.0));
        let mut y = [0.0; 256];
        q6_k(&block, &mut y);
        assert_eq!(y[0], 0.0);
        assert_eq!(y[32], -32.0);
    }
}

//! Moving token rows to and from the transposed layout the products work in, and weight
//! rows into packed panels, in register blocks: with AVX-512 a 16 × 16 block is 16 loads,
//! 64 shuffles and 16 stores; with AVX2 an 8 × 8 block is 8 loads, 24 shuffles and 8
//! stores.

use super::TOKEN_PAD;
use crate::cpu::{self, Level};

/// Transposes `x` (`[n][k]`, row-major) into `xt` as `[k][ldx]`: `xt[kk·ldx + t] =
/// x[t·k + kk]`, zero for `n ≤ t < ldx`, where `ldx` (returned) is `n` rounded up to
/// [`TOKEN_PAD`]. `xt` grows if it is too short, and is never shrunk or cleared: after the
/// first call of a size, no allocation.
pub fn transpose(xt: &mut Vec<f32>, x: &[f32], n: usize, k: usize) -> usize {
    let ldx = n.next_multiple_of(TOKEN_PAD);
    assert!(x.len() >= n * k, "transpose: x shorter than {n} × {k}");
    if xt.len() < k * ldx {
        xt.resize(k * ldx, 0.0);
    }
    let to_columns = Blocks {
        src: x,
        src_ld: k,
        // Source rows are tokens (`n` real, then zeros up to `ldx`), columns features.
        rows: (n, ldx),
        cols: k,
        dst: &mut xt[..k * ldx],
        dst_ld: ldx,
    };
    to_columns.run();
    ldx
}

/// `x[t·k + kk] = xt[kk·ldx + t]` for `t < n`, `kk < k`: a transposed result (`[k][ldx]`)
/// back as token rows (`[n][k]`).
pub fn untranspose(x: &mut [f32], n: usize, k: usize, xt: &[f32], ldx: usize) {
    if n == 0 || k == 0 {
        return;
    }
    assert!(x.len() >= n * k, "x shorter than {n} × {k}");
    assert!(
        ldx >= n && xt.len() >= (k - 1) * ldx + n,
        "xt shorter than {k} × {n}"
    );
    let blocks = Blocks {
        src: xt,
        src_ld: ldx,
        // Source rows are features, columns tokens.
        rows: (k, k),
        cols: n,
        dst: &mut x[..n * k],
        dst_ld: k,
    };
    blocks.run();
}

/// `panel[kk·rows + i] = w[i·stride + kk]` for `i < rows`, `kk < k`: weight rows `stride`
/// apart, packed `[k][rows]` for a tile that reads them one step of `k` at a time.
pub(super) fn pack(panel: &mut [f32], w: &[f32], rows: usize, k: usize, stride: usize) {
    let to_panel = Blocks {
        src: w,
        src_ld: stride,
        rows: (rows, rows),
        cols: k,
        dst: panel,
        dst_ld: rows,
    };
    to_panel.run();
}

/// `panel[kk·16 + i] = x[i·k + kk]` for `i < 16`, `kk < k`, zero for `i ≥ present`: the
/// first `present` (at most 16 are read) token rows of `x`, `[k][16]`.
pub(super) fn to_panel(panel: &mut [f32], x: &[f32], present: usize, k: usize) {
    let to_panel = Blocks {
        src: x,
        src_ld: k,
        rows: (present.min(TOKEN_PAD), TOKEN_PAD),
        cols: k,
        dst: panel,
        dst_ld: TOKEN_PAD,
    };
    to_panel.run();
}

/// `dst[c·dst_ld + r] = src[r·src_ld + c]` for rows `r < rows.1` and columns `c < cols`,
/// where source rows `rows.0 ≤ r < rows.1` read as zeros.
struct Blocks<'a> {
    src: &'a [f32],
    src_ld: usize,
    /// (rows that exist in `src`, rows to write).
    rows: (usize, usize),
    cols: usize,
    dst: &'a mut [f32],
    dst_ld: usize,
}

impl Blocks<'_> {
    /// At the level the process runs ([`cpu::level`]).
    fn run(self) {
        self.run_at(cpu::level());
    }

    /// At `level`, which the CPU must support.
    fn run_at(self, level: Level) {
        assert!(
            level.is_supported(),
            "{level} transposes on a CPU without it"
        );
        match level {
            // SAFETY (both): the CPU has the level's features, asserted above.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { x86::blocks_avx512(self) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { x86::blocks_avx2(self) },
            _ => self.portable(),
        }
    }

    fn portable(mut self) {
        const B: usize = 16;
        for r0 in (0..self.rows.1).step_by(B) {
            for c0 in (0..self.cols).step_by(B) {
                self.by_number((r0, c0), B);
            }
        }
    }

    /// The block of at most `size × size` from source row `r0` and column `c0`, number by
    /// number: the portable path, and the edges of the AVX2 one.
    fn by_number(&mut self, (r0, c0): (usize, usize), size: usize) {
        let (real, rows) = self.rows;
        for c in c0..(c0 + size).min(self.cols) {
            let out = &mut self.dst[c * self.dst_ld..][r0..(r0 + size).min(rows)];
            for (r, v) in (r0..).zip(out) {
                *v = if r < real {
                    self.src[r * self.src_ld + c]
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use std::arch::x86_64::*;

    use super::Blocks;

    /// The transpose of a 16 × 16 block held as 16 row vectors.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        // Within each 128-bit lane: after these two steps, lane j of b[4i + q] holds column
        // 4j + q of rows 4i..4i + 4.
        let mut a = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut b = [_mm512_setzero_ps(); 16];
        for i in (0..16).step_by(4) {
            b[i] = _mm512_shuffle_ps::<0x44>(a[i], a[i + 2]);
            b[i + 1] = _mm512_shuffle_ps::<0xEE>(a[i], a[i + 2]);
            b[i + 2] = _mm512_shuffle_ps::<0x44>(a[i + 1], a[i + 3]);
            b[i + 3] = _mm512_shuffle_ps::<0xEE>(a[i + 1], a[i + 3]);
        }
        // Across lanes: column 4j + q is lane j of b[q], b[4 + q], b[8 + q], b[12 + q].
        let mut out = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            let c0 = _mm512_shuffle_f32x4::<0x88>(b[q], b[4 + q]);
            let c1 = _mm512_shuffle_f32x4::<0xDD>(b[q], b[4 + q]);
            let c2 = _mm512_shuffle_f32x4::<0x88>(b[8 + q], b[12 + q]);
            let c3 = _mm512_shuffle_f32x4::<0xDD>(b[8 + q], b[12 + q]);
            out[q] = _mm512_shuffle_f32x4::<0x88>(c0, c2);
            out[8 + q] = _mm512_shuffle_f32x4::<0xDD>(c0, c2);
            out[4 + q] = _mm512_shuffle_f32x4::<0x88>(c1, c3);
            out[12 + q] = _mm512_shuffle_f32x4::<0xDD>(c1, c3);
        }
        out
    }

    /// The first `n` lanes.
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 { !0 } else { (1u16 << n) - 1 }
    }

    /// [`Blocks::run`] in 16 × 16 register blocks; partial blocks through masks.
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn blocks_avx512(blocks: Blocks<'_>) {
        let Blocks {
            src,
            src_ld,
            rows: (real, rows),
            cols,
            dst,
            dst_ld,
        } = blocks;
        for r0 in (0..rows).step_by(16) {
            let written = (rows - r0).min(16);
            let present = real.min(rows).saturating_sub(r0).min(16);
            for c0 in (0..cols).step_by(16) {
                let width = (cols - c0).min(16);
                let mut block = [_mm512_setzero_ps(); 16];
                for (dr, v) in block.iter_mut().enumerate().take(present) {
                    let row = &src[(r0 + dr) * src_ld + c0..][..width];
                    // SAFETY: the loads read the `width` numbers of `row` only.
                    *v = unsafe {
                        if width == 16 {
                            _mm512_loadu_ps(row.as_ptr())
                        } else {
                            _mm512_maskz_loadu_ps(lanes(width), row.as_ptr())
                        }
                    };
                }
                let columns = transpose16(block);
                for (dc, column) in columns.iter().enumerate().take(width) {
                    let out = &mut dst[(c0 + dc) * dst_ld + r0..][..written];
                    // SAFETY: the loads and stores touch the `written` numbers of `out` only.
                    unsafe { store(out, *column) };
                }
            }
        }
    }

    /// The transpose of an 8 × 8 block held as 8 row vectors.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        // Within each 128-bit lane: after these two steps, u[q] holds column q of rows 0..4
        // in its low lane and column 4 + q in its high lane; u[4 + q] the same of rows 4..8.
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        // Across lanes: column q is the low lanes of u[q] and u[4 + q], column 4 + q the
        // high ones.
        [
            _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ]
    }

    /// [`Blocks::run`] in 8 × 8 register blocks, rows past the source's read as zeros and
    /// columns cut to the rows written (a panel of 6 weight rows is such a block); blocks
    /// at the last columns, where AVX2 has no masked loads as cheap as AVX-512's, number by
    /// number. The blocks go four at a time, 16 rows × 16 columns: each source line is read
    /// whole by two blocks in a row, and each 16 numbers of a destination row (a line, in
    /// `[k][16]` panels or where `dst_ld` is a multiple of 16) are written by two blocks close
    /// together, not in two sweeps over the whole destination.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blocks_avx2(mut blocks: Blocks<'_>) {
        let (rows, cols) = (blocks.rows.1, blocks.cols);
        for r0 in (0..rows).step_by(16) {
            for c0 in (0..cols).step_by(16) {
                for r in (r0..rows.min(r0 + 16)).step_by(8) {
                    for c in (c0..cols.min(c0 + 16)).step_by(8) {
                        // SAFETY: the CPU has AVX2, as the caller guarantees.
                        unsafe { block_avx2(&mut blocks, (r, c)) };
                    }
                }
            }
        }
    }

    /// The block of at most 8 × 8 at source row `r0` and column `c0` of [`blocks_avx2`].
    ///
    /// # Safety
    ///
    /// The CPU has AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2(blocks: &mut Blocks<'_>, (r0, c0): (usize, usize)) {
        let (src, src_ld, (real, rows), cols, dst_ld) = (
            blocks.src,
            blocks.src_ld,
            blocks.rows,
            blocks.cols,
            blocks.dst_ld,
        );
        let written = (rows - r0).min(8);
        let present = real.min(rows).saturating_sub(r0).min(written);
        if c0 + 8 <= cols && present > 0 {
            let block: [__m256; 8] = std::array::from_fn(|dr| {
                if dr < present {
                    let row = &src[(r0 + dr) * src_ld + c0..][..8];
                    // SAFETY: the load reads the 8 numbers of `row`.
                    unsafe { _mm256_loadu_ps(row.as_ptr()) }
                } else {
                    _mm256_setzero_ps()
                }
            });
            for (dc, column) in transpose8(block).into_iter().enumerate() {
                let out = &mut blocks.dst[(c0 + dc) * dst_ld + r0..][..written];
                store_first(out, column);
            }
        } else if c0 + 8 <= cols {
            for dc in 0..8 {
                blocks.dst[(c0 + dc) * dst_ld + r0..][..written].fill(0.0);
            }
        } else {
            blocks.by_number((r0, c0), 8);
        }
    }

    /// `out = value[..out.len()]`, `out` holding at most 8 numbers.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store_first(out: &mut [f32], value: __m256) {
        if out.len() == 8 {
            // SAFETY: the store writes the 8 numbers of `out`.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), value) };
        } else {
            let mut lanes = [0.0f32; 8];
            // SAFETY: the store writes the 8 numbers of `lanes`.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), value) };
            out.copy_from_slice(&lanes[..out.len()]);
        }
    }

    /// `out = value`, `out` holding at most 16 numbers: whole vectors unmasked.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(out: &mut [f32], value: __m512) {
        let p = out.as_mut_ptr();
        // SAFETY: 16 numbers, or a mask of `out.len()` lanes.
        unsafe {
            if out.len() == 16 {
                _mm512_storeu_ps(p, value);
            } else {
                _mm512_mask_storeu_ps(p, lanes(out.len()), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    fn random(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.symmetric(1.0)).collect()
    }

    #[test]
    fn transpose_pads_with_zeros_and_reuses_its_buffer() {
        let x: Vec<f32> = (0..3 * 5).map(|v| v as f32).collect();
        let mut xt = vec![f32::NAN; 200];
        let ld = transpose(&mut xt, &x, 3, 5);
        assert_eq!(ld, 16);
        assert_eq!(xt.len(), 200);
        for kk in 0..5 {
            for t in 0..16 {
                let want = if t < 3 { x[t * 5 + kk] } else { 0.0 };
                assert_eq!(xt[kk * ld + t], want);
            }
        }
    }

    #[test]
    fn both_directions_match_the_definition_on_awkward_shapes() {
        let mut rng = Rng::new(5);
        for (n, k) in [
            (1, 1),
            (16, 16),
            (17, 33),
            (32, 64),
            (5, 384),
            (130, 20),
            (48, 7),
        ] {
            let x = random(&mut rng, n * k);
            let mut xt = random(&mut rng, 3);
            let ldx = transpose(&mut xt, &x, n, k);
            for kk in 0..k {
                for t in 0..ldx {
                    let want = if t < n { x[t * k + kk] } else { 0.0 };
                    assert_eq!(xt[kk * ldx + t], want, "n {n} k {k}: xt[{kk}][{t}]");
                }
            }
            let mut y = random(&mut rng, n * k + 5);
            let before = y.clone();
            untranspose(&mut y, n, k, &xt, ldx);
            assert_eq!(y[..n * k], x[..], "n {n} k {k}: back as rows");
            assert_eq!(y[n * k..], before[n * k..]);
        }
    }

    #[test]
    fn pack_lays_rows_out_step_by_step() {
        let mut rng = Rng::new(7);
        for (rows, k) in [(16, 1024), (16, 33), (6, 1024), (6, 41), (4, 40), (5, 7)] {
            let stride = k + 9;
            let w = random(&mut rng, (rows - 1) * stride + k);
            let mut panel = vec![f32::NAN; rows * k + 3];
            pack(&mut panel[..rows * k], &w, rows, k, stride);
            for kk in 0..k {
                for i in 0..rows {
                    assert_eq!(panel[kk * rows + i], w[i * stride + kk], "{rows} × {k}");
                }
            }
            assert!(panel[rows * k..].iter().all(|v| v.is_nan()));
        }
    }

    #[test]
    fn every_level_agrees_with_the_portable_path() {
        let mut rng = Rng::new(6);
        for (n, k) in [(37, 21), (16, 16), (8, 9), (130, 40), (3, 64), (13, 1024)] {
            let x = random(&mut rng, n * k);
            let ldx = n.next_multiple_of(TOKEN_PAD);
            // Transposed as products take tokens, and the first 16 tokens as a panel.
            for (rows, dst_ld) in [((n, ldx), ldx), ((n.min(16), 16), 16)] {
                let blocks = |dst: Vec<f32>, level: Option<Level>| {
                    let mut dst = dst;
                    let blocks = Blocks {
                        src: &x,
                        src_ld: k,
                        rows,
                        cols: k,
                        dst: &mut dst,
                        dst_ld,
                    };
                    match level {
                        Some(level) => blocks.run_at(level),
                        None => blocks.portable(),
                    }
                    dst
                };
                let want = blocks(vec![f32::NAN; k * dst_ld], None);
                for level in cpu::supported() {
                    let got = blocks(vec![f32::NAN; k * dst_ld], Some(level));
                    assert_eq!(got, want, "{level}: {n} × {k} into rows of {dst_ld}");
                }
            }
        }
    }
}

//! The product of a few tokens, 2 to [`MOST`]: a short query to an embedding model, a short
//! prompt, a few sentences of a batch. The tiles compute [`TOKEN_PAD`] tokens at once, so at
//! four tokens three quarters of their work is padding, and each weight they broadcast feeds
//! two multiply-adds for one real token. Here each weight row is read as vectors along `k`
//! instead and multiplied into every token at once (`R` rows × `T` tokens of partial sums,
//! summed across their lanes at the end): a weight loaded feeds `T` multiply-adds, all of
//! them real, and the product is a stream of weights again, as it is for one token
//! ([`vector`](super::vector)).
//!
//! The AVX2 + FMA code serves the `avx512` level too: with a handful of tokens the product
//! waits on its weights, which a wider register does not bring in faster. The `portable`
//! level keeps the tiles.

use std::cell::RefCell;

use super::{Layout, MAX_THREADS, Spacing, TOKEN_PAD, Tokens, Weights};

/// The most tokens this path takes. From 8 on, the tiles' 16-token vectors are at least
/// half full, and the tiles are at least as fast (`bench/README.md`).
pub(super) const MOST: usize = 7;

/// The least work (multiply-adds) in a chunk of rows that a thread claims: tens of
/// microseconds, far more than claiming it.
const MIN_WORK_PER_CHUNK: usize = 1 << 17;

/// Rows per chunk are a multiple of this, which every block of rows [`x86::dots`] makes
/// divides (6, 4, 3, 2, 1), so that no chunk ends in a short block.
const ROWS_PER_CHUNK: usize = 12;

thread_local! {
    /// The tokens gathered from their columns of `xt`, `[n][k]`, and the `m` outputs of
    /// every token before they are stored, `[m][MOST]`: grown to the largest call, then
    /// reused.
    static BUFFERS: RefCell<(Vec<f32>, Vec<[f32; MOST]>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Whether a product of `n` tokens with weights `w` takes this path: [`takes_tokens`], and
/// weight rows dense (`w.col == 1`).
pub(super) fn takes(n: usize, w: Weights<'_>) -> bool {
    takes_tokens(n) && w.col == 1
}

/// Whether products of `n` tokens with dense weight rows take this path: 2 to [`MOST`]
/// tokens, on a level with AVX2 and FMA.
pub(super) fn takes_tokens(n: usize) -> bool {
    (2..=MOST).contains(&n) && has_avx2()
}

/// Whether the level this process runs has AVX2 and FMA (`avx512` and `avx2`).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::cpu::Level;
        matches!(crate::cpu::level(), Level::Avx512 | Level::Avx2)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `out = x Wᵀ + b` for the `n` tokens of `xt` (2 to [`MOST`], within its first block of
/// 16), stored as `layout` says where `spacing` puts each output, as the tiles store them:
/// in `Columns` and `AddColumns` the padding columns up to [`TOKEN_PAD`] get what zero
/// tokens give, the bias (activated, or added). The caller has checked every length and
/// [`takes`].
pub(super) fn product_few(
    out: &mut [f32],
    (spacing, layout): (Spacing, Layout),
    w: Weights<'_>,
    b: Option<&[f32]>,
    xt: Tokens<'_>,
    (n, k, m): (usize, usize, usize),
) {
    assert!(takes(n, w), "product_few: {n} tokens do not take this path");
    BUFFERS.with_borrow_mut(|(x, values)| {
        let x = crate::heap::grown(x, n * k);
        for (t, token) in x.chunks_mut(k).enumerate() {
            let at = xt.at(t);
            for (kk, v) in token.iter_mut().enumerate() {
                *v = xt.data[kk * xt.ldx + at];
            }
        }
        let x = &*x;
        if values.len() < m {
            values.resize(m, [0.0; MOST]);
        }
        let values = &mut values[..m];
        // Chunks of rows that the threads claim one at a time, so that a thread slowed by
        // something else on its core does less of the work.
        let chunk = (MIN_WORK_PER_CHUNK / (n * k))
            .max(1)
            .next_multiple_of(ROWS_PER_CHUNK);
        let threads = crate::threads::get()
            .min(m.div_ceil(chunk))
            .min(MAX_THREADS);
        let mut slots = [(); MAX_THREADS];
        let slots = &mut slots[..threads];
        crate::threads::for_each_chunk_claimed(slots, values, chunk, &|(), i, rows| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `takes` checked that the level has AVX2 and FMA, so the CPU does; the
            // rows `i · chunk ..` of `w` and `x`'s `n · k` numbers are within their slices.
            unsafe {
                x86::dots(w, i * chunk, (x, n, k), rows);
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("`takes` is false off x86-64: {i} {}", rows.len());
        });
        store(out, (spacing, layout), b, values, n);
    });
}

/// Stores `values[o][t]` (`t < n`) plus the bias as `layout` says, with the padding columns
/// of a transposed output as zero tokens would make them.
fn store(
    out: &mut [f32],
    (spacing, layout): (Spacing, Layout),
    b: Option<&[f32]>,
    values: &[[f32; MOST]],
    n: usize,
) {
    let bias = |o: usize| b.map_or(0.0, |b| b[o]);
    match layout {
        Layout::Rows => {
            for (t, row) in out.chunks_mut(spacing.ld).take(n).enumerate() {
                for (o, (v, value)) in row.iter_mut().zip(values).enumerate() {
                    *v = value[t] + bias(o);
                }
            }
        }
        Layout::Columns(activation) => {
            for (o, value) in values.iter().enumerate() {
                let run = &mut out[spacing.at(o, 0)..][..TOKEN_PAD];
                let (real, padding) = run.split_at_mut(n);
                for (v, value) in real.iter_mut().zip(value) {
                    *v = value + bias(o);
                }
                padding.fill(bias(o));
            }
            if let Some(activation) = activation {
                let end = spacing.at(values.len() - 1, 0) + TOKEN_PAD;
                activation.apply_to_runs(&mut out[..end], TOKEN_PAD, spacing.ld);
            }
        }
        Layout::AddColumns => {
            for (o, value) in values.iter().enumerate() {
                let run = &mut out[spacing.at(o, 0)..][..TOKEN_PAD];
                let (real, padding) = run.split_at_mut(n);
                for (v, value) in real.iter_mut().zip(value) {
                    *v += value + bias(o);
                }
                padding.iter_mut().for_each(|v| *v += bias(o));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MOST, Weights};

    /// `out[i][t] = w[first + i] · x[t]` for `t < n`, every output of a chunk, in blocks of
    /// `R` rows × `n` tokens; `R` as large as keeps the `R · n` accumulators, the `n` token
    /// vectors and a weight vector within the 16 ymm registers.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots(
        w: Weights<'_>,
        first: usize,
        x: (&[f32], usize, usize),
        out: &mut [[f32; MOST]],
    ) {
        // SAFETY (each): the CPU has AVX2 and FMA, as the caller guarantees.
        unsafe {
            match x.1 {
                2 => blocks::<6, 2>(w, first, x, out),
                3 => blocks::<4, 3>(w, first, x, out),
                4 => blocks::<3, 4>(w, first, x, out),
                5 => blocks::<2, 5>(w, first, x, out),
                6 => blocks::<2, 6>(w, first, x, out),
                7 => blocks::<1, 7>(w, first, x, out),
                n => unreachable!("{n} tokens do not take this path"),
            }
        }
    }

    /// [`dots`] for `T` tokens, `R` rows at a time; a last block of fewer rows repeats its
    /// last one (read again from L1).
    ///
    /// # Safety
    ///
    /// Inside a function compiled for AVX2 and FMA; `x.1 == T`.
    #[inline(always)]
    unsafe fn blocks<const R: usize, const T: usize>(
        w: Weights<'_>,
        first: usize,
        (x, n, k): (&[f32], usize, usize),
        out: &mut [[f32; MOST]],
    ) {
        assert!(n == T && T <= MOST && x.len() >= T * k);
        for (i, out) in out.chunks_mut(R).enumerate() {
            let (start, len) = (first + i * R, out.len());
            let rows: [&[f32]; R] =
                std::array::from_fn(|r| &w.data[(start + r.min(len - 1)) * w.row..][..k]);
            let rows = rows.map(<[f32]>::as_ptr);
            // SAFETY: AVX2 and FMA, as the caller guarantees; `rows` and `x` point at `k` and
            // `T · k` numbers.
            let sums = unsafe { dot_block::<R, T>(rows, x.as_ptr(), k, R * w.row) };
            for (out, sums) in out.iter_mut().zip(&sums) {
                out[..T].copy_from_slice(sums);
            }
        }
    }

    /// The dot products of `R` rows of `k` numbers with `T` tokens of `k` (`x`, `[T][k]`):
    /// eight lanes of partial sums each, over the full vectors of `k`, then the last `k % 8`
    /// through a masked load, then summed across the lanes. Each row's stream is fetched
    /// `ahead` numbers on, the next block's rows: `R` short streams side by side (a row of
    /// MiniLM is 1.5 KiB) end before the hardware's prefetcher has found them.
    ///
    /// # Safety
    ///
    /// Inside a function compiled for AVX2 and FMA; each of `rows` points at `k` readable
    /// numbers, `x` at `T · k`.
    #[inline(always)]
    unsafe fn dot_block<const R: usize, const T: usize>(
        rows: [*const f32; R],
        x: *const f32,
        k: usize,
        ahead: usize,
    ) -> [[f32; T]; R] {
        // SAFETY (every intrinsic and pointer): AVX2 and FMA, as the caller guarantees; the
        // loads read `c · 8 .. c · 8 + 8` of a row or token for `c < k / 8`, and the masked
        // ones only the lanes below `k % 8` past that; prefetches read nothing.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            let full = k / 8;
            for c in 0..full {
                // A cache line of each row's stream every second step.
                if c % 2 == 0 {
                    for row in rows {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(c * 8 + ahead).cast());
                    }
                }
                let mut xs = [_mm256_setzero_ps(); T];
                for (t, v) in xs.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(x.add(t * k + c * 8));
                }
                for (acc, row) in acc.iter_mut().zip(rows) {
                    let w = _mm256_loadu_ps(row.add(c * 8));
                    for (acc, x) in acc.iter_mut().zip(xs) {
                        *acc = _mm256_fmadd_ps(w, x, *acc);
                    }
                }
            }
            let rest = k % 8;
            if rest > 0 {
                let mask = _mm256_loadu_si256(TAIL_MASKS[8 - rest..].as_ptr().cast());
                let mut xs = [_mm256_setzero_ps(); T];
                for (t, v) in xs.iter_mut().enumerate() {
                    *v = _mm256_maskload_ps(x.add(t * k + full * 8), mask);
                }
                for (acc, row) in acc.iter_mut().zip(rows) {
                    let w = _mm256_maskload_ps(row.add(full * 8), mask);
                    for (acc, x) in acc.iter_mut().zip(xs) {
                        *acc = _mm256_fmadd_ps(w, x, *acc);
                    }
                }
            }
            // The lanes of every accumulator summed four accumulators at a time.
            let mut sums = [[0.0; T]; R];
            let mut flat = acc.as_flattened().chunks_exact(4);
            let mut out = sums.as_flattened_mut().chunks_exact_mut(4);
            for (out, acc) in (&mut out).zip(&mut flat) {
                _mm_storeu_ps(
                    out.as_mut_ptr(),
                    lane_sums([acc[0], acc[1], acc[2], acc[3]]),
                );
            }
            for (sum, acc) in out.into_remainder().iter_mut().zip(flat.remainder()) {
                *sum = lane_sum(*acc);
            }
            sums
        }
    }

    /// `TAIL_MASKS[8 - r..][..8]` selects the first `r` lanes of eight.
    const TAIL_MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

    /// The sums of four vectors' eight lanes each, as the four lanes of one.
    ///
    /// # Safety
    ///
    /// Inside a function compiled for AVX.
    #[inline(always)]
    unsafe fn lane_sums([a, b, c, d]: [__m256; 4]) -> __m128 {
        // SAFETY: the caller's.
        unsafe {
            // Lanes 0-3, then 4-7 of each: a01 a23 b01 b23 | a45 a67 b45 b67, and c, d.
            let (ab, cd) = (_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
            // a0123 b0123 c0123 d0123 | a4567 b4567 c4567 d4567.
            let abcd = _mm256_hadd_ps(ab, cd);
            _mm_add_ps(
                _mm256_castps256_ps128(abcd),
                _mm256_extractf128_ps::<1>(abcd),
            )
        }
    }

    /// The sum of a vector's eight lanes.
    ///
    /// # Safety
    ///
    /// Inside a function compiled for AVX.
    #[inline(always)]
    unsafe fn lane_sum(v: __m256) -> f32 {
        // SAFETY: the caller's.
        unsafe {
            let four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
            _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)))
        }
    }
}

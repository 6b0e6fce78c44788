//! Register tiles: `tile[i][j] = b[i] + Σₖ w[i][k] · xt[k][t0 + j]` for `i < MR`, `j < NR`,
//! stored to any row stride (a local tile, or straight into a transposed result).
//!
//! The `MR` weight rows are read in place, with any strides (rows `k` apart for a layer, or
//! a head's slice of `Kᵀ`), or from a panel packed `[k][MR]`. Packing costs a pass over the
//! rows, so it is done only when contiguous rows would evict each other: when `k` is a
//! multiple of 1024, every row maps to the same L1 set, and a tile has more rows than the
//! set has ways.
//!
//! One kernel per instruction-set level, the one [`cpu::level`] names: a kernel may only
//! run on a CPU that has its features, which [`Kernel::best`] and [`Kernel::available`]
//! guarantee.

use super::{TOKEN_PAD, Tokens};
use crate::cpu::{self, Level};

/// The most outputs any kernel computes per tile.
pub const MAX_MR: usize = 16;
/// The largest tile, `MR · NR`, of any kernel.
pub const MAX_TILE: usize = 16 * 16;

/// An instruction set's tile kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512F: 16 outputs × 16 tokens, 16 zmm accumulators; tiles side by side go two at a
    /// time, as two halves of 8 outputs × 32 tokens.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 + FMA: 6 outputs × 16 tokens, 12 ymm accumulators.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Plain Rust, for every CPU: 4 outputs × 8 tokens.
    Portable,
}

impl Kernel {
    /// The kernel of the level this process runs ([`cpu::level`]: the widest the CPU has,
    /// or the one `TRANSFORMER_KERNEL` forces).
    pub fn best() -> Self {
        Self::of(cpu::level())
    }

    /// Every kernel this CPU can run, widest first.
    #[cfg(test)]
    pub fn available() -> Vec<Self> {
        cpu::supported().into_iter().map(Self::of).collect()
    }

    /// The kernel of a level.
    pub fn of(level: Level) -> Self {
        match level {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Self::Avx512,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Self::Avx2,
            _ => Self::Portable,
        }
    }

    /// Outputs per tile.
    pub fn mr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => 16,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => 6,
            Self::Portable => 4,
        }
    }

    /// Outputs per small tile, for what is left of a layer after full tiles.
    pub fn mr_small(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 | Self::Avx2 => 4,
            Self::Portable => 2,
        }
    }

    /// Whether the kernel reads `xt` packed in blocks of 16 tokens (see [`Tokens`]) where its
    /// rows would crowd L1. Both x86 tiles do: each step of `k` reads one cache line of
    /// tokens, and at 128 or 1024 tokens the rows of `xt` fall in a few L1 sets and evict
    /// each other and the weights (`bench/README.md` has the measurements). The portable
    /// tile reads rows in place.
    pub fn packs_tokens(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 | Self::Avx2 => true,
            Self::Portable => false,
        }
    }

    /// Whether tiles of `rows` outputs side by side run faster two at a time (see
    /// `pairs_avx512`): the AVX-512 kernel's full tiles.
    pub fn pairs_tiles(self, rows: usize) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => rows == self.mr(),
            _ => false,
        }
    }

    /// The most steps of `k` a tile sums in one pass where a product's weights serve several
    /// token tiles, or `None` for all of `k` at once. Tokens go in blocks of the kernel's
    /// share of the L2 ([`Self::token_block_quarters`]) over `k`: on a Zen 3's 512 KiB, at
    /// BERT-base's 3072, 16 tokens, so each tile's weights would serve one token tile
    /// before the next block read them from memory again. Passes of at most 1536 keep
    /// blocks of 32 tokens or more there; shorter passes (768, 384) were no faster at
    /// 1024–3072 and slower at 1536, where each pass's stores cost more than the smaller
    /// working set gained. The AVX-512 and portable tiles take `k` whole.
    pub fn k_pass(self) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => Some(K_PASS_AVX2),
            _ => None,
        }
    }

    /// How much of the L2, in quarters, one pass's slice of a block of tokens may take: the
    /// blocks stay in L2 while every row of tiles reads them, beside the weights on their
    /// way in and the outputs on their way out. Half for AVX2, whose cores (Zen 3's 512 KiB,
    /// Intel's 256 KiB to 2 MiB) are often shared with a sibling thread and whose passes
    /// add to outputs they stored before: three quarters held up worse whenever something
    /// else used the core. Three quarters for the others.
    pub fn token_block_quarters(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => 2,
            _ => 3,
        }
    }

    /// Whether a tile reads weight rows that share an L1 set ([`rows_conflict`]) from a
    /// panel packed for it: where its rows outnumber the 8 ways of an L1 set, as the AVX-512
    /// tile's 16 do. The AVX2 tile's 6 fit a set beside a line of tokens; read in place they
    /// are faster than packed again for every block of tokens and every pass of `k`.
    pub fn packs_conflicting_rows(self) -> bool {
        self.mr() > L1_WAYS
    }

    /// Tokens per tile.
    pub fn nr(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 | Self::Avx2 => 16,
            Self::Portable => PORTABLE_NR,
        }
    }

    /// Computes `count` tiles side by side: `dst[i·ld + at(j)] = bias[i] + Σₖ w(i, kk) ·
    /// xt(kk, t0 + j)` for `i < rows`, `j < count · NR`, where `dst` is `(dst, ld, block)`
    /// (a local tile, or the output itself), `at(j)` is `(j / 16)·block + j % 16` (`block`
    /// 16: tokens side by side; more: blocks of 16 tokens `block` apart, as in panels) and
    /// the weights are `(w, (row, col), rows, k)`:
    /// element `(i, kk)` is `w[i·row + kk·col]`. `rows` is `MR` or `MR_SMALL`; any other
    /// count (a layer narrower than a small tile) takes a slower path. One call for a row of
    /// tiles keeps the checks and the dispatch out of the loop over tokens.
    ///
    /// With `accumulate`, the sums are added to what `dst` holds: `dst[i·ld + at(j)] += …`.
    ///
    /// `ahead` is memory the next tiles will read (the next weight rows), prefetched while the
    /// first tile computes (a cache line per step of `k`; the AVX2 tile spreads its lines
    /// evenly over its steps); empty if there is none to warm.
    pub fn tiles(
        self,
        (dst, ld, block): (&mut [f32], usize, usize),
        (w, (row, col), rows, k): (&[f32], (usize, usize), usize, usize),
        (bias, accumulate): (Option<&[f32]>, bool),
        xt: Tokens<'_>,
        (t0, count): (usize, usize),
        ahead: &[f32],
    ) {
        let nr = self.nr();
        let width = count * nr;
        if count == 0 {
            return;
        }
        let last = (width - 1) / TOKEN_PAD * block + (width - 1) % TOKEN_PAD;
        assert!(
            rows > 0
                && rows <= self.mr()
                && TOKEN_PAD.is_multiple_of(nr)
                && (block == TOKEN_PAD && ld >= width || block >= rows * ld && ld >= TOKEN_PAD)
                && dst.len() > (rows - 1) * ld + last,
            "tiles: {rows} rows of {count} tiles do not fit"
        );
        assert!(
            k > 0 && (rows - 1) * row + (k - 1) * col < w.len(),
            "tiles: the weights are not {rows} rows of {k}"
        );
        assert!(
            xt.block == TOKEN_PAD || (TOKEN_PAD.is_multiple_of(nr) && t0.is_multiple_of(nr)),
            "tiles: a tile of packed tokens reads within one block of 16"
        );
        assert!(
            xt.at(t0 + width - nr) + (k - 1) * xt.ldx + nr <= xt.data.len(),
            "tiles: token columns out of bounds"
        );
        let bias = bias.map(|b| &b[..rows]);
        let full = rows == self.mr();
        if !full && rows != self.mr_small() {
            let w = (w, (row, col), rows, k);
            let dst = (dst, ld, block);
            return short_tiles(dst, w, (bias, accumulate), xt, (t0, count), nr);
        }
        let (dst, from, strided) = ((dst, ld, block), (bias, accumulate), (w, row, col));
        let tokens = (t0, count);
        match (self, full) {
            // SAFETY: `available` only lists kernels whose features the CPU has; the bounds
            // each kernel reads were asserted above.
            #[cfg(target_arch = "x86_64")]
            (Self::Avx512, true) if count >= 2 => unsafe {
                x86::pairs_avx512(dst, strided, from, xt, tokens, k, ahead)
            },
            #[cfg(target_arch = "x86_64")]
            (Self::Avx512, true) => unsafe {
                x86::tiles_avx512::<16>(dst, strided, from, xt, tokens, k, ahead)
            },
            #[cfg(target_arch = "x86_64")]
            (Self::Avx512, false) => unsafe {
                x86::tiles_avx512::<4>(dst, strided, from, xt, tokens, k, ahead)
            },
            #[cfg(target_arch = "x86_64")]
            (Self::Avx2, true) => unsafe {
                x86::tiles_avx2::<6>(dst, strided, from, xt, tokens, k, ahead)
            },
            #[cfg(target_arch = "x86_64")]
            (Self::Avx2, false) => unsafe {
                x86::tiles_avx2::<4>(dst, strided, from, xt, tokens, k, ahead)
            },
            (Self::Portable, true) => {
                portable_tiles::<4>(dst, (w, (row, col), k), from, xt, tokens)
            }
            (Self::Portable, false) => {
                portable_tiles::<2>(dst, (w, (row, col), k), from, xt, tokens)
            }
        }
    }
}

/// The ways of an x86 core's L1 data cache (32 or 48 KiB, 8 or 12 ways), at least.
const L1_WAYS: usize = 8;

/// See [`Kernel::k_pass`].
#[cfg(target_arch = "x86_64")]
const K_PASS_AVX2: usize = 1536;

/// A kernel's transposing tile store: `out[dt·ld ..][..rows] = tile[..][dt]` for
/// `dt < tokens`, from a `[rows][NR]` tile; with `add` (the last argument), `+=`.
pub type FastStore = unsafe fn(&[f32], *mut f32, usize, usize, bool);

impl Kernel {
    /// The kernel's vectorised store for full tiles of `rows` outputs, if it has one.
    pub fn fast_store(self, rows: usize) -> Option<FastStore> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 if rows == 16 => Some(x86::store_avx512),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 if rows == 6 => Some(x86::store_avx2),
            _ => None,
        }
    }
}

/// Whether rows `k` numbers apart would all fall in one L1 set (`k · 4` bytes a multiple of
/// 4 KiB), so a tile should read them from a packed panel.
pub fn rows_conflict(k: usize) -> bool {
    (k * 4).is_multiple_of(4096)
}

/// Packs `rows` weight rows of `k` numbers, `stride` apart in `w`, as `[k][rows]` into
/// `panel` (grown if it is too short), in 16 × 16 register transposes.
pub fn pack(panel: &mut Vec<f32>, w: &[f32], rows: usize, k: usize, stride: usize) {
    let panel = crate::heap::grown(panel, k * rows);
    super::transpose::pack(panel, w, rows, k, stride);
}

/// Any number of outputs: a straightforward loop, for layers narrower than a small tile.
fn short_tiles(
    (dst, ld, block): (&mut [f32], usize, usize),
    (w, (row, col), rows, k): (&[f32], (usize, usize), usize, usize),
    (bias, accumulate): (Option<&[f32]>, bool),
    xt: Tokens<'_>,
    (t0, count): (usize, usize),
    nr: usize,
) {
    let mut acc = [0.0f32; MAX_TILE];
    for j in 0..count {
        let t = xt.at(t0 + j * nr);
        let dst = &mut dst[at(j * nr, block)..];
        for (i, out) in dst.chunks_mut(ld).take(rows).enumerate() {
            let acc = &mut acc[..nr];
            acc.fill(bias.map_or(0.0, |b| b[i]));
            for kk in 0..k {
                let a = w[i * row + kk * col];
                for (acc, x) in acc.iter_mut().zip(&xt.data[kk * xt.ldx + t..][..nr]) {
                    *acc += a * x;
                }
            }
            for (v, acc) in out[..nr].iter_mut().zip(acc) {
                *v = if accumulate { *v + *acc } else { *acc };
            }
        }
    }
}

/// Portable: tiles of `MR` outputs × 8 tokens, side by side (blocks of 16 tokens `block`
/// apart in `dst`).
fn portable_tiles<const MR: usize>(
    (dst, ld, block): (&mut [f32], usize, usize),
    w: (&[f32], (usize, usize), usize),
    from: (Option<&[f32]>, bool),
    xt: Tokens<'_>,
    (t0, count): (usize, usize),
) {
    for j in 0..count {
        let t = xt.at(t0 + j * PORTABLE_NR);
        let dst = &mut dst[at(j * PORTABLE_NR, block)..];
        portable_tile::<MR>((dst, ld), w, from, xt, t);
    }
}

/// Where token `j` of a row of tiles goes: `(j / 16)·block + j % 16`.
fn at(j: usize, block: usize) -> usize {
    j / TOKEN_PAD * block + j % TOKEN_PAD
}

/// Tokens per tile of the portable kernel.
const PORTABLE_NR: usize = 8;

/// Portable: `MR` outputs × 8 tokens in plain arrays, which compilers vectorise.
fn portable_tile<const MR: usize>(
    (dst, ld): (&mut [f32], usize),
    (w, (row, col), k): (&[f32], (usize, usize), usize),
    (bias, accumulate): (Option<&[f32]>, bool),
    xt: Tokens<'_>,
    t0: usize,
) {
    const NR: usize = PORTABLE_NR;
    let mut acc: [[f32; NR]; MR] = std::array::from_fn(|i| [bias.map_or(0.0, |b| b[i]); NR]);
    for kk in 0..k {
        let x: &[f32] = &xt.data[kk * xt.ldx + t0..][..NR];
        for (i, acc_row) in acc.iter_mut().enumerate() {
            let a = w[i * row + kk * col];
            for (v, x) in acc_row.iter_mut().zip(x) {
                *v += a * x;
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (v, &acc) in dst[i * ld..][..NR].iter_mut().zip(acc_row) {
            *v = if accumulate { *v + acc } else { acc };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Asks the CPU to bring the cache line holding `data[at]` into L2, without waiting.
    #[inline(always)]
    fn prefetch(data: &[f32], at: usize) {
        if let Some(v) = data.get(at) {
            // SAFETY: a prefetch reads nothing architecturally; the address is in `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(std::ptr::from_ref(v).cast()) };
        }
    }

    /// A vector register of `LANES` numbers, with the operations a tile needs. Each is an
    /// intrinsic of an instruction set; they are `#[inline(always)]` so that they compile
    /// inside the `#[target_feature]` kernel that calls them.
    ///
    /// # Safety
    ///
    /// Every method may only run on a CPU with the impl's instruction set (`__m512`:
    /// AVX-512F), which `tiles_avx512` guarantees.
    trait Lanes: Copy {
        const LANES: usize;
        /// Every lane `v`.
        unsafe fn splat(v: f32) -> Self;
        /// `LANES` numbers from `p`, which must point at that many readable ones.
        unsafe fn load(p: *const f32) -> Self;
        /// `a · b + c`, lane by lane.
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self;
        /// `a + b`, lane by lane.
        unsafe fn add(a: Self, b: Self) -> Self;
        /// Writes the `LANES` numbers to `p`, which must point at that many writable ones.
        unsafe fn store(self, p: *mut f32);
    }

    // SAFETY (every method below): the instruction set is the caller's to guarantee, and
    // the pointers, as the trait says.
    impl Lanes for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, self) }
        }
    }

    /// The AVX-512 tile: `MR` outputs × `V::LANES` tokens, one register accumulator
    /// per output, starting from the bias, stored to `dst` (added to it, with `accumulate`:
    /// after the sum, so that a large residual does not coarsen every step of it); weight
    /// `(i, kk)` is at `w[i · row + kk · col]`.
    ///
    /// # Safety
    ///
    /// Runs inside a kernel compiled for `V`'s instruction set, on a CPU that has it; `dst`
    /// holds `(MR − 1)·ld + LANES` numbers; `bias`, if given, `MR`; `w` holds every
    /// `i · row + kk · col` for `i < MR`, `kk < k`; `xt` holds `xt[kk·ldx + t0 + LANES − 1]`
    /// for every `kk < k`. `ahead` is only prefetched.
    #[expect(clippy::too_many_arguments, reason = "as `Kernel::tiles`")]
    #[inline(always)]
    unsafe fn tile<V: Lanes, const MR: usize>(
        (dst, ld): (&mut [f32], usize),
        (w, row, col): (&[f32], usize, usize),
        (bias, accumulate): (Option<&[f32]>, bool),
        xt: &[f32],
        ldx: usize,
        t0: usize,
        k: usize,
        ahead: &[f32],
    ) {
        // SAFETY (every `V::` call): the caller runs this on a CPU with `V`'s instruction
        // set; pointer reads and writes are within the bounds it guarantees.
        let mut acc: [V; MR] =
            std::array::from_fn(|i| unsafe { V::splat(bias.map_or(0.0, |b| b[i])) });
        let xp = unsafe { xt.as_ptr().add(t0) };
        let wp = w.as_ptr();
        let lines = ahead.len() / 16;
        for kk in 0..k {
            if kk < lines {
                prefetch(ahead, kk * 16);
            }
            let x = unsafe { V::load(xp.add(kk * ldx)) };
            for (i, acc) in acc.iter_mut().enumerate() {
                unsafe {
                    let a = V::splat(*wp.add(i * row + kk * col));
                    *acc = V::mul_add(a, x, *acc);
                }
            }
        }
        for (i, &acc) in acc.iter().enumerate() {
            let out = &mut dst[i * ld..][..V::LANES];
            // SAFETY: `out` holds `LANES` numbers.
            unsafe {
                let sum = if accumulate {
                    V::add(V::load(out.as_ptr()), acc)
                } else {
                    acc
                };
                sum.store(out.as_mut_ptr());
            }
        }
    }

    /// `count` tiles side by side, `LANES` tokens apart in `xt` and in `dst` (where a block of
    /// 16 tokens starts `block` after the one before): [`tile`] for each, the first one
    /// prefetching `ahead`.
    ///
    /// # Safety
    ///
    /// As [`tile`], for every token `t0 + j` with `j < count · LANES`: `dst` holds
    /// `(MR − 1)·ld + at(count · LANES − 1) + 1` numbers ([`Kernel::tiles`]' `at`) and `xt`
    /// holds the `LANES` tokens from
    /// `xt.at(t0 + j)` at every step `kk < k`.
    #[inline(always)]
    unsafe fn tiles<V: Lanes, const MR: usize>(
        (dst, ld, block): (&mut [f32], usize, usize),
        w: (&[f32], usize, usize),
        from: (Option<&[f32]>, bool),
        xt: super::Tokens<'_>,
        (t0, count): (usize, usize),
        k: usize,
        ahead: &[f32],
    ) {
        for j in 0..count {
            let (offset, ahead) = (j * V::LANES, if j == 0 { ahead } else { &[] });
            // SAFETY: tile `j` reads tokens `t0 + offset ..` (from `xt.at(t0 + offset)`) and
            // writes their columns of `dst`, within the bounds the caller guarantees for all
            // `count` tiles.
            unsafe {
                tile::<V, MR>(
                    (&mut dst[super::at(offset, block)..], ld),
                    w,
                    from,
                    xt.data,
                    xt.ldx,
                    xt.at(t0 + offset),
                    k,
                    ahead,
                )
            }
        }
    }

    /// AVX-512F tiles: `MR` outputs × 16 tokens each ([`tiles`] on zmm registers).
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F; the bounds are [`tiles`]' with 16 lanes.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tiles_avx512<const MR: usize>(
        dst: (&mut [f32], usize, usize),
        w: (&[f32], usize, usize),
        from: (Option<&[f32]>, bool),
        xt: super::Tokens<'_>,
        tokens: (usize, usize),
        k: usize,
        ahead: &[f32],
    ) {
        // SAFETY: compiled for AVX-512F, which the caller guarantees; bounds passed on.
        unsafe { tiles::<__m512, MR>(dst, w, from, xt, tokens, k, ahead) }
    }

    /// AVX-512F tiles of 16 outputs × 16 tokens side by side, two at a time: each pair as
    /// two halves of 8 outputs × 32 tokens ([`pair_tile`]), so that each weight broadcast
    /// feeds two FMAs and a step is 10 loads for 16 FMAs instead of 17, which a core with
    /// two 512-bit FMA pipes needs; an odd last tile as [`tiles_avx512`] computes it.
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F; the bounds are [`tiles`]' with 16 lanes and 16 outputs.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pairs_avx512(
        (dst, ld, block): (&mut [f32], usize, usize),
        (w, row, col): (&[f32], usize, usize),
        (bias, accumulate): (Option<&[f32]>, bool),
        xt: super::Tokens<'_>,
        (t0, count): (usize, usize),
        k: usize,
        ahead: &[f32],
    ) {
        for pair in 0..count / 2 {
            let offset = pair * 32;
            let x = (xt.at(t0 + offset), xt.at(t0 + offset + 16));
            for half in 0..2 {
                let ahead = if pair == 0 && half == 0 { ahead } else { &[] };
                let bias = bias.map(|b| &b[half * 8..]);
                // SAFETY: rows `8·half ..` of the 16, tokens `t0 + offset ..` (two blocks of
                // 16, both within `count`), within the caller's bounds.
                unsafe {
                    pair_tile::<8>(
                        (
                            &mut dst[half * 8 * ld + super::at(offset, block)..],
                            ld,
                            block,
                        ),
                        (&w[half * 8 * row..], row, col),
                        (bias, accumulate),
                        (xt.data, xt.ldx, x),
                        k,
                        ahead,
                    )
                }
            }
        }
        if count % 2 == 1 {
            let last = (t0 + (count - 1) * 16, 1);
            let dst = (&mut dst[super::at((count - 1) * 16, block)..], ld, block);
            let from = (bias, accumulate);
            // SAFETY: the last tile, within the caller's bounds.
            unsafe { tiles::<__m512, 16>(dst, (w, row, col), from, xt, last, k, &[]) }
        }
    }

    /// `R` outputs × 32 tokens (two 16-token blocks of `xt`, at `x.2.0` and `x.2.1`; of `dst`,
    /// `block` apart): two zmm accumulators per output, so each weight broadcast feeds two
    /// FMAs.
    ///
    /// # Safety
    ///
    /// As [`tile`] for both blocks of 16 tokens, inside a kernel compiled for AVX-512F.
    #[inline(always)]
    unsafe fn pair_tile<const R: usize>(
        (dst, ld, block): (&mut [f32], usize, usize),
        (w, row, col): (&[f32], usize, usize),
        (bias, accumulate): (Option<&[f32]>, bool),
        (xt, ldx, (x0, x1)): (&[f32], usize, (usize, usize)),
        k: usize,
        ahead: &[f32],
    ) {
        // SAFETY (every intrinsic): AVX-512F, as the caller guarantees; reads and writes
        // within the bounds it guarantees.
        unsafe {
            let mut lo: [__m512; R] =
                std::array::from_fn(|i| _mm512_set1_ps(bias.map_or(0.0, |b| b[i])));
            let mut hi = lo;
            let (p0, p1) = (xt.as_ptr().add(x0), xt.as_ptr().add(x1));
            let wp = w.as_ptr();
            let lines = ahead.len() / 16;
            for kk in 0..k {
                if kk < lines {
                    prefetch(ahead, kk * 16);
                }
                let a = _mm512_loadu_ps(p0.add(kk * ldx));
                let b = _mm512_loadu_ps(p1.add(kk * ldx));
                for i in 0..R {
                    let s = _mm512_set1_ps(*wp.add(i * row + kk * col));
                    lo[i] = _mm512_fmadd_ps(s, a, lo[i]);
                    hi[i] = _mm512_fmadd_ps(s, b, hi[i]);
                }
            }
            for i in 0..R {
                let out = &mut dst[i * ld..][..block + 16];
                let (p, q) = (out.as_mut_ptr(), out[block..].as_mut_ptr());
                let (mut a, mut b) = (lo[i], hi[i]);
                if accumulate {
                    a = _mm512_add_ps(_mm512_loadu_ps(p), a);
                    b = _mm512_add_ps(_mm512_loadu_ps(q), b);
                }
                _mm512_storeu_ps(p, a);
                _mm512_storeu_ps(q, b);
            }
        }
    }

    /// AVX2 + FMA tiles: `MR` outputs × 16 tokens each, two ymm accumulators per output.
    ///
    /// Not [`tiles`] on ymm registers: AVX2 has 16 registers where AVX-512 has 32, so the
    /// tile is shaped for them. At `MR` 6, 12 accumulators, the two token vectors of a step
    /// of `k` (one cache line of `xt`) and the broadcast weight fill 15; each step is 2
    /// loads, 6 broadcasts and 12 FMAs, which keeps both FMA pipes of a Zen 3 or Haswell-class
    /// core busy while the loads go through the other ports.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; the bounds are [`tiles`]' with 16 lanes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tiles_avx2<const MR: usize>(
        (dst, ld, block): (&mut [f32], usize, usize),
        w: (&[f32], usize, usize),
        from: (Option<&[f32]>, bool),
        xt: super::Tokens<'_>,
        (t0, count): (usize, usize),
        k: usize,
        ahead: &[f32],
    ) {
        for j in 0..count {
            let (offset, ahead) = (j * 16, if j == 0 { ahead } else { &[] });
            // SAFETY: tile `j` reads tokens `t0 + offset ..` (from `xt.at(t0 + offset)`) and
            // writes their columns of `dst` (block `j`), within the bounds the caller
            // guarantees for all `count` tiles.
            unsafe {
                tile_avx2::<MR>(
                    (&mut dst[j * block..], ld),
                    w,
                    from,
                    xt.data,
                    xt.ldx,
                    xt.at(t0 + offset),
                    k,
                    ahead,
                )
            }
        }
    }

    /// One AVX2 tile: `MR` outputs × 16 tokens, starting from the bias, stored (or added,
    /// after the sum) to `dst`; weight `(i, kk)` is at `w[i · row + kk · col]`.
    ///
    /// # Safety
    ///
    /// As [`tile`] with 16 lanes, inside a function compiled for AVX2 and FMA.
    #[expect(clippy::too_many_arguments, reason = "as `Kernel::tiles`")]
    #[inline(always)]
    unsafe fn tile_avx2<const MR: usize>(
        (dst, ld): (&mut [f32], usize),
        (w, row, col): (&[f32], usize, usize),
        (bias, accumulate): (Option<&[f32]>, bool),
        xt: &[f32],
        ldx: usize,
        t0: usize,
        k: usize,
        ahead: &[f32],
    ) {
        // SAFETY (both): the CPU has AVX2, as the caller guarantees.
        let mut lo = [unsafe { _mm256_setzero_ps() }; MR];
        if let Some(bias) = bias {
            for (acc, &b) in lo.iter_mut().zip(bias) {
                *acc = unsafe { _mm256_set1_ps(b) };
            }
        }
        let mut hi = lo;
        // SAFETY: `t0` is within `xt` by the caller's bounds.
        let xp = unsafe { xt.as_ptr().add(t0) };
        let wp = w.as_ptr();
        // The lines of `ahead` spread evenly over the steps (one every `every`: requests for
        // memory a few at a time, not one a step until the core's queue of misses is full),
        // then the rest of the steps.
        let lines = ahead.len().div_ceil(16).min(k);
        let every = k.checked_div(lines).unwrap_or(1);
        let (x, w) = ((xp, ldx), (wp, row, col));
        let mut kk = 0;
        for line in 0..lines {
            prefetch(ahead, line * 16);
            for _ in 0..every {
                // SAFETY: `kk < lines · every ≤ k`, within the caller's bounds.
                unsafe { step_avx2(&mut lo, &mut hi, x, w, kk) };
                kk += 1;
            }
        }
        for kk in kk..k {
            // SAFETY: as above.
            unsafe { step_avx2(&mut lo, &mut hi, x, w, kk) };
        }
        for i in 0..MR {
            let out = &mut dst[i * ld..][..16];
            let p = out.as_mut_ptr();
            // SAFETY: `out` holds 16 numbers.
            unsafe {
                let (mut a, mut b) = (lo[i], hi[i]);
                if accumulate {
                    a = _mm256_add_ps(_mm256_loadu_ps(p), a);
                    b = _mm256_add_ps(_mm256_loadu_ps(p.add(8)), b);
                }
                _mm256_storeu_ps(p, a);
                _mm256_storeu_ps(p.add(8), b);
            }
        }
    }

    /// One step `kk` of an AVX2 tile: both token vectors of `xt[kk]`, then each weight of
    /// column `kk` broadcast and multiplied into both. A function, not a closure, so that it
    /// inlines into the AVX2 kernel with its instruction set.
    ///
    /// # Safety
    ///
    /// Inside a function compiled for AVX2 and FMA; `x.0 + kk · x.1` points at 16 readable
    /// numbers and `w.0 + i · w.1 + kk · w.2` at one, for every `i < MR`.
    #[inline(always)]
    unsafe fn step_avx2<const MR: usize>(
        lo: &mut [__m256; MR],
        hi: &mut [__m256; MR],
        (xp, ldx): (*const f32, usize),
        (wp, row, col): (*const f32, usize, usize),
        kk: usize,
    ) {
        // SAFETY: the caller's.
        unsafe {
            let x = xp.add(kk * ldx);
            let (x_lo, x_hi) = (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8)));
            let wk = wp.add(kk * col);
            for i in 0..MR {
                let a = _mm256_broadcast_ss(&*wk.add(i * row));
                lo[i] = _mm256_fmadd_ps(a, x_lo, lo[i]);
                hi[i] = _mm256_fmadd_ps(a, x_hi, hi[i]);
            }
        }
    }

    /// Writes a `[6][16]` tile transposed, `out[dt·ld + i] = tile[i·16 + dt]` for `i < 6`,
    /// `dt < tokens` (with `add`, `+=`): each half of the tokens through an 8 × 8 register
    /// transpose (two rows of zeros), then six numbers per token, as four and two.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2; `tile` holds `6 · 16` numbers; `out` points at `(tokens − 1)·ld + 6`
    /// writable numbers that nothing else accesses.
    #[target_feature(enable = "avx2")]
    pub unsafe fn store_avx2(tile: &[f32], out: *mut f32, ld: usize, tokens: usize, add: bool) {
        for first in (0..tokens.min(16)).step_by(8) {
            let rows: [__m256; 8] = std::array::from_fn(|i| {
                if i < 6 {
                    // SAFETY: tile[i·16 + first..][..8] is within the 6 · 16 numbers.
                    unsafe { _mm256_loadu_ps(tile[i * 16 + first..][..8].as_ptr()) }
                } else {
                    _mm256_setzero_ps()
                }
            });
            let columns = super::super::transpose::x86::transpose8(rows);
            for (dt, column) in columns.iter().enumerate().take(tokens - first) {
                // SAFETY: the 6 numbers at out + (first + dt)·ld are the caller's to write.
                unsafe {
                    let p = out.add((first + dt) * ld);
                    let (mut low, mut high) = (
                        _mm256_castps256_ps128(*column),
                        _mm256_extractf128_ps::<1>(*column),
                    );
                    if add {
                        low = _mm_add_ps(low, _mm_loadu_ps(p));
                        let two = _mm_castpd_ps(_mm_load_sd(p.add(4).cast()));
                        high = _mm_add_ps(high, two);
                    }
                    _mm_storeu_ps(p, low);
                    _mm_store_sd(p.add(4).cast(), _mm_castps_pd(high));
                }
            }
        }
    }

    /// Writes a `[16][16]` tile transposed, `out[dt·ld + i] = tile[i·16 + dt]` for `i < 16`,
    /// `dt < tokens` (with `add`, `+=`), through a register transpose.
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F; `tile` holds `16 · 16` numbers; `out` points at
    /// `(tokens − 1)·ld + 16` writable numbers that nothing else accesses.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn store_avx512(tile: &[f32], out: *mut f32, ld: usize, tokens: usize, add: bool) {
        let mut rows = [_mm512_setzero_ps(); 16];
        for (i, row) in rows.iter_mut().enumerate() {
            // SAFETY: tile[i·16..][..16] is within the 16 · 16 numbers.
            *row = unsafe { _mm512_loadu_ps(tile[i * 16..][..16].as_ptr()) };
        }
        let columns = super::super::transpose::x86::transpose16(rows);
        for (dt, column) in columns.iter().enumerate().take(tokens) {
            // SAFETY: the 16 numbers at out + dt·ld are the caller's to write.
            unsafe {
                let p = out.add(dt * ld);
                let sum = if add {
                    _mm512_add_ps(*column, _mm512_loadu_ps(p))
                } else {
                    *column
                };
                _mm512_storeu_ps(p, sum);
            }
        }
    }
}

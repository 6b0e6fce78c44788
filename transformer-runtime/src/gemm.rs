//! The dense product behind every linear layer and attention head:
//! `out[t][o] = Σₖ w[o][k] · x[t][k] (+ b[o])`, i.e. `out = x Wᵀ + b`, at full speed.
//!
//! Weights stay in PyTorch's `[OUT][IN]` layout, so a model needs no packed second copy of
//! its weights. The tokens come transposed instead, `xt[k][t]` (see [`transpose`]), and a
//! register tile computes `MR` outputs × `NR` tokens as outer products: for each `k`,
//! broadcast `w[o][k]` for `MR` rows `o` and multiply it into a vector of
//! `xt[k][t..t + NR]`. Accumulators start from the bias and never need a horizontal sum.
//!
//! ```text
//!          tokens t0 .. t0+NR        k = 0 .. IN
//!  o0   [ acc acc acc … ]   +=   w[o0][k] · xt[k][t0..t0+NR]
//!  …    [      …        ]
//!  o0+MR-1
//! ```
//! A tile's rows are outputs, so the natural place to store it is the result transposed,
//! `outᵀ[o][t]` ([`gemm_xt_transposed`]), which is in turn the `xt` of the next product:
//! a forward pass chains its products that way, applies activations or adds to the residual
//! ([`gemm_xt_add_transposed`]) as it stores, and moves tokens between rows and columns only
//! at the edges of a stack of layers (16 × 16 blocks in registers). [`gemm_nt`] takes and
//! writes token rows, `x[t][k]` and `out[t][o]`, for callers that want them.
//!
//! Transposed tokens come in two layouts ([`Transposed`]): `[features][ld]` rows, or the
//! `[features][16]` panels of 16 tokens that the x86 tiles read. A product whose result
//! feeds only another product (a feed-forward's hidden layer) writes panels, tile by tile,
//! and the next product reads them as they lie; tokens in rows are packed into panels per
//! product, where their rows would crowd the L1.
//!
//! Kernels, one per level of [`cpu::level`](crate::cpu::level): AVX-512 (`MR` 16, `NR` 16)
//! and AVX2 + FMA (`MR` 6, `NR` 16: 12 of its 16 ymm registers accumulate), both reading
//! `xt` packed in `[k][16]` panels, one sequential stream per tile, where `xt`'s own rows
//! would crowd a few L1 sets, and a portable one (`MR` 4, `NR` 8, `xt` in place) that
//! the compiler vectorises for any CPU. While a tile computes, the next tile's weight rows
//! are prefetched into L2: at a few tokens a product is a stream of weights. Tokens are
//! taken in blocks that fit a share of the L2 ([`cpu`](crate::cpu) reads its size): three
//! quarters for AVX-512, half for AVX2. The AVX2 tile sums a long `k` in passes over the
//! block (each adding to the last), so that the blocks stay long enough for each tile's
//! weights to serve several token tiles.
//! Work is split over threads, when there is enough of it, in chunks of output rows that
//! the threads claim.
//!
//! A product of one token (a decoder's step) streams each weight row once for it instead
//! (`vector.rs`), and so, on levels with AVX2, does a product of two to seven (`few.rs`),
//! for which the tiles' 16 tokens would be mostly padding.

mod buffers;
mod few;
mod kernels;
mod tokens;
mod transpose;
mod vector;

pub(crate) use buffers::reserve;
use buffers::{PANEL, TOKEN_PANELS, TRANSPOSED};
use kernels::Kernel;
pub(crate) use tokens::{Tokens, panels_of};
use tokens::{pack_tokens, rows_crowd_l1};
pub use transpose::{transpose, untranspose};

use crate::activation::Activation;

/// Products are not split below this many multiply-adds per thread (about a microsecond of
/// work per thread; handing a part to a worker costs a fraction of that).
const MIN_WORK_PER_THREAD: usize = 1 << 17;

/// The shape of one product: `out[n][m] = x[n][k] · w[m][k]ᵀ (+ b[m])`.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// Tokens: rows of `x` and of `out`.
    pub n: usize,
    /// Inner dimension: columns of `x` and of `w`.
    pub k: usize,
    /// Outputs: rows of `w`, columns of `out`.
    pub m: usize,
}

/// Rows of a transposed operand `xt` must hold at least `n` rounded up to a multiple of
/// this: kernels read whole vectors of tokens.
pub const TOKEN_PAD: usize = 16;

/// `out[t][o] = Σₖ w[o·k_len + k] · x[t·k_len + k] + b[o]` for `t < n`, `o < m`.
///
/// Layout: `x` is `[n][k]`, `w` is `[m][k]`, `out` is `[n][m]`, all row-major and dense.
/// Panics if a slice is shorter than its shape says (callers pass arrays of exactly that
/// shape).
pub fn gemm_nt(out: &mut [f32], w: &[f32], b: Option<&[f32]>, x: &[f32], dims: Dims) {
    let Dims { n, k, m } = dims;
    assert!(x.len() >= n * k, "gemm_nt: x shorter than {dims:?}");
    TRANSPOSED.with_borrow_mut(|xt| {
        // Kernels that read tokens in panels get them straight from the rows (at 16 tokens
        // or fewer, `xt` is one panel anyway).
        let xt = if n > TOKEN_PAD && k > 0 && Kernel::best().packs_tokens() {
            tokens::pack_rows(xt, x, n, k)
        } else {
            let ldx = transpose(xt, x, n, k);
            Tokens::rows(xt, ldx)
        };
        let w = Weights::rows(w, k);
        product_of(out, Spacing::rows(m), Layout::Rows, w, b, xt, dims);
    });
}

/// [`gemm_nt`] with `x` already transposed, writing its result transposed, through an
/// optional activation: `outᵀ(o, t) = act(Σₖ w[o·k_len + k] · xᵀ(k, t) + b[o])` for
/// `o < m` and every `t < n` rounded up to [`TOKEN_PAD`], where `out` and `x` each say how
/// they hold their tokens ([`Transposed`]: `[features][ld]`, or the panels a tile reads).
///
/// The padding tokens `n ≤ t` are computed from `x`'s own padding (so they are finite if
/// that is), which makes `out` the `x` of a following product: a chain of products needs
/// no transposition between its steps, the activation needs no pass of its own, and a
/// result written in panels is read by the next product as it lies.
///
/// `w` is `[m][k]`.
pub fn gemm_xt_transposed(
    (out, out_layout): (&mut [f32], Transposed),
    w: &[f32],
    b: Option<&[f32]>,
    (x, x_layout): (&[f32], Transposed),
    dims: Dims,
    activation: Option<Activation>,
) {
    let (spacing, xt) = (out_layout.spacing(dims.m), x_layout.tokens(x, dims.k));
    let (layout, w) = (Layout::Columns(activation), Weights::rows(w, dims.k));
    product_of(out, spacing, layout, w, b, xt, dims);
}

/// [`gemm_xt_transposed`] adding to what `out` holds: `outᵀ(o, t) += Σₖ w[o·k_len + k] ·
/// xᵀ(k, t) + b[o]` for `o < m` and every `t < n` rounded up to [`TOKEN_PAD`]. A residual
/// connection in the product's own store: `x + sublayer(x)` with `x` held transposed, and
/// no pass of its own.
pub fn gemm_xt_add_transposed(
    (out, out_layout): (&mut [f32], Transposed),
    w: &[f32],
    b: Option<&[f32]>,
    (x, x_layout): (&[f32], Transposed),
    dims: Dims,
) {
    let (spacing, xt) = (out_layout.spacing(dims.m), x_layout.tokens(x, dims.k));
    let w = Weights::rows(w, dims.k);
    product_of(out, spacing, Layout::AddColumns, w, b, xt, dims);
}

/// The `w` operand of a product: element `(o, kk)` is `data[o·row + kk·col]`. Dense
/// `[m][k]` rows (`row = k`, `col = 1`) for layers; other strides let attention use a
/// head's slice of a projection where it lies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weights<'a> {
    pub data: &'a [f32],
    pub row: usize,
    pub col: usize,
}

impl<'a> Weights<'a> {
    /// Dense rows of `k` numbers.
    pub fn rows(data: &'a [f32], k: usize) -> Self {
        Self {
            data,
            row: k,
            col: 1,
        }
    }
}

/// [`product_of`] of tokens `xt` in the layout products write, `[k][ldx]`.
#[expect(
    clippy::too_many_arguments,
    reason = "a product is these slices, strides and its shape"
)]
pub(crate) fn product(
    out: &mut [f32],
    ld_out: usize,
    layout: Layout,
    w: Weights<'_>,
    b: Option<&[f32]>,
    xt: &[f32],
    ldx: usize,
    dims: Dims,
) {
    let (spacing, xt) = (Spacing::rows(ld_out), Tokens::rows(xt, ldx));
    product_of(out, spacing, layout, w, b, xt, dims);
}

/// The checks and the work every product shares, whatever the layout of its output (rows,
/// or transposed as `spacing` says) and of its tokens (`[k][ldx]`, or the `[k][16]` panels
/// its tile reads).
pub(crate) fn product_of(
    out: &mut [f32],
    spacing: Spacing,
    layout: Layout,
    w: Weights<'_>,
    b: Option<&[f32]>,
    xt: Tokens<'_>,
    dims: Dims,
) {
    let Dims { n, k, m } = dims;
    if n == 0 || m == 0 {
        return;
    }
    let n_pad = n.next_multiple_of(TOKEN_PAD);
    let ld_out = spacing.ld;
    match layout {
        Layout::Rows => assert!(
            ld_out >= m && out.len() >= (n - 1) * ld_out + m,
            "gemm: out shorter than {dims:?}"
        ),
        Layout::Columns(_) | Layout::AddColumns => assert!(
            spacing.separates(m, n_pad) && out.len() > spacing.at(m - 1, n_pad - 1),
            "gemm: transposed out shorter than {dims:?}, or its {spacing:?} overlaps"
        ),
    }
    assert!(
        m == 0 || k == 0 || (m - 1) * w.row + (k - 1) * w.col < w.data.len(),
        "gemm: w shorter than {dims:?}"
    );
    assert!(xt.holds(n_pad, k), "gemm: xt shorter than {dims:?}");
    assert!(
        b.is_none_or(|b| b.len() >= m),
        "gemm: bias shorter than {m}"
    );
    if k == 0 {
        let bias = |o: usize| b.map_or(0.0, |b| b[o]);
        match layout {
            Layout::Rows => {
                for row in out.chunks_mut(ld_out).take(n) {
                    for (o, v) in row[..m].iter_mut().enumerate() {
                        *v = bias(o);
                    }
                }
            }
            Layout::Columns(activation) => {
                for (o, t) in Spacing::blocks(m, n_pad) {
                    let run = &mut out[spacing.at(o, t)..][..TOKEN_PAD];
                    run.fill(bias(o));
                    if let Some(activation) = activation {
                        activation.apply_here(run);
                    }
                }
            }
            Layout::AddColumns => {
                for (o, t) in Spacing::blocks(m, n_pad) {
                    let run = &mut out[spacing.at(o, t)..][..TOKEN_PAD];
                    run.iter_mut().for_each(|v| *v += bias(o));
                }
            }
        }
        return;
    }
    if n == 1 && (w.col == 1 || w.row == 1) {
        // One token (a decoder's step): stream each weight row once. Its 16 tokens are one
        // block, so `ld_out` apart is all the spacing says.
        return vector::product_one(out, ld_out, layout, w, b, xt.data, xt.ldx, (k, m));
    }
    if few::takes(n, w) {
        // A few tokens: each weight row read once, as vectors, for all of them.
        return few::product_few(out, (spacing, layout), w, b, xt, (n, k, m));
    }
    let kernel = Kernel::best();
    let problem = Problem {
        w,
        b,
        xt,
        k,
        m,
        n,
        out: spacing,
        layout,
    };
    let threads = crate::threads::get()
        .min((n * k * m / MIN_WORK_PER_THREAD).max(1))
        .min(MAX_THREADS);
    run(kernel, &problem, out, threads);
}

/// How a buffer holds tokens transposed, as products read and write them between the layers
/// of a model: feature `i` of token `t` at `i·ld + t` (`Rows(ld)`: `[features][ld]`), or at
/// `(t / 16)·16·features + 16·i + t % 16` (`Panels`: blocks of 16 tokens, each
/// `[features][16]`), the layout a product's tile reads, so that a product reading it packs
/// nothing. Both hold every token up to `n` rounded up to [`TOKEN_PAD`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transposed {
    /// `[features][ld]`.
    Rows(usize),
    /// `[n_pad / 16][features][16]`.
    Panels,
}

impl Transposed {
    /// `data` in this layout, as the tokens of a product over `k` features.
    pub(crate) fn tokens(self, data: &[f32], k: usize) -> Tokens<'_> {
        match self {
            Self::Rows(ld) => Tokens::rows(data, ld),
            Self::Panels => Tokens::panels(data, k),
        }
    }

    /// Where the `m` outputs of a product go in this layout.
    pub(crate) fn spacing(self, m: usize) -> Spacing {
        match self {
            Self::Rows(ld) => Spacing::rows(ld),
            Self::Panels => Spacing::panels(m),
        }
    }
}

/// Tokens `xt` (`[k][ld]`, `(ld, k)` in `shape`) that several products read in turn: packed
/// once into panels in `buf` (grown if it is too short) where each product would pack them
/// itself, else `xt` as it is.
pub(crate) fn shared_tokens<'a>(
    buf: &'a mut Vec<f32>,
    xt: &'a [f32],
    (ld, k): (usize, usize),
    n: usize,
) -> (&'a [f32], Transposed) {
    let tokens = Tokens::rows(xt, ld);
    // One token, a few and `k` 0 take paths that read `xt` in place.
    if n > 1 && k > 0 && !few::takes_tokens(n) && packs(Kernel::best(), tokens, k) {
        return (pack_tokens(buf, tokens, k, n).data, Transposed::Panels);
    }
    (xt, Transposed::Rows(ld))
}

/// What every tile of one product reads.
#[derive(Clone, Copy)]
struct Problem<'a> {
    w: Weights<'a>,
    b: Option<&'a [f32]>,
    /// The activations transposed.
    xt: Tokens<'a>,
    k: usize,
    m: usize,
    n: usize,
    /// Where each output lies in `out`.
    out: Spacing,
    layout: Layout,
}

/// Where a product's outputs lie in `out`. In the row layout, output `o` of token `t` is at
/// `t·ld + o`. Transposed, at `o·ld + (t / 16)·block + t % 16`: in `[m][ld]` rows (`block`
/// 16), or in the `[m][16]` panels of 16 tokens that a tile reads ([`Tokens::panels`]; `ld`
/// 16, `block` 16·m), so that the next product need not pack them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spacing {
    pub ld: usize,
    pub block: usize,
}

impl Spacing {
    /// Rows `ld` apart: `[n][ld]` in the row layout, `[m][ld]` transposed.
    pub fn rows(ld: usize) -> Self {
        Self {
            ld,
            block: TOKEN_PAD,
        }
    }

    /// Transposed in panels of 16 tokens over `m` outputs: `[n_pad / 16][m][16]`.
    pub fn panels(m: usize) -> Self {
        Self {
            ld: TOKEN_PAD,
            block: TOKEN_PAD * m,
        }
    }

    /// Where output `o` of token `t` lies, transposed.
    pub fn at(self, o: usize, t: usize) -> usize {
        o * self.ld + t / TOKEN_PAD * self.block + t % TOKEN_PAD
    }

    /// Whether the outputs of `m` rows of `n_pad` tokens, transposed, each have a place of
    /// their own: rows of at least `n_pad`, or panels that hold all `m` rows.
    fn separates(self, m: usize, n_pad: usize) -> bool {
        let rows = self.block == TOKEN_PAD && self.ld >= n_pad;
        let panels = self.ld == TOKEN_PAD && self.block >= m * TOKEN_PAD;
        rows || panels
    }

    /// Each output and first token of each block of 16, transposed.
    fn blocks(m: usize, n_pad: usize) -> impl Iterator<Item = (usize, usize)> {
        (0..m).flat_map(move |o| (0..n_pad).step_by(TOKEN_PAD).map(move |t| (o, t)))
    }
}

/// How a product writes its tiles.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Layout {
    /// `out[t][o]`, for tokens `t < n`.
    Rows,
    /// `out[o][t]`, for every token `t` up to `n` rounded up to [`TOKEN_PAD`], through the
    /// activation if there is one.
    Columns(Option<Activation>),
    /// `out[o][t] +=`, for the same tokens as `Columns`.
    AddColumns,
}

/// Whether a product on `kernel` packs its tokens `xt` into panels before its tiles read
/// them: where the kernel reads panels and `xt`'s rows would crowd the L1.
fn packs(kernel: Kernel, xt: Tokens<'_>, k: usize) -> bool {
    kernel.packs_tokens() && rows_crowd_l1(xt, k)
}

/// Lays `xt` out as `kernel` reads it, then runs the product ([`run_packed`]).
fn run(kernel: Kernel, p: &Problem<'_>, out: &mut [f32], threads: usize) {
    if packs(kernel, p.xt, p.k) {
        return TOKEN_PANELS.with_borrow_mut(|panels| {
            let xt = pack_tokens(panels, p.xt, p.k, p.n);
            run_packed(kernel, &Problem { xt, ..*p }, out, threads);
        });
    }
    run_packed(kernel, p, out, threads);
}

/// Splits the output columns `o` into chunks of whole tiles, which up to `threads` threads
/// claim one at a time (so a thread slowed by something else on its core does less of the
/// work), and runs them.
fn run_packed(kernel: Kernel, p: &Problem<'_>, out: &mut [f32], threads: usize) {
    let mr = kernel.mr();
    let tiles = p.m.div_ceil(mr);
    let out = OutPtr::new(out);
    if threads <= 1 || tiles < 2 {
        columns(kernel, p, out, 0..p.m);
        return;
    }
    // Chunks of at least MIN_WORK_PER_CHUNK, at least one per thread, at most MAX_CHUNKS.
    let tile_work = p.n.next_multiple_of(TOKEN_PAD) * p.k * mr;
    let chunks = (tiles * tile_work / MIN_WORK_PER_CHUNK)
        .clamp(threads, MAX_CHUNKS)
        .min(tiles);
    let per = tiles.div_ceil(chunks) * mr;
    let mut ranges = [(); MAX_CHUNKS].map(|()| 0..0);
    let chunks = p.m.div_ceil(per);
    for (i, range) in ranges.iter_mut().take(chunks).enumerate() {
        *range = i * per..((i + 1) * per).min(p.m);
    }
    let mut slots = [(); MAX_THREADS];
    crate::threads::for_each_claimed(
        &mut slots[..threads.min(MAX_THREADS)],
        &mut ranges[..chunks],
        &|(), _, range| columns(kernel, p, out, range.clone()),
    );
}

/// The most threads one product is split between.
const MAX_THREADS: usize = 64;
/// The most chunks one product is split into.
const MAX_CHUNKS: usize = 128;
/// The least work (multiply-adds) in a chunk: tens of microseconds, far more than claiming it.
const MIN_WORK_PER_CHUNK: usize = 1 << 21;

/// The output matrix, shared between threads that each write their own columns `o`.
#[derive(Clone, Copy)]
struct OutPtr {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `run` hands each thread a disjoint range of output columns, and `columns` writes
// only `out[t][o]` for `o` in its range and `t < n`, inside `len`; the scope ends before the
// borrow of `out` does.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    fn new(out: &mut [f32]) -> Self {
        Self {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// `out[index..][..len]` as a slice.
    ///
    /// # Safety
    ///
    /// No other thread accesses those numbers, and nothing else in this thread does while
    /// the slice lives.
    unsafe fn slice_mut<'a>(self, index: usize, len: usize) -> &'a mut [f32] {
        assert!(index + len <= self.len, "tile store out of bounds");
        // SAFETY: in bounds (checked above); exclusive by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(index), len) }
    }

    /// Writes the first `len` numbers of `row` to `out[index..][..len]`, or with `add` adds
    /// them to what is there.
    fn write(self, index: usize, row: &[f32; kernels::MAX_MR], len: usize, add: bool) {
        assert!(
            len <= row.len() && index + len <= self.len,
            "tile store out of bounds"
        );
        if add {
            // SAFETY: in bounds (checked above), and no other thread accesses these columns.
            let out = unsafe { self.slice_mut(index, len) };
            out.iter_mut().zip(row).for_each(|(v, r)| *v += r);
            return;
        }
        // SAFETY: in bounds (checked above), and no other thread writes these columns. A
        // whole row is one fixed-size copy; a shorter one goes number by number (either
        // way, no call to memcpy for a dozen numbers).
        unsafe {
            if len == row.len() {
                self.ptr
                    .add(index)
                    .cast::<[f32; kernels::MAX_MR]>()
                    .write_unaligned(*row);
            } else {
                for (i, &v) in row[..len].iter().enumerate() {
                    std::ptr::write_volatile(self.ptr.add(index + i), v);
                }
            }
        }
    }
}

/// Computes output columns `range` for every token: full tiles, then small ones, then (if
/// the range is narrower than a small tile) a short one.
fn columns(kernel: Kernel, p: &Problem<'_>, out: OutPtr, range: std::ops::Range<usize>) {
    let nr = kernel.nr();
    // Rows stop at the last real token; columns also fill the padding up to TOKEN_PAD.
    let n_pad = match p.layout {
        Layout::Rows => p.n.next_multiple_of(nr),
        Layout::Columns(_) | Layout::AddColumns => p.n.next_multiple_of(TOKEN_PAD),
    };
    // The sum over `k` in passes of at most the kernel's `k_pass` steps where it asks for
    // them and there are several token tiles to share each pass's weights: the blocks of
    // tokens below are then sized by the pass. Each later pass adds to what the one before
    // stored.
    let passes = match kernel.k_pass() {
        Some(most) if n_pad > nr => p.k.div_ceil(most),
        _ => 1,
    };
    let kc = p.k.div_ceil(passes);
    // Blocks of tokens small enough that their slice of xt for one pass (the kernel's share
    // of the L2: 768 KiB of a Zen 4's 1 MiB, 256 KiB of a Zen 3's 512) stays in L2 across
    // all tiles; every block streams the weights once more, so they are as large as that
    // allows.
    let share = crate::cpu::l2_bytes() * kernel.token_block_quarters() / 4;
    // Whole blocks of 16 (a multiple of every kernel's tile), so that no tile straddles two
    // blocks of an output held in panels.
    let block = (share / size_of::<f32>() / kc).max(TOKEN_PAD) / TOKEN_PAD * TOKEN_PAD;
    let mut tiles = TileBuffers {
        tile: [0.0; kernels::MAX_TILE],
        wide: None,
    };
    PANEL.with_borrow_mut(|panel| {
        for t_block in (0..n_pad).step_by(block) {
            let tokens = t_block..(t_block + block).min(n_pad);
            for k0 in (0..p.k).step_by(kc) {
                let pass = Pass {
                    k0,
                    len: kc.min(p.k - k0),
                    first: k0 == 0,
                    last: k0 + kc >= p.k,
                };
                let mut o = range.start;
                while o < range.end {
                    let outputs = next_outputs(kernel, p.layout, pass, &range, o);
                    let ctx = (kernel, p, out, pass);
                    tile_row(ctx, outputs.clone(), tokens.clone(), panel, &mut tiles);
                    o = outputs.end;
                }
            }
        }
    });
}

/// The outputs of the next row of tiles from `o` on, within `range`: a full tile, a small
/// one, or (if fewer are left) the small tile ending at the range's end, overlapping the
/// tile before rather than running short: a few outputs are recomputed, with identical
/// results. Not when adding, to the residual or to an earlier pass (they would be added
/// twice), nor in a range narrower than a small tile: then a short tile. Where two small
/// tiles cover what is left (at most one overlapping), they go rather than a full one and an
/// overlapping one, which would compute more outputs (at 32, attention's head size, the
/// AVX2 tiles compute 32 rather than 34).
fn next_outputs(
    kernel: Kernel,
    layout: Layout,
    pass: Pass,
    range: &std::ops::Range<usize>,
    o: usize,
) -> std::ops::Range<usize> {
    let (mr, mr_small, left) = (kernel.mr(), kernel.mr_small(), range.end - o);
    let overlap = range.len() >= mr_small && pass.only() && !matches!(layout, Layout::AddColumns);
    if overlap && left > mr && left - mr < mr_small && left <= 2 * mr_small {
        o..o + mr_small
    } else if left >= mr {
        o..o + mr
    } else if left >= mr_small {
        o..o + mr_small
    } else if overlap {
        range.end - mr_small..range.end
    } else {
        o..range.end
    }
}

/// A thread's local tiles for the row layout: one, and two side by side for kernels that
/// compute pairs, made (and zeroed) only when one does.
struct TileBuffers {
    tile: [f32; kernels::MAX_TILE],
    wide: Option<[f32; 2 * kernels::MAX_TILE]>,
}

/// One row of tiles: outputs `outputs` (one tile's worth) for the block of tokens `tokens`,
/// over the steps of `pass`, stored in the product's layout, then through its activation
/// after the last pass. Inlined into [`columns`]' loop, which it is the body of.
#[inline(always)]
fn tile_row(
    (kernel, p, out, pass): (Kernel, &Problem<'_>, OutPtr, Pass),
    outputs: std::ops::Range<usize>,
    tokens: std::ops::Range<usize>,
    panel: &mut Vec<f32>,
    tiles: &mut TileBuffers,
) {
    let Weights { data, row, col } = p.w;
    let (start, rows) = (outputs.start, outputs.len());
    let first = start * row + pass.k0 * col;
    let in_place = &data[first..first + (rows - 1) * row + (pass.len - 1) * col + 1];
    let packed = col == 1 && kernel.packs_conflicting_rows() && kernels::rows_conflict(row);
    if packed {
        kernels::pack(panel, in_place, rows, pass.len, row);
    }
    let (w, strides) = if packed {
        (&panel[..], (1, rows))
    } else {
        (in_place, (row, col))
    };
    // While the first token tile computes, the next rows stream in from memory (past the
    // range too: with chunks claimed in order, this thread may well take the next one). In
    // passes, the next rows' part is not one run, and the token tiles after the first leave
    // the CPU's own prefetcher time to find it.
    let next = if col == 1 && !packed && pass.only() {
        let end = ((start + 2 * rows).min(p.m) * row).min(data.len());
        &data[(first + rows * row).min(end)..end]
    } else {
        &[]
    };
    let bias = p.b.filter(|_| pass.first).map(|b| &b[outputs]);
    let w = (w, strides, rows, pass.len);
    let xt = p.xt.skip_steps(pass.k0);
    if let Layout::Rows = p.layout {
        return row_layout_tiles(
            (kernel, p, out, pass),
            (w, bias, xt),
            start,
            tokens,
            next,
            tiles,
        );
    }
    let add = matches!(p.layout, Layout::AddColumns) || !pass.first;
    let Spacing { ld, block } = p.out;
    let width = tokens.len();
    let first = p.out.at(start, tokens.start);
    // The outputs' span, `lines` runs of `line` numbers `stride` apart: `rows` rows of the
    // block's tokens, `ld` apart, or in panels a run of `rows` lines of 16 tokens for each
    // block of 16, `block` apart.
    let (lines, line, stride) = if block == TOKEN_PAD {
        (rows, width, ld)
    } else {
        (width / TOKEN_PAD, rows * TOKEN_PAD, block)
    };
    let len = (lines - 1) * stride + line;
    // SAFETY: the span covers outputs `start..start + rows` only, which are this thread's
    // (`run` splits by output), and nothing else in this thread holds it.
    let dst = unsafe { out.slice_mut(first, len) };
    let tile_count = (tokens.start, width.div_ceil(kernel.nr()));
    kernel.tiles((dst, ld, block), w, (bias, add), xt, tile_count, next);
    if let (Layout::Columns(Some(activation)), true) = (p.layout, pass.last) {
        // Once per block of outputs, in place: one call for the lines they make.
        // SAFETY: as for the tiles above.
        let outputs = unsafe { out.slice_mut(first, len) };
        activation.apply_to_runs(outputs, line, stride);
    }
}

/// The weights of one row of tiles, as [`Kernel::tiles`] takes them.
type TileWeights<'a> = (&'a [f32], (usize, usize), usize, usize);

/// [`tile_row`] in the row layout: tile by tile into a local tile (or, where the kernel
/// computes tiles faster two at a time, a pair into a wider one, each half then stored as a
/// tile of its own), stored transposed to `out[t][start..]`, adding after the first pass.
#[inline(always)]
fn row_layout_tiles(
    (kernel, p, out, pass): (Kernel, &Problem<'_>, OutPtr, Pass),
    (w, bias, xt): (TileWeights<'_>, Option<&[f32]>, Tokens<'_>),
    start: usize,
    tokens: std::ops::Range<usize>,
    next: &[f32],
    tiles: &mut TileBuffers,
) {
    let (nr, rows) = (kernel.nr(), w.2);
    let pairs = kernel.pairs_tiles(rows);
    let add = !pass.first;
    let from = (bias, false);
    let mut t0 = tokens.start;
    while t0 < tokens.end {
        let ahead = if t0 == tokens.start { next } else { &[] };
        if pairs && t0 + 2 * nr <= tokens.end {
            #[expect(
                clippy::unnecessary_lazy_evaluations,
                reason = "not to zero 2 KiB for each pair"
            )]
            let wide = tiles
                .wide
                .get_or_insert_with(|| [0.0; 2 * kernels::MAX_TILE]);
            let dst = (&mut wide[..rows * 2 * nr], 2 * nr, TOKEN_PAD);
            kernel.tiles(dst, w, from, xt, (t0, 2), ahead);
            for half in 0..2 {
                let wide_rows = wide.chunks_exact(2 * nr).take(rows);
                for (i, wide_row) in wide_rows.enumerate() {
                    let half_row = &wide_row[half * nr..][..nr];
                    tiles.tile[i * nr..][..nr].copy_from_slice(half_row);
                }
                let at = (start, rows, t0 + half * nr);
                store(kernel, p, out, &tiles.tile, at, add);
            }
            t0 += 2 * nr;
        } else {
            let dst = (&mut tiles.tile[..], nr, TOKEN_PAD);
            kernel.tiles(dst, w, from, xt, (t0, 1), ahead);
            store(kernel, p, out, &tiles.tile, (start, rows, t0), add);
            t0 += nr;
        }
    }
}

/// One pass of a product over the inner dimension: steps `k0..k0 + len`.
#[derive(Clone, Copy)]
struct Pass {
    k0: usize,
    len: usize,
    /// The bias goes in, and the tiles store rather than add (unless adding to a residual).
    first: bool,
    /// The activation follows.
    last: bool,
}

impl Pass {
    /// Whether the pass is the whole of `k`.
    fn only(self) -> bool {
        self.first && self.last
    }
}

/// Writes a `rows × NR` tile (row-major by output) to `out[t][o..o + rows]` for the tile's
/// tokens from `t0`, or with `add` adds it to what is there.
fn store(
    kernel: Kernel,
    p: &Problem<'_>,
    out: OutPtr,
    tile: &[f32],
    (o, rows, t0): (usize, usize, usize),
    add: bool,
) {
    let nr = kernel.nr();
    let tokens = nr.min(p.n.saturating_sub(t0));
    if tokens == 0 {
        return;
    }
    let ld_out = p.out.ld;
    let first = t0 * ld_out + o;
    if let Some(store) = kernel.fast_store(rows) {
        // The kernel's own transposing store, through registers.
        assert!(
            first + (tokens - 1) * ld_out + rows <= out.len,
            "tile store out of bounds"
        );
        assert!(tile.len() >= rows * nr, "tile shorter than {rows} × {nr}");
        // SAFETY: `fast_store` only offers a store the CPU can run; every write is to
        // `out[first + dt·ld_out ..][..rows]` for `dt < tokens`, in bounds (asserted above)
        // and in this thread's columns; `tile` holds `rows · nr` numbers (asserted above).
        unsafe { store(tile, out.ptr.add(first), ld_out, tokens, add) };
        return;
    }
    let mut row = [0.0f32; kernels::MAX_MR];
    for dt in 0..tokens {
        for (i, v) in row[..rows].iter_mut().enumerate() {
            *v = tile[i * nr + dt];
        }
        out.write((t0 + dt) * ld_out + o, &row, rows, add);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    fn naive(w: &[f32], b: Option<&[f32]>, x: &[f32], d: Dims) -> Vec<f64> {
        let mut out = vec![0.0f64; d.n * d.m];
        for t in 0..d.n {
            for o in 0..d.m {
                let dot: f64 = (0..d.k)
                    .map(|k| f64::from(w[o * d.k + k]) * f64::from(x[t * d.k + k]))
                    .sum();
                out[t * d.m + o] = dot + b.map_or(0.0, |b| f64::from(b[o]));
            }
        }
        out
    }

    fn random(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.symmetric(1.0)).collect()
    }

    /// Runs one product on `kernel` (`None`: the public entry point and the best kernel) in
    /// `layout`, and compares `out` (rows, or columns including the padding) with the
    /// reference.
    fn check_layout(d: Dims, threads: usize, kernel: Option<Kernel>, layout: Layout) {
        let mut rng = Rng::new((d.n * 31 + d.k * 7 + d.m) as u64);
        let (w, x, b) = (
            random(&mut rng, d.m * d.k),
            random(&mut rng, d.n * d.k),
            random(&mut rng, d.m),
        );
        let mut xt = Vec::new();
        let ldx = transpose(&mut xt, &x, d.n, d.k);
        let (ld_out, rows) = match layout {
            Layout::Rows => (d.m, d.n),
            Layout::Columns(_) | Layout::AddColumns => (ldx + 3, d.m),
        };
        // What an adding product adds to (anything else is overwritten).
        let before = |i: usize| match layout {
            Layout::AddColumns => (i % 11) as f32 * 0.25 - 1.0,
            _ => f32::NAN,
        };
        let mut out: Vec<f32> = (0..rows * ld_out).map(before).collect();
        match (kernel, layout) {
            (None, Layout::Rows) => {
                crate::threads::set(threads);
                gemm_nt(&mut out, &w, Some(&b), &x, d);
                crate::threads::set(0);
            }
            (None, Layout::Columns(activation)) => {
                crate::threads::set(threads);
                let (ld, b) = (ld_out, Some(&b[..]));
                let (out, x) = (
                    (&mut out[..], Transposed::Rows(ld)),
                    (&xt[..], Transposed::Rows(ldx)),
                );
                gemm_xt_transposed(out, &w, b, x, d, activation);
                crate::threads::set(0);
            }
            (None, Layout::AddColumns) => {
                crate::threads::set(threads);
                let (ld, b) = (ld_out, Some(&b[..]));
                let (out, x) = (
                    (&mut out[..], Transposed::Rows(ld)),
                    (&xt[..], Transposed::Rows(ldx)),
                );
                gemm_xt_add_transposed(out, &w, b, x, d);
                crate::threads::set(0);
            }
            (Some(kernel), _) => {
                let p = Problem {
                    w: Weights::rows(&w, d.k),
                    b: Some(&b),
                    xt: Tokens::rows(&xt, ldx),
                    k: d.k,
                    m: d.m,
                    n: d.n,
                    out: Spacing::rows(ld_out),
                    layout,
                };
                run(kernel, &p, &mut out, threads);
            }
        }
        // Padding tokens are zero: their outputs are the biases, activated.
        let x_padded: Vec<f32> = (0..ldx)
            .flat_map(|t| (0..d.k).map(move |kk| (t, kk)))
            .map(|(t, kk)| if t < d.n { x[t * d.k + kk] } else { 0.0 })
            .collect();
        let tokens = match layout {
            Layout::Rows => d.n,
            Layout::Columns(_) | Layout::AddColumns => ldx,
        };
        let want = naive(&w, Some(&b), &x_padded, Dims { n: tokens, ..d });
        for t in 0..tokens {
            for o in 0..d.m {
                let (got, mut want) = match layout {
                    Layout::Rows => (out[t * ld_out + o], want[t * d.m + o]),
                    Layout::Columns(_) => (out[o * ld_out + t], want[t * d.m + o]),
                    Layout::AddColumns => {
                        let at = o * ld_out + t;
                        (out[at], f64::from(before(at)) + want[t * d.m + o])
                    }
                };
                if let Layout::Columns(Some(activation)) = layout {
                    let mut v = [want as f32];
                    activation.apply_here(&mut v);
                    want = f64::from(v[0]);
                }
                // f32 sums of `k` products, whose rounding grows with `k`.
                let bound = 1e-4 * (d.k as f64 / 2048.0).max(1.0);
                assert!(
                    (f64::from(got) - want).abs() < bound,
                    "{d:?} {kernel:?} {layout:?}: out[t {t}][o {o}] = {got}, want {want}"
                );
            }
        }
    }

    /// One token takes the matrix–vector path: each layout stores token 0 as the tiles do,
    /// a `Columns` product zeroes the padding columns, an adding one leaves them alone;
    /// weights read by rows or, as attention reads keys from `Kᵀ`, by columns.
    #[test]
    fn one_token_products_match_the_reference_in_every_layout() {
        let mut rng = Rng::new(21);
        let layouts = [
            Layout::Rows,
            Layout::Columns(None),
            Layout::Columns(Some(Activation::Silu)),
            Layout::AddColumns,
        ];
        for (k, m, threads) in [
            (1, 1, 1),
            (5, 7, 1),
            (64, 300, 2),
            (576, 1536, 2),
            (33, 4097, 2),
        ] {
            let (w, b, x) = (
                random(&mut rng, m * k),
                random(&mut rng, m),
                random(&mut rng, k),
            );
            // The same matrix stored transposed: element (o, kk) at kk·m + o.
            let w_t: Vec<f32> = (0..k)
                .flat_map(|kk| (0..m).map(move |o| (o, kk)))
                .map(|(o, kk)| w[o * k + kk])
                .collect();
            let mut xt = Vec::new();
            let ldx = transpose(&mut xt, &x, 1, k);
            let want = naive(&w, Some(&b), &x, Dims { n: 1, k, m });
            for layout in layouts {
                for weights in [
                    Weights::rows(&w, k),
                    Weights {
                        data: &w_t,
                        row: 1,
                        col: m,
                    },
                ] {
                    let ld_out = match layout {
                        Layout::Rows => m,
                        _ => TOKEN_PAD + 3,
                    };
                    let rows = if matches!(layout, Layout::Rows) { 1 } else { m };
                    let before = |i: usize| (i % 7) as f32 - 3.0;
                    let mut out: Vec<f32> = (0..rows * ld_out).map(before).collect();
                    crate::threads::set(threads);
                    let dims = Dims { n: 1, k, m };
                    product(&mut out, ld_out, layout, weights, Some(&b), &xt, ldx, dims);
                    crate::threads::set(0);
                    for o in 0..m {
                        let (at, want) = match layout {
                            Layout::Rows => (o, want[o]),
                            Layout::Columns(None) => (o * ld_out, want[o]),
                            Layout::Columns(Some(act)) => {
                                (o * ld_out, f64::from(act.apply_one(want[o] as f32)))
                            }
                            Layout::AddColumns => {
                                (o * ld_out, f64::from(before(o * ld_out)) + want[o])
                            }
                        };
                        let got = f64::from(out[at]);
                        assert!(
                            (got - want).abs() < 1e-4,
                            "{layout:?} k {k} m {m} o {o}: {got} vs {want}"
                        );
                        if !matches!(layout, Layout::Rows) {
                            for t in 1..TOKEN_PAD {
                                let padding = out[o * ld_out + t];
                                let kept = before(o * ld_out + t);
                                match layout {
                                    Layout::AddColumns => assert_eq!(padding, kept),
                                    _ => assert_eq!(padding, 0.0),
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Two to seven tokens take their own path on levels with AVX2 (each weight row read
    /// once for all of them), eight the tiles: every layout, every block of rows a token
    /// count makes (with a short last one), `k` in whole vectors and not, one thread or two,
    /// and rows so long that one is more than a thread's chunk of work.
    #[test]
    fn products_of_a_few_tokens_match_the_reference_in_every_layout() {
        let layouts = [
            Layout::Rows,
            Layout::Columns(None),
            Layout::Columns(Some(Activation::Gelu)),
            Layout::AddColumns,
        ];
        let shapes = [(1, 1, 1), (7, 5, 1), (8, 13, 2), (33, 7, 1), (384, 301, 2)];
        for n in 2..=8 {
            for (k, m, threads) in shapes {
                for layout in layouts {
                    check_layout(Dims { n, k, m }, threads, None, layout);
                }
            }
        }
        // 7 tokens of 20 000: one row's work is more than a chunk's least.
        for layout in layouts {
            check_layout(
                Dims {
                    n: 7,
                    k: 20_000,
                    m: 13,
                },
                2,
                None,
                layout,
            );
        }
    }

    #[test]
    fn transposed_products_fill_the_padding_and_apply_the_activation_or_add() {
        let layouts = [
            Layout::Columns(None),
            Layout::Columns(Some(Activation::Relu)),
            Layout::Columns(Some(Activation::Gelu)),
            Layout::AddColumns,
        ];
        for kernel in Kernel::available() {
            for layout in layouts {
                for (n, k, m) in [(1, 1, 1), (3, 5, 7), (33, 17, 13), (16, 64, 40), (2, 3, 50)] {
                    check_layout(Dims { n, k, m }, 1, Some(kernel), layout);
                }
                check_layout(
                    Dims {
                        n: 40,
                        k: 64,
                        m: 300,
                    },
                    2,
                    Some(kernel),
                    layout,
                );
            }
        }
        for layout in layouts {
            check_layout(Dims { n: 20, k: 0, m: 5 }, 1, None, layout);
            check_layout(
                Dims {
                    n: 128,
                    k: 384,
                    m: 1536,
                },
                2,
                None,
                layout,
            );
        }
    }

    /// `[rows][ld]` as the panels of [`Transposed::Panels`]: `[ld / 16][rows][16]`.
    fn to_panels(x: &[f32], rows: usize, ld: usize) -> Vec<f32> {
        let mut panels = vec![0.0; rows * ld];
        for i in 0..rows {
            for t in 0..ld {
                panels[Spacing::panels(rows).at(i, t)] = x[i * ld + t];
            }
        }
        panels
    }

    /// Products read and write panels as they do rows, to the bit, on every kernel: every
    /// token up to the padding, through an activation or adding, over one pass of `k` or
    /// several, on one thread or two, and the paths of one token and of `k` 0.
    #[test]
    fn products_read_and_write_panels_as_they_do_rows() {
        let layouts = [
            Layout::Columns(None),
            Layout::Columns(Some(Activation::Gelu)),
            Layout::AddColumns,
        ];
        let shapes = [
            (1, 7, 5),
            (3, 5, 7),
            (16, 64, 13),
            (33, 17, 40),
            (40, 1600, 20),
            (20, 0, 5),
            (2, 9, 13),
            (7, 384, 30),
        ];
        for (n, k, m) in shapes {
            let d = Dims { n, k, m };
            let mut rng = Rng::new((n * 31 + k * 7 + m) as u64);
            let (w, x, b) = (
                random(&mut rng, m * k),
                random(&mut rng, n * k),
                random(&mut rng, m),
            );
            let mut xt = Vec::new();
            let ld = transpose(&mut xt, &x, n, k);
            let x_panels = to_panels(&xt, k, ld);
            let before: Vec<f32> = (0..m * ld).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
            for layout in layouts {
                for (kernel, threads) in Kernel::available()
                    .into_iter()
                    .map(|k| (Some(k), 1))
                    .chain([(None, 2)])
                {
                    let product = |out: &mut [f32], spacing: Spacing, xt: Tokens<'_>| {
                        let (w, b) = (Weights::rows(&w, k), Some(&b[..]));
                        match kernel {
                            None => {
                                crate::threads::set(threads);
                                product_of(out, spacing, layout, w, b, xt, d);
                                crate::threads::set(0);
                            }
                            Some(kernel) if n > 1 && k > 0 => {
                                let p = Problem {
                                    w,
                                    b,
                                    xt,
                                    k,
                                    m,
                                    n,
                                    out: spacing,
                                    layout,
                                };
                                run(kernel, &p, out, threads);
                            }
                            Some(_) => product_of(out, spacing, layout, w, b, xt, d),
                        }
                    };
                    let mut rows = before.clone();
                    product(&mut rows, Spacing::rows(ld), Tokens::rows(&xt, ld));
                    assert_ne!(rows, before, "{d:?} {kernel:?} {layout:?} wrote nothing");
                    let mut panels = to_panels(&before, m, ld);
                    product(
                        &mut panels,
                        Spacing::panels(m),
                        Tokens::panels(&x_panels, k),
                    );
                    assert_eq!(
                        panels,
                        to_panels(&rows, m, ld),
                        "{d:?} {kernel:?} {layout:?}"
                    );
                }
            }
        }
    }

    /// A large residual must not coarsen the sum: adding is storing the product, then one
    /// addition, to the bit, on every kernel and tile size.
    #[test]
    fn adding_products_add_after_the_sum() {
        let d = Dims {
            n: 21,
            k: 300,
            m: 23,
        };
        let mut rng = Rng::new(8);
        let (w, x, b) = (
            random(&mut rng, d.m * d.k),
            random(&mut rng, d.n * d.k),
            random(&mut rng, d.m),
        );
        let mut xt = Vec::new();
        let ldx = transpose(&mut xt, &x, d.n, d.k);
        let residual: Vec<f32> = (0..d.m * ldx).map(|i| 1e4 + i as f32).collect();
        for kernel in Kernel::available() {
            let p = |layout| Problem {
                w: Weights::rows(&w, d.k),
                b: Some(&b),
                xt: Tokens::rows(&xt, ldx),
                k: d.k,
                m: d.m,
                n: d.n,
                out: Spacing::rows(ldx),
                layout,
            };
            let mut product = vec![0.0f32; d.m * ldx];
            run(kernel, &p(Layout::Columns(None)), &mut product, 1);
            let mut sum = residual.clone();
            run(kernel, &p(Layout::AddColumns), &mut sum, 1);
            for ((s, r), p) in sum.iter().zip(&residual).zip(&product) {
                assert_eq!(*s, r + p, "{kernel:?}");
            }
        }
    }

    fn check(d: Dims, threads: usize, kernel: Option<Kernel>) {
        check_layout(d, threads, kernel, Layout::Rows);
    }

    #[test]
    fn every_kernel_matches_the_reference_on_awkward_shapes() {
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (16, 64, 64),
            (33, 17, 13),
            (5, 384, 25),
            (70, 40, 100),
            (2, 3, 50),
        ];
        for kernel in Kernel::available() {
            for (n, k, m) in shapes {
                check(Dims { n, k, m }, 1, Some(kernel));
            }
        }
    }

    /// The rows of tiles `columns` takes for outputs `0..m` in one pass.
    fn tile_rows(kernel: Kernel, m: usize, layout: Layout) -> Vec<std::ops::Range<usize>> {
        let pass = Pass {
            k0: 0,
            len: 1,
            first: true,
            last: true,
        };
        let (mut o, mut rows) = (0, Vec::new());
        while o < m {
            let outputs = next_outputs(kernel, layout, pass, &(0..m), o);
            o = outputs.end;
            rows.push(outputs);
        }
        rows
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn tiles_cover_the_outputs_with_the_fewest_rows() {
        let layout = Layout::Columns(None);
        let avx2 = |m| tile_rows(Kernel::Avx2, m, layout);
        assert_eq!(avx2(32), [0..6, 6..12, 12..18, 18..24, 24..28, 28..32]);
        assert_eq!(avx2(13), [0..6, 6..10, 9..13]);
        assert_eq!(avx2(10), [0..6, 6..10]);
        assert_eq!(avx2(3), vec![0..3]);
        // Adding, nothing may be computed twice: a short tile at the end instead.
        let adding = tile_rows(Kernel::Avx2, 13, Layout::AddColumns);
        assert_eq!(adding, [0..6, 6..12, 12..13]);
        // Two small tiles would be more rows of the wide AVX-512 tile.
        let avx512 = tile_rows(Kernel::Avx512, 18, layout);
        assert_eq!(avx512, [0..16, 14..18]);
    }

    #[test]
    fn threads_split_columns_without_changing_results() {
        for kernel in Kernel::available() {
            check(
                Dims {
                    n: 40,
                    k: 64,
                    m: 300,
                },
                2,
                Some(kernel),
            );
            check(Dims { n: 3, k: 8, m: 5 }, 4, Some(kernel));
        }
        check(
            Dims {
                n: 128,
                k: 384,
                m: 1536,
            },
            2,
            None,
        );
    }

    /// Where a kernel sums `k` in passes, each pass after the first adds to what the one
    /// before stored, in every layout: the bias once, the activation after the last pass,
    /// the residual once, outputs past the last full tile not overlapped (they would be
    /// added twice), and 2 threads as 1.
    #[test]
    fn sums_longer_than_a_pass_add_pass_by_pass() {
        for kernel in Kernel::available() {
            let Some(most) = kernel.k_pass() else {
                continue;
            };
            for k in [most + 1, 2 * most + 37] {
                // 40 tokens are three tiles; 31 outputs end one short of a small tile.
                let d = Dims { n: 40, k, m: 31 };
                for layout in [
                    Layout::Rows,
                    Layout::Columns(None),
                    Layout::Columns(Some(Activation::Gelu)),
                    Layout::AddColumns,
                ] {
                    for threads in [1, 2] {
                        check_layout(d, threads, Some(kernel), layout);
                    }
                }
            }
        }
    }

    /// `k` a multiple of 1024 puts every weight row in one L1 set, so tiles with more rows
    /// than a set has ways (AVX-512's) read packed panels, the others rows in place; 200
    /// tokens make two token blocks, each packing its panels again.
    #[test]
    fn rows_that_share_a_cache_set_are_read_from_packed_panels() {
        let d = Dims {
            n: 200,
            k: 1024,
            m: 37,
        };
        assert!(kernels::rows_conflict(d.k));
        for kernel in Kernel::available() {
            for layout in [Layout::Rows, Layout::Columns(None), Layout::AddColumns] {
                check_layout(d, 1, Some(kernel), layout);
            }
            check_layout(d, 2, Some(kernel), Layout::Columns(None));
        }
    }

    /// Every kernel's tiles read weights packed `[k][rows]` as they read them in rows, to the
    /// bit, whether or not the kernel packs them itself at this `k`.
    #[test]
    fn packed_weight_panels_give_the_same_tiles_as_rows_in_place() {
        let (k, n) = (1024 + 8, 32);
        let mut rng = Rng::new(8);
        let x = random(&mut rng, n * k);
        let mut xt = Vec::new();
        let ldx = transpose(&mut xt, &x, n, k);
        let xt = Tokens::rows(&xt, ldx);
        for kernel in Kernel::available() {
            for rows in [kernel.mr(), kernel.mr_small()] {
                let w = random(&mut rng, rows * k);
                let b = random(&mut rng, rows);
                let mut panel = Vec::new();
                kernels::pack(&mut panel, &w, rows, k, k);
                let width = 2 * kernel.nr();
                let (mut in_place, mut packed) = (vec![0.0; rows * width], vec![0.0; rows * width]);
                for (dst, w) in [
                    (&mut in_place, (&w[..], (k, 1), rows, k)),
                    (&mut packed, (&panel[..], (1, rows), rows, k)),
                ] {
                    kernel.tiles(
                        (dst, width, TOKEN_PAD),
                        w,
                        (Some(&b), false),
                        xt,
                        (0, 2),
                        &[],
                    );
                }
                assert_eq!(in_place, packed, "{kernel:?}, {rows} rows");
            }
        }
    }

    /// A kernel that reads packed tokens computes, to the bit, what it computes from `xt` in
    /// place: same products, same order, in every layout.
    #[test]
    fn packed_tokens_give_the_same_products_as_tokens_in_place() {
        let mut rng = Rng::new(11);
        for kernel in Kernel::available().into_iter().filter(|k| k.packs_tokens()) {
            for (n, k, m) in [
                (1, 1, 1),
                (33, 17, 13),
                (16, 64, 40),
                (130, 40, 29),
                (70, 300, 6),
            ] {
                let d = Dims { n, k, m };
                let (w, x, b) = (
                    random(&mut rng, m * k),
                    random(&mut rng, n * k),
                    random(&mut rng, m),
                );
                let mut xt = Vec::new();
                let ldx = transpose(&mut xt, &x, n, k);
                for layout in [Layout::Rows, Layout::Columns(None), Layout::AddColumns] {
                    let p = Problem {
                        w: Weights::rows(&w, k),
                        b: Some(&b),
                        xt: Tokens::rows(&xt, ldx),
                        k,
                        m,
                        n,
                        out: Spacing::rows(if let Layout::Rows = layout { m } else { ldx }),
                        layout,
                    };
                    let len = if let Layout::Rows = layout {
                        n * m
                    } else {
                        m * ldx
                    };
                    let mut in_place = vec![0.5f32; len];
                    run_packed(kernel, &p, &mut in_place, 1);
                    let mut panels = Vec::new();
                    let packed = Problem {
                        xt: pack_tokens(&mut panels, p.xt, k, n),
                        ..p
                    };
                    let mut from_panels = vec![0.5f32; len];
                    run_packed(kernel, &packed, &mut from_panels, 1);
                    assert_eq!(in_place, from_panels, "{kernel:?} {layout:?} {d:?}");
                }
            }
        }
    }

    #[test]
    fn zero_inner_dimension_gives_the_bias() {
        let mut out = [9.0f32; 6];
        gemm_nt(
            &mut out,
            &[],
            Some(&[1.0, 2.0, 3.0]),
            &[],
            Dims { n: 2, k: 0, m: 3 },
        );
        assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    }
}

//! The product of one token: `out[o] = Σₖ w[o][k] · x[k] + b[o]`, a matrix–vector product.
//!
//! A decoder generating text runs every layer on one new token at a time. The tile kernels
//! compute [`TOKEN_PAD`](super::TOKEN_PAD) tokens at once, fifteen of them padding here; this
//! path reads each weight row once and multiplies it by the one token, so the product costs
//! what streaming the weights from memory costs. Rows are split between threads.

use std::cell::RefCell;

use super::{Layout, Weights};
use crate::fastmath::{MulAdd, Vectorise, vectorised};

thread_local! {
    /// The token gathered from its column of `xt`, and the `m` outputs before they are
    /// stored: grown to the largest call, then reused.
    static VECTORS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Rows are not split between threads below this many multiply-adds per thread.
const MIN_WORK_PER_THREAD: usize = 1 << 15;

/// The product of `w` (`m` rows of `k`, each row dense, `w.col == 1`, or each column
/// dense, `w.row == 1`: attention's keys read from `Kᵀ`) with token 0 of `xt`
/// (`[k][ldx]`), plus `b`, stored as `layout` says into `out` (rows of `ld_out`): `Rows`
/// writes `out[o]`; `Columns` writes `act(·)` to `out[o·ld_out]` and zeros to the padding
/// columns after it, up to [`TOKEN_PAD`](super::TOKEN_PAD); `AddColumns` adds to
/// `out[o·ld_out]` and leaves the padding as it is. The caller has checked every length.
#[expect(clippy::too_many_arguments, reason = "as `product`")]
pub(super) fn product_one(
    out: &mut [f32],
    ld_out: usize,
    layout: Layout,
    w: Weights<'_>,
    b: Option<&[f32]>,
    xt: &[f32],
    ldx: usize,
    (k, m): (usize, usize),
) {
    VECTORS.with_borrow_mut(|(x, values)| {
        let x = crate::heap::grown(x, k);
        for (kk, v) in x.iter_mut().enumerate() {
            *v = xt[kk * ldx];
        }
        let x = &*x;
        let values = crate::heap::grown(values, m);
        let grain = (MIN_WORK_PER_THREAD / k.max(1)).max(1);
        crate::threads::for_each_piece_at(values, grain, &|first, piece| {
            if w.col == 1 {
                vectorised(Rows {
                    w,
                    x,
                    first,
                    out: piece,
                });
            } else {
                vectorised(Columns {
                    w,
                    x,
                    first,
                    out: piece,
                });
            }
        });
        let bias = |o: usize| b.map_or(0.0, |b| b[o]);
        let pad = super::TOKEN_PAD;
        match layout {
            Layout::Rows => {
                for (o, (out, &v)) in out.iter_mut().zip(&*values).enumerate() {
                    *out = v + bias(o);
                }
            }
            Layout::Columns(activation) => {
                for (o, (row, &v)) in out.chunks_mut(ld_out).zip(&*values).enumerate() {
                    let v = v + bias(o);
                    row[0] = activation.map_or(v, |act| act.apply_one(v));
                    row[1..pad].fill(0.0);
                }
            }
            Layout::AddColumns => {
                for (o, (row, &v)) in out.chunks_mut(ld_out).zip(&*values).enumerate() {
                    row[0] += v + bias(o);
                }
            }
        }
    });
}

/// `out[i] = w[first + i] · x` for each output of a run, as one vectorised loop nest.
struct Rows<'a> {
    w: Weights<'a>,
    x: &'a [f32],
    first: usize,
    out: &'a mut [f32],
}

impl Vectorise for Rows<'_> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let k = self.x.len();
        for (i, out) in self.out.iter_mut().enumerate() {
            let row = &self.w.data[(self.first + i) * self.w.row..][..k];
            *out = dot::<M>(row, self.x);
        }
    }
}

/// `out[i] = Σₖ w[k][first + i] · x[k]` for a `w` whose columns are dense (`w.row == 1`):
/// one multiply-add of a row of `w` into the outputs per input.
struct Columns<'a> {
    w: Weights<'a>,
    x: &'a [f32],
    first: usize,
    out: &'a mut [f32],
}

impl Vectorise for Columns<'_> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let len = self.out.len();
        self.out.fill(0.0);
        for (kk, &x) in self.x.iter().enumerate() {
            let row = &self.w.data[kk * self.w.col + self.first..][..len];
            for (out, &w) in self.out.iter_mut().zip(row) {
                *out = M::mul_add(w, x, *out);
            }
        }
    }
}

/// How far ahead of the row being read its weights are fetched: the stream outruns the
/// hardware prefetcher's ramp at each new matrix.
const PREFETCH_AHEAD: usize = 512;

/// Asks for the cache line at `at` (which may lie past the weights: prefetching an address
/// reads nothing and cannot fault).
#[inline(always)]
fn prefetch(at: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint: it dereferences nothing and never faults, whatever the
    // address; SSE, which has it, is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// `Σ aᵢ bᵢ` with sixteen independent partial sums, so the loop vectorises and no add waits
/// on the one before.
#[inline(always)]
fn dot<M: MulAdd>(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_tail) = a.as_chunks::<16>();
    let (b_chunks, b_tail) = b.as_chunks::<16>();
    let mut acc = [0.0f32; 16];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        prefetch(x.as_ptr().wrapping_add(PREFETCH_AHEAD));
        for lane in 0..16 {
            acc[lane] = M::mul_add(x[lane], y[lane], acc[lane]);
        }
    }
    for (lane, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[lane] = M::mul_add(*x, *y, acc[lane]);
    }
    let mut half = [0.0f32; 8];
    for lane in 0..8 {
        half[lane] = acc[lane] + acc[lane + 8];
    }
    (half[0] + half[4]) + (half[1] + half[5]) + ((half[2] + half[6]) + (half[3] + half[7]))
}

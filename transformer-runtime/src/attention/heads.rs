//! The heads' core of attention: each head's scores, their softmax down columns and the
//! weighted sum of the values, on tokens held transposed, heads claimed by threads.

use super::{Attend, AttentionScratch, MultiHeadAttention};
use crate::fastmath::{MulAdd, Vectorise, exp_with, vectorised};
use crate::gemm::{
    Dims, Layout, Spacing, TOKEN_PAD, Tokens, Weights, panels_of, product, product_of,
};
use crate::heap::grown;

/// What one thread needs to compute a head.
#[derive(Clone, Debug, Default)]
pub(super) struct HeadScratch {
    /// `Sᵀ` of a block of queries, `[m][block]`.
    pub(super) scores: Vec<f32>,
    /// The soft-maxed scores (but for the division) in `[m_pad][16]` panels of 16 queries,
    /// as the weighted sum's tile reads them; rows past `m` zero.
    pub(super) panels: Vec<f32>,
    /// `K_hᵀ` at a stride that spreads its rows over L1's sets, where `Kᵀ`'s does not.
    pub(super) keys: Vec<f32>,
    pub(super) column_max: Vec<f32>,
    pub(super) column_sum: Vec<f32>,
}

/// Heads are computed in parallel only when each thread gets this many multiply-adds.
const MIN_WORK_PER_THREAD: usize = 1 << 15;

impl<const D: usize, const H: usize, const DH: usize, const KVD: usize>
    MultiHeadAttention<D, H, DH, KVD>
{
    /// The heads of the `n` queries in `scratch.qt` attending to `m` keys and values, given
    /// transposed as `(Kᵀ, Vᵀ, ld)` (`[KVD][ld]` each, `ld ≥ m` rounded up to
    /// [`TOKEN_PAD`]), into `scratch.context_t`.
    ///
    /// Heads run in parallel, claimed one at a time by threads with a scratch each, head `h`
    /// writing rows `h·DH..` of the context.
    pub(super) fn attend(
        n: usize,
        keys: (&[f32], &[f32], usize),
        m: usize,
        mask: &Attend<'_>,
        scratch: &mut AttentionScratch,
    ) {
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        let qt = &scratch.qt[..D * n_pad];
        let work = 2 * n * m * D;
        let threads = crate::threads::get()
            .min(H)
            .min((work / MIN_WORK_PER_THREAD).max(1));
        if scratch.heads.len() < threads {
            scratch.heads.resize_with(threads, HeadScratch::default);
        }
        let context_t = grown(&mut scratch.context_t, D * n_pad);
        crate::threads::for_each_chunk_claimed(
            &mut scratch.heads[..threads],
            context_t,
            DH * n_pad,
            &|head_scratch, h, out| {
                let kv = h / Self::GROUP;
                Self::attend_head((h, kv), qt, keys, (n, m), mask, head_scratch, out);
            },
        );
    }

    /// Query head `h` of `n` queries against key/value head `kv` of `m` keys and values, all
    /// transposed and projected (`qt`: `[D][n_pad]`, scaled by `1/√DH`; `keys`: `Kᵀ` and
    /// `Vᵀ`, `[KVD][ld]`), into `out` as `[DH][n_pad]`.
    ///
    /// Two products, each reading its operands where they lie: the scores transposed,
    /// `Sᵀ = K_h (Q_h/√DH)ᵀ` (`[m][n]`: column `i` holds query `i`'s scores; `K_h` is read
    /// from `Kᵀ` with strides), soft-maxed down each column into the panels the second
    /// product's tile reads, then `context_hᵀ = V_hᵀ S`.
    /// Queries go in blocks ([`query_block`]) so that a block's scores stay in L2 from the
    /// first product through the softmax to the second.
    fn attend_head(
        (h, kv): (usize, usize),
        qt: &[f32],
        (kt, vt, ld): (&[f32], &[f32], usize),
        (n, m): (usize, usize),
        mask: &Attend<'_>,
        scratch: &mut HeadScratch,
        out: &mut [f32],
    ) {
        let (n_pad, m_pad) = (n.next_multiple_of(TOKEN_PAD), m.next_multiple_of(TOKEN_PAD));
        // K_kv: element (key j, lane d) at kt[(kv·DH + d)·ld + j]. A tile reads a few keys
        // of every lane d, one line each `ld` apart: at a stride of a multiple of 1 KiB those
        // `DH` lines fall in at most four of L1's 64 sets and evict each other for every
        // token tile. There, when there are several token tiles (not in a decoding step),
        // the head's rows are copied first, a line further apart.
        let head_kt = &kt[kv * DH * ld..][..DH * ld];
        let head_k = if spreads_keys(ld) && n > TOKEN_PAD {
            let stride = spread(m_pad);
            let copy = grown(&mut scratch.keys, DH * stride);
            for (to, from) in copy.chunks_exact_mut(stride).zip(head_kt.chunks_exact(ld)) {
                to[..m_pad].copy_from_slice(&from[..m_pad]);
            }
            Weights {
                data: &scratch.keys[..DH * stride],
                row: 1,
                col: stride,
            }
        } else {
            Weights {
                data: head_kt,
                row: 1,
                col: ld,
            }
        };
        // V_kvᵀ is `[DH][ld]`: weights over the first `m_pad` keys, padding included (its
        // scores are zero, and what it holds is finite).
        let head_vt = Weights::rows(&vt[kv * DH * ld..][..DH * ld], ld);
        let block = query_block(m_pad);
        for first in (0..n).step_by(block) {
            // Queries `first..first + len`; the columns of `qt` and `out` from `first` on.
            let len = block.min(n - first);
            let len_pad = len.next_multiple_of(TOKEN_PAD);
            let scores = grown(&mut scratch.scores, m * len_pad);
            let head_qt = &qt[h * DH * n_pad + first..][..(DH - 1) * n_pad + len_pad];
            product(
                scores,
                len_pad,
                Layout::Columns(None),
                head_k,
                None,
                head_qt,
                n_pad,
                Dims { n: len, k: DH, m },
            );
            let panels = panels_of(&mut scratch.panels, len_pad, m_pad);
            softmax_columns(
                (scores, len_pad),
                (first, len, n),
                mask,
                (&mut scratch.column_max, &mut scratch.column_sum),
                panels,
            );
            let out = &mut out[first..][..(DH - 1) * n_pad + len_pad];
            product_of(
                out,
                Spacing::rows(n_pad),
                Layout::Columns(None),
                head_vt,
                None,
                Tokens::panels(panels, m_pad),
                Dims {
                    n: len,
                    k: m_pad,
                    m: DH,
                },
            );
            // The softmax's division, on the `DH` context rows rather than the `m` score rows.
            let inverse_sums = &scratch.column_sum[..len];
            for row in out.chunks_mut(n_pad).take(DH) {
                for (v, &inverse) in row[..len].iter_mut().zip(inverse_sums) {
                    *v *= inverse;
                }
            }
        }
    }
}

/// Whether a head copies its rows of `Kᵀ`, `ld` apart, to a wider stride before the scores
/// product reads them (see `attend_head`).
pub(super) fn spreads_keys(ld: usize) -> bool {
    ld.is_multiple_of(256)
}

/// The stride of the copy of a head's rows of `Kᵀ` where it [`spreads_keys`]: room for the
/// first `m_pad` keys, and never a multiple of 1 KiB.
pub(super) fn spread(m_pad: usize) -> usize {
    m_pad.next_multiple_of(256) + TOKEN_PAD
}

/// How many queries a head takes at a time against `m_pad` keys: as many as keep their
/// transposed scores (`[m_pad][block]`) within a quarter of the L2, in whole tiles of
/// [`TOKEN_PAD`]. At 128 keys, 256 queries on a 512 KiB L2 (so 128 tokens are one block);
/// at 512 keys, 64 on a Zen 3 and 128 on a Zen 4, where all 512 queries' scores (1 MiB a
/// head) would go through the softmax and the second product from L3.
pub(super) fn query_block(m_pad: usize) -> usize {
    let fits = crate::cpu::l2_bytes() / 4 / size_of::<f32>() / m_pad.max(1);
    fits.max(TOKEN_PAD) / TOKEN_PAD * TOKEN_PAD
}

/// Softmax down each column of the transposed scores `st` (`[m][ld]`: row `j` is key `j`,
/// column `i < n` is query `first + i` of `queries`), after masking what that query may not
/// see, written to `panels` (`[m_pad][16]` for each 16 columns; rows past `m` zero) but for
/// the division: the columns are left as `exp(s − max)` and `sum[i]` holds what column `i`
/// is to be multiplied by (`1/Σ`, or 0 where a query may see no key), which the caller
/// applies to the far fewer numbers of the weighted sum. Columns from `n` to `ld` (padding
/// queries) go through the same steps unmasked. Rows are whole vectors, so every step is a
/// vectorised pass over a row.
fn softmax_columns(
    (st, ld): (&mut [f32], usize),
    (first, n, queries): (usize, usize, usize),
    mask: &Attend<'_>,
    (max, sum): (&mut Vec<f32>, &mut Vec<f32>),
    panels: &mut [f32],
) {
    let m = st.len() / ld;
    let rows = || (0..m).map(|j| j * ld..j * ld + n);
    // Column i is query first + i, at position first + i + offset of the keys; causal
    // masking hides keys j > first + i + offset.
    let offset = m.saturating_sub(queries) + first;
    let valid = mask.valid_keys.map_or(m, |v| v.min(m));
    let masked = mask.causal || valid < m || mask.keys.is_some() || mask.additive.is_some();
    for (j, row) in rows().enumerate().take(if masked { m } else { 0 }) {
        let row = &mut st[row];
        let padding = mask
            .keys
            .is_some_and(|keys| !keys.get(j).copied().unwrap_or(false));
        if j >= valid || padding {
            row.fill(f32::NEG_INFINITY);
            continue;
        }
        if mask.causal && j > offset {
            row[..(j - offset).min(n)].fill(f32::NEG_INFINITY);
        }
        if let Some(additive) = mask.additive {
            for (i, score) in row.iter_mut().enumerate() {
                *score += additive.get((first + i) * m + j).copied().unwrap_or(0.0);
            }
        }
    }
    vectorised(ColumnSoftmax {
        st,
        ld,
        max: grown(max, ld),
        sum: grown(sum, ld),
        panels,
    });
}

/// The softmax of [`softmax_columns`] after masking, as one vectorised loop nest.
struct ColumnSoftmax<'a> {
    /// `[m][ld]`, soft-maxed down every column.
    st: &'a [f32],
    ld: usize,
    /// `ld` numbers of working memory each.
    max: &'a mut [f32],
    sum: &'a mut [f32],
    /// `[m_pad][16]` for each 16 columns of `st`.
    panels: &'a mut [f32],
}

impl Vectorise for ColumnSoftmax<'_> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        let Self {
            st,
            ld,
            max,
            sum,
            panels,
        } = self;
        max.fill(f32::NEG_INFINITY);
        for row in st.chunks_exact(ld) {
            for (m, &s) in max.iter_mut().zip(row) {
                *m = m.max(s);
            }
        }
        // A query that may see no key: shifting by 0 makes its weights exp(-∞) = 0.
        for m in max.iter_mut() {
            if *m == f32::NEG_INFINITY {
                *m = 0.0;
            }
        }
        sum.fill(0.0);
        let panel = panels.len() / (ld / TOKEN_PAD);
        for (j, row) in st.chunks_exact(ld).enumerate() {
            let columns = row.chunks_exact(TOKEN_PAD).zip(max.chunks_exact(TOKEN_PAD));
            let totals = sum.chunks_exact_mut(TOKEN_PAD);
            for (c, ((scores, max), totals)) in columns.zip(totals).enumerate() {
                let out = &mut panels[c * panel + j * TOKEN_PAD..][..TOKEN_PAD];
                for (((e, &s), &m), total) in out.iter_mut().zip(scores).zip(max).zip(totals) {
                    *e = exp_with::<M>(s - m);
                    *total += *e;
                }
            }
        }
        // Padding keys weigh nothing (with no keys at all, there are no panels).
        let m = st.len() / ld;
        if panel > 0 {
            for panel in panels.chunks_exact_mut(panel) {
                panel[m * TOKEN_PAD..].fill(0.0);
            }
        }
        for total in sum.iter_mut() {
            *total = if *total > 0.0 { 1.0 / *total } else { 0.0 };
        }
    }
}

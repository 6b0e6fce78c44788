//! Scaled dot-product attention, for one head and for several: the mask as kernels take it,
//! multi-head attention's projections, cache steps and output here, the heads' core (scores,
//! softmax, weighted values) in `heads.rs`.
//!
//! Row-vector convention throughout: token `t` is row `t`; `Q = X W_Qᵀ`, with `W_Q` stored
//! `[out][in]` as PyTorch stores it.

use crate::cache::KvLayer;
use crate::fastmath::{Scale, for_each_vectorised};
use crate::format::Transposed::{self, Rows};
#[cfg(test)]
use crate::gemm::untranspose;
use crate::gemm::{TOKEN_PAD, shared_tokens, transpose};
use crate::heap::grown;
use crate::matmul::{Linear, dot};
use crate::rope::{Angles, Rope};
use crate::softmax::softmax;

mod heads;

use heads::HeadScratch;

/// Which keys each query may attend to, as the kernels take it: the public [`Mask`],
/// [`MemoryMask`] and [`Padding`] of a run combined. The default lets every query see every
/// key.
///
/// [`Mask`]: crate::Mask
/// [`MemoryMask`]: crate::MemoryMask
/// [`Padding`]: crate::Padding
///
/// Conventions (the same across the crate):
/// - `keys[j] == true` means key `j` is a real token that may be attended to; `false` marks
///   padding. (PyTorch's `key_padding_mask` is the opposite: `True` there means *ignore*.)
/// - With `n` queries and `m ≥ n` keys, query `i` sits at position `i + m − n`; `causal`
///   hides every key after that position.
/// - A query that may see no key at all gets a zero output row (PyTorch gives NaN).
#[derive(Clone, Copy, Debug, Default)]
pub struct Attend<'a> {
    /// Hide the keys after each query's own position (a decoder's masked self-attention).
    pub causal: bool,
    /// Only keys `0..valid_keys` are real tokens; the rest are padding.
    pub valid_keys: Option<usize>,
    /// One flag per key: `true` = attend, `false` = padding.
    pub keys: Option<&'a [bool]>,
    /// Added to the scaled scores before the softmax: `[n][m]` row-major, `-∞` to hide.
    pub additive: Option<&'a [f32]>,
}

impl Attend<'_> {
    /// A decoder's self-attention mask: each query sees itself and the keys before it.
    pub const CAUSAL: Attend<'static> = Attend {
        causal: true,
        valid_keys: None,
        keys: None,
        additive: None,
    };

    /// How many leading keys query `i` of `n` may consider, before flags and additive terms.
    fn visible(&self, i: usize, n: usize, m: usize) -> usize {
        let mut visible = self.valid_keys.map_or(m, |v| v.min(m));
        if self.causal {
            visible = visible.min(i + m.saturating_sub(n) + 1);
        }
        visible
    }
}

/// One head: `out[i] = Σⱼ softmax_j(q[i]·k[j] / √DK + mask[i][j]) · v[j]`; the public form
/// is `ops::scaled_dot_product_attention`.
///
/// Layout: `q` is `[n][DK]`, `k` is `[m][DK]`, `v` is `[m][DV]`, `out` is `[n][DV]`, and
/// `scores` holds at least `m` numbers of working memory.
pub(crate) fn scaled_dot_product_attention<const DK: usize, const DV: usize>(
    out: &mut [[f32; DV]],
    q: &[[f32; DK]],
    k: &[[f32; DK]],
    v: &[[f32; DV]],
    mask: &Attend<'_>,
    scores: &mut [f32],
) {
    let (n, m) = (q.len(), k.len().min(v.len()));
    let scale = 1.0 / (DK as f32).sqrt();
    for (i, (out_row, q_row)) in out.iter_mut().zip(q).enumerate() {
        let visible = mask.visible(i, n, m).min(scores.len());
        let weights = &mut scores[..visible];
        for (j, score) in weights.iter_mut().enumerate() {
            let hidden = mask
                .keys
                .is_some_and(|keys| !keys.get(j).copied().unwrap_or(false));
            let bias = mask
                .additive
                .and_then(|a| a.get(i * m + j))
                .copied()
                .unwrap_or(0.0);
            *score = if hidden {
                f32::NEG_INFINITY
            } else {
                dot(q_row, &k[j]) * scale + bias
            };
        }
        softmax(weights);
        out_row.fill(0.0);
        for (&p, v_row) in weights.iter().zip(v) {
            if p != 0.0 {
                for (o, x) in out_row.iter_mut().zip(v_row) {
                    *o += p * x;
                }
            }
        }
    }
}

/// Working memory of the attention steps. Grows to the largest sequence seen and is reused:
/// after the first call of a given size, a forward pass allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct AttentionScratch {
    /// The queries' tokens transposed, `[D][n_pad]` (the tests' row-layout path only).
    #[cfg(test)]
    xt: Vec<f32>,
    /// The keys' tokens transposed, `[D][m_pad]` (cross-attention only).
    memory_t: Vec<f32>,
    /// `(Q/√DH)ᵀ`, `[D][n_pad]`: head `h`'s queries are rows `h·DH..`, ready to be an `xt`.
    qt: Vec<f32>,
    /// `Kᵀ`, `[KVD][m_pad]`: key/value head `g`'s keys are rows `g·DH..`, read as weights in
    /// place.
    kt: Vec<f32>,
    /// `Vᵀ`, `[KVD][m_pad]`: key/value head `g`'s values are rows `g·DH..`, ready to be
    /// weights.
    vt: Vec<f32>,
    /// The queries' tokens in panels, `D · n_pad`, where self-attention packs them once for
    /// its three products.
    x_panels: Vec<f32>,
    /// The rotary embedding's cosines and sines at the current positions.
    angles: Angles,
    /// The heads' outputs transposed, `[D][n_pad]`: the output projection's `xt`.
    context_t: Vec<f32>,
    /// The output transposed, `[D][n_pad]` (the tests' row-layout path only).
    #[cfg(test)]
    out_t: Vec<f32>,
    /// One per thread computing heads.
    heads: Vec<HeadScratch>,
}

impl AttentionScratch {
    /// Memory for `queries` query rows and `keys` key rows of width `d_model`, for tokens
    /// that stay transposed ([`MultiHeadAttention::add_transposed`], as a model's stack
    /// runs), reserved now so that no later step of at most that size allocates.
    pub fn transposed_only(queries: usize, keys: usize, d_model: usize) -> Self {
        let buf = |len: usize| vec![0.0; len];
        let (n_pad, m_pad) = (
            queries.next_multiple_of(TOKEN_PAD),
            keys.next_multiple_of(TOKEN_PAD),
        );
        let block = n_pad.min(heads::query_block(m_pad));
        let mut panels = Vec::new();
        crate::gemm::panels_of(&mut panels, block, m_pad);
        let head = HeadScratch {
            scores: buf(m_pad * block),
            panels,
            keys: buf(if heads::spreads_keys(m_pad) {
                d_model * heads::spread(m_pad)
            } else {
                0
            }),
            column_max: buf(n_pad),
            column_sum: buf(n_pad),
        };
        Self {
            #[cfg(test)]
            xt: Vec::new(),
            memory_t: buf(d_model * m_pad),
            qt: buf(d_model * n_pad),
            kt: buf(d_model * m_pad),
            vt: buf(d_model * m_pad),
            x_panels: buf(d_model * n_pad + TOKEN_PAD),
            angles: Angles::default(),
            context_t: buf(d_model * n_pad),
            heads: vec![head; crate::threads::get()],
            #[cfg(test)]
            out_t: Vec::new(),
        }
    }

    /// Numbers held for the row-layout entry points (their transposed input and output).
    #[cfg(test)]
    pub(crate) fn row_layout_len(&self) -> usize {
        self.xt.len() + self.out_t.len()
    }
}

/// Multi-head attention with `H` heads of `DH` lanes over width `D = H·DH`: PyTorch's
/// `nn.MultiheadAttention(D, H)`, with q, k and v as three projections instead of one
/// stacked `in_proj_weight`.
///
/// Keys and values may have fewer heads than queries (grouped-query attention; multi-query
/// with one): `KVD = KVH·DH` lanes for `KVH` key/value heads, query head `h` reading
/// key/value head `h / (H / KVH)`. `KVD` defaults to `D`, one key/value head per query head.
///
/// With a [`Rope`], self-attention rotates each token's queries and keys by its position
/// (query `i` of `n` attending to `m` keys sits at position `m − n + i`, key `j` at `j`).
#[derive(Clone, Debug, PartialEq)]
pub struct MultiHeadAttention<const D: usize, const H: usize, const DH: usize, const KVD: usize = D>
{
    /// Query projection `[D][D]` (rows `0..D` of PyTorch's `in_proj_weight`).
    pub w_q: Linear<D, D>,
    /// Key projection `[KVD][D]` (rows `D..D+KVD` of `in_proj_weight`).
    pub w_k: Linear<D, KVD>,
    /// Value projection `[KVD][D]` (rows `D+KVD..D+2·KVD` of `in_proj_weight`).
    pub w_v: Linear<D, KVD>,
    /// Output projection `[D][D]` (`out_proj`), or `None` where the heads' concatenation is
    /// the output (`out_proj: false`).
    pub w_o: Option<Linear<D, D>>,
    /// The rotary position embedding applied to queries and keys in self-attention, if any.
    pub rope: Option<Rope>,
}

impl<const D: usize, const H: usize, const DH: usize, const KVD: usize>
    MultiHeadAttention<D, H, DH, KVD>
{
    const HEADS_TILE_WIDTH: () = {
        assert!(H * DH == D && DH > 0, "heads · d_head must equal d_model");
        assert!(
            KVD.is_multiple_of(DH) && KVD > 0 && H.is_multiple_of(KVD / DH),
            "the key/value width must be a whole number of heads dividing the query heads"
        );
    };

    /// Query heads per key/value head.
    const GROUP: usize = H / (KVD / DH);

    /// Learned numbers: the `[D][D]` query (and, with `out_proj`, output) projections, the
    /// `[KVD][D]` key and value projections, and their biases.
    pub const fn parameters(bias: bool, out_proj: bool) -> usize {
        let square = Linear::<D, D>::parameters(bias);
        let (q_o, kv) = (if out_proj { 2 } else { 1 }, 2);
        q_o * square + kv * Linear::<D, KVD>::parameters(bias)
    }

    /// Floating-point operations (a multiply-add counts 2) of `queries` tokens attending to
    /// `keys` tokens: the projections, `QKᵀ` and the weighted sum of values, counting every
    /// query–key pair (softmax and masks are not counted).
    pub const fn flops(queries: usize, keys: usize, out_proj: bool) -> u64 {
        let (n, m, d, kvd) = (queries as u64, keys as u64, D as u64, KVD as u64);
        let projections =
            2 * n * d * d + 2 * 2 * m * d * kvd + if out_proj { 2 * n * d * d } else { 0 };
        projections + 2 * 2 * n * m * d
    }

    /// All weights and biases zero.
    pub fn zeroed(bias: bool, out_proj: bool) -> Self {
        let () = Self::HEADS_TILE_WIDTH;
        Self {
            w_q: Linear::zeroed(bias),
            w_k: Linear::zeroed(bias),
            w_v: Linear::zeroed(bias),
            w_o: out_proj.then(|| Linear::zeroed(bias)),
            rope: None,
        }
    }

    /// Xavier-uniform weights as `nn.Transformer` initialises them (q, k, v drawn as one
    /// `[D+2·KVD][D]` matrix, the output projection as `[D][D]`), zero biases.
    pub fn xavier(rng: &mut crate::init::Rng, bias: bool, out_proj: bool) -> Self {
        let () = Self::HEADS_TILE_WIDTH;
        let stacked = D + 2 * KVD;
        Self {
            w_q: Linear::xavier(rng, stacked, bias),
            w_k: Linear::xavier(rng, stacked, bias),
            w_v: Linear::xavier(rng, stacked, bias),
            w_o: out_proj.then(|| Linear::xavier(rng, D, bias)),
            rope: None,
        }
    }

    /// This attention with `rope` applied to its queries and keys in self-attention.
    pub fn with_rope(self, rope: Rope) -> Self {
        Self {
            rope: Some(rope),
            ..self
        }
    }

    /// `out = concat_h(attention_h(x W_Qᵀ, memory W_Kᵀ, memory W_Vᵀ)) W_Oᵀ + b_O`.
    ///
    /// `x` is `[n][D]` (the queries' tokens), `memory` is `[m][D]` (the keys' and values'
    /// tokens: `x` itself for self-attention, the encoder output for cross-attention),
    /// `out` is `[n][D]`.
    ///
    /// Every product writes its result transposed (`gemm_xt_transposed`), which is what
    /// the next one reads, so the tokens are transposed once on the way in (twice with a
    /// separate memory) and the result once on the way out: `Qᵀ`, `Kᵀ` and `Vᵀ` come out of
    /// their projections, each head's scores are computed transposed, `Sᵀ = K_h (Q_h/√DH)ᵀ`
    /// (`[m][n]`: column `i` holds query `i`'s scores) and soft-maxed down each column, and
    /// each head's context comes out transposed, straight into the output projection.
    ///
    /// The row-layout form of [`Self::add_transposed`], which models run; the tests check
    /// the math through it.
    #[cfg(test)]
    pub(crate) fn forward(
        &self,
        out: &mut [[f32; D]],
        x: &[[f32; D]],
        memory: &[[f32; D]],
        mask: &Attend<'_>,
        scratch: &mut AttentionScratch,
    ) {
        let n = out.len().min(x.len());
        let (out_t, ld) = self.forward_transposed(&x[..n], memory, mask, scratch);
        untranspose(out[..n].as_flattened_mut(), n, D, out_t, ld);
    }

    /// [`Self::forward`] with the result left transposed: `[D][ld]` in `scratch`, `ld` (also
    /// returned) being `n` rounded up to [`TOKEN_PAD`].
    #[cfg(test)]
    fn forward_transposed<'s>(
        &self,
        x: &[[f32; D]],
        memory: &[[f32; D]],
        mask: &Attend<'_>,
        scratch: &'s mut AttentionScratch,
    ) -> (&'s [f32], usize) {
        let n = x.len();
        if n == 0 {
            return (&[], TOKEN_PAD);
        }
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        // Out of the scratch while `context` borrows the rest of it (a move: no allocation).
        let mut xt = std::mem::take(&mut scratch.xt);
        transpose(&mut xt, x.as_flattened(), n, D);
        let memory = (!std::ptr::eq(x, memory)).then_some(memory);
        self.context(&xt, n, memory, mask, scratch);
        scratch.xt = xt;
        let context_t = &scratch.context_t[..D * n_pad];
        match &self.w_o {
            Some(w_o) => {
                let out_t = grown(&mut scratch.out_t, D * n_pad);
                let context = (context_t, Rows(n_pad));
                w_o.forward_transposed((&mut *out_t, Rows(n_pad)), context, n, None);
                (out_t, n_pad)
            }
            None => (context_t, n_pad),
        }
    }

    /// `xᵀ += attention(input, memory)ᵀ` for `n` tokens held transposed: `xt` is `[D][ld]`,
    /// `ld` being `n` rounded up to [`TOKEN_PAD`]; `input` (the same shape) is what the
    /// queries are made from, or `None` for `xt` itself; `memory` is the keys' and values'
    /// tokens as rows (cross-attention), or `None` for self-attention on `input`. The
    /// residual connection of a sublayer, with the sum made in the output projection's
    /// store.
    pub(crate) fn add_transposed(
        &self,
        xt: &mut [f32],
        n: usize,
        input: Option<&[f32]>,
        memory: Option<&[[f32; D]]>,
        mask: &Attend<'_>,
        scratch: &mut AttentionScratch,
    ) {
        if n == 0 {
            return;
        }
        self.context(input.unwrap_or(&*xt), n, memory, mask, scratch);
        self.add_output(xt, n, &scratch.context_t);
    }

    /// `xᵀ += (context W_Oᵀ + b_O)ᵀ`, or `xᵀ += contextᵀ` without an output projection: the
    /// heads' outputs `context_t` (`[D][n_pad]`) added to the `n` tokens `xt` as the
    /// residual connection.
    fn add_output(&self, xt: &mut [f32], n: usize, context_t: &[f32]) {
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        let context_t = &context_t[..D * n_pad];
        match &self.w_o {
            Some(w_o) => w_o.forward_add_transposed((xt, Rows(n_pad)), (context_t, Rows(n_pad)), n),
            None => {
                for (x, c) in xt[..D * n_pad].iter_mut().zip(context_t) {
                    *x += c;
                }
            }
        }
    }

    /// `xᵀ += attention(input)ᵀ` for `n` new tokens held transposed, as
    /// [`Self::add_transposed`] does for self-attention, with the keys and values of the
    /// tokens before them in `cache` (`start` of them): the new tokens sit at positions
    /// `start..start + n`, their keys and values are appended to `cache`, and each attends
    /// causally to every token up to itself. The step of a decoder that generates.
    pub(crate) fn add_cached_transposed(
        &self,
        xt: &mut [f32],
        n: usize,
        input: Option<&[f32]>,
        cache: &mut KvLayer,
        start: usize,
        scratch: &mut AttentionScratch,
    ) {
        if n == 0 {
            return;
        }
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        let input = input.unwrap_or(&*xt);
        self.project(input, n, None, start, scratch);
        cache.append(&scratch.kt, &scratch.vt, n_pad, KVD, start, n);
        let (kt, vt, ld) = (&cache.kt[..], &cache.vt[..], cache.ld);
        Self::attend(n, (kt, vt, ld), start + n, &Attend::CAUSAL, scratch);
        self.add_output(xt, n, &scratch.context_t);
    }

    /// Projects the keys and values of the encoder `memory` (`[m][D]` rows) into `cache`: what
    /// this cross-attention sublayer attends to at every step of a decoder that generates,
    /// computed once per memory instead of once per step.
    pub(crate) fn remember(
        &self,
        memory: &[[f32; D]],
        cache: &mut KvLayer,
        scratch: &mut AttentionScratch,
    ) {
        let m = memory.len();
        transpose(&mut scratch.memory_t, memory.as_flattened(), m, D);
        let into = (&mut cache.memory_kt, &mut cache.memory_vt);
        let memory_t = (&scratch.memory_t[..], Rows(m.next_multiple_of(TOKEN_PAD)));
        self.project_keys_values(memory_t, m, into);
        cache.memory_ld = m.next_multiple_of(TOKEN_PAD);
        cache.memory_len = m;
    }

    /// `xᵀ += attention(input, memory)ᵀ` for `n` new tokens held transposed, as
    /// [`Self::add_transposed`] does for cross-attention, with the keys and values of the
    /// memory that [`Self::remember`] put in `cache`: only the queries are projected. The
    /// cross-attention step of a decoder that generates.
    pub(crate) fn add_remembered_transposed(
        &self,
        xt: &mut [f32],
        n: usize,
        input: Option<&[f32]>,
        cache: &KvLayer,
        scratch: &mut AttentionScratch,
    ) {
        if n == 0 {
            return;
        }
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        self.project_queries((input.unwrap_or(&*xt), Rows(n_pad)), n, scratch);
        let keys = (&cache.memory_kt[..], &cache.memory_vt[..], cache.memory_ld);
        Self::attend(n, keys, cache.memory_len, &Attend::default(), scratch);
        self.add_output(xt, n, &scratch.context_t);
    }

    /// The heads' outputs, transposed, into `scratch.context_t` (`[D][n_pad]`), for the `n`
    /// queries' tokens `xt` (`[D][n_pad]`) attending to `memory` (rows; `None`: to `xt`).
    fn context(
        &self,
        xt: &[f32],
        n: usize,
        memory: Option<&[[f32; D]]>,
        mask: &Attend<'_>,
        scratch: &mut AttentionScratch,
    ) {
        let m = memory.map_or(n, <[_]>::len);
        self.project(xt, n, memory, 0, scratch);
        let m_pad = m.next_multiple_of(TOKEN_PAD);
        // Out of the scratch while `attend` borrows the rest of it (moves: no allocation).
        let (kt, vt) = (
            std::mem::take(&mut scratch.kt),
            std::mem::take(&mut scratch.vt),
        );
        Self::attend(n, (&kt, &vt, m_pad), m, mask, scratch);
        (scratch.kt, scratch.vt) = (kt, vt);
    }

    /// `(Q/√DH)ᵀ`, `Kᵀ` and `Vᵀ` into the scratch (`[D][n_pad]`, `[KVD][m_pad]` twice) for
    /// the `n` queries' tokens `xt` (`[D][n_pad]`) and the keys' and values' tokens `memory`
    /// (rows; `None`: `xt` itself). In self-attention, queries and keys are then rotated by
    /// the RoPE if there is one, the tokens sitting at positions `start..start + n`.
    fn project(
        &self,
        xt: &[f32],
        n: usize,
        memory: Option<&[[f32; D]]>,
        start: usize,
        scratch: &mut AttentionScratch,
    ) {
        let m = memory.map_or(n, <[_]>::len);
        let (n_pad, m_pad) = (n.next_multiple_of(TOKEN_PAD), m.next_multiple_of(TOKEN_PAD));
        // In self-attention the three products read the same tokens: packed once for all
        // three where each would pack them. Out of the scratch while the products borrow the
        // rest of it (a move: no allocation).
        let mut panels = std::mem::take(&mut scratch.x_panels);
        let x = match memory {
            None => shared_tokens(&mut panels, xt, (n_pad, D), n),
            Some(_) => (xt, Rows(n_pad)),
        };
        self.project_queries(x, n, scratch);
        let memory_t = match memory {
            Some(memory) => {
                transpose(&mut scratch.memory_t, memory.as_flattened(), m, D);
                (&scratch.memory_t[..], Rows(m_pad))
            }
            None => x,
        };
        self.project_keys_values(memory_t, m, (&mut scratch.kt, &mut scratch.vt));
        scratch.x_panels = panels;
        if let (Some(rope), None) = (self.rope, memory) {
            scratch.angles.update(rope, DH, start, n);
            rope.rotate_transposed(&mut scratch.qt[..D * n_pad], n_pad, &scratch.angles);
            rope.rotate_transposed(&mut scratch.kt[..KVD * m_pad], m_pad, &scratch.angles);
        }
    }

    /// `Kᵀ` and `Vᵀ` (`[KVD][m_pad]` each) into `kt` and `vt`, grown to fit, for the `m`
    /// tokens `memory` (`[D][..]`, as its [`Transposed`] says), `m_pad` being `m` rounded up
    /// to [`TOKEN_PAD`].
    fn project_keys_values(
        &self,
        memory: (&[f32], Transposed),
        m: usize,
        (kt, vt): (&mut Vec<f32>, &mut Vec<f32>),
    ) {
        let m_pad = m.next_multiple_of(TOKEN_PAD);
        let kt = grown(kt, KVD * m_pad);
        self.w_k
            .forward_transposed((kt, Rows(m_pad)), memory, m, None);
        let vt = grown(vt, KVD * m_pad);
        self.w_v
            .forward_transposed((vt, Rows(m_pad)), memory, m, None);
    }

    /// `(Q/√DH)ᵀ` into `scratch.qt` (`[D][n_pad]`) for the `n` queries' tokens `x` (`[D][..]`,
    /// as its [`Transposed`] says).
    fn project_queries(&self, x: (&[f32], Transposed), n: usize, scratch: &mut AttentionScratch) {
        let n_pad = n.next_multiple_of(TOKEN_PAD);
        let qt = grown(&mut scratch.qt, D * n_pad);
        self.w_q
            .forward_transposed((&mut *qt, Rows(n_pad)), x, n, None);
        for_each_vectorised(qt, Scale(1.0 / (DH as f32).sqrt()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    /// Straightforward f64 attention over `[n][d]` matrices, one head per lane block.
    fn reference(
        q: &[Vec<f64>],
        k: &[Vec<f64>],
        v: &[Vec<f64>],
        heads: usize,
        allowed: impl Fn(usize, usize) -> bool,
    ) -> Vec<Vec<f64>> {
        let d = q[0].len();
        let dh = d / heads;
        let mut out = vec![vec![0.0; d]; q.len()];
        for h in 0..heads {
            let lanes = h * dh..(h + 1) * dh;
            for (i, qi) in q.iter().enumerate() {
                let scores: Vec<f64> = k
                    .iter()
                    .enumerate()
                    .map(|(j, kj)| {
                        if allowed(i, j) {
                            lanes.clone().map(|l| qi[l] * kj[l]).sum::<f64>() / (dh as f64).sqrt()
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for (j, e) in exps.iter().enumerate() {
                    for l in lanes.clone() {
                        out[i][l] += e / total * v[j][l];
                    }
                }
            }
        }
        out
    }

    fn random_rows<const D: usize>(rng: &mut Rng, n: usize) -> Vec<[f32; D]> {
        (0..n)
            .map(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
            .collect()
    }

    fn to_f64<const D: usize>(rows: &[[f32; D]]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| r.map(f64::from).to_vec()).collect()
    }

    fn assert_close<const D: usize>(got: &[[f32; D]], want: &[Vec<f64>], tol: f64) {
        for (g, w) in got.iter().zip(want) {
            for (a, b) in g.iter().zip(w) {
                assert!((f64::from(*a) - b).abs() < tol, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn one_head_reproduces_the_seed_example() {
        // The notes' Q, K, V (already projected), d_k = 4: scores are divided by 2.
        let q = [[23.0, 49.0, 45.0, 28.0], [33.0, 66.0, 66.0, 40.0]];
        let k = [[40.0, 39.0, 36.0, 20.0], [59.0, 48.0, 59.0, 28.0]];
        let v = [[51.0, 36.0, 45.0, 46.0], [68.0, 53.0, 63.0, 58.0]];
        let mut out = [[0.0f32; 4]; 2];
        scaled_dot_product_attention(&mut out, &q, &k, &v, &Attend::default(), &mut [0.0; 2]);
        assert_eq!(out, [[68.0, 53.0, 63.0, 58.0]; 2]);
    }

    #[test]
    fn one_head_matches_the_reference_with_and_without_causal_mask() {
        let mut rng = Rng::new(3);
        let (q, k, v) = (
            random_rows::<5>(&mut rng, 4),
            random_rows::<5>(&mut rng, 4),
            random_rows::<5>(&mut rng, 4),
        );
        for causal in [false, true] {
            let mut out = [[0.0f32; 5]; 4];
            let mask = Attend {
                causal,
                ..Attend::default()
            };
            scaled_dot_product_attention(&mut out, &q, &k, &v, &mask, &mut [0.0; 4]);
            let want = reference(&to_f64(&q), &to_f64(&k), &to_f64(&v), 1, |i, j| {
                !causal || j <= i
            });
            assert_close(&out, &want, 1e-5);
        }
    }

    #[test]
    fn padding_flags_and_valid_keys_hide_the_same_keys() {
        let mut rng = Rng::new(4);
        let (q, k, v) = (
            random_rows::<3>(&mut rng, 2),
            random_rows::<3>(&mut rng, 5),
            random_rows::<3>(&mut rng, 5),
        );
        let flags = [true, true, true, false, false];
        let mut by_flags = [[0.0f32; 3]; 2];
        let mut by_len = [[0.0f32; 3]; 2];
        scaled_dot_product_attention(
            &mut by_flags,
            &q,
            &k,
            &v,
            &Attend {
                keys: Some(&flags),
                ..Attend::default()
            },
            &mut [0.0; 5],
        );
        scaled_dot_product_attention(
            &mut by_len,
            &q,
            &k,
            &v,
            &Attend {
                valid_keys: Some(3),
                ..Attend::default()
            },
            &mut [0.0; 5],
        );
        assert_eq!(by_flags, by_len);
        let want = reference(&to_f64(&q), &to_f64(&k), &to_f64(&v), 1, |_, j| j < 3);
        assert_close(&by_len, &want, 1e-5);
    }

    #[test]
    fn an_additive_mask_of_minus_infinity_hides_a_key() {
        let q = [[1.0f32, 0.0]];
        let k = [[1.0, 0.0], [0.0, 1.0]];
        let v = [[1.0, 2.0], [3.0, 4.0]];
        let additive = [f32::NEG_INFINITY, 0.0];
        let mut out = [[0.0f32; 2]];
        let mask = Attend {
            additive: Some(&additive),
            ..Attend::default()
        };
        scaled_dot_product_attention(&mut out, &q, &k, &v, &mask, &mut [0.0; 2]);
        assert_eq!(out, [[3.0, 4.0]]);
    }

    #[test]
    fn a_query_that_sees_no_key_gets_zeros() {
        let mut out = [[9.0f32; 2]];
        let mask = Attend {
            keys: Some(&[false, false]),
            ..Attend::default()
        };
        scaled_dot_product_attention(
            &mut out,
            &[[1.0, 1.0]],
            &[[1.0, 1.0]; 2],
            &[[1.0, 1.0]; 2],
            &mask,
            &mut [0.0; 2],
        );
        assert_eq!(out, [[0.0, 0.0]]);
    }

    #[test]
    fn multi_head_matches_the_reference() {
        let mut rng = Rng::new(5);
        let mha = MultiHeadAttention::<6, 3, 2>::xavier(&mut rng, false, false);
        let x = random_rows::<6>(&mut rng, 4);
        let memory = random_rows::<6>(&mut rng, 3);
        let mut out = vec![[0.0f32; 6]; 4];
        mha.forward(
            &mut out,
            &x,
            &memory,
            &Attend::default(),
            &mut AttentionScratch::default(),
        );
        let project = |w: &Linear<6, 6>, rows: &[[f32; 6]]| {
            let mut y = vec![[0.0f32; 6]; rows.len()];
            w.forward(&mut y, rows);
            to_f64(&y)
        };
        let want = reference(
            &project(&mha.w_q, &x),
            &project(&mha.w_k, &memory),
            &project(&mha.w_v, &memory),
            3,
            |_, _| true,
        );
        assert_close(&out, &want, 1e-5);
        assert_eq!(
            MultiHeadAttention::<6, 3, 2>::parameters(true, true),
            4 * 42
        );
    }

    /// Sequences long enough that each head takes its queries in several blocks (600, on
    /// any CPU's L2) or reads its keys from a copy at a wider stride (512, a stride of 2 KiB),
    /// under every kind of mask, against the reference: each block's queries see the keys,
    /// the causal limit and the additive terms of their own positions.
    #[test]
    fn long_sequences_attend_in_blocks_of_queries() {
        assert!(heads::query_block(600_usize.next_multiple_of(TOKEN_PAD)) < 600);
        assert!(heads::spreads_keys(512) && !heads::spreads_keys(608));
        for n in [512, 600] {
            let mut rng = Rng::new(9);
            let mha = MultiHeadAttention::<8, 2, 4>::xavier(&mut rng, false, false);
            // Scores of a few units, so that a softmax that mixes up columns shows.
            let x: Vec<[f32; 8]> = random_rows::<8>(&mut rng, n)
                .into_iter()
                .map(|r| r.map(|v| 4.0 * v))
                .collect();
            let flags: Vec<bool> = (0..n).map(|j| j % 5 != 3).collect();
            let hidden = |i: usize, j: usize| (i + 2 * j).is_multiple_of(7) && j != i;
            let additive: Vec<f32> = (0..n * n)
                .map(|at| {
                    if hidden(at / n, at % n) {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            let project = |w: &Linear<8, 8>| {
                let mut y = vec![[0.0f32; 8]; n];
                w.forward(&mut y, &x);
                to_f64(&y)
            };
            let (q, k, v) = (project(&mha.w_q), project(&mha.w_k), project(&mha.w_v));
            type Allowed<'f> = &'f dyn Fn(usize, usize) -> bool;
            let masks: [(Attend<'_>, Allowed<'_>); 4] = [
                (Attend::default(), &|_, _| true),
                (Attend::CAUSAL, &|i, j| j <= i),
                (
                    Attend {
                        keys: Some(&flags),
                        valid_keys: Some(n - 40),
                        ..Attend::default()
                    },
                    &|_, j| flags[j] && j < n - 40,
                ),
                (
                    Attend {
                        additive: Some(&additive),
                        ..Attend::default()
                    },
                    &|i, j| !hidden(i, j),
                ),
            ];
            for (mask, allowed) in masks {
                let mut out = vec![[0.0f32; 8]; n];
                let mut scratch = AttentionScratch::default();
                mha.forward(&mut out, &x, &x, &mask, &mut scratch);
                assert_close(&out, &reference(&q, &k, &v, 2, allowed), 1e-4);
            }
        }
    }

    /// Grouped-query attention with a rotary embedding and a causal mask, against the
    /// reference given each query head its group's keys and values, rotated one token at a
    /// time.
    #[test]
    fn grouped_query_heads_with_rope_match_the_reference() {
        use crate::rope::RopePairs;
        let mut rng = Rng::new(8);
        for pairs in [RopePairs::Half, RopePairs::Adjacent] {
            let rope = Rope::new(1_000.0, pairs);
            // 6 query heads of width 4 sharing 2 key/value heads: groups of 3.
            let mha =
                MultiHeadAttention::<24, 6, 4, 8>::xavier(&mut rng, true, true).with_rope(rope);
            let x = random_rows::<24>(&mut rng, 11);
            let mask = Attend::CAUSAL;
            let mut out = vec![[0.0f32; 24]; 11];
            mha.forward(&mut out, &x, &x, &mask, &mut AttentionScratch::default());

            let project = |w: &Linear<24, 8>, rotate: bool| -> Vec<[f32; 24]> {
                let mut y = vec![[0.0f32; 8]; x.len()];
                w.forward(&mut y, &x);
                y.iter()
                    .enumerate()
                    .map(|(position, row)| {
                        let mut row = *row;
                        for head in row.chunks_exact_mut(4).filter(|_| rotate) {
                            rope.rotate(head, position);
                        }
                        // Query head h reads key/value head h / 3.
                        std::array::from_fn(|l| row[(l / 4) / 3 * 4 + l % 4])
                    })
                    .collect()
            };
            let mut q = vec![[0.0f32; 24]; x.len()];
            mha.w_q.forward(&mut q, &x);
            for (position, row) in q.iter_mut().enumerate() {
                for head in row.chunks_exact_mut(4) {
                    rope.rotate(head, position);
                }
            }
            let (k, v) = (project(&mha.w_k, true), project(&mha.w_v, false));
            let context = reference(&to_f64(&q), &to_f64(&k), &to_f64(&v), 6, |i, j| j <= i);
            let context: Vec<[f32; 24]> = context
                .iter()
                .map(|row| std::array::from_fn(|l| row[l] as f32))
                .collect();
            let mut want = vec![[0.0f32; 24]; x.len()];
            mha.w_o.as_ref().unwrap().forward(&mut want, &context);
            assert_close(&out, &to_f64(&want), 1e-5);
        }
        // q and o are [24][24], k and v [8][24], each with a bias.
        let params = MultiHeadAttention::<24, 6, 4, 8>::parameters(true, true);
        assert_eq!(params, 2 * (24 * 24 + 24) + 2 * (8 * 24 + 8));
    }

    #[test]
    fn multi_head_applies_the_output_projection() {
        let mut rng = Rng::new(6);
        let mut mha = MultiHeadAttention::<4, 2, 2>::xavier(&mut rng, true, true);
        let x = random_rows::<4>(&mut rng, 3);
        let mut with_o = vec![[0.0f32; 4]; 3];
        mha.forward(
            &mut with_o,
            &x,
            &x,
            &Attend::CAUSAL,
            &mut AttentionScratch::default(),
        );
        let w_o = mha.w_o.take().unwrap();
        let mut context = vec![[0.0f32; 4]; 3];
        mha.forward(
            &mut context,
            &x,
            &x,
            &Attend::CAUSAL,
            &mut AttentionScratch::default(),
        );
        let mut want = vec![[0.0f32; 4]; 3];
        w_o.forward(&mut want, &context);
        assert_eq!(with_o, want);
    }
}

//! The working memory of a forward pass, and the residual sublayer steps that use it.
//!
//! A stack of layers runs on its tokens held transposed (`[D][ld]`, one column per token),
//! the layout every product reads and writes: [`Scratch::transpose_in`] once before the
//! first layer, [`Scratch::add_self_attention`], [`Scratch::add_cross_attention`],
//! [`Scratch::add_feed_forward`] and [`Scratch::norm`] for each step, [`Scratch::transpose_out`] once after the last. The
//! residual additions happen in the last product of each sublayer, as it stores.

use crate::activation::Activation;
use crate::attention::{Attend, AttentionScratch, MultiHeadAttention};
use crate::cache::KvLayer;
use crate::ffn::{FeedForward, FeedForwardScratch};
use crate::gemm::{TOKEN_PAD, transpose, untranspose};
#[cfg(test)]
use crate::norm::LayerNorm;
use crate::norm::Norm;

/// Working memory for a model of width `D` and feed-forward width `FF`. Allocated once
/// (`with_capacity`) and reused: a forward pass no longer than that capacity allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Scratch<const D: usize, const FF: usize> {
    attention: AttentionScratch,
    feed_forward: FeedForwardScratch,
    /// The tokens between `transpose_in` and `transpose_out`, `[D][ld]`.
    tokens: Vec<f32>,
    /// How many tokens `tokens` holds.
    n: usize,
    /// A pre-norm sublayer's input: `tokens` normalised, `[D][ld]`.
    normed: Vec<f32>,
}

/// `x[t] += y[t]` for every token row: the residual connection, as the tests write it.
#[cfg(test)]
fn add_rows<const D: usize>(x: &mut [[f32; D]], y: &[[f32; D]]) {
    for (row, add) in x.iter_mut().zip(y) {
        for (v, a) in row.iter_mut().zip(add) {
            *v += a;
        }
    }
}

impl<const D: usize, const FF: usize> Scratch<D, FF> {
    /// Room for sequences of up to `rows` tokens attending to up to `memory_rows` tokens.
    pub fn with_capacity(rows: usize, memory_rows: usize) -> Self {
        // The product kernels' own buffers live with the threads that run them.
        let widest = D.max(FF);
        crate::gemm::reserve(widest, rows.max(memory_rows));
        let ld = rows.next_multiple_of(TOKEN_PAD);
        Self {
            attention: AttentionScratch::transposed_only(rows, rows.max(memory_rows), D),
            feed_forward: FeedForwardScratch::transposed_only(rows, FF, false),
            tokens: vec![0.0; D * ld],
            n: 0,
            normed: vec![0.0; D * ld],
        }
    }

    /// This scratch with room also for a gated feed-forward's second factor (`[FF]` per
    /// token), for the `rows` tokens it was made for: what a model with gated feed-forwards
    /// needs so that no forward pass allocates.
    pub fn gated(mut self) -> Self {
        let rows = self.tokens.len() / D.max(1);
        self.feed_forward = FeedForwardScratch::transposed_only(rows, FF, true);
        self
    }

    /// Takes the token rows `x` (`[n][D]`) in, transposed, for the steps that follow.
    #[doc(hidden)]
    pub fn transpose_in(&mut self, x: &[[f32; D]]) {
        self.n = x.len();
        transpose(&mut self.tokens, x.as_flattened(), self.n, D);
    }

    /// Writes the tokens back as rows into `x`, which must hold as many as were taken in.
    #[doc(hidden)]
    pub fn transpose_out(&self, x: &mut [[f32; D]]) {
        assert_eq!(
            x.len(),
            self.n,
            "Scratch::transpose_out: {} rows for {} tokens",
            x.len(),
            self.n
        );
        let ld = self.n.next_multiple_of(TOKEN_PAD);
        untranspose(x.as_flattened_mut(), self.n, D, &self.tokens, ld);
    }

    /// `x ← x + attn(norm(x), memory)` on the tokens taken in: an attention sublayer with
    /// its residual connection.
    ///
    /// `pre_norm` is the pre-norm layout's norm (`None` in post-norm, where [`Self::norm`]
    /// follows this step). `memory` is the keys' and values' tokens for cross-attention;
    /// `None` means self-attention on the (normalised) tokens.
    fn add_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        memory: Option<&[[f32; D]]>,
        mask: &Attend<'_>,
    ) {
        let (n, tokens) = (self.n, self.tokens.as_mut_slice());
        let input = normalised(&mut self.normed, tokens, n, pre_norm);
        attention.add_transposed(tokens, n, input, memory, mask, &mut self.attention);
    }

    /// `x ← x + attn(norm(x))` on the tokens taken in: a self-attention sublayer with its
    /// residual connection; `pre_norm` as in [`Self::add_attention`].
    #[doc(hidden)]
    pub fn add_self_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        mask: &Attend<'_>,
    ) {
        self.add_attention(attention, pre_norm, None, mask);
    }

    /// `x ← x + attn(norm(x))` on the tokens taken in, the new tokens of a decoder that
    /// generates: causal self-attention over the `start` tokens before them, whose keys and
    /// values `cache` holds, and themselves, whose keys and values are appended to it;
    /// `pre_norm` as in [`Self::add_attention`].
    #[doc(hidden)]
    pub fn add_cached_self_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        cache: &mut KvLayer,
        start: usize,
    ) {
        let (n, tokens) = (self.n, self.tokens.as_mut_slice());
        let input = normalised(&mut self.normed, tokens, n, pre_norm);
        attention.add_cached_transposed(tokens, n, input, cache, start, &mut self.attention);
    }

    /// `x ← x + attn(norm(x), memory)` on a generating decoder's new tokens: the
    /// cross-attention sublayer, attending to the encoder memory whose keys and values
    /// `cache` holds (see [`Self::remember`]).
    #[doc(hidden)]
    pub fn add_cached_cross_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        cache: &KvLayer,
    ) {
        let (n, tokens) = (self.n, self.tokens.as_mut_slice());
        let input = normalised(&mut self.normed, tokens, n, pre_norm);
        attention.add_remembered_transposed(tokens, n, input, cache, &mut self.attention);
    }

    /// Projects the keys and values of the encoder `memory` (`[m][D]`) for `attention`, a
    /// cross-attention sublayer, into `cache`: once per memory, for every step after.
    #[doc(hidden)]
    pub fn remember<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        memory: &[[f32; D]],
        cache: &mut KvLayer,
    ) {
        attention.remember(memory, cache, &mut self.attention);
    }

    /// `x ← x + attn(norm(x), memory)` on the tokens taken in: a cross-attention sublayer,
    /// whose keys and values are the encoder's `memory` (`[m][D]`), with its residual
    /// connection; `memory_mask` says which rows of `memory` each token may attend to.
    #[doc(hidden)]
    pub fn add_cross_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        memory: &[[f32; D]],
        memory_mask: &Attend<'_>,
    ) {
        self.add_attention(attention, pre_norm, Some(memory), memory_mask);
    }

    /// `x ← x + ffn(norm(x))` on the tokens taken in: the feed-forward sublayer with its
    /// residual connection; `pre_norm` as in [`Self::add_attention`].
    #[doc(hidden)]
    pub fn add_feed_forward(
        &mut self,
        ffn: &FeedForward<D, FF>,
        activation: Activation,
        pre_norm: Option<&dyn Norm<D>>,
    ) {
        let (n, tokens) = (self.n, self.tokens.as_mut_slice());
        let input = normalised(&mut self.normed, tokens, n, pre_norm);
        ffn.add_transposed(tokens, n, input, activation, &mut self.feed_forward);
    }

    /// `x ← norm(x)` on the tokens taken in.
    #[doc(hidden)]
    pub fn norm(&mut self, norm: &dyn Norm<D>) {
        let ld = self.n.next_multiple_of(TOKEN_PAD);
        norm.forward_transposed(&mut self.tokens, ld, self.n);
    }

    /// [`Self::add_attention`] on token rows `x`, transposed in and out around the step.
    #[cfg(test)]
    fn residual_attention<const H: usize, const DH: usize, const KVD: usize>(
        &mut self,
        x: &mut [[f32; D]],
        attention: &MultiHeadAttention<D, H, DH, KVD>,
        pre_norm: Option<&dyn Norm<D>>,
        memory: Option<&[[f32; D]]>,
        mask: &Attend<'_>,
    ) {
        self.transpose_in(x);
        self.add_attention(attention, pre_norm, memory, mask);
        self.transpose_out(x);
    }

    /// [`Self::add_feed_forward`] on token rows `x`, transposed in and out around the step.
    #[cfg(test)]
    fn residual_feed_forward(
        &mut self,
        x: &mut [[f32; D]],
        ffn: &FeedForward<D, FF>,
        activation: Activation,
        pre_norm: Option<&dyn Norm<D>>,
    ) {
        self.transpose_in(x);
        self.add_feed_forward(ffn, activation, pre_norm);
        self.transpose_out(x);
    }
}

/// A sublayer's input: `None` (the tokens themselves), or (pre-norm) a normalised copy of
/// them in `buf`.
fn normalised<'a, const D: usize>(
    buf: &'a mut Vec<f32>,
    tokens: &[f32],
    n: usize,
    pre_norm: Option<&dyn Norm<D>>,
) -> Option<&'a [f32]> {
    let norm = pre_norm?;
    let ld = n.next_multiple_of(TOKEN_PAD);
    let normed = crate::heap::grown(buf, D * ld);
    normed.copy_from_slice(&tokens[..D * ld]);
    norm.forward_transposed(normed, ld, n);
    Some(normed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    #[test]
    fn residual_feed_forward_adds_the_sublayer_to_its_input() {
        let mut ffn = FeedForward::<2, 2>::zeroed(false, false);
        *ffn.w_up.weight = [[1.0, 0.0], [0.0, 1.0]];
        *ffn.w_down.weight = [[2.0, 0.0], [0.0, 2.0]];
        let mut x = [[1.0f32, -1.0]];
        Scratch::<2, 2>::default().residual_feed_forward(&mut x, &ffn, Activation::Relu, None);
        assert_eq!(x, [[3.0, -1.0]]); // x + 2·relu(x)
    }

    #[test]
    fn pre_norm_feeds_the_normalised_rows_but_adds_to_the_raw_ones() {
        let mut rng = Rng::new(9);
        let attention = MultiHeadAttention::<4, 2, 2>::xavier(&mut rng, true, true);
        let norm = LayerNorm::<4>::new(1e-5, true);
        let x0 = [[1.0f32, 2.0, 3.0, 5.0], [0.0, -1.0, 4.0, 2.0]];

        let mut x = x0;
        Scratch::<4, 8>::default().residual_attention(
            &mut x,
            &attention,
            Some(&norm),
            None,
            &Attend::default(),
        );

        let mut normed = x0;
        norm.forward(&mut normed);
        let mut attended = [[0.0f32; 4]; 2];
        attention.forward(
            &mut attended,
            &normed,
            &normed,
            &Attend::default(),
            &mut AttentionScratch::default(),
        );
        let mut want = x0;
        add_rows(&mut want, &attended);
        // The step adds as its product stores (bias and sum in another order): equal to
        // rounding.
        for (got, want) in x.as_flattened().iter().zip(want.as_flattened()) {
            assert!((got - want).abs() < 1e-6, "{x:?} != {want:?}");
        }
    }

    /// The transposed steps, chained as a stack runs them, against the row-layout
    /// sublayers and norms one at a time.
    #[test]
    fn a_stack_of_transposed_steps_matches_the_row_steps() {
        let mut rng = Rng::new(3);
        let attention = MultiHeadAttention::<32, 4, 8>::xavier(&mut rng, true, true);
        let cross = MultiHeadAttention::<32, 4, 8>::xavier(&mut rng, true, false);
        let ffn = FeedForward::<32, 64>::xavier(&mut rng, true, false);
        let mut norm = LayerNorm::<32>::new(1e-5, true);
        norm.weight
            .iter_mut()
            .for_each(|w| *w = 1.0 + rng.symmetric(0.5));
        let memory: Vec<[f32; 32]> = (0..7)
            .map(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
            .collect();
        for n in [1usize, 5, 16, 19] {
            let x0: Vec<[f32; 32]> = (0..n)
                .map(|_| std::array::from_fn(|_| rng.symmetric(2.0)))
                .collect();
            let mask = Attend {
                causal: true,
                ..Attend::default()
            };
            let mut scratch = Scratch::<32, 64>::default();
            let mut got = x0.clone();
            scratch.transpose_in(&got);
            scratch.add_self_attention(&attention, Some(&norm), &mask);
            scratch.add_cross_attention(&cross, None, &memory, &Attend::default());
            scratch.norm(&norm);
            scratch.add_feed_forward(&ffn, Activation::Gelu, Some(&norm));
            scratch.transpose_out(&mut got);
            // What `with_capacity` leaves out, the steps never use.
            let row_layout = scratch.attention.row_layout_len();
            assert_eq!(row_layout + scratch.feed_forward.row_layout_len(), 0);

            let (mut want, mut out) = (x0.clone(), vec![[0.0f32; 32]; n]);
            let mut normed = want.clone();
            norm.forward(&mut normed);
            let mut attention_scratch = AttentionScratch::default();
            attention.forward(&mut out, &normed, &normed, &mask, &mut attention_scratch);
            add_rows(&mut want, &out);
            let cross_mask = Attend::default();
            cross.forward(
                &mut out,
                &want,
                &memory,
                &cross_mask,
                &mut attention_scratch,
            );
            add_rows(&mut want, &out);
            norm.forward(&mut want);
            let mut normed = want.clone();
            norm.forward(&mut normed);
            let mut ffn_scratch = FeedForwardScratch::default();
            ffn.forward(&mut out, &normed, Activation::Gelu, &mut ffn_scratch);
            add_rows(&mut want, &out);
            for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                for (d, (g, w)) in g.iter().zip(w).enumerate() {
                    assert!(
                        (g - w).abs() < 1e-5,
                        "n {n}, token {t}, feature {d}: {g} != {w}"
                    );
                }
            }
        }
    }

    /// A sequence fed to a cache in pieces (a prompt, then one token at a time) gets the
    /// rows a causal pass over the whole sequence gives, with grouped heads and RoPE.
    #[test]
    fn cached_steps_match_one_causal_pass() {
        use crate::cache::KvCache;
        use crate::rope::{Rope, RopePairs};
        let mut rng = Rng::new(12);
        let rope = Rope::new(10_000.0, RopePairs::Half);
        let attention =
            MultiHeadAttention::<16, 4, 4, 8>::xavier(&mut rng, true, true).with_rope(rope);
        let norm = LayerNorm::<16>::new(1e-5, true);
        let x0: Vec<[f32; 16]> = (0..9)
            .map(|_| std::array::from_fn(|_| rng.symmetric(2.0)))
            .collect();

        let mut want = x0.clone();
        let mut scratch = Scratch::<16, 32>::default();
        scratch.transpose_in(&want);
        scratch.add_self_attention(&attention, Some(&norm), &Attend::CAUSAL);
        scratch.transpose_out(&mut want);

        let mut cache = KvCache::<1, 8, 16, 32>::new(40);
        let mut got = Vec::new();
        for piece in [&x0[..5], &x0[5..6], &x0[6..7], &x0[7..9]] {
            let (layers, scratch, start) = cache.parts();
            let mut rows = piece.to_vec();
            scratch.transpose_in(&rows);
            scratch.add_cached_self_attention(&attention, Some(&norm), &mut layers[0], start);
            scratch.transpose_out(&mut rows);
            cache.advance(piece.len());
            got.extend(rows);
        }
        assert_eq!(cache.len(), 9);
        for (t, (g, w)) in got.iter().zip(&want).enumerate() {
            for (g, w) in g.iter().zip(w) {
                assert!((g - w).abs() < 1e-5, "token {t}: {g} != {w}");
            }
        }
    }

    #[test]
    fn a_scratch_with_capacity_never_grows() {
        let mut scratch = Scratch::<4, 8>::with_capacity(3, 3);
        let before = scratch.normed.as_ptr();
        let ffn = FeedForward::<4, 8>::zeroed(true, false);
        let norm = LayerNorm::<4>::new(1e-5, true);
        let mut x = [[1.0f32; 4]; 3];
        scratch.residual_feed_forward(&mut x, &ffn, Activation::Gelu, Some(&norm));
        assert_eq!(before, scratch.normed.as_ptr());
        // Nothing is held for the sublayers' row-layout entry points.
        let row_layout = scratch.attention.row_layout_len();
        assert_eq!(row_layout + scratch.feed_forward.row_layout_len(), 0);
    }
}

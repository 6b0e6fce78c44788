//! The working memory of a forward pass, and the residual sublayer steps that use it.

use crate::activation::Activation;
use crate::attention::{AttentionScratch, Mask, MultiHeadAttention};
use crate::ffn::{FeedForward, FeedForwardScratch};
use crate::gemm::add_transposed;
use crate::norm::LayerNorm;

/// Working memory for a model of width `D` and feed-forward width `FF`. Allocated once
/// (`with_capacity`) and reused: a forward pass no longer than that capacity allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Scratch<const D: usize, const FF: usize> {
    attention: AttentionScratch,
    normed: Vec<[f32; D]>,
    feed_forward: FeedForwardScratch,
}

/// The first `n` rows of `buf`, growing it if it is shorter.
fn first_rows<const W: usize>(buf: &mut Vec<[f32; W]>, n: usize) -> &mut [[f32; W]] {
    if buf.len() < n {
        buf.resize(n, [0.0; W]);
    }
    &mut buf[..n]
}

/// The sublayer's input: `x` itself, or (pre-norm) a normalised copy of it in `buf`.
fn normalised<'a, const D: usize>(
    buf: &'a mut Vec<[f32; D]>,
    x: &'a [[f32; D]],
    pre_norm: Option<&LayerNorm<D>>,
) -> &'a [[f32; D]] {
    match pre_norm {
        Some(norm) => {
            let normed = first_rows(buf, x.len());
            normed.copy_from_slice(x);
            norm.forward(normed);
            normed
        }
        None => x,
    }
}

/// `x[t] += y[t]` for every token row: the residual connection.
pub fn add_rows<const D: usize>(x: &mut [[f32; D]], y: &[[f32; D]]) {
    for (row, add) in x.iter_mut().zip(y) {
        for (v, a) in row.iter_mut().zip(add) {
            *v += a;
        }
    }
}

impl<const D: usize, const FF: usize> Scratch<D, FF> {
    /// Room for sequences of up to `rows` tokens attending to up to `memory_rows` tokens.
    pub fn with_capacity(rows: usize, memory_rows: usize) -> Self {
        Self {
            attention: AttentionScratch::with_capacity(rows, rows.max(memory_rows), D),
            normed: vec![[0.0; D]; rows],
            feed_forward: FeedForwardScratch::with_capacity(rows, D, FF),
        }
    }

    /// `x ← x + attn(norm(x), memory)`: an attention sublayer with its residual connection.
    ///
    /// `pre_norm` is the pre-norm layout's norm (`None` in post-norm, where the caller
    /// normalises after this step). `memory` is the keys' and values' tokens for
    /// cross-attention; `None` means self-attention on the (normalised) `x`.
    pub fn residual_attention<const H: usize, const DH: usize>(
        &mut self,
        x: &mut [[f32; D]],
        attention: &MultiHeadAttention<D, H, DH>,
        pre_norm: Option<&LayerNorm<D>>,
        memory: Option<&[[f32; D]]>,
        mask: &Mask<'_>,
    ) {
        let n = x.len();
        let input = normalised(&mut self.normed, x, pre_norm);
        let memory = memory.unwrap_or(input);
        let (out_t, ld) = attention.forward_transposed(input, memory, mask, &mut self.attention);
        add_transposed(x.as_flattened_mut(), n, D, out_t, ld);
    }

    /// `x ← x + ffn(norm(x))`: the feed-forward sublayer with its residual connection;
    /// `pre_norm` as in [`Self::residual_attention`].
    pub fn residual_feed_forward(
        &mut self,
        x: &mut [[f32; D]],
        ffn: &FeedForward<D, FF>,
        activation: Activation,
        pre_norm: Option<&LayerNorm<D>>,
    ) {
        let n = x.len();
        let input = normalised(&mut self.normed, x, pre_norm);
        let (out_t, ld) = ffn.forward_transposed(input, activation, &mut self.feed_forward);
        add_transposed(x.as_flattened_mut(), n, D, out_t, ld);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    #[test]
    fn residual_feed_forward_adds_the_sublayer_to_its_input() {
        let mut ffn = FeedForward::<2, 2>::zeroed(false);
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
            &Mask::default(),
        );

        let mut normed = x0;
        norm.forward(&mut normed);
        let mut attended = [[0.0f32; 4]; 2];
        attention.forward(
            &mut attended,
            &normed,
            &normed,
            &Mask::default(),
            &mut AttentionScratch::default(),
        );
        let mut want = x0;
        add_rows(&mut want, &attended);
        assert_eq!(x, want);
    }

    #[test]
    fn a_scratch_with_capacity_never_grows() {
        let mut scratch = Scratch::<4, 8>::with_capacity(3, 3);
        let before = scratch.normed.as_ptr();
        let ffn = FeedForward::<4, 8>::zeroed(true);
        let norm = LayerNorm::<4>::new(1e-5, true);
        let mut x = [[1.0f32; 4]; 3];
        scratch.residual_feed_forward(&mut x, &ffn, Activation::Gelu, Some(&norm));
        assert_eq!(before, scratch.normed.as_ptr());
    }
}

//! The position-wise feed-forward sublayer: `FFN(x) = act(x W_upᵀ + b_up) W_downᵀ + b_down`,
//! or, gated, `FFN(x) = (act(x W_gateᵀ + b_gate) ⊙ (x W_upᵀ + b_up)) W_downᵀ + b_down`.

use crate::activation::Activation;
use crate::fastmath::{MulAdd, Vectorise, vectorised};
use crate::format::Transposed::{Panels, Rows};
use crate::gemm::{TOKEN_PAD, transpose, untranspose};
use crate::heap::grown;
use crate::init::Rng;
use crate::matmul::Linear;

/// Two linear layers with an activation between: PyTorch's `linear1` (`D → FF`) and
/// `linear2` (`FF → D`) in `nn.TransformerEncoderLayer`. Gated, a third (`D → FF`) is
/// activated and multiplies the first, element by element: Llama's `gate_proj`, `up_proj`
/// and `down_proj` (SwiGLU with [`Activation::Silu`], GeGLU with GELU).
#[derive(Clone, Debug, PartialEq)]
pub struct FeedForward<const D: usize, const FF: usize> {
    /// `[FF][D]`: widens each token (`linear1`, `up_proj`).
    pub w_up: Linear<D, FF>,
    /// `[FF][D]`: the gate, activated, that multiplies what `w_up` makes (`gate_proj`); `None`
    /// in an ungated feed-forward, where `w_up`'s output is activated instead.
    pub w_gate: Option<Linear<D, FF>>,
    /// `[D][FF]`: narrows it back (`linear2`, `down_proj`).
    pub w_down: Linear<FF, D>,
}

impl<const D: usize, const FF: usize> FeedForward<D, FF> {
    /// Learned numbers of its two (gated: three) layers.
    pub const fn parameters(bias: bool, gated: bool) -> usize {
        let widening = if gated { 2 } else { 1 };
        widening * Linear::<D, FF>::parameters(bias) + Linear::<FF, D>::parameters(bias)
    }

    /// Floating-point operations (a multiply-add counts 2) over `tokens` tokens: the two
    /// (gated: three) matrix products (biases, the activation and the gating product are
    /// not counted).
    pub const fn flops(tokens: usize, gated: bool) -> u64 {
        let products = if gated { 3 } else { 2 };
        products * 2 * tokens as u64 * D as u64 * FF as u64
    }

    /// All weights and biases zero.
    pub fn zeroed(bias: bool, gated: bool) -> Self {
        Self {
            w_up: Linear::zeroed(bias),
            w_gate: gated.then(|| Linear::zeroed(bias)),
            w_down: Linear::zeroed(bias),
        }
    }

    /// Xavier-uniform weights, zero biases.
    pub fn xavier(rng: &mut Rng, bias: bool, gated: bool) -> Self {
        Self {
            w_up: Linear::xavier(rng, FF, bias),
            w_down: Linear::xavier(rng, D, bias),
            w_gate: gated.then(|| Linear::xavier(rng, FF, bias)),
        }
    }

    /// `out = act(x W_upᵀ + b_up) W_downᵀ + b_down` for each token row. `x` and `out` are
    /// `[n][D]`.
    pub fn forward(
        &self,
        out: &mut [[f32; D]],
        x: &[[f32; D]],
        activation: Activation,
        scratch: &mut FeedForwardScratch,
    ) {
        let n = out.len().min(x.len());
        let (out_t, ld) = self.forward_transposed(&x[..n], activation, scratch);
        untranspose(out[..n].as_flattened_mut(), n, D, out_t, ld);
    }

    /// [`Self::forward`] with the result left transposed: `[D][ld]` in `scratch`, `ld` (also
    /// returned) being `n` rounded up to [`TOKEN_PAD`].
    ///
    /// The tokens are transposed once; the hidden layer is produced transposed, activated as
    /// it is stored, and consumed as it is by the second product.
    pub(crate) fn forward_transposed<'s>(
        &self,
        x: &[[f32; D]],
        activation: Activation,
        scratch: &'s mut FeedForwardScratch,
    ) -> (&'s [f32], usize) {
        let n = x.len();
        let ld = transpose(&mut scratch.xt, x.as_flattened(), n, D);
        let hidden = self.hidden(
            &scratch.xt,
            n,
            activation,
            &mut scratch.hidden,
            &mut scratch.up,
        );
        let out_t = grown(&mut scratch.out_t, D * ld);
        let (out, hidden) = ((&mut *out_t, Rows(ld)), (hidden, Panels));
        self.w_down.forward_transposed(out, hidden, n, None);
        (out_t, ld)
    }

    /// `xᵀ += ffn(input)ᵀ` for `n` tokens held transposed: `xt` is `[D][ld]`, `ld` being `n`
    /// rounded up to [`TOKEN_PAD`]; `input` (the same shape) is what the sublayer reads, or
    /// `None` for `xt` itself. The residual connection of a sublayer, with the sum made in
    /// the second product's store.
    pub(crate) fn add_transposed(
        &self,
        xt: &mut [f32],
        n: usize,
        input: Option<&[f32]>,
        activation: Activation,
        scratch: &mut FeedForwardScratch,
    ) {
        let ld = n.next_multiple_of(TOKEN_PAD);
        let input = input.unwrap_or(&*xt);
        let hidden = self.hidden(input, n, activation, &mut scratch.hidden, &mut scratch.up);
        self.w_down
            .forward_add_transposed((xt, Rows(ld)), (hidden, Panels), n);
    }

    /// `act(x W_upᵀ + b_up)ᵀ` into `buf` from `xt` (`[D][ld]`); gated, `(act(x W_gateᵀ +
    /// b_gate) ⊙ (x W_upᵀ + b_up))ᵀ`, with `up` holding the second factor. In the panels
    /// the second product's tile reads ([`Panels`](crate::format::Transposed::Panels)), so it
    /// packs nothing.
    fn hidden<'s>(
        &self,
        xt: &[f32],
        n: usize,
        activation: Activation,
        buf: &'s mut Vec<f32>,
        up: &mut Vec<f32>,
    ) -> &'s [f32] {
        let ld = n.next_multiple_of(TOKEN_PAD);
        let hidden = grown(buf, FF * ld);
        let x = (xt, Rows(ld));
        match &self.w_gate {
            None => {
                let activation = Some(activation);
                self.w_up
                    .forward_transposed((hidden, Panels), x, n, activation);
            }
            Some(w_gate) => {
                w_gate.forward_transposed((&mut *hidden, Panels), x, n, Some(activation));
                let up = grown(up, FF * ld);
                self.w_up.forward_transposed((&mut *up, Panels), x, n, None);
                // Both in panels: every number, the padding tokens' too, by its partner.
                vectorised(MultiplyColumns {
                    x: hidden,
                    by: up,
                    ld: TOKEN_PAD,
                    n: TOKEN_PAD,
                });
            }
        }
        hidden
    }
}

/// `x[r][i] *= by[r][i]` for the first `n` columns of every row of two `[rows][ld]` buffers
/// (the padding columns may hold anything): the gate of a gated feed-forward.
struct MultiplyColumns<'a> {
    x: &'a mut [f32],
    by: &'a [f32],
    ld: usize,
    n: usize,
}

impl Vectorise for MultiplyColumns<'_> {
    #[inline(always)]
    fn run<M: MulAdd>(self) {
        for (x, by) in self
            .x
            .chunks_exact_mut(self.ld)
            .zip(self.by.chunks_exact(self.ld))
        {
            for (x, by) in x[..self.n].iter_mut().zip(&by[..self.n]) {
                *x *= by;
            }
        }
    }
}

/// Working memory of [`FeedForward::forward`]: the tokens and the hidden layer, both
/// transposed. Grows to the largest sequence seen and is then reused.
#[derive(Clone, Debug, Default)]
pub struct FeedForwardScratch {
    xt: Vec<f32>,
    hidden: Vec<f32>,
    /// The up projection of a gated feed-forward, `[FF][ld]`, before it is multiplied in.
    up: Vec<f32>,
    out_t: Vec<f32>,
}

impl FeedForwardScratch {
    /// Room for `rows` tokens of width `d` and hidden width `ff`, reserved now so that no
    /// forward pass of at most that many tokens allocates.
    pub fn with_capacity(rows: usize, d: usize, ff: usize) -> Self {
        let ld = rows.next_multiple_of(TOKEN_PAD);
        Self {
            xt: vec![0.0; d * ld],
            out_t: vec![0.0; d * ld],
            ..Self::transposed_only(rows, ff, true)
        }
    }

    /// [`Self::with_capacity`] for tokens that stay transposed
    /// ([`FeedForward::add_transposed`], as a model's stack runs): the hidden layer only (and
    /// room for a gated feed-forward's second factor if `gated`), not the row-layout entry
    /// points' own transposed input and output.
    pub fn transposed_only(rows: usize, ff: usize, gated: bool) -> Self {
        let ld = rows.next_multiple_of(TOKEN_PAD);
        Self {
            xt: Vec::new(),
            hidden: vec![0.0; ff * ld],
            up: if gated {
                vec![0.0; ff * ld]
            } else {
                Vec::new()
            },
            out_t: Vec::new(),
        }
    }

    /// Numbers held for the row-layout entry points (their transposed input and output).
    #[cfg(test)]
    pub(crate) fn row_layout_len(&self) -> usize {
        self.xt.len() + self.out_t.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_down_of_activated_up() {
        let mut ffn = FeedForward::<2, 3>::zeroed(true, false);
        *ffn.w_up.weight = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        ffn.w_up.bias = Some(Box::new([0.0, 0.0, -10.0]));
        *ffn.w_down.weight = [[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]];
        ffn.w_down.bias = Some(Box::new([0.5, 0.0]));
        let mut out = [[0.0f32; 2]; 1];
        let mut scratch = FeedForwardScratch::default();
        // up: [3, -1, -8] -> relu [3, 0, 0] -> down: [3.5, 6]
        ffn.forward(&mut out, &[[3.0, -1.0]], Activation::Relu, &mut scratch);
        assert_eq!(out, [[3.5, 6.0]]);
        assert_eq!(FeedForward::<2, 3>::parameters(true, false), 9 + 8);
        assert_eq!(FeedForward::<2, 3>::flops(5, false), 2 * 2 * 5 * 6);
    }

    #[test]
    fn gated_multiplies_the_activated_gate_by_up() {
        let mut ffn = FeedForward::<2, 2>::zeroed(false, true);
        *ffn.w_gate.as_mut().unwrap().weight = [[1.0, 0.0], [0.0, 1.0]];
        *ffn.w_up.weight = [[2.0, 0.0], [1.0, 1.0]];
        *ffn.w_down.weight = [[1.0, 0.0], [0.0, 1.0]];
        let mut out = [[0.0f32; 2]; 1];
        // gate relu([3, -1]) = [3, 0]; up [6, 2]; product [18, 0].
        let mut scratch = FeedForwardScratch::default();
        ffn.forward(&mut out, &[[3.0, -1.0]], Activation::Relu, &mut scratch);
        assert_eq!(out, [[18.0, 0.0]]);
        assert_eq!(FeedForward::<2, 3>::parameters(false, true), 6 + 6 + 6);
        assert_eq!(FeedForward::<2, 3>::flops(5, true), 3 * 2 * 5 * 6);
    }
}

//! The notes' math one function at a time, on plain slices and arrays: for working an
//! example through by hand (as `examples/seed_attention.rs` does) and for checking a layer
//! against it. The layers run the same math through the fast kernels.

use crate::attention::Attend;
use crate::options::Mask;

pub use crate::activation::{gelu, gelu_tanh, silu};
pub use crate::embedding::sinusoidal;
pub use crate::matmul::{dot, linear};
pub use crate::softmax::softmax;

/// Rotates one head's query or key `x` (`[DH]`) for a token at `position` by the rotary
/// position embedding `rope`: each pair of lanes `(a, b)` turns by
/// `position · theta^(−2f/DH)`, `f` being the pair's index. See [`Rope`](crate::Rope).
pub fn rope(x: &mut [f32], position: usize, rope: crate::Rope) {
    rope.rotate(x, position);
}

/// One head of attention: `out[i] = Σⱼ softmax_j(q[i]·k[j] / √DK + mask[i][j]) · v[j]`.
///
/// Layout: `q` is `[n][DK]`, `k` is `[m][DK]`, `v` is `[m][DV]`, `out` is `[n][DV]`, and
/// `scores` holds at least `m` numbers of working memory. `mask.additive`, if any, is
/// `[n][m]`; with `m > n` keys, `mask.causal` places query `i` at position `i + m − n`. A
/// query that may see no key gets a zero row.
pub fn scaled_dot_product_attention<const DK: usize, const DV: usize>(
    out: &mut [[f32; DV]],
    q: &[[f32; DK]],
    k: &[[f32; DK]],
    v: &[[f32; DV]],
    mask: &Mask<'_>,
    scores: &mut [f32],
) {
    crate::attention::scaled_dot_product_attention(out, q, k, v, &Attend::from(mask), scores);
}

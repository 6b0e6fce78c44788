//! What a checked model costs: learned parameters, as PyTorch's `sum(p.numel())` counts them.
//!
//! Computed here with overflow checks so that a spec too large for memory is a compile error;
//! the generated `PARAMETERS` const restates the same sum, node by node, from the runtime's
//! per-layer counts.

use crate::model::{Model, NormKind, NormPlacement, Sublayer};

/// Learned numbers in `model`, or `None` if the count overflows `u64`... or memory.
pub fn parameters(model: &Model) -> Option<u64> {
    let d = model.d_model as u64;
    let bias = u64::from(model.bias);
    let linear =
        |inputs: u64, outputs: u64| inputs.checked_mul(outputs)?.checked_add(bias * outputs);
    let mut total = 0u64;
    for stack in &model.stacks {
        // An RMS norm has a scale only; a layer norm a shift too, if the model has biases.
        let norm = d + u64::from(stack.norm_kind == NormKind::Layer) * bias * d;
        let norms_per_sublayer = u64::from(stack.norm != NormPlacement::None) * norm;
        let mut layer = 0u64;
        // Keys and values: `kv_heads` heads of `d_head` lanes each.
        let kv = (model.kv_heads * model.d_head()) as u64;
        for sublayer in &stack.block {
            let weights = match sublayer {
                Sublayer::Attention(attention) => {
                    let q_o = linear(d, d)?.checked_mul(1 + u64::from(attention.out_proj))?;
                    q_o.checked_add(linear(d, kv)?.checked_mul(2)?)?
                }
                Sublayer::FeedForward(ffn) => {
                    let ff = ffn.d_ff as u64;
                    let widening = linear(d, ff)?.checked_mul(1 + u64::from(ffn.gated))?;
                    widening.checked_add(linear(ff, d)?)?
                }
            };
            layer = layer
                .checked_add(weights)?
                .checked_add(norms_per_sublayer)?;
        }
        let positions = stack.positions.parameters(model.max_len as u64, d)?;
        let tables = stack.tokens().map_or(Some(0), |tables| {
            (tables.vocab as u64 + tables.token_types.unwrap_or(0) as u64).checked_mul(d)
        })?;
        let input_norm = u64::from(stack.input_norm) * norm;
        total = total
            .checked_add(layer.checked_mul(stack.layers as u64)?)?
            .checked_add(u64::from(stack.final_norm) * norm)?
            .checked_add(positions)?
            .checked_add(tables)?
            .checked_add(input_norm)?;
    }
    // Four bytes each must stay addressable.
    (total <= isize::MAX as u64 / 4).then_some(total)
}

//! What a checked model costs: learned parameters, as PyTorch's `sum(p.numel())` counts them.
//!
//! Computed here with overflow checks so that a spec too large for memory is a compile error;
//! the generated `PARAMETERS` const restates the same sum from the runtime's per-layer counts.

use crate::model::{Model, NormPlacement, Positional};

/// Learned numbers in `model`, or `None` if the count overflows `u64`... or memory.
pub fn parameters(model: &Model) -> Option<u64> {
    let d = model.d_model as u64;
    let bias = u64::from(model.bias);
    let linear =
        |inputs: u64, outputs: u64| inputs.checked_mul(outputs)?.checked_add(bias * outputs);
    let norm = d + bias * d;
    let norms_per_sublayer = u64::from(model.norm != NormPlacement::None) * norm;
    let attention = linear(d, d)?.checked_mul(3 + u64::from(model.out_proj))?;
    let ffn = if model.ffn {
        let ff = model.d_ff as u64;
        linear(d, ff)?.checked_add(linear(ff, d)?)? + norms_per_sublayer
    } else {
        0
    };
    let self_layer = attention + norms_per_sublayer + ffn;
    let cross_layer = self_layer + attention + norms_per_sublayer;
    let final_norm = u64::from(model.final_norm) * norm;
    let encoder = self_layer.checked_mul(model.encoder_layers as u64)?
        + final_norm * u64::from(model.encoder_layers > 0);
    let decoder_layer = if model.cross_attention {
        cross_layer
    } else {
        self_layer
    };
    let decoder = decoder_layer.checked_mul(model.decoder_layers as u64)?
        + final_norm * u64::from(model.decoder_layers > 0);
    let stacks = u64::from(model.encoder_layers > 0) + u64::from(model.decoder_layers > 0);
    let positions = match model.positional {
        Positional::Learned => (model.max_len as u64).checked_mul(d)?.checked_mul(stacks)?,
        Positional::None | Positional::Sinusoidal => 0,
    };
    let tables =
        (model.vocab.unwrap_or(0) as u64 + model.token_types.unwrap_or(0) as u64).checked_mul(d)?;
    let embed_norm = u64::from(model.embed_norm) * norm;
    let total = encoder
        .checked_add(decoder)?
        .checked_add(positions)?
        .checked_add(tables)?
        .checked_add(embed_norm)?;
    // Four bytes each must stay addressable.
    (total <= isize::MAX as u64 / 4).then_some(total)
}

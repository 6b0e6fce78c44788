//! The `transformer!` macro: a model spec in, a shape-checked model out.
//!
//! The pipeline reads top to bottom: `spec` parses tokens into specs (grammar only),
//! `validate` checks what they mean against the one table of keys (`validate/keys.rs`),
//! reports every mistake at once and builds the checked `model::Model`, a tree of stacks and
//! sublayers (whose size `count` works out), and `codegen` writes it out, one unit per node
//! of the tree, then each model's code as text. A key's whole life is in at most five files: its row in `keys.rs`, its rule
//! in `validate.rs`, its node in `model.rs`, its codegen unit, and the runtime's kernel. See
//! the `transformer` crate for the user-facing documentation.

mod codegen;
mod count;
mod model;
mod spec;
mod validate;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

/// Declares one or more transformer models: `VIS Name < key: value, ... >`, separated by
/// nothing, `;` or `,`. Doc comments and attributes pass through; a model without a name is
/// a private `Transformer`. See the `transformer` crate for what is generated.
///
/// | key | values | default | meaning |
/// |---|---|---|---|
/// | `kind` | `encoder`, `decoder`, `encoder_decoder` | `encoder` | one bidirectional stack, one causal stack, or PyTorch's `nn.Transformer` |
/// | `d_model` | integer > 0 | required | width of the residual stream |
/// | `heads` | integer > 0 dividing `d_model` | required | attention heads |
/// | `kv_heads` | integer > 0 dividing `heads` | `heads` | key/value heads, shared by `heads / kv_heads` query heads each (grouped-query attention) |
/// | `layers` | integer > 0 | required (not for `encoder_decoder`) | layers of the stack |
/// | `encoder_layers`, `decoder_layers` | integer > 0 | required for `encoder_decoder` | layers of each stack |
/// | `d_ff` | integer > 0 (not with `ffn: false`) | `4 * d_model` | feed-forward hidden width |
/// | `max_len` | integer > 0 | `512` | longest sequence |
/// | `norm` | `post`, `pre`, `none` | `post` | where each sublayer normalises |
/// | `norm_kind` | `layer`, `rms` (needs a norm) | `layer` | every norm's kind: LayerNorm or RMSNorm |
/// | `final_norm` | `true`, `false` (not with `norm: none`) | `false` (`true` for `encoder_decoder`) | a layer norm after each stack |
/// | `eps` | float > 0 (needs a norm) | `1e-5` | layer norm epsilon |
/// | `activation` | `relu`, `gelu`, `gelu_tanh`, `silu` (not with `ffn: false`) | `relu` | feed-forward non-linearity |
/// | `gated` | `true`, `false` (not with `ffn: false`) | `false` | a gated feed-forward, `down(act(gate(x)) ⊙ up(x))` (SwiGLU with `silu`) |
/// | `positional` | `none`, `sinusoidal`, `learned`, `rope` (even `d_head`) | `none` | positions added to the input, or rotated into queries and keys (`rope`) |
/// | `rope_theta` | float > 0 (needs `rope`) | `10000` | RoPE base: pair `i` turns by `theta^(-2i/d_head)` per position |
/// | `rope_pairs` | `half`, `adjacent` (needs `rope`) | `half` | lanes RoPE rotates together: `i` and `i + d_head/2`, or `2i` and `2i+1` (`adjacent`) |
/// | `bias` | `true`, `false` | `true` | biases in linear layers and layer norms |
/// | `ffn` | `true`, `false` | `true` | the feed-forward sublayer |
/// | `out_proj` | `true`, `false` | `true` | the attention output projection |
/// | `causal` | `true`, `false` (`encoder` only) | `false` | masked self-attention |
/// | `cross_attention` | `true`, `false` (`decoder` only) | `false` | attention to an encoder memory |
/// | `vocab` | integer > 0 (single stack, no cross-attention) | none | token ids in |
/// | `token_types` | integer > 0 (needs `vocab`) | none | a token-type table |
/// | `embed_norm` | `true`, `false` (single stack) | `false` | a layer norm on the summed embeddings |
/// | `lm_head` | `none`, `tied`, `separate` (a decoder with `vocab`: `kind: decoder`, or an `encoder_decoder`'s) | `none` | logits over `vocab` after the final norm, from the token embedding (`tied`) or a matrix of its own (`separate`) |
/// | `weights` | `pytorch`, `bert`, `llama`, `gpt2` (`bert`: post-norm encoder; `llama`, `gpt2`: their decoders) | `pytorch` | tensor names for safetensors |
/// | `encoder`, `decoder` | `{ key: value, … }` (`encoder_decoder` only) | none | settings of one stack of an `encoder_decoder`: `positional`, `vocab`, `token_types`, `embed_norm` |
#[proc_macro]
pub fn transformer(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(input.into()).into()
}

/// Tokens to tokens: the whole macro, callable from unit tests (which cannot use `proc_macro`).
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    syn::parse2::<spec::Specs>(input)
        .and_then(|specs| validate::validate(&specs))
        .map(|models| codegen::generate(&models))
        .unwrap_or_else(syn::Error::into_compile_error)
}

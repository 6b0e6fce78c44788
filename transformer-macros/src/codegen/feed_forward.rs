//! The feed-forward node: the position-wise network of a layer, every facet.
//!
//! ```text
//! pub ffn: FeedForward<{ TinyLm::D_MODEL }, { TinyLm::D_FF }>,      // field
//! ffn: FeedForward::xavier(rng, true, false),                       // constructor
//! scratch.add_feed_forward(&self.ffn, Activation::Relu, None);      // forward step
//! self.ffn.w_up.load(loader, &format!("{prefix}linear1."));         // tensors
//! ```
//!
//! A gated feed-forward has a third linear layer, `w_gate`, whose activated output
//! multiplies `w_up`'s.
//!
//! The kernels are the runtime's `FeedForward` (`ffn.rs`) and its activations.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Layout, Names, Part, Tensor};
use crate::model::{Activation, FeedForward, Model};

/// The sublayer's field and facets; `rng` is what `init` draws from.
pub fn part(model: &Model, names: &Names, ffn: &FeedForward, rng: &TokenStream) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    let (bias, gated) = (model.bias, ffn.gated);
    let dialect = names.dialect;
    let ty = quote!(#rt::FeedForward<{ #m::D_MODEL }, { #m::D_FF }>);
    let gate = gated.then_some(("w_gate", dialect.ffn_gate, Layout::Optional));
    let plain = || {
        if dialect.ffn_conv1d {
            Layout::Conv1d
        } else {
            Layout::Plain
        }
    };
    let tensors = gate
        .into_iter()
        .chain([
            ("w_up", dialect.ffn_up, plain()),
            ("w_down", dialect.ffn_down, plain()),
        ])
        .map(|(field, name, layout)| {
            let field = format_ident!("{field}");
            Tensor {
                path: quote!(.#field),
                layout,
                name: name.to_owned(),
            }
        })
        .collect();
    let doc = if gated {
        " Gated feed-forward: `[D_MODEL] → 2 × [D_FF] → [D_MODEL]` per token, `down(act(gate(x)) ⊙ up(x))`."
    } else {
        " Feed-forward: `[D_MODEL] → [D_FF] → [D_MODEL]` per token."
    };
    Part {
        field: format_ident!("ffn"),
        doc: doc.to_owned(),
        zeroed: quote!(#rt::FeedForward::zeroed(#bias, #gated)),
        init: quote!(#rt::FeedForward::xavier(#rng, #bias, #gated)),
        tensors,
        parameters: quote!(
            #rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::parameters(#bias, #gated)
        ),
        kind: kind(ffn),
        is_norm: false,
        ty,
    }
}

/// What the summary and the docs call it.
pub fn kind(ffn: &FeedForward) -> &'static str {
    if ffn.gated {
        "gated feed-forward"
    } else {
        "feed-forward"
    }
}

/// The forward step on the tokens a scratch holds: `x ← x + ffn(norm(x))`.
pub fn step(rt: &TokenStream, ffn: &FeedForward, pre_norm: &TokenStream) -> TokenStream {
    let activation = activation(rt, ffn.activation);
    quote!(scratch.add_feed_forward(&self.ffn, #activation, #pre_norm);)
}

/// `::transformer::runtime::Activation::Gelu`.
pub fn activation(rt: &TokenStream, activation: Activation) -> TokenStream {
    let variant = match activation {
        Activation::Relu => format_ident!("Relu"),
        Activation::Gelu => format_ident!("Gelu"),
        Activation::GeluTanh => format_ident!("GeluTanh"),
        Activation::Silu => format_ident!("Silu"),
    };
    quote!(#rt::Activation::#variant)
}

/// Its floating-point operations over `n` tokens.
pub fn flops(names: &Names, ffn: &FeedForward) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let gated = ffn.gated;
    quote!(#rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::flops(n, #gated))
}

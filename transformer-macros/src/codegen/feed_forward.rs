//! The feed-forward node: the position-wise network of a layer, every facet.
//!
//! ```text
//! pub ffn: FeedForward<{ TinyLm::D_MODEL }, { TinyLm::D_FF }>,      // field
//! ffn: FeedForward::xavier(rng, true),                              // constructor
//! scratch.add_feed_forward(&self.ffn, Activation::Relu, None);      // forward step
//! self.ffn.w_up.load(loader, &format!("{prefix}linear1."));         // tensors
//! ```
//!
//! The kernels are the runtime's `FeedForward` (`ffn.rs`) and its activations.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::dialect::Dialect;
use super::{Layout, Names, Part, Tensor};
use crate::model::{Activation, FeedForward, Model};

/// The sublayer's field and facets; `rng` is what `init` draws from.
pub fn part(model: &Model, names: &Names, rng: &TokenStream) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    let bias = model.bias;
    let dialect = Dialect::of(model);
    let ty = quote!(#rt::FeedForward<{ #m::D_MODEL }, { #m::D_FF }>);
    let tensors = [("w_up", dialect.ffn_up), ("w_down", dialect.ffn_down)]
        .into_iter()
        .map(|(field, name)| {
            let field = format_ident!("{field}");
            Tensor {
                path: quote!(.#field),
                layout: Layout::Plain,
                name: name.to_owned(),
            }
        })
        .collect();
    Part {
        field: format_ident!("ffn"),
        doc: " Feed-forward: `[D_MODEL] → [D_FF] → [D_MODEL]` per token.".to_owned(),
        zeroed: quote!(#rt::FeedForward::zeroed(#bias)),
        init: quote!(#rt::FeedForward::xavier(#rng, #bias)),
        tensors,
        parameters: quote!(#rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::parameters(#bias)),
        kind: "feed-forward",
        is_norm: false,
        ty,
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
    };
    quote!(#rt::Activation::#variant)
}

/// Its floating-point operations over `n` tokens.
pub fn flops(names: &Names) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    quote!(#rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::flops(n))
}

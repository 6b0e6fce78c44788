//! The layer-norm node: a sublayer's norm, a stack's final norm, the embeddings' norm, every
//! facet. Where a sublayer's norm applies (before it, after it) is the layer's business
//! (`layer.rs`); the kernels are the runtime's `LayerNorm` (`norm.rs`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{Layout, Names, Part, Tensor};
use crate::model::Model;

/// A norm's field and facets: `field` named `name` in the checkpoint, documented by `doc`,
/// listed in summaries as `kind`. `eps` is how the constructor reaches the model's `EPS`
/// (`Self::EPS` in the model, `TinyLm::EPS` in a layer).
pub fn part(
    model: &Model,
    names: &Names,
    field: Ident,
    doc: String,
    name: &str,
    kind: &'static str,
    eps: &TokenStream,
) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    let bias = model.bias;
    let new = quote!(#rt::LayerNorm::new(#eps, #bias));
    Part {
        field,
        doc,
        ty: quote!(#rt::LayerNorm<{ #m::D_MODEL }>),
        zeroed: new.clone(),
        init: new,
        tensors: vec![Tensor {
            path: quote!(),
            layout: Layout::Plain,
            name: name.to_owned(),
        }],
        parameters: quote!(#rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias)),
        kind,
        is_norm: true,
    }
}

/// The norm of sublayer `index` (from 0) of a layer, after `sublayer`'s field.
pub fn sublayer_part(
    model: &Model,
    names: &Names,
    index: usize,
    sublayer: &Ident,
    name: &str,
) -> Part {
    let m = &names.model;
    part(
        model,
        names,
        sublayer_field(index),
        format!(" Layer norm over `[D_MODEL]` of the `{sublayer}` sublayer."),
        name,
        "layer norm",
        &quote!(#m::EPS),
    )
}

/// `norm1`, `norm2`, …: PyTorch's names, numbered from 1 in sublayer order.
pub fn sublayer_field(index: usize) -> Ident {
    format_ident!("norm{}", index + 1)
}

/// The step that normalises the tokens a scratch holds (post-norm, and after a stack).
pub fn step(field: &Ident) -> TokenStream {
    quote!(scratch.norm(&self.#field);)
}

//! The norm node: a sublayer's norm, a stack's final norm, the embeddings' norm, every facet,
//! of the stack's `norm_kind` (`LayerNorm` or `RmsNorm`). Where a sublayer's norm applies
//! (before it, after it) is the layer's business (`layer.rs`); the kernels are the runtime's
//! (`norm.rs`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{Layout, Names, Part, Tensor};
use crate::model::{Model, NormKind, Stack};

/// A norm of `stack`'s kind: `field` named `name` in the checkpoint, documented by `doc`,
/// listed in summaries as `kind`, with the model's `EPS`.
pub fn part(
    model: &Model,
    names: &Names,
    stack: &Stack,
    field: Ident,
    doc: String,
    name: &str,
    kind: &'static str,
) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    let eps = quote!(#m::EPS);
    let bias = model.bias;
    let (ty, new, parameters) = match stack.norm_kind {
        NormKind::Layer => (
            quote!(#rt::LayerNorm<{ #m::D_MODEL }>),
            quote!(#rt::LayerNorm::new(#eps, #bias)),
            quote!(#rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias)),
        ),
        NormKind::Rms => (
            quote!(#rt::RmsNorm<{ #m::D_MODEL }>),
            quote!(#rt::RmsNorm::new(#eps)),
            quote!(#rt::RmsNorm::<{ #m::D_MODEL }>::PARAMETERS),
        ),
    };
    // The summary names the kind: `final layer norm`, `final RMS norm`.
    let kind = match (stack.norm_kind, kind) {
        (NormKind::Rms, "layer norm") => "RMS norm",
        (NormKind::Rms, "final layer norm") => "final RMS norm",
        (NormKind::Rms, "embedding layer norm") => "embedding RMS norm",
        _ => kind,
    };
    Part {
        field,
        doc,
        ty,
        zeroed: new.clone(),
        init: new,
        tensors: vec![Tensor {
            path: quote!(),
            layout: Layout::Plain,
            name: name.to_owned(),
        }],
        parameters,
        kind,
        is_norm: true,
    }
}

/// The norm of sublayer `index` (from 0) of a layer, after `sublayer`'s field.
pub fn sublayer_part(
    model: &Model,
    names: &Names,
    stack: &Stack,
    index: usize,
    sublayer: &Ident,
    name: &str,
) -> Part {
    part(
        model,
        names,
        stack,
        sublayer_field(index),
        format!(
            " {} over `[D_MODEL]` of the `{sublayer}` sublayer.",
            noun(stack)
        ),
        name,
        "layer norm",
    )
}

/// "Layer norm" or "RMS norm", as the docs call a norm of `stack`.
pub fn noun(stack: &Stack) -> &'static str {
    match stack.norm_kind {
        NormKind::Layer => "Layer norm",
        NormKind::Rms => "RMS norm",
    }
}

/// `norm1`, `norm2`, …: PyTorch's names, numbered from 1 in sublayer order.
pub fn sublayer_field(index: usize) -> Ident {
    format_ident!("norm{}", index + 1)
}

/// The step that normalises the tokens a scratch holds (post-norm, and after a stack).
pub fn step(field: &Ident) -> TokenStream {
    quote!(scratch.norm(&self.#field);)
}

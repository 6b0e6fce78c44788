//! [`Model`]s → Rust: the structs, consts, constructors and forward passes, and each model's
//! code as text (`EXPANSION`).
//!
//! Each file writes one part; this one names things and assembles them. Paths are
//! absolute (`::transformer::runtime::…`, or the `crate = "…"` option's path) so the user's imports never matter, and every
//! generated item carries a doc comment built from the spec.

mod consts;
pub(crate) mod expansion;
mod forward;
mod load;
mod summary;
mod tokens;
mod weights;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::model::{Kind, Model};

/// Everything the macro emits for a list of checked models: each model's code, then its
/// `EXPANSION`, that code as text.
pub fn generate(models: &[Model]) -> TokenStream {
    models
        .iter()
        .map(|model| {
            let code = generate_model(model);
            let expansion = expansion::expansion(model, &code);
            quote!(#code #expansion)
        })
        .collect()
}

/// One model's code as our snapshots show it: everything but its `EXPANSION`.
pub fn generate_model(model: &Model) -> TokenStream {
    let names = Names::new(model);
    let structs = weights::structs(model, &names);
    let consts = consts::consts(model, &names);
    let constructors = weights::constructors(model, &names);
    let forward = forward::forward(model, &names);
    let load = load::load(model, &names);
    let summary = summary::summary(model, &names);
    let tokens = tokens::tokens(model, &names);
    quote! {
        #structs
        #consts
        #constructors
        #forward
        #tokens
        #load
        #summary
    }
}

/// The runtime crate as the user's code reaches it: `::transformer::runtime`, or
/// `{crate}::runtime` under `#[transformer(crate = "…")]`.
pub(crate) fn rt(model: &Model) -> TokenStream {
    let krate = &model.krate;
    quote!(#krate::runtime)
}

/// A doc-comment link to `item` in the runtime crate `rt`:
/// ``[`::transformer::runtime::ForwardError`]``.
pub(crate) fn rt_link(rt: &TokenStream, item: &str) -> String {
    format!("[`{}::{item}`]", rt.to_string().replace(' ', ""))
}

/// The names of a model's generated items, all grown from the model's own name.
pub(crate) struct Names {
    pub model: Ident,
    /// [`rt`]: the runtime crate's path.
    pub rt: TokenStream,
    pub scratch: Ident,
    /// `TinyLmAttention`: the runtime's `MultiHeadAttention` at the model's dimensions.
    pub attention: Ident,
    /// The stacks in forward order: the encoder stack first.
    pub stacks: Vec<Stack>,
}

/// One stack of layers: its layer struct, its fields and how its layers attend.
pub(crate) struct Stack {
    /// `TinyLmLayer`, `TinyLmEncoderLayer`, `TinyLmDecoderLayer`.
    pub layer: Ident,
    /// The const holding the layer count: `LAYERS`, `ENCODER_LAYERS`, `DECODER_LAYERS`.
    pub count_const: Ident,
    pub count: usize,
    /// Field names in the model struct: `layers`/`norm`/`positions`, or prefixed by
    /// `encoder_`/`decoder_` in an `encoder_decoder` model.
    pub layers_field: Ident,
    pub norm_field: Ident,
    pub positions_field: Ident,
    /// Self-attention hides later positions.
    pub causal: bool,
    /// Each layer also attends to an encoder memory.
    pub cross: bool,
    /// "encoder", "decoder": for doc comments.
    pub role: &'static str,
}

impl Names {
    fn new(model: &Model) -> Self {
        let name = &model.name;
        let single = |role: &'static str, count: usize, cross: bool| Stack {
            layer: format_ident!("{name}Layer"),
            count_const: format_ident!("LAYERS"),
            count,
            layers_field: format_ident!("layers"),
            norm_field: format_ident!("norm"),
            positions_field: format_ident!("positions"),
            causal: model.causal,
            cross,
            role,
        };
        let prefixed =
            |role: &'static str, upper: &str, count: usize, causal: bool, cross: bool| Stack {
                layer: format_ident!("{name}{upper}Layer"),
                count_const: format_ident!("{}_LAYERS", upper.to_uppercase()),
                count,
                layers_field: format_ident!("{role}_layers"),
                norm_field: format_ident!("{role}_norm"),
                positions_field: format_ident!("{role}_positions"),
                causal,
                cross,
                role,
            };
        let stacks = match model.kind {
            Kind::Encoder => vec![single("encoder", model.encoder_layers, false)],
            Kind::Decoder => vec![single(
                "decoder",
                model.decoder_layers,
                model.cross_attention,
            )],
            Kind::EncoderDecoder => vec![
                prefixed("encoder", "Encoder", model.encoder_layers, false, false),
                prefixed("decoder", "Decoder", model.decoder_layers, true, true),
            ],
        };
        Self {
            model: name.clone(),
            rt: rt(model),
            scratch: format_ident!("{name}Scratch"),
            attention: format_ident!("{name}Attention"),
            stacks,
        }
    }
}

//! [`Model`] trees → Rust: one unit per node of the tree, each writing every facet of its
//! node (field, constructor, forward step, tensor names, parameter count, summary row), and
//! each model's code as text (`EXPANSION`, `expansion`).
//!
//! | unit | node | writes |
//! |---|---|---|
//! | `attention`, `feed_forward`, `norm` | a sublayer, a norm | a [`Part`]: field, constructors, tensors, parameters, row; the forward step and flops; for attention also `HEADS`, `D_HEAD` and the model's attention type |
//! | `embedding` | a stack's token tables and learned positions | their [`Part`]s, `embed`, the runner's first steps |
//! | `layer` | a stack's block | the layer struct and its one `impl` |
//! | `model` | the model | the model struct, consts, constructors, loading, summary |
//! | `entry` | the model's inputs | the public entry points and the stack runners |
//! | `dialect` | the `weights` setting | tensor names, as data, one table per checkpoint dialect |
//!
//! Paths are absolute (`::transformer::runtime::…`, or the `crate = "…"` option's path) so the
//! user's imports never matter, and every generated item carries a doc comment built from the
//! spec.

mod attention;
mod decoding;
mod dialect;
mod embedding;
mod entry;
pub(crate) mod expansion;
mod feed_forward;
mod layer;
mod model;
mod norm;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::model::{Kind, Model, Role, Stack};

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
    let model_items = model::model(model, &names);
    let layers = model
        .stacks
        .iter()
        .zip(&names.stacks)
        .map(|(stack, stack_names)| layer::layer(model, &names, stack, stack_names));
    quote! {
        #model_items
        #(#layers)*
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

/// "1 layer", "2 layers".
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One field of a generated struct, with every facet of it that other units assemble.
pub(crate) struct Part {
    pub field: Ident,
    pub doc: String,
    pub ty: TokenStream,
    /// The value of `zeroed()`.
    pub zeroed: TokenStream,
    /// The value of `init(…)`, drawing from `rng`.
    pub init: TokenStream,
    /// Its tensors, under names relative to the struct's own.
    pub tensors: Vec<Tensor>,
    /// Its learned numbers, as a const expression.
    pub parameters: TokenStream,
    /// Its summary row's kind, such as `"self-attention"`.
    pub kind: &'static str,
    /// A sublayer's norm, written after the other tensors in dialects that do so.
    pub is_norm: bool,
}

/// How a tensor of a part is stored.
pub(crate) enum Layout {
    /// A linear layer, norm or embedding: `load`/`save` at a name.
    Plain,
    /// `nn.MultiheadAttention`'s stacked `in_proj_weight`.
    PackedAttention,
    /// The `Option`al output projection of an attention.
    Optional,
    /// GPT-2's `Conv1D`: a linear layer stored transposed, or an attention's q, k and v side
    /// by side in `c_attn` and its output in `c_proj`.
    Conv1d,
}

/// One tensor: the expression reaching it from the part's field, its layout, its name.
pub(crate) struct Tensor {
    /// Fields after the part's own, such as `.w_up`; empty for the part itself.
    pub path: TokenStream,
    pub layout: Layout,
    pub name: String,
}

/// The names of a model's generated items, all grown from the model's own name, and the
/// dialect its tensors are named in.
#[derive(Clone)]
pub(crate) struct Names {
    pub model: Ident,
    /// [`rt`]: the runtime crate's path.
    pub rt: TokenStream,
    pub scratch: Ident,
    /// `TinyLmAttention`: the runtime's `MultiHeadAttention` at the model's dimensions.
    pub attention: Ident,
    /// One per stack, in forward order.
    pub stacks: Vec<StackNames>,
    /// Some feed-forward is gated, so every scratch reserves room for its second factor.
    gated: bool,
    /// The tensor names every unit writes: the model's `weights` dialect, or GGUF's for the
    /// GGUF loader.
    pub dialect: &'static dialect::Dialect,
}

/// The names of one stack's items.
#[derive(Clone)]
pub(crate) struct StackNames {
    /// `TinyLmLayer`, `TinyLmEncoderLayer`, `TinyLmDecoderLayer`.
    pub layer: Ident,
    /// The const holding the layer count: `LAYERS`, `ENCODER_LAYERS`, `DECODER_LAYERS`.
    pub count_const: Ident,
    /// Field names in the model struct: `layers`/`norm`/`positions`, or prefixed by
    /// `encoder_`/`decoder_` in an `encoder_decoder` model.
    pub layers_field: Ident,
    pub norm_field: Ident,
    pub positions_field: Ident,
    /// The private runner: `run_encoder`, `run_decoder`.
    pub runner: Ident,
    /// A token-reading stack's tables and their row counts, its input norm, and its lookup
    /// method: `token_embedding`, `VOCAB`, `embed`, … or, in an `encoder_decoder`,
    /// `decoder_token_embedding`, `DECODER_VOCAB`, `decoder_embed`, ….
    pub token_embedding: Ident,
    pub token_type_embedding: Ident,
    pub embedding_norm: Ident,
    pub vocab_const: Ident,
    pub token_types_const: Ident,
    pub embed_fn: Ident,
    /// "encoder", "decoder": for doc comments.
    pub role: &'static str,
}

impl Names {
    fn new(model: &Model) -> Self {
        let name = &model.name;
        let prefixed = model.kind == Kind::EncoderDecoder;
        let stacks = model
            .stacks
            .iter()
            .map(|stack: &Stack| {
                let role = stack.role.word();
                let upper = match stack.role {
                    Role::Encoder => "Encoder",
                    Role::Decoder => "Decoder",
                };
                // `encoder_`/`ENCODER_` before every name of a stack of an `encoder_decoder`.
                let (field, constant) = if prefixed {
                    (format!("{role}_"), format!("{}_", role.to_uppercase()))
                } else {
                    (String::new(), String::new())
                };
                StackNames {
                    layer: if prefixed {
                        format_ident!("{name}{upper}Layer")
                    } else {
                        format_ident!("{name}Layer")
                    },
                    count_const: format_ident!("{constant}LAYERS"),
                    layers_field: format_ident!("{field}layers"),
                    norm_field: format_ident!("{field}norm"),
                    positions_field: format_ident!("{field}positions"),
                    runner: format_ident!("run_{role}"),
                    token_embedding: format_ident!("{field}token_embedding"),
                    token_type_embedding: format_ident!("{field}token_type_embedding"),
                    embedding_norm: format_ident!("{field}embedding_norm"),
                    vocab_const: format_ident!("{constant}VOCAB"),
                    token_types_const: format_ident!("{constant}TOKEN_TYPES"),
                    embed_fn: format_ident!("{field}embed"),
                    role,
                }
            })
            .collect();
        Self {
            model: name.clone(),
            rt: rt(model),
            scratch: format_ident!("{name}Scratch"),
            attention: format_ident!("{name}Attention"),
            stacks,
            gated: model.gated(),
            dialect: dialect::Dialect::of(model),
        }
    }

    /// The same names, with tensors named in `dialect`.
    pub fn in_dialect(&self, dialect: &'static dialect::Dialect) -> Self {
        Self {
            dialect,
            ..self.clone()
        }
    }

    /// `Scratch::with_capacity(rows, memory_rows)`, made `.gated()` in a model whose
    /// feed-forwards are.
    pub fn new_scratch(&self, rows: &TokenStream, memory_rows: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let gated = self.gated.then(|| quote!(.gated()));
        quote!(#rt::Scratch::with_capacity(#rows, #memory_rows) #gated)
    }
}

/// `self.field.load(loader, name);` (or `save`) for every tensor of `parts`; each name is
/// written after `name_prefix` (`{prefix}` in a layer, `{root}` in a model that may be
/// nested), or literally without one.
pub(crate) fn io_calls(parts: &[&Part], name_prefix: Option<&str>, save: bool) -> Vec<TokenStream> {
    parts
        .iter()
        .flat_map(|part| {
            let field = &part.field;
            part.tensors.iter().map(move |tensor| {
                let path = &tensor.path;
                let name = match name_prefix {
                    Some(prefix) => {
                        let name = format!("{prefix}{}", tensor.name);
                        quote!(&::std::format!(#name))
                    }
                    None => {
                        let name = &tensor.name;
                        quote!(#name)
                    }
                };
                io_call(&quote!(self.#field #path), &tensor.layout, &name, save)
            })
        })
        .collect()
}

/// `field.load(loader, name);` or `field.save(writer, name);` for one tensor.
pub(crate) fn io_call(
    field: &TokenStream,
    layout: &Layout,
    name: &TokenStream,
    save: bool,
) -> TokenStream {
    let (method, packed, conv1d, target, option) = if save {
        (
            quote!(save),
            quote!(save_packed),
            quote!(save_conv1d),
            quote!(writer),
            quote!(as_ref),
        )
    } else {
        (
            quote!(load),
            quote!(load_packed),
            quote!(load_conv1d),
            quote!(loader),
            quote!(as_mut),
        )
    };
    match layout {
        Layout::Plain => quote!(#field.#method(#target, #name);),
        Layout::PackedAttention => quote!(#field.#packed(#target, #name);),
        Layout::Conv1d => quote!(#field.#conv1d(#target, #name);),
        Layout::Optional => quote! {
            if let ::core::option::Option::Some(projection) = #field.#option() {
                projection.#method(#target, #name);
            }
        },
    }
}

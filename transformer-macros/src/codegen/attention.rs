//! The attention node: a self-attention or cross-attention sublayer of a layer, every facet.
//!
//! ```text
//! pub attn: TinyLmAttention,                                        // field
//! attn: MultiHeadAttention::xavier(rng, true, true),                // constructor
//! scratch.add_self_attention(&self.attn, None, mask);               // forward step
//! self.attn.load_packed(loader, &format!("{prefix}self_attn."));   // tensors
//! TinyLmAttention::parameters(true, true)                           // parameters
//! ```
//!
//! The kernels are the runtime's `MultiHeadAttention` (`attention.rs`).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::dialect::AttentionNames;
use super::{Layout, Names, Part, Tensor};
use crate::model::{Attention, Model, RopePairs};

/// `HEADS`, `KV_HEADS` and `D_HEAD`, for the model's consts.
pub fn consts(model: &Model) -> TokenStream {
    let heads = Literal::usize_unsuffixed(model.heads);
    let kv_heads = if model.kv_heads == model.heads {
        quote!(Self::HEADS)
    } else {
        let kv_heads = Literal::usize_unsuffixed(model.kv_heads);
        quote!(#kv_heads)
    };
    quote! {
        /// Attention heads in each attention sublayer.
        pub const HEADS: usize = #heads;
        /// Key/value heads in each attention sublayer, each shared by `HEADS / KV_HEADS`
        /// query heads.
        pub const KV_HEADS: usize = #kv_heads;
        /// Width of each head: `D_MODEL / HEADS`.
        pub const D_HEAD: usize = Self::D_MODEL / Self::HEADS;
    }
}

/// `TinyLmAttention`: the runtime's `MultiHeadAttention` at the model's dimensions, the type
/// of every attention field.
pub fn alias(model: &Model, names: &Names) -> TokenStream {
    let (rt, m, alias) = (&names.rt, &names.model, &names.attention);
    let vis = &model.vis;
    if model.kv_heads == model.heads {
        let doc = format!(
            " Multi-head attention at the dimensions of `{m}`: `HEADS` heads of width `D_HEAD` over `D_MODEL`."
        );
        quote! {
            #[doc = #doc]
            #vis type #alias = #rt::MultiHeadAttention<{ #m::D_MODEL }, { #m::HEADS }, { #m::D_HEAD }>;
        }
    } else {
        let doc = format!(
            " Grouped-query attention at the dimensions of `{m}`: `HEADS` query heads of width `D_HEAD` over `D_MODEL`, sharing `KV_HEADS` key/value heads."
        );
        quote! {
            #[doc = #doc]
            #vis type #alias = #rt::MultiHeadAttention<
                { #m::D_MODEL },
                { #m::HEADS },
                { #m::D_HEAD },
                { #m::KV_HEADS * #m::D_HEAD },
            >;
        }
    }
}

/// The compile-time check that the heads tile the model's width.
pub fn invariant(names: &Names) -> TokenStream {
    let m = &names.model;
    quote!(
        const _: () = ::core::assert!(#m::HEADS * #m::D_HEAD == #m::D_MODEL);
    )
}

/// The sublayer's field and facets; `rng` is what `init` draws from.
pub fn part(model: &Model, names: &Names, attention: &Attention, rng: &TokenStream) -> Part {
    let rt = &names.rt;
    let (bias, out_proj) = (model.bias, attention.out_proj);
    let alias = &names.attention;
    let dialect = names.dialect;
    let doc = if attention.memory {
        " Cross-attention: each token attends to the encoder memory."
    } else if attention.causal {
        " Masked (causal) self-attention: each token attends to itself and earlier tokens."
    } else {
        " Self-attention: each token attends to every token."
    };
    let doc = match attention.rope {
        Some(_) => format!("{doc} Queries and keys are rotated by their positions (RoPE)."),
        None => doc.to_owned(),
    };
    let with_rope = attention.rope.map(|rope| {
        let theta = Literal::f32_unsuffixed(rope.theta);
        let pairs = match rope.pairs {
            RopePairs::Half => quote!(Half),
            RopePairs::Adjacent => quote!(Adjacent),
        };
        quote!(.with_rope(#rt::Rope::new(#theta, #rt::RopePairs::#pairs)))
    });
    let names = if attention.memory {
        &dialect.cross_attention
    } else {
        &dialect.self_attention
    };
    let tensors = match names {
        AttentionNames::Packed(prefix) => vec![Tensor {
            path: quote!(),
            layout: Layout::PackedAttention,
            name: (*prefix).to_owned(),
        }],
        AttentionNames::Conv1d(prefix) => vec![Tensor {
            path: quote!(),
            layout: Layout::Conv1d,
            name: (*prefix).to_owned(),
        }],
        AttentionNames::Split { q, k, v, o } => [("w_q", q), ("w_k", k), ("w_v", v), ("w_o", o)]
            .into_iter()
            .map(|(field, name)| {
                let field = format_ident!("{field}");
                Tensor {
                    path: quote!(.#field),
                    layout: if field == "w_o" {
                        Layout::Optional
                    } else {
                        Layout::Plain
                    },
                    name: (*name).to_owned(),
                }
            })
            .collect(),
    };
    Part {
        field: field(attention),
        doc,
        ty: quote!(#alias),
        zeroed: quote!(#rt::MultiHeadAttention::zeroed(#bias, #out_proj) #with_rope),
        init: quote!(#rt::MultiHeadAttention::xavier(#rng, #bias, #out_proj) #with_rope),
        tensors,
        parameters: quote!(#alias::parameters(#bias, #out_proj)),
        kind: kind(attention),
        is_norm: false,
    }
}

/// `attn` or `cross_attn`.
pub fn field(attention: &Attention) -> syn::Ident {
    if attention.memory {
        format_ident!("cross_attn")
    } else {
        format_ident!("attn")
    }
}

/// What the summary and the docs call it.
pub fn kind(attention: &Attention) -> &'static str {
    if attention.memory {
        "cross-attention"
    } else if attention.causal {
        "masked self-attention"
    } else {
        "self-attention"
    }
}

/// The forward step on the tokens a scratch holds: `x ← x + attn(norm(x)[, memory])`.
pub fn step(attention: &Attention, pre_norm: &TokenStream) -> TokenStream {
    let field = field(attention);
    if attention.memory {
        quote!(scratch.add_cross_attention(&self.#field, #pre_norm, memory, memory_mask);)
    } else {
        quote!(scratch.add_self_attention(&self.#field, #pre_norm, mask);)
    }
}

/// The forward step of a decoder that generates, on its new tokens: self-attention through
/// the layer's key/value `cache`, whose first `start` tokens came before them;
/// cross-attention to the memory whose keys and values the cache holds.
pub fn cached_step(attention: &Attention, pre_norm: &TokenStream) -> TokenStream {
    let field = field(attention);
    if attention.memory {
        quote!(scratch.add_cached_cross_attention(&self.#field, #pre_norm, cache);)
    } else {
        quote!(scratch.add_cached_self_attention(&self.#field, #pre_norm, cache, start);)
    }
}

/// The step in the layer's formula, `{}` standing for its input: `attn({})`.
pub fn formula(attention: &Attention) -> &'static str {
    if attention.memory {
        "cross_attn({}, memory)"
    } else {
        "attn({})"
    }
}

/// Its floating-point operations over `n` queries and `n` keys.
pub fn flops(names: &Names, attention: &Attention) -> TokenStream {
    let alias = &names.attention;
    let out_proj = attention.out_proj;
    quote!(#alias::flops(n, n, #out_proj))
}

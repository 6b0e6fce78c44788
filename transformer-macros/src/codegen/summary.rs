//! What a model says about itself: `summary()` (also its `Display`), `flops(n)`, and a
//! `Debug` that lists dimensions rather than millions of weights.
//!
//! ```text
//! summary.row(1, ::std::format!("{prefix}.attn"), "self-attention", TinyLm::D_MODEL, …);
//! pub const fn flops(n: usize) -> u64 { Self::LAYERS as u64 * TinyLmLayer::flops(n) }
//! ```

use proc_macro2::TokenStream;
use quote::quote;

use super::weights::{Sublayer, sublayers};
use super::{Names, Stack, rt};
use crate::model::{Model, Positional};

/// `summary`, `flops`, `Display` and `Debug` for the model, and per-layer rows, flops and
/// `Debug`.
pub fn summary(model: &Model, names: &Names) -> TokenStream {
    let layers = names
        .stacks
        .iter()
        .map(|stack| layer_facts(model, names, stack));
    let layer_debugs = names.stacks.iter().map(|stack| layer_debug(names, stack));
    let model_facts = model_facts(model, names);
    let debug = debug(names);
    quote! {
        #(#layers)*
        #(#layer_debugs)*
        #model_facts
        #debug
    }
}

/// The sublayer's learned numbers, as an expression over the model's consts.
fn sublayer_parameters(model: &Model, names: &Names, sublayer: Sublayer) -> TokenStream {
    let rt = rt(model);
    let (m, attention) = (&names.model, &names.attention);
    let (bias, out_proj) = (model.bias, model.out_proj);
    match sublayer {
        Sublayer::SelfAttention | Sublayer::CrossAttention => quote! {
            #attention::parameters(#bias, #out_proj)
        },
        Sublayer::FeedForward => {
            quote!(#rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::parameters(#bias))
        }
    }
}

/// `impl TinyLmLayer { pub fn summary_rows(…); pub const fn flops(n) -> u64; }`.
fn layer_facts(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let (m, layer, attention) = (&names.model, &stack.layer, &names.attention);
    let bias = model.bias;
    let out_proj = model.out_proj;
    let layer_kind = format!("{} layer", stack.role);
    let rows = sublayers(model, stack).into_iter().map(|(sublayer, norm)| {
        let field = sublayer.field();
        let kind = match sublayer {
            Sublayer::SelfAttention if stack.causal => "masked self-attention",
            Sublayer::SelfAttention => "self-attention",
            Sublayer::CrossAttention => "cross-attention",
            Sublayer::FeedForward => "feed-forward",
        };
        let name = format!("{{prefix}}.{field}");
        let parameters = sublayer_parameters(model, names, sublayer);
        let norm = norm.map(|norm| {
            let name = format!("{{prefix}}.{norm}");
            quote! {
                summary.row(1, ::std::format!(#name), "layer norm", #m::D_MODEL,
                    #rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias));
            }
        });
        quote! {
            summary.row(1, ::std::format!(#name), #kind, #m::D_MODEL, #parameters);
            #norm
        }
    });
    let attention_flops = quote! {
        #attention::flops(n, n, #out_proj)
    };
    let cross_flops = stack.cross.then(|| quote!(+ #attention_flops));
    let ffn_flops = model
        .ffn
        .then(|| quote!(+ #rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::flops(n)));
    let memory_note = if stack.cross {
        ", attending to a memory of `n` tokens"
    } else {
        ""
    };
    let flops_doc = format!(
        " Floating-point operations of this layer over `n` tokens{memory_note} (a multiply-add counts 2; matrix products only)."
    );
    quote! {
        impl #layer {
            /// Appends this layer's rows, named under `prefix` (such as `layers.0`), to `summary`.
            pub fn summary_rows(summary: &mut #rt::Summary, prefix: &str) {
                summary.row(0, prefix, #layer_kind, #m::D_MODEL, Self::PARAMETERS);
                #(#rows)*
            }

            #[doc = #flops_doc]
            #[must_use]
            pub const fn flops(n: usize) -> u64 {
                #attention_flops #cross_flops #ffn_flops
            }
        }
    }
}

/// The model's `summary()`, `flops(n)` and `Display`.
fn model_facts(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let title = m.to_string();
    let bias = model.bias;
    let mut rows = Vec::new();
    for stack in &names.stacks {
        let (layers, norm, positions) = (
            &stack.layers_field,
            &stack.norm_field,
            &stack.positions_field,
        );
        if model.positional == Positional::Learned {
            let name = positions.to_string();
            rows.push(quote! {
                summary.row(0, #name, "learned positions", Self::D_MODEL,
                    #rt::Embedding::<{ #m::MAX_LEN }, { #m::D_MODEL }>::PARAMETERS);
            });
        }
        let layer = &stack.layer;
        for i in 0..stack.count {
            let name = format!("{layers}.{i}");
            rows.push(quote!(#layer::summary_rows(&mut summary, #name);));
        }
        if model.final_norm {
            let name = norm.to_string();
            rows.push(quote! {
                summary.row(0, #name, "final layer norm", Self::D_MODEL,
                    #rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias));
            });
        }
    }
    let flops = names.stacks.iter().map(|stack| {
        let (layer, count) = (&stack.layer, &stack.count_const);
        quote!(Self::#count as u64 * #layer::flops(n))
    });
    let memory_note = if names.stacks.iter().any(|s| s.cross) {
        " Every input (source, target, memory) is taken to be `n` tokens long."
    } else {
        ""
    };
    let flops_doc = format!(
        " Floating-point operations of one forward pass over `n` tokens: a multiply-add counts 2, \
         matrix products only (norms, softmax and activations are not counted).{memory_note}"
    );
    quote! {
        impl #m {
            /// One row per layer and sublayer with its output shape and learned numbers, and
            /// the totals: like torchinfo's summary. Printed by `Display`.
            #[must_use]
            pub fn summary() -> #rt::Summary {
                let mut summary = #rt::Summary::new(#title, Self::PARAMETERS);
                #(#rows)*
                summary
            }

            #[doc = #flops_doc]
            #[must_use]
            pub const fn flops(n: usize) -> u64 {
                #(#flops)+*
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #m {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&Self::summary(), f)
            }
        }
    }
}

/// `impl Debug for TinyLm`, listing the dimensions from the consts.
fn debug(names: &Names) -> TokenStream {
    let m = &names.model;
    let name = m.to_string();
    let layer_fields = names.stacks.iter().map(|stack| {
        let count = &stack.count_const;
        let label = count.to_string().to_lowercase();
        quote!(.field(#label, &Self::#count))
    });
    quote! {
        #[automatically_derived]
        impl ::core::fmt::Debug for #m {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name)
                    .field("d_model", &Self::D_MODEL)
                    .field("heads", &Self::HEADS)
                    #(#layer_fields)*
                    .field("d_ff", &Self::D_FF)
                    .field("max_len", &Self::MAX_LEN)
                    .field("parameters", &Self::PARAMETERS)
                    .finish_non_exhaustive()
            }
        }
    }
}

/// `impl Debug for TinyLmLayer`, listing the model's dimensions and the layer's learned numbers.
fn layer_debug(names: &Names, stack: &Stack) -> TokenStream {
    let (m, layer) = (&names.model, &stack.layer);
    let name = layer.to_string();
    quote! {
        #[automatically_derived]
        impl ::core::fmt::Debug for #layer {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name)
                    .field("d_model", &#m::D_MODEL)
                    .field("heads", &#m::HEADS)
                    .field("d_ff", &#m::D_FF)
                    .field("parameters", &Self::PARAMETERS)
                    .finish_non_exhaustive()
            }
        }
    }
}

//! A stack's layer: its struct and its one `impl`, assembled from the nodes of its block
//! (`attention`, `feed_forward`, `norm`): fields, constructors, the forward pass, loading,
//! summary rows, parameters and flops, and a `Debug` that lists dimensions.
//!
//! ```text
//! pub struct TinyLmLayer { pub attn: TinyLmAttention, pub norm1: LayerNorm<…>, pub ffn: …, pub norm2: … }
//! impl TinyLmLayer { pub const PARAMETERS: usize = …; pub fn zeroed() … pub fn forward(…) … }
//! ```
//! Field names follow PyTorch's sublayer order: `norm1` follows the first sublayer
//! (self-attention), `norm2` the second, `norm3` the third.

use proc_macro2::TokenStream;
use quote::quote;

use super::dialect::{GGUF, NormNames};
use super::{Names, Part, StackNames, attention, feed_forward, io_calls, norm};
use crate::model::{LmHead, Model, NormPlacement, Stack, Sublayer};

/// One sublayer of the block with its norm's part, if the stack has norms.
struct Step<'a> {
    sublayer: &'a Sublayer,
    part: Part,
    norm: Option<Part>,
}

/// The block's sublayers as parts, `rng` being what `init` draws from.
fn steps<'a>(model: &Model, names: &Names, stack: &'a Stack) -> Vec<Step<'a>> {
    let dialect = names.dialect;
    let rng = quote!(rng);
    stack
        .block
        .iter()
        .enumerate()
        .map(|(i, sublayer)| {
            let part = match sublayer {
                Sublayer::Attention(a) => attention::part(model, names, a, &rng),
                Sublayer::FeedForward(ffn) => feed_forward::part(model, names, ffn, &rng),
            };
            let norm = (stack.norm != NormPlacement::None).then(|| {
                let name = match (&dialect.norms, sublayer) {
                    (NormNames::Numbered, _) => format!("{}.", norm::sublayer_field(i)),
                    (NormNames::AfterSublayer { attention, .. }, Sublayer::Attention(a))
                        if !a.memory =>
                    {
                        (*attention).to_owned()
                    }
                    (
                        NormNames::AfterSublayer {
                            cross_attention, ..
                        },
                        Sublayer::Attention(_),
                    ) => (*cross_attention).to_owned(),
                    (NormNames::AfterSublayer { feed_forward, .. }, Sublayer::FeedForward(_)) => {
                        (*feed_forward).to_owned()
                    }
                };
                norm::sublayer_part(model, names, stack, i, &part.field, &name)
            });
            Step {
                sublayer,
                part,
                norm,
            }
        })
        .collect()
}

/// "masked self-attention then feed-forward, each added to its input, then normalised
/// (post-norm)".
pub fn summary(stack: &Stack) -> String {
    let parts: Vec<&str> = stack
        .block
        .iter()
        .map(|sublayer| match sublayer {
            Sublayer::Attention(a) => attention::kind(a),
            Sublayer::FeedForward(ffn) => feed_forward::kind(ffn),
        })
        .collect();
    let norm = match stack.norm {
        NormPlacement::Post => "each added to its input, then normalised (post-norm)",
        NormPlacement::Pre => "each applied to a normalised copy and added to its input (pre-norm)",
        NormPlacement::None => "each added to its input, no norms",
    };
    format!("{}, {norm}", parts.join(" then "))
}

/// The layer's formula in PyTorch's terms, e.g. `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`.
fn formula(stack: &Stack) -> String {
    stack
        .block
        .iter()
        .enumerate()
        .map(|(i, sublayer)| {
            let call = match sublayer {
                Sublayer::Attention(a) => attention::formula(a),
                Sublayer::FeedForward(_) => "ffn({})",
            };
            let norm = norm::sublayer_field(i);
            match stack.norm {
                NormPlacement::Post => format!("x = {norm}(x + {})", call.replace("{}", "x")),
                NormPlacement::Pre => {
                    format!("x = x + {}", call.replace("{}", &format!("{norm}(x)")))
                }
                NormPlacement::None => format!("x = x + {}", call.replace("{}", "x")),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The layer struct of `stack`, its `impl` and its `Debug`.
pub fn layer(model: &Model, names: &Names, stack: &Stack, stack_names: &StackNames) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let vis = &model.vis;
    let layer = &stack_names.layer;
    let role = stack_names.role;
    let steps = steps(model, names, stack);
    let parts: Vec<&Part> = steps
        .iter()
        .flat_map(|step| std::iter::once(&step.part).chain(&step.norm))
        .collect();

    let struct_doc = format!(" One {role} layer of [`{m}`]: {}.", summary(stack));
    let fields = parts.iter().map(|part| {
        let (field, doc, ty) = (&part.field, &part.doc, &part.ty);
        quote! {
            #[doc = #doc]
            pub #field: #ty,
        }
    });
    let parameters = parts.iter().map(|part| &part.parameters);
    let parameters_doc = format!(" Learned numbers in one {role} layer.");
    let zeroed = parts.iter().map(|part| {
        let (field, value) = (&part.field, &part.zeroed);
        quote!(#field: #value,)
    });
    let init = parts.iter().map(|part| {
        let (field, value) = (&part.field, &part.init);
        quote!(#field: #value,)
    });

    let forward = forward(names, stack, &steps);

    let dialect = names.dialect;
    // Dialects that number their norms list them after every sublayer, as PyTorch's
    // `state_dict` does; the others keep each right after its sublayer.
    let mut in_file_order: Vec<&Part> = parts.clone();
    if matches!(dialect.norms, NormNames::Numbered) {
        in_file_order.sort_by_key(|part| part.is_norm);
    }
    let loads = io_calls(&in_file_order, Some("{prefix}"), false);
    let saves = io_calls(&in_file_order, Some("{prefix}"), true);
    let load_gguf = model.llama_shaped().then(|| {
        let gguf_steps = self::steps(model, &names.in_dialect(&GGUF), stack);
        let gguf_parts: Vec<&Part> = gguf_steps
            .iter()
            .flat_map(|step| std::iter::once(&step.part).chain(&step.norm))
            .collect();
        let loads = io_calls(&gguf_parts, Some("{prefix}"), false);
        quote! {
            /// Reads this layer's tensors from a GGUF file, named as llama.cpp names them
            /// under `prefix` (such as `blk.0.`): as they are stored, before
            /// `attn_q`'s and `attn_k`'s rows are put back in Hugging Face's order.
            pub fn load_gguf(&mut self, loader: &mut #rt::load::Loader<'_>, prefix: &str) {
                #(#loads)*
            }
        }
    });
    let load_doc = format!(
        " Reads this layer's tensors, named as {} under `prefix` (such as `{}`).",
        (dialect.layer_source)(stack.cross()),
        dialect.layer(0)
    );

    let layer_kind = format!("{role} layer");
    let rows = parts.iter().map(|part| {
        let (kind, parameters) = (part.kind, &part.parameters);
        let name = format!("{{prefix}}.{}", part.field);
        quote!(summary.row(1, ::std::format!(#name), #kind, #m::D_MODEL, #parameters);)
    });
    let flops = stack.block.iter().map(|sublayer| match sublayer {
        Sublayer::Attention(a) => attention::flops(names, a),
        Sublayer::FeedForward(ffn) => feed_forward::flops(names, ffn),
    });
    let memory_note = if stack.cross() {
        ", attending to a memory of `n` tokens"
    } else {
        ""
    };
    let flops_doc = format!(
        " Floating-point operations of this layer over `n` tokens{memory_note} (a multiply-add counts 2; matrix products only)."
    );
    let name = layer.to_string();

    quote! {
        #[doc = #struct_doc]
        #[derive(Clone, PartialEq)]
        #vis struct #layer {
            #(#fields)*
        }

        impl #layer {
            #[doc = #parameters_doc]
            pub const PARAMETERS: usize = #(#parameters)+*;

            /// Every weight and bias zero, every norm the identity.
            #[must_use]
            pub fn zeroed() -> Self {
                Self { #(#zeroed)* }
            }

            /// Xavier-uniform weights drawn from `rng` in field order, zero biases, unit norms.
            #[must_use]
            pub fn init(rng: &mut #rt::Rng) -> Self {
                Self { #(#init)* }
            }

            #forward

            #[doc = #load_doc]
            pub fn load(&mut self, loader: &mut #rt::load::Loader<'_>, prefix: &str) {
                #(#loads)*
            }

            /// Writes the tensors that [`Self::load`] reads.
            pub fn save(&self, writer: &mut #rt::load::Writer, prefix: &str) {
                #(#saves)*
            }

            #load_gguf

            /// Appends this layer's rows, named under `prefix` (such as `layers.0`), to `summary`.
            pub fn summary_rows(summary: &mut #rt::Summary, prefix: &str) {
                summary.row(0, prefix, #layer_kind, #m::D_MODEL, Self::PARAMETERS);
                #(#rows)*
            }

            #[doc = #flops_doc]
            #[must_use]
            pub const fn flops(n: usize) -> u64 {
                #(#flops)+*
            }
        }

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

/// The layer's `forward` on token rows and its private `forward_transposed` on the tokens a
/// scratch holds, step by step.
fn forward(names: &Names, stack: &Stack, steps: &[Step<'_>]) -> TokenStream {
    let (rt, m, scratch) = (&names.rt, &names.model, &names.scratch);
    // The steps on the tokens a scratch holds; `cached`: a generating decoder's new tokens.
    let body = |cached: bool| -> Vec<TokenStream> {
        steps
            .iter()
            .map(|step| {
                let pre_norm = match (&step.norm, stack.norm) {
                    (Some(norm), NormPlacement::Pre) => {
                        let field = &norm.field;
                        quote!(::core::option::Option::Some(&self.#field))
                    }
                    _ => quote!(::core::option::Option::None),
                };
                let sublayer = match step.sublayer {
                    Sublayer::Attention(a) if cached => attention::cached_step(a, &pre_norm),
                    Sublayer::Attention(a) => attention::step(a, &pre_norm),
                    Sublayer::FeedForward(ffn) => feed_forward::step(rt, ffn, &pre_norm),
                };
                let post_norm = match (&step.norm, stack.norm) {
                    (Some(norm), NormPlacement::Post) => Some(norm::step(&norm.field)),
                    _ => None,
                };
                quote!(#sublayer #post_norm)
            })
            .collect()
    };
    let forward_cached = (stack.lm_head != LmHead::None).then(|| {
        let body = body(true);
        let remember = stack.cross().then(|| {
            quote! {
                /// Projects the keys and values of the encoder `memory` (`[m][D_MODEL]`) for
                /// the cross-attention into `cache`, where every step after reads them.
                fn remember(
                    &self,
                    cache: &mut #rt::KvLayer,
                    memory: &[[f32; #m::D_MODEL]],
                    scratch: &mut #scratch,
                ) {
                    scratch.remember(&self.cross_attn, memory, cache);
                }
            }
        });
        let cross_doc = stack.cross().then(|| {
            quote! {
                /// Cross-attention reads the memory's keys and values from `cache` too.
            }
        });
        quote! {
            /// [`Self::forward`] on the new tokens of a sequence that `scratch` holds
            /// transposed, at positions `start..`: self-attention reads the keys and values
            /// of the `start` tokens before them from `cache` and appends theirs.
            #cross_doc
            fn forward_cached(
                &self,
                cache: &mut #rt::KvLayer,
                start: usize,
                scratch: &mut #scratch,
            ) {
                #(#body)*
            }

            #remember
        }
    });
    let body = body(false);
    let attend = quote!(#rt::__private::Attend);
    let cross = stack.cross();
    let public_memory_params =
        cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#rt::MemoryMask<'_>,));
    let memory_params =
        cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#attend<'_>,));
    let memory_args = cross.then(|| quote!(memory, &#attend::from(memory_mask),));
    let doc = format!(" {}: `{}`.", capitalise(&summary(stack)), formula(stack));
    let memory_doc = cross.then(|| {
        quote! {
            ///
            /// `memory` is the encoder output, `[m][D_MODEL]`; `memory_mask` says which of its
            /// rows each token may attend to.
        }
    });
    quote! {
        #[doc = #doc]
        ///
        /// `x` is `[n][D_MODEL]`, one row per token, updated in place; `mask` says which
        /// tokens each token may attend to (as given: the model, not the layer, makes a
        /// decoder's self-attention causal).
        #memory_doc
        pub fn forward(
            &self,
            x: &mut [[f32; #m::D_MODEL]],
            #public_memory_params
            mask: &#rt::Mask<'_>,
            scratch: &mut #scratch,
        ) {
            scratch.transpose_in(x);
            self.forward_transposed(#memory_args &#attend::from(mask), scratch);
            scratch.transpose_out(x);
        }

        /// [`Self::forward`] on the tokens `scratch` holds transposed, between its
        /// `transpose_in` and `transpose_out`: how the model runs a stack of layers,
        /// with one transposition each way for the whole stack.
        fn forward_transposed(
            &self,
            #memory_params
            mask: &#attend<'_>,
            scratch: &mut #scratch,
        ) {
            #(#body)*
        }

        #forward_cached
    }
}

//! The forward passes: one `forward` (and `forward_transposed`) per layer struct, and the
//! model's entry points, which check lengths and run the stacks layer by layer, unrolled, on
//! the tokens held transposed in the scratch:
//!
//! ```text
//! scratch.transpose_in(x);
//! self.layers[0].forward_transposed(mask, scratch);
//! self.layers[1].forward_transposed(mask, scratch);
//! scratch.transpose_out(x);
//! ```

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use super::weights::{Sublayer, layer_summary, sublayers};
use super::{Names, Stack, rt, rt_link};
use crate::model::{Activation, Kind, Model, NormPlacement, Positional};

/// Layer `forward`s, the private stack runners and the public entry points.
pub fn forward(model: &Model, names: &Names) -> TokenStream {
    let m = &names.model;
    let layers = names
        .stacks
        .iter()
        .map(|stack| layer_forward(model, names, stack));
    let runners = names
        .stacks
        .iter()
        .map(|stack| stack_runner(model, names, stack));
    let entries = entry_points(model, names);
    quote! {
        #(#layers)*

        impl #m {
            #(#entries)*
            #(#runners)*
        }
    }
}

/// `impl TinyLmLayer { pub fn forward(&self, x, mask, scratch) { … } }`.
fn layer_forward(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let (m, layer, scratch) = (&names.model, &stack.layer, &names.scratch);
    let steps = sublayers(model, stack).into_iter().map(|(sublayer, norm)| {
        let field = sublayer.field();
        let pre_norm = match (&norm, model.norm) {
            (Some(norm), NormPlacement::Pre) => quote!(::core::option::Option::Some(&self.#norm)),
            _ => quote!(::core::option::Option::None),
        };
        let step = match sublayer {
            Sublayer::SelfAttention => quote! {
                scratch.add_self_attention(&self.#field, #pre_norm, mask);
            },
            Sublayer::CrossAttention => quote! {
                scratch.add_cross_attention(&self.#field, #pre_norm, memory, memory_mask);
            },
            Sublayer::FeedForward => {
                let activation = activation(&rt, model.activation);
                quote!(scratch.add_feed_forward(&self.#field, #activation, #pre_norm);)
            }
        };
        let post_norm = match (&norm, model.norm) {
            (Some(norm), NormPlacement::Post) => Some(quote!(scratch.norm(&self.#norm);)),
            _ => None,
        };
        quote!(#step #post_norm)
    });
    let attend = quote!(#rt::__private::Attend);
    let (public_memory_params, transposed_memory_params, memory_args) = (
        stack
            .cross
            .then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#rt::MemoryMask<'_>,)),
        memory_params(&names.rt, m, stack),
        stack
            .cross
            .then(|| quote!(memory, &#attend::from(memory_mask),)),
    );
    let doc = format!(
        " {}: `{}`.",
        capitalise(&layer_summary(model, stack)),
        formula(model, stack)
    );
    let memory_doc = stack.cross.then(|| {
        quote! {
            ///
            /// `memory` is the encoder output, `[m][D_MODEL]`; `memory_mask` says which of its
            /// rows each token may attend to.
        }
    });
    quote! {
        impl #layer {
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
                #transposed_memory_params
                mask: &#attend<'_>,
                scratch: &mut #scratch,
            ) {
                #(#steps)*
            }
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The layer's formula in PyTorch's terms, e.g. `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`.
fn formula(model: &Model, stack: &Stack) -> String {
    sublayers(model, stack)
        .into_iter()
        .map(|(sublayer, norm)| {
            let call = match sublayer {
                Sublayer::SelfAttention => "attn({})",
                Sublayer::CrossAttention => "cross_attn({}, memory)",
                Sublayer::FeedForward => "ffn({})",
            };
            match (norm, model.norm) {
                (Some(norm), NormPlacement::Post) => {
                    format!("x = {norm}(x + {})", call.replace("{}", "x"))
                }
                (Some(norm), NormPlacement::Pre) => {
                    format!("x = x + {}", call.replace("{}", &format!("{norm}(x)")))
                }
                _ => format!("x = x + {}", call.replace("{}", "x")),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `::transformer::runtime::Activation::Gelu`.
pub(super) fn activation(rt: &TokenStream, activation: Activation) -> TokenStream {
    let variant = match activation {
        Activation::Relu => format_ident!("Relu"),
        Activation::Gelu => format_ident!("Gelu"),
        Activation::GeluTanh => format_ident!("GeluTanh"),
    };
    quote!(#rt::Activation::#variant)
}

/// The private `run_encoder` / `run_decoder`: positions, every layer unrolled, final norm.
fn stack_runner(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let (m, scratch) = (&names.model, &names.scratch);
    let runner = runner_name(stack);
    let (layers, norm, positions) = (
        &stack.layers_field,
        &stack.norm_field,
        &stack.positions_field,
    );
    let add_positions = match model.positional {
        Positional::None => None,
        Positional::Sinusoidal => Some(quote!(#rt::__private::add_sinusoidal(x, 0);)),
        Positional::Learned => Some(quote!(self.#positions.add_rows(x, 0);)),
    };
    let embed_norm = model
        .embed_norm
        .then(|| quote!(self.embedding_norm.forward(x);));
    let causal = stack
        .causal
        .then(|| quote!(let mask = &#rt::__private::Attend { causal: true, ..*mask };));
    let memory_args = memory_args(stack);
    let calls = (0..stack.count).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        quote!(self.#layers[#i].forward_transposed(#memory_args mask, scratch);)
    });
    let memory_params = memory_params(&names.rt, m, stack);
    let final_norm = model.final_norm.then(|| quote!(scratch.norm(&self.#norm);));
    let doc = format!(
        " The {} stack on `x` (`[n][D_MODEL]`, `1 ≤ n ≤ MAX_LEN`), in place{}.",
        stack.role,
        if stack.causal {
            "; `mask` is made causal"
        } else {
            ""
        }
    );
    quote! {
        #[doc = #doc]
        fn #runner(
            &self,
            x: &mut [[f32; #m::D_MODEL]],
            #memory_params
            mask: &#rt::__private::Attend<'_>,
            scratch: &mut #scratch,
        ) {
            #add_positions
            #embed_norm
            #causal
            scratch.transpose_in(x);
            #(#calls)*
            #final_norm
            scratch.transpose_out(x);
        }
    }
}

/// The memory parameters of a cross-attending stack's functions, before `mask`; none for
/// other stacks.
fn memory_params(rt: &TokenStream, m: &Ident, stack: &Stack) -> Option<TokenStream> {
    stack
        .cross
        .then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#rt::__private::Attend<'_>,))
}

/// The arguments that pass those parameters on.
fn memory_args(stack: &Stack) -> Option<TokenStream> {
    stack.cross.then(|| quote!(memory, memory_mask,))
}

fn runner_name(stack: &Stack) -> Ident {
    format_ident!("run_{}", stack.role)
}

/// What one family of public entry points runs: a stack on an input, maybe with a memory.
struct Entry<'a> {
    /// `forward`, `encode`, `decode`.
    name: &'static str,
    stack: &'a Stack,
    /// How errors name the input: `input`, `source`, `target`.
    input: &'static str,
}

/// `forward`/`encode`/`decode` with their `_with` and `_into` twins, as the kind calls for.
fn entry_points(model: &Model, names: &Names) -> Vec<TokenStream> {
    let entries = match model.kind {
        Kind::Encoder | Kind::Decoder => {
            let stack = &names.stacks[0];
            if stack.cross {
                vec![Entry {
                    name: "decode",
                    stack,
                    input: "target",
                }]
            } else {
                vec![Entry {
                    name: "forward",
                    stack,
                    input: "input",
                }]
            }
        }
        Kind::EncoderDecoder => vec![
            Entry {
                name: "encode",
                stack: &names.stacks[0],
                input: "source",
            },
            Entry {
                name: "decode",
                stack: &names.stacks[1],
                input: "target",
            },
        ],
    };
    let mut out: Vec<TokenStream> = entries
        .iter()
        .map(|entry| {
            let forms = [
                const_form(names, entry),
                with_form(names, entry),
                into_form(names, entry),
            ];
            quote!(#(#forms)*)
        })
        .collect();
    if model.kind == Kind::EncoderDecoder {
        out.push(encoder_decoder_forward(names));
    }
    out
}

/// `pub fn forward<const N: usize>(&self, input: &[[f32; D]; N]) -> Sequence<D, N>`.
fn const_form(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let name = format_ident!("{}", entry.name);
    let input = format_ident!("{}", entry.input);
    let runner = runner_name(entry.stack);
    let cross = entry.stack.cross;
    let length_check = const_length_check(rt, m, "N");
    let memory_generic = cross.then(|| quote!(, const S: usize));
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]; S],));
    let memory_check = cross.then(|| const_length_check(rt, m, "S"));
    let memory_arg = cross.then(|| quote!(&memory[..], &#rt::__private::Attend::default(),));
    let memory_rows = if cross { quote!(S) } else { quote!(N) };
    let memory_doc = cross.then(
        || quote!(#[doc = " `memory` is the encoder output, `[S][D_MODEL]`, `1 ≤ S ≤ MAX_LEN`."]),
    );
    let doc = format!(
        " Runs the {} stack on `{}`: `[N][D_MODEL]` in, `[N][D_MODEL]` out (on the heap).",
        entry.stack.role, entry.input
    );
    let const_doc = format!(
        " `N` is checked at compile time, `1 ≤ N ≤ MAX_LEN`; for lengths known only at run time, masks or batches, use [`Self::{name}_with`]."
    );
    quote! {
        #[doc = #doc]
        #[doc = #const_doc]
        #memory_doc
        #[must_use]
        pub fn #name<const N: usize #memory_generic>(
            &self,
            #input: &[[f32; #m::D_MODEL]; N],
            #memory_param
        ) -> #rt::Sequence<{ #m::D_MODEL }, N> {
            #length_check
            #memory_check
            let mut x = #rt::Sequence::from_rows(#input);
            let mut scratch = #rt::Scratch::with_capacity(N, #memory_rows);
            self.#runner(&mut x[..], #memory_arg &#rt::__private::Attend::default(), &mut scratch);
            x
        }
    }
}

/// The `# Errors` paragraph of a run-time entry point on `input`.
fn errors_doc(rt: &TokenStream, input: &str, cross: bool) -> String {
    format!(
        " {} if `{input}`{} is empty or longer than `MAX_LEN`, or if `options` do not fit it (mask and padding sizes, a batch that is not whole sequences{}).",
        rt_link(rt, "ForwardError"),
        if cross { " or `memory`" } else { "" },
        if cross {
            ""
        } else {
            ", a memory option where there is no memory"
        }
    )
}

/// `pub fn forward_with(&self, input, options) -> Result<Vec<[f32; D]>, ForwardError>`.
fn with_form(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let name = entry.name;
    let input = format_ident!("{}", entry.input);
    let with_name = format_ident!("{name}_with");
    let into_name = format_ident!("{name}_into");
    let cross = entry.stack.cross;
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let memory_arg = cross.then(|| quote!(memory,));
    let memory_rows = if cross {
        quote!(memory.len())
    } else {
        quote!(#input.len())
    };
    let causal = if entry.stack.causal {
        " Self-attention is causal whatever `options.mask` says, as a decoder's always is."
    } else {
        ""
    };
    let doc = format!(
        " [`Self::{name}`] for a length known only at run time, with `options`: an attention mask, a padded batch (then `{}` is `[batch · seq_len][D_MODEL]` and so is the output, zero at padding){}.{causal}",
        entry.input,
        if cross {
            ", the memory's mask and padding (with a batch, `memory` is `[batch · memory_len][D_MODEL]`, one memory per sequence)"
        } else {
            ""
        }
    );
    let errors_doc = errors_doc(rt, entry.input, cross);
    quote! {
        #[doc = #doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn #with_name(
            &self,
            #input: &[[f32; #m::D_MODEL]],
            #memory_param
            options: &#rt::Options<'_>,
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let mut out = ::std::vec![[0.0; #m::D_MODEL]; #input.len()];
            let mut scratch = #rt::Scratch::with_capacity(
                #input.len().min(Self::MAX_LEN),
                #memory_rows.min(Self::MAX_LEN),
            );
            self.#into_name(#input, #memory_arg options, &mut out, &mut scratch)?;
            ::core::result::Result::Ok(out)
        }
    }
}

/// `pub fn forward_into(&self, input, options, out, scratch) -> Result<(), ForwardError>`.
fn into_form(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let rt = &names.rt;
    let (m, scratch) = (&names.model, &names.scratch);
    let name = entry.name;
    let input = format_ident!("{}", entry.input);
    let input_name = entry.input;
    let into_name = format_ident!("{name}_into");
    let runner = runner_name(entry.stack);
    let cross = entry.stack.cross;
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let (memory, run_memory) = if cross {
        (
            quote!(::core::option::Option::Some(memory)),
            quote!(memory, memory_mask,),
        )
    } else {
        (quote!(::core::option::Option::None), quote!())
    };
    let (memory_binding, memory_mask_binding) = if cross {
        (quote!(memory), quote!(memory_mask))
    } else {
        (quote!(_), quote!(_))
    };
    let doc = format!(
        " [`Self::{name}_with`] into caller-owned memory: `out` (as long as `{input_name}`) receives the output, with working memory from [`Self::scratch`]; allocates nothing."
    );
    let errors_doc = errors_doc(rt, input_name, cross);
    let out_doc = format!(" Also if `out` and `{input_name}` differ in length.");
    quote! {
        #[doc = #doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        #[doc = #out_doc]
        pub fn #into_name(
            &self,
            #input: &[[f32; #m::D_MODEL]],
            #memory_param
            options: &#rt::Options<'_>,
            out: &mut [[f32; #m::D_MODEL]],
            scratch: &mut #scratch,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::__private::check_out(out.len(), #input.len())?;
            out.copy_from_slice(#input);
            #rt::__private::run(
                #input_name,
                out,
                #memory,
                options,
                Self::MAX_LEN,
                |rows, #memory_binding, mask, #memory_mask_binding| {
                    self.#runner(rows, #run_memory mask, scratch);
                },
            )
        }
    }
}

/// `let () = SequenceLength::<N, { MAX_LEN }>::CHECK;`: the const length `length` must be
/// in `1..=MAX_LEN`, checked where the entry point is instantiated.
pub fn const_length_check(rt: &TokenStream, m: &Ident, length: &str) -> TokenStream {
    let length = format_ident!("{length}");
    quote!(let () = #rt::SequenceLength::<#length, { #m::MAX_LEN }>::CHECK;)
}

/// `forward(source, target) = decode(target, encode(source))`, const and `_with`.
fn encoder_decoder_forward(names: &Names) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let errors_doc = format!(
        " {} if `source` or `target` is empty or longer than `MAX_LEN`, or if `options` do not fit them.",
        rt_link(rt, "ForwardError")
    );
    quote! {
        /// The whole `nn.Transformer`: `decode(target, encode(source))`. `source` is
        /// `[S][D_MODEL]`, `target` is `[N][D_MODEL]`; the output is `[N][D_MODEL]`.
        /// Both lengths are checked at compile time against `MAX_LEN`. The decoder is
        /// causal, as PyTorch's is when given a causal `tgt_mask`.
        #[must_use]
        pub fn forward<const S: usize, const N: usize>(
            &self,
            source: &[[f32; #m::D_MODEL]; S],
            target: &[[f32; #m::D_MODEL]; N],
        ) -> #rt::Sequence<{ #m::D_MODEL }, N> {
            let memory = self.encode(source);
            self.decode(target, &memory)
        }

        /// [`Self::forward`] for lengths known only at run time, with `options` as
        /// [`Self::decode_with`] takes them: the encoded `source` is the memory, so
        /// `memory_padding` also says which source rows are real, and with a batch `source` is
        /// `[batch · source_len][D_MODEL]`. For a mask on the encoder's self-attention, call
        /// [`Self::encode_with`] and [`Self::decode_with`].
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn forward_with(
            &self,
            source: &[[f32; #m::D_MODEL]],
            target: &[[f32; #m::D_MODEL]],
            options: &#rt::Options<'_>,
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let source_options = #rt::__private::source_options(
                target.len(),
                source.len(),
                options,
                Self::MAX_LEN,
            )?;
            let memory = self.encode_with(source, &source_options)?;
            self.decode_with(target, &memory, options)
        }
    }
}

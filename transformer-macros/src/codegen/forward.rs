//! The forward passes: one `forward` per layer struct, and the model's entry points, which
//! check lengths and run the stacks layer by layer, unrolled.
//!
//! ```text
//! self.layers[0].forward(x, &mask, scratch);
//! self.layers[1].forward(x, &mask, scratch);
//! ```

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use super::weights::{Sublayer, layer_summary, sublayers};
use super::{Names, Stack, rt};
use crate::validate::{Activation, Kind, Model, NormPlacement, Positional};

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
    let rt = rt();
    let (m, layer, scratch) = (&names.model, &stack.layer, &names.scratch);
    let steps = sublayers(model, stack).into_iter().map(|(sublayer, norm)| {
        let field = sublayer.field();
        let pre_norm = match (&norm, model.norm) {
            (Some(norm), NormPlacement::Pre) => quote!(::core::option::Option::Some(&self.#norm)),
            _ => quote!(::core::option::Option::None),
        };
        let step = match sublayer {
            Sublayer::SelfAttention => quote! {
                scratch.residual_attention(x, &self.#field, #pre_norm, ::core::option::Option::None, mask);
            },
            Sublayer::CrossAttention => quote! {
                scratch.residual_attention(x, &self.#field, #pre_norm, ::core::option::Option::Some(memory), memory_mask);
            },
            Sublayer::FeedForward => {
                let activation = activation(model.activation);
                quote!(scratch.residual_feed_forward(x, &self.#field, #activation, #pre_norm);)
            }
        };
        let post_norm = match (&norm, model.norm) {
            (Some(norm), NormPlacement::Post) => Some(quote!(self.#norm.forward(x);)),
            _ => None,
        };
        quote!(#step #post_norm)
    });
    let memory_params = stack.cross.then(|| {
        quote! {
            memory: &[[f32; #m::D_MODEL]],
            memory_mask: &#rt::Mask<'_>,
        }
    });
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
            /// tokens each token may attend to.
            #memory_doc
            pub fn forward(
                &self,
                x: &mut [[f32; #m::D_MODEL]],
                #memory_params
                mask: &#rt::Mask<'_>,
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

fn activation(activation: Activation) -> TokenStream {
    let rt = rt();
    let variant = match activation {
        Activation::Relu => format_ident!("Relu"),
        Activation::Gelu => format_ident!("Gelu"),
        Activation::GeluTanh => format_ident!("GeluTanh"),
    };
    quote!(#rt::Activation::#variant)
}

/// The private `run_encoder` / `run_decoder`: positions, every layer unrolled, final norm.
fn stack_runner(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt();
    let (m, scratch) = (&names.model, &names.scratch);
    let runner = runner_name(stack);
    let (layers, norm, positions) = (
        &stack.layers_field,
        &stack.norm_field,
        &stack.positions_field,
    );
    let add_positions = match model.positional {
        Positional::None => None,
        Positional::Sinusoidal => Some(quote!(#rt::position::add_sinusoidal(x, 0);)),
        Positional::Learned => Some(quote!(self.#positions.add_rows(x, 0);)),
    };
    let mask = if stack.causal {
        quote!(#rt::Mask::CAUSAL)
    } else {
        quote!(#rt::Mask::default())
    };
    let calls = (0..stack.count).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        if stack.cross {
            quote!(self.#layers[#i].forward(x, memory, &memory_mask, &mask, scratch);)
        } else {
            quote!(self.#layers[#i].forward(x, &mask, scratch);)
        }
    });
    let (memory_param, memory_mask) = if stack.cross {
        (
            Some(quote!(memory: &[[f32; #m::D_MODEL]],)),
            Some(quote!(let memory_mask = #rt::Mask::default();)),
        )
    } else {
        (None, None)
    };
    let final_norm = model.final_norm.then(|| quote!(self.#norm.forward(x);));
    let doc = format!(
        " The {} stack on `x` (`[n][D_MODEL]`, `1 ≤ n ≤ MAX_LEN`), in place.",
        stack.role
    );
    quote! {
        #[doc = #doc]
        fn #runner(&self, x: &mut [[f32; #m::D_MODEL]], #memory_param scratch: &mut #scratch) {
            #add_positions
            let mask = #mask;
            #memory_mask
            #(#calls)*
            #final_norm
        }
    }
}

fn runner_name(stack: &Stack) -> Ident {
    format_ident!("run_{}", stack.role)
}

/// What one public entry point runs: a stack on an input, maybe with a memory.
struct Entry<'a> {
    /// `forward`, `encode`, `decode`.
    name: &'static str,
    stack: &'a Stack,
    /// How errors name the input: `input`, `source`, `target`.
    input: &'static str,
}

/// `forward`/`encode`/`decode` with their `_dyn` and `_into` twins, as the kind calls for.
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
    let mut out: Vec<TokenStream> = entries.iter().map(|e| entry(names, e)).collect();
    if model.kind == Kind::EncoderDecoder {
        out.push(encoder_decoder_forward(names));
    }
    out
}

/// `forward<N>` / `forward_dyn` / `forward_into` (or `encode`, `decode`) for one entry.
fn entry(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let rt = rt();
    let (m, scratch) = (&names.model, &names.scratch);
    let runner = runner_name(entry.stack);
    let (name, input) = (format_ident!("{}", entry.name), entry.input);
    let input_ident = format_ident!("{input}");
    let dyn_name = format_ident!("{}_dyn", entry.name);
    let into_name = format_ident!("{}_into", entry.name);
    let length_check = const_length_check(m, entry.name, "N", input);
    let cross = entry.stack.cross;
    let memory_generic = cross.then(|| quote!(, const S: usize));
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]; S],));
    let memory_slice = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let memory_check = cross.then(|| const_length_check(m, entry.name, "S", "memory"));
    let memory_dyn_check =
        cross.then(|| quote!(#rt::error::check_len("memory", memory.len(), Self::MAX_LEN)?;));
    let memory_arg = cross.then(|| quote!(&memory[..],));
    let memory_arg_slice = cross.then(|| quote!(memory,));
    let memory_rows = if cross {
        quote!(memory.len())
    } else {
        quote!(x.len())
    };
    let memory_const = if cross { quote!(S) } else { quote!(N) };
    let memory_doc = cross.then(
        || quote!(#[doc = " `memory` is the encoder output, `[S][D_MODEL]` (`1 ≤ S ≤ MAX_LEN`)."]),
    );
    let doc = format!(
        " Runs the {} stack on `{input}`: `[N][D_MODEL]` in, `[N][D_MODEL]` out (on the heap).",
        entry.stack.role
    );
    let const_doc = format!(
        " The length `N` is checked at compile time: `1 ≤ N ≤ MAX_LEN`. For lengths known only at run time, use [`Self::{dyn_name}`]."
    );
    let dyn_doc = format!(" [`Self::{name}`] for a length known only at run time.");
    let errors_doc = format!(
        " [`{rt_path}::ForwardError::Empty`] if `{input}` has no rows, [`{rt_path}::ForwardError::TooLong`] if it has more than `MAX_LEN`{memory}.",
        rt_path = "::transformer::runtime",
        memory = if cross {
            " (likewise for `memory`)"
        } else {
            ""
        }
    );
    let into_doc = format!(
        " [`Self::{name}`] in place on `{input}`, with working memory from [`Self::scratch`]: allocates nothing."
    );
    quote! {
        #[doc = #doc]
        #[doc = #const_doc]
        #memory_doc
        #[must_use]
        pub fn #name<const N: usize #memory_generic>(
            &self,
            #input_ident: &[[f32; #m::D_MODEL]; N],
            #memory_param
        ) -> ::std::boxed::Box<[[f32; #m::D_MODEL]; N]> {
            #length_check
            #memory_check
            let mut x = #rt::heap::boxed_rows(#input_ident);
            let mut scratch = #rt::Scratch::with_capacity(N, #memory_const);
            self.#runner(&mut x[..], #memory_arg &mut scratch);
            x
        }

        #[doc = #dyn_doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn #dyn_name(
            &self,
            #input_ident: &[[f32; #m::D_MODEL]],
            #memory_slice
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            #rt::error::check_len(#input, #input_ident.len(), Self::MAX_LEN)?;
            #memory_dyn_check
            let mut x = #input_ident.to_vec();
            let mut scratch = #rt::Scratch::with_capacity(x.len(), #memory_rows);
            self.#runner(&mut x, #memory_arg_slice &mut scratch);
            ::core::result::Result::Ok(x)
        }

        #[doc = #into_doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn #into_name(
            &self,
            #input_ident: &mut [[f32; #m::D_MODEL]],
            #memory_slice
            scratch: &mut #scratch,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::error::check_len(#input, #input_ident.len(), Self::MAX_LEN)?;
            #memory_dyn_check
            self.#runner(#input_ident, #memory_arg_slice scratch);
            ::core::result::Result::Ok(())
        }
    }
}

/// `const { assert!(…) }` blocks checking a const length against `1..=MAX_LEN` where the
/// entry point is instantiated, with messages naming `max_len`.
fn const_length_check(m: &Ident, function: &str, length: &str, input: &str) -> TokenStream {
    let length_ident = format_ident!("{length}");
    let empty = format!("`{m}::{function}` needs at least one token: `{input}` is empty");
    let too_long = format!(
        "`{input}` is longer than `max_len` of `{m}`: see `{length}` in the note below\n\
         help: declare a larger `max_len`, or use `{m}::{function}_dyn` for lengths known at run time"
    );
    quote! {
        const {
            ::core::assert!(#length_ident >= 1, #empty);
            ::core::assert!(#length_ident <= #m::MAX_LEN, #too_long);
        }
    }
}

/// `forward(source, target) = decode(target, encode(source))`, const and `_dyn`.
fn encoder_decoder_forward(names: &Names) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    quote! {
        /// The whole `nn.Transformer`: `decode(target, encode(source))`. `source` is
        /// `[S][D_MODEL]`, `target` is `[N][D_MODEL]`; the output is `[N][D_MODEL]`.
        /// Both lengths are checked at compile time against `MAX_LEN`.
        #[must_use]
        pub fn forward<const S: usize, const N: usize>(
            &self,
            source: &[[f32; #m::D_MODEL]; S],
            target: &[[f32; #m::D_MODEL]; N],
        ) -> ::std::boxed::Box<[[f32; #m::D_MODEL]; N]> {
            let memory = self.encode(source);
            self.decode(target, &memory)
        }

        /// [`Self::forward`] for lengths known only at run time.
        ///
        /// # Errors
        ///
        /// [`::transformer::runtime::ForwardError`] if `source` or `target` is empty or longer
        /// than `MAX_LEN`.
        pub fn forward_dyn(
            &self,
            source: &[[f32; #m::D_MODEL]],
            target: &[[f32; #m::D_MODEL]],
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let memory = self.encode_dyn(source)?;
            self.decode_dyn(target, &memory)
        }
    }
}

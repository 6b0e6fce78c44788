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
use super::{Names, Stack, rt};
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
                scratch.add_self_attention(&self.#field, #pre_norm, mask);
            },
            Sublayer::CrossAttention => quote! {
                scratch.add_cross_attention(&self.#field, #pre_norm, memory, memory_mask);
            },
            Sublayer::FeedForward => {
                let activation = activation(model.activation);
                quote!(scratch.add_feed_forward(&self.#field, #activation, #pre_norm);)
            }
        };
        let post_norm = match (&norm, model.norm) {
            (Some(norm), NormPlacement::Post) => Some(quote!(scratch.norm(&self.#norm);)),
            _ => None,
        };
        quote!(#step #post_norm)
    });
    let (memory_params, memory_args) = (memory_params(m, stack), memory_args(stack));
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
                scratch.transpose_in(x);
                self.forward_transposed(#memory_args mask, scratch);
                scratch.transpose_out(x);
            }

            /// [`Self::forward`] on the tokens `scratch` holds transposed, between its
            /// `transpose_in` and `transpose_out`: how the model runs a stack of layers,
            /// with one transposition each way for the whole stack.
            pub fn forward_transposed(
                &self,
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

/// `::transformer::runtime::Activation::Gelu`.
pub(super) fn activation(activation: Activation) -> TokenStream {
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
    let embed_norm = model
        .embed_norm
        .then(|| quote!(self.embedding_norm.forward(x);));
    let causal = stack
        .causal
        .then(|| quote!(let mask = &#rt::Mask { causal: true, ..*mask };));
    let memory_args = memory_args(stack);
    let calls = (0..stack.count).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        quote!(self.#layers[#i].forward_transposed(#memory_args mask, scratch);)
    });
    let memory_params = memory_params(m, stack);
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
            mask: &#rt::Mask<'_>,
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
fn memory_params(m: &Ident, stack: &Stack) -> Option<TokenStream> {
    let rt = rt();
    stack
        .cross
        .then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#rt::Mask<'_>,))
}

/// The arguments that pass those parameters on.
fn memory_args(stack: &Stack) -> Option<TokenStream> {
    stack.cross.then(|| quote!(memory, memory_mask,))
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

/// `forward<N>` and its `_dyn`, `_into`, `_masked` and `_batch` twins (or `encode…`,
/// `decode…`) for one entry.
fn entry(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let parts = EntryParts::new(names, entry);
    let forms = [
        const_form(names, entry, &parts),
        dyn_form(names, entry, &parts),
        into_form(names, entry, &parts),
        masked_form(names, entry, &parts),
    ];
    let batch = (!entry.stack.cross).then(|| batch_form(names, entry, &parts));
    quote!(#(#forms)* #batch)
}

/// The pieces every form of one entry shares.
struct EntryParts {
    name: Ident,
    input: Ident,
    runner: Ident,
    /// `, memory` in a call, for cross-attention stacks.
    memory_arg: Option<TokenStream>,
    /// `memory: &[[f32; D_MODEL]],` in a signature.
    memory_param: Option<TokenStream>,
    /// Run-time checks of the memory's length.
    memory_check: Option<TokenStream>,
    /// The `# Errors` paragraph of the run-time forms.
    errors_doc: String,
}

impl EntryParts {
    fn new(names: &Names, entry: &Entry<'_>) -> Self {
        let rt = rt();
        let m = &names.model;
        let cross = entry.stack.cross;
        Self {
            name: format_ident!("{}", entry.name),
            input: format_ident!("{}", entry.input),
            runner: runner_name(entry.stack),
            memory_arg: cross.then(|| quote!(memory,)),
            memory_param: cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],)),
            memory_check: cross
                .then(|| quote!(#rt::error::check_len("memory", memory.len(), Self::MAX_LEN)?;)),
            errors_doc: format!(
                " [`::transformer::runtime::ForwardError`] if `{}` is empty or longer than `MAX_LEN`{}.",
                entry.input,
                if cross { " (likewise `memory`)" } else { "" }
            ),
        }
    }
}

/// `pub fn forward<const N: usize>(&self, input: &[[f32; D]; N]) -> Box<[[f32; D]; N]>`.
fn const_form(names: &Names, entry: &Entry<'_>, p: &EntryParts) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    let EntryParts {
        name,
        input,
        runner,
        ..
    } = p;
    let cross = entry.stack.cross;
    let length_check = const_length_check(m, "N");
    let memory_generic = cross.then(|| quote!(, const S: usize));
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]; S],));
    let memory_check = cross.then(|| const_length_check(m, "S"));
    let memory_arg = cross.then(|| quote!(&memory[..], &#rt::Mask::default(),));
    let memory_rows = if cross { quote!(S) } else { quote!(N) };
    let memory_doc = cross.then(
        || quote!(#[doc = " `memory` is the encoder output, `[S][D_MODEL]`, `1 ≤ S ≤ MAX_LEN`."]),
    );
    let doc = format!(
        " Runs the {} stack on `{}`: `[N][D_MODEL]` in, `[N][D_MODEL]` out (on the heap).",
        entry.stack.role, entry.input
    );
    let const_doc = format!(
        " `N` is checked at compile time, `1 ≤ N ≤ MAX_LEN`; for lengths known only at run time, use [`Self::{name}_dyn`]."
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
            self.#runner(&mut x[..], #memory_arg &#rt::Mask::default(), &mut scratch);
            x
        }
    }
}

/// `pub fn forward_dyn(&self, input: &[[f32; D]]) -> Result<Vec<[f32; D]>, ForwardError>`:
/// the masked form with no mask.
fn dyn_form(names: &Names, entry: &Entry<'_>, p: &EntryParts) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    let EntryParts {
        name,
        input,
        memory_param,
        errors_doc,
        ..
    } = p;
    let dyn_name = format_ident!("{name}_dyn");
    let masked_name = format_ident!("{name}_masked");
    let memory = entry.stack.cross.then(|| quote!(memory,));
    let memory_mask = entry.stack.cross.then(|| quote!(&#rt::Mask::default(),));
    let doc = format!(" [`Self::{name}`] for a length known only at run time.");
    quote! {
        #[doc = #doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn #dyn_name(
            &self,
            #input: &[[f32; #m::D_MODEL]],
            #memory_param
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            self.#masked_name(#input, #memory &#rt::Mask::default(), #memory_mask)
        }
    }
}

/// `pub fn forward_into(&self, input: &mut [[f32; D]], scratch: &mut Scratch) -> Result<(), _>`.
fn into_form(names: &Names, entry: &Entry<'_>, p: &EntryParts) -> TokenStream {
    let rt = rt();
    let (m, scratch) = (&names.model, &names.scratch);
    let EntryParts {
        name,
        input,
        runner,
        memory_arg,
        memory_param,
        memory_check,
        errors_doc,
    } = p;
    let into_name = format_ident!("{name}_into");
    let input_name = entry.input;
    let memory_mask = entry.stack.cross.then(|| quote!(&#rt::Mask::default(),));
    let doc = format!(
        " [`Self::{name}`] in place on `{input_name}`, with working memory from [`Self::scratch`]: allocates nothing."
    );
    quote! {
        #[doc = #doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn #into_name(
            &self,
            #input: &mut [[f32; #m::D_MODEL]],
            #memory_param
            scratch: &mut #scratch,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::error::check_len(#input_name, #input.len(), Self::MAX_LEN)?;
            #memory_check
            self.#runner(#input, #memory_arg #memory_mask &#rt::Mask::default(), scratch);
            ::core::result::Result::Ok(())
        }
    }
}

/// `pub fn forward_masked(&self, input, mask: &Mask) -> Result<Vec<[f32; D]>, ForwardError>`.
fn masked_form(names: &Names, entry: &Entry<'_>, p: &EntryParts) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    let EntryParts {
        name,
        input,
        runner,
        memory_arg,
        memory_param,
        memory_check,
        errors_doc,
    } = p;
    let masked_name = format_ident!("{name}_masked");
    let input_name = entry.input;
    let cross = entry.stack.cross;
    let memory_mask_param = cross.then(|| quote!(memory_mask: &#rt::Mask<'_>,));
    let memory_mask_arg = cross.then(|| quote!(memory_mask,));
    let memory_mask_check = cross.then(|| quote!(memory_mask.check(#input.len(), memory.len())?;));
    let memory_rows = if cross {
        quote!(memory.len())
    } else {
        quote!(x.len())
    };
    let causal = if entry.stack.causal {
        " It is made causal, as the stack always is."
    } else {
        ""
    };
    let doc = format!(
        " [`Self::{name}_dyn`] with an attention mask: `mask` says which tokens each token may attend to (`true` = attend), and may add to the attention scores.{causal}"
    );
    let memory_doc = cross.then(
        || quote!(#[doc = " `memory_mask` does the same for the cross-attention to `memory`."]),
    );
    quote! {
        #[doc = #doc]
        #memory_doc
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        /// Also if a mask's sizes do not match the inputs' lengths.
        pub fn #masked_name(
            &self,
            #input: &[[f32; #m::D_MODEL]],
            #memory_param
            mask: &#rt::Mask<'_>,
            #memory_mask_param
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            #rt::error::check_len(#input_name, #input.len(), Self::MAX_LEN)?;
            #memory_check
            mask.check(#input.len(), #input.len())?;
            #memory_mask_check
            let mut x = #input.to_vec();
            let mut scratch = #rt::Scratch::with_capacity(x.len(), #memory_rows);
            self.#runner(&mut x, #memory_arg #memory_mask_arg mask, &mut scratch);
            ::core::result::Result::Ok(x)
        }
    }
}

/// `pub fn forward_batch(&self, input, seq_len, padding) -> Result<Vec<[f32; D]>, ForwardError>`.
fn batch_form(names: &Names, entry: &Entry<'_>, p: &EntryParts) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    let EntryParts {
        name,
        input,
        runner,
        ..
    } = p;
    let batch_name = format_ident!("{name}_batch");
    let doc = format!(
        " [`Self::{name}`] over a padded batch: `{}` is `[batch · seq_len][D_MODEL]`, sequence `b` in rows `b·seq_len..(b+1)·seq_len`, and `padding` says which positions are real tokens. Each sequence gives what it gives alone; padding rows of the output are zero.",
        entry.input
    );
    quote! {
        #[doc = #doc]
        ///
        /// # Errors
        ///
        /// [`::transformer::runtime::ForwardError`] if `seq_len` is outside `1..=MAX_LEN` or
        /// the input or `padding` do not describe whole sequences.
        pub fn #batch_name(
            &self,
            #input: &[[f32; #m::D_MODEL]],
            seq_len: usize,
            padding: #rt::Padding<'_>,
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let mut x = #input.to_vec();
            let rows = seq_len.min(Self::MAX_LEN);
            let mut scratch = #rt::Scratch::with_capacity(rows, rows);
            #rt::batch::run_padded(&mut x, seq_len, padding, Self::MAX_LEN, |rows, mask| {
                self.#runner(rows, mask, &mut scratch);
            })?;
            ::core::result::Result::Ok(x)
        }
    }
}

/// `let () = SequenceLength::<N, { MAX_LEN }>::CHECK;`: the const length `length` must be
/// in `1..=MAX_LEN`, checked where the entry point is instantiated.
pub fn const_length_check(m: &Ident, length: &str) -> TokenStream {
    let rt = rt();
    let length = format_ident!("{length}");
    quote!(let () = #rt::SequenceLength::<#length, { #m::MAX_LEN }>::CHECK;)
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
        ) -> #rt::Sequence<{ #m::D_MODEL }, N> {
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

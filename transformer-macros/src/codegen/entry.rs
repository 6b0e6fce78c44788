//! The model's entry points, one family per kind of input (features, token ids, a target
//! with its memory), each a plain const-length form, `_with(&Options)` and
//! `_into(&Options, out, scratch)`; the private stack runners they call; and the
//! `TokenModel` trait of models that take token ids.
//!
//! ```text
//! __private::run("input", out, None, options, Self::MAX_LEN, |rows, _, mask, _| {
//!     self.run_encoder(rows, mask, scratch);
//! })
//! ```

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use super::feed_forward::activation;
use super::{Names, Part, StackNames, dialect, embedding, norm, rt_link};
use crate::model::{Activation, Kind, Model, Stack, Sublayer};

/// Every entry point of the model, for its `impl`: the features families, then the token
/// family of each stack that reads token ids.
pub fn methods(model: &Model, names: &Names) -> TokenStream {
    let entries = entries(model, names);
    let features = entry_points(model, names, &entries);
    let tokens = entries
        .iter()
        .filter(|entry| entry.stack.tokens().is_some())
        .map(|entry| token_family(names, entry));
    quote!(#(#features)* #(#tokens)*)
}

/// The private `run_encoder` / `run_decoder`: the input steps, every layer unrolled, the
/// final norm, on the tokens held transposed in the scratch.
pub fn runner(
    names: &Names,
    stack: &Stack,
    stack_names: &StackNames,
    final_norm: Option<&Part>,
) -> TokenStream {
    let (rt, m, scratch) = (&names.rt, &names.model, &names.scratch);
    let runner = &stack_names.runner;
    let layers = &stack_names.layers_field;
    let input_steps = embedding::input_steps(names, stack, stack_names, &quote!(0));
    let causal = stack.causal();
    let make_causal =
        causal.then(|| quote!(let mask = &#rt::__private::Attend { causal: true, ..*mask };));
    let cross = stack.cross();
    let memory_args = cross.then(|| quote!(memory, memory_mask,));
    let calls = (0..stack.layers).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        quote!(self.#layers[#i].forward_transposed(#memory_args mask, scratch);)
    });
    let memory_params = memory_params(rt, m, stack);
    let final_norm = final_norm.map(|part| norm::step(&part.field));
    let doc = format!(
        " The {} stack on `x` (`[n][D_MODEL]`, `1 ≤ n ≤ MAX_LEN`), in place{}.",
        stack_names.role,
        if causal {
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
            #input_steps
            #make_causal
            scratch.transpose_in(x);
            #(#calls)*
            #final_norm
            scratch.transpose_out(x);
        }
    }
}

/// The memory parameters of a cross-attending stack's runner, before `mask`; none for
/// other stacks.
fn memory_params(rt: &TokenStream, m: &Ident, stack: &Stack) -> Option<TokenStream> {
    stack
        .cross()
        .then(|| quote!(memory: &[[f32; #m::D_MODEL]], memory_mask: &#rt::__private::Attend<'_>,))
}

/// What one family of public entry points runs: a stack on an input, maybe with a memory.
struct Entry<'a> {
    /// `forward`, `encode`, `decode`.
    name: &'static str,
    stack: &'a Stack,
    names: &'a StackNames,
    /// How errors name the input: `input`, `source`, `target`.
    input: &'static str,
}

/// One entry per stack: `forward` (a single stack without memory), `decode` (a stack with
/// memory), `encode` (an `encoder_decoder`'s encoder).
fn entries<'a>(model: &'a Model, names: &'a Names) -> Vec<Entry<'a>> {
    model
        .stacks
        .iter()
        .zip(&names.stacks)
        .map(|(stack, stack_names)| {
            let (name, input) = match (model.kind, stack.cross()) {
                (Kind::EncoderDecoder, false) => ("encode", "source"),
                (_, true) => ("decode", "target"),
                (_, false) => ("forward", "input"),
            };
            Entry {
                name,
                stack,
                names: stack_names,
                input,
            }
        })
        .collect()
}

/// `forward`/`encode`/`decode` with their `_with` and `_into` twins, as the kind calls for.
fn entry_points(model: &Model, names: &Names, entries: &[Entry<'_>]) -> Vec<TokenStream> {
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
    let runner = entry.names.runner.clone();
    let cross = entry.stack.cross();
    let length_check = const_length_check(rt, m, "N");
    let ConstMemory {
        generic: memory_generic,
        param: memory_param,
        check: memory_check,
        arg: memory_arg,
        rows: memory_rows,
    } = ConstMemory::new(names, cross);
    let new_scratch = names.new_scratch(&quote!(N), &memory_rows);
    let memory_doc = cross.then(
        || quote!(#[doc = " `memory` is the encoder output, `[S][D_MODEL]`, `1 ≤ S ≤ MAX_LEN`."]),
    );
    let doc = format!(
        " Runs the {} stack on `{}`: `[N][D_MODEL]` in, `[N][D_MODEL]` out (on the heap).",
        entry.names.role, entry.input
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
            let mut scratch = #new_scratch;
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
    let cross = entry.stack.cross();
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let memory_arg = cross.then(|| quote!(memory,));
    let memory_rows = if cross {
        quote!(memory.len())
    } else {
        quote!(#input.len())
    };
    let new_scratch = names.new_scratch(
        &quote!(#input.len().min(Self::MAX_LEN)),
        &quote!(#memory_rows.min(Self::MAX_LEN)),
    );
    let causal = if entry.stack.causal() {
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
            let mut scratch = #new_scratch;
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
    let cross = entry.stack.cross();
    let memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let doc = format!(
        " [`Self::{name}_with`] into caller-owned memory: `out` (as long as `{input_name}`) receives the output, with working memory from [`Self::scratch`]; allocates nothing."
    );
    let errors_doc = errors_doc(rt, input_name, cross);
    let out_doc = format!(" Also if `out` and `{input_name}` differ in length.");
    let run = run_in_place(names, entry, input_name);
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
            #run
        }
    }
}

/// The pieces of a const-length entry point that a memory adds: `const S`, `memory: &[[f32;
/// D_MODEL]; S]`, its length check, the runner's arguments; and the rows the scratch needs
/// for the keys (`S`, or the input's `N` without a memory).
struct ConstMemory {
    generic: Option<TokenStream>,
    param: Option<TokenStream>,
    check: Option<TokenStream>,
    arg: Option<TokenStream>,
    rows: TokenStream,
}

impl ConstMemory {
    fn new(names: &Names, cross: bool) -> Self {
        let (rt, m) = (&names.rt, &names.model);
        Self {
            generic: cross.then(|| quote!(, const S: usize)),
            param: cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]; S],)),
            check: cross.then(|| const_length_check(rt, m, "S")),
            arg: cross.then(|| quote!(&memory[..], &#rt::__private::Attend::default(),)),
            rows: if cross { quote!(S) } else { quote!(N) },
        }
    }
}

/// The run of `entry`'s stack on `out` in place, each sequence as `options` lay them out,
/// with `memory` if the stack attends to one; `input` names `out`'s rows in errors.
fn run_in_place(names: &Names, entry: &Entry<'_>, input: &str) -> TokenStream {
    let rt = &names.rt;
    let runner = &entry.names.runner;
    if entry.stack.cross() {
        quote! {
            #rt::__private::run(
                #input,
                out,
                ::core::option::Option::Some(memory),
                options,
                Self::MAX_LEN,
                |rows, memory, mask, memory_mask| {
                    self.#runner(rows, memory, memory_mask, mask, scratch);
                },
            )
        }
    } else {
        quote! {
            #rt::__private::run(
                #input,
                out,
                ::core::option::Option::None,
                options,
                Self::MAX_LEN,
                |rows, _, mask, _| {
                    self.#runner(rows, mask, scratch);
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

/// The token family of `entry`'s stack: `forward_tokens` (`encode_tokens`, `decode_tokens`)
/// with const lengths, and its `_with` and `_into` twins.
fn token_family(names: &Names, entry: &Entry<'_>) -> TokenStream {
    let (rt, m, scratch_ty) = (&names.rt, &names.model, &names.scratch);
    let stack_names = entry.names;
    let (runner, embed, vocab) = (
        &stack_names.runner,
        &stack_names.embed_fn,
        &stack_names.vocab_const,
    );
    let name = format_ident!("{}_tokens", entry.name);
    let with_name = format_ident!("{}_tokens_with", entry.name);
    let into_name = format_ident!("{}_tokens_into", entry.name);
    let cross = entry.stack.cross();
    let length_check = const_length_check(rt, m, "N");
    let ConstMemory {
        generic: memory_generic,
        param: memory_param,
        check: memory_check,
        arg: memory_arg,
        rows: memory_rows,
    } = ConstMemory::new(names, cross);
    let run_memory_param = cross.then(|| quote!(memory: &[[f32; #m::D_MODEL]],));
    let run_memory_arg = cross.then(|| quote!(memory,));
    let with_memory_rows = if cross {
        quote!(memory.len())
    } else {
        quote!(rows)
    };
    let new_scratch = names.new_scratch(&quote!(N), &memory_rows);
    let new_run_scratch = names.new_scratch(
        &quote!(rows.min(Self::MAX_LEN)),
        &quote!(#with_memory_rows.min(Self::MAX_LEN)),
    );
    let const_doc = format!(
        " The last hidden states of the {} stack on the token ids `ids`: `[N][D_MODEL]`, on the heap. `N` is checked at compile time, `1 ≤ N ≤ MAX_LEN`; token types are all 0.{}",
        stack_names.role,
        if cross {
            " `memory` is the encoder output, `[S][D_MODEL]`, `1 ≤ S ≤ MAX_LEN`."
        } else {
            ""
        }
    );
    let const_errors = format!(
        " {} for an id `≥ {vocab}`, naming it and its position.",
        rt_link(rt, "ForwardError::IdOutOfRange")
    );
    let with_doc = format!(
        " [`Self::{name}`] for a length known only at run time, with token types and `options`: an attention mask, or a padded batch (then `tokens` are `[batch · seq_len]`, and the output `[batch · seq_len][D_MODEL]`, zero at padding){}.",
        if cross {
            ", the memory's mask and padding"
        } else {
            ""
        }
    );
    let with_errors = format!(
        " {} for an id or type past its table (padding ids included), naming it and its position; if `tokens.ids`{} is empty or longer than `MAX_LEN`, `tokens.types` is not as long, or `options` do not fit the ids (mask and padding sizes, a batch that is not whole sequences{}).",
        rt_link(rt, "ForwardError"),
        if cross { " or `memory`" } else { "" },
        if cross { "" } else { ", a memory option" }
    );
    let into_doc = format!(
        " [`Self::{with_name}`] into caller-owned memory: `out` (one row per id) receives the last hidden states, with working memory from [`Self::scratch`]; allocates nothing."
    );
    let into_errors =
        format!(" As [`Self::{with_name}`], and if `out` and `tokens.ids` differ in length.");
    let run = run_in_place(names, entry, "ids");
    quote! {
        #[doc = #const_doc]
        ///
        /// # Errors
        ///
        #[doc = #const_errors]
        pub fn #name<const N: usize #memory_generic>(
            &self,
            ids: &[u32; N],
            #memory_param
        ) -> ::core::result::Result<#rt::Sequence<{ #m::D_MODEL }, N>, #rt::ForwardError> {
            #length_check
            #memory_check
            let mut x = #rt::Sequence::<{ #m::D_MODEL }, N>::zeroed();
            self.#embed(&mut x[..], ids, ::core::option::Option::None)?;
            let mut scratch = #new_scratch;
            self.#runner(&mut x[..], #memory_arg &#rt::__private::Attend::default(), &mut scratch);
            ::core::result::Result::Ok(x)
        }

        #[doc = #with_doc]
        ///
        /// # Errors
        ///
        #[doc = #with_errors]
        pub fn #with_name(
            &self,
            tokens: #rt::Tokens<'_>,
            #run_memory_param
            options: &#rt::Options<'_>,
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let rows = tokens.ids.len();
            let mut out = ::std::vec![[0.0; #m::D_MODEL]; rows];
            let mut scratch = #new_run_scratch;
            self.#into_name(tokens, #run_memory_arg options, &mut out, &mut scratch)?;
            ::core::result::Result::Ok(out)
        }

        #[doc = #into_doc]
        ///
        /// # Errors
        ///
        #[doc = #into_errors]
        pub fn #into_name(
            &self,
            tokens: #rt::Tokens<'_>,
            #run_memory_param
            options: &#rt::Options<'_>,
            out: &mut [[f32; #m::D_MODEL]],
            scratch: &mut #scratch_ty,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::__private::check_out(out.len(), tokens.ids.len())?;
            self.#embed(out, tokens.ids, tokens.types)?;
            #run
        }
    }
}

/// `impl TokenModel<{ M::D_MODEL }> for M`, so runtime helpers can take any token model:
/// `const HYPERPARAMETERS: Hyperparameters = Hyperparameters { d_model: M::D_MODEL, … };`.
pub fn token_model(model: &Model, names: &Names) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let hyperparameters = hyperparameters(model, names);
    quote! {
        #[automatically_derived]
        impl #rt::TokenModel<{ #m::D_MODEL }> for #m {
            const MAX_LEN: usize = #m::MAX_LEN;

            const HYPERPARAMETERS: #rt::model::Hyperparameters = #hyperparameters;

            fn from_safetensors_with(
                path: &::std::path::Path,
                options: #rt::load::LoadOptions,
            ) -> ::core::result::Result<Self, #rt::load::LoadError> {
                #m::from_safetensors_with(path, options)
            }

            fn forward_tokens_with(
                &self,
                tokens: #rt::Tokens<'_>,
                options: &#rt::Options<'_>,
            ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
                #m::forward_tokens_with(self, tokens, options)
            }
        }
    }
}

/// The spec's settings as a `Hyperparameters` value, from the model's consts.
fn hyperparameters(model: &Model, names: &Names) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let name = m.to_string();
    let layers = &names.stacks[0].count_const;
    let option = |present: bool, value: TokenStream| {
        if present {
            quote!(::core::option::Option::Some(#value))
        } else {
            quote!(::core::option::Option::None)
        }
    };
    let has_types = model.tokens().is_some_and(|t| t.token_types.is_some());
    let token_types = option(has_types, quote!(#m::TOKEN_TYPES));
    let eps = option(model.has_layer_norm(), quote!(#m::EPS));
    // A model without a feed-forward sublayer states PyTorch's default.
    let ffn_activation = model.stacks[0]
        .block
        .iter()
        .find_map(|sublayer| match sublayer {
            Sublayer::FeedForward(ffn) => Some(ffn.activation),
            Sublayer::Attention(_) => None,
        })
        .unwrap_or(Activation::Relu);
    let activation = activation(rt, ffn_activation);
    let positional = embedding::hyperparameter(rt, model.stacks[0].positions);
    let weights = dialect::hyperparameter(rt, model.weights);
    quote! {
        #rt::model::Hyperparameters {
            name: #name,
            d_model: #m::D_MODEL,
            heads: #m::HEADS,
            layers: #m::#layers,
            d_ff: #m::D_FF,
            max_len: #m::MAX_LEN,
            vocab: #m::VOCAB,
            token_types: #token_types,
            eps: #eps,
            activation: #activation,
            positional: #positional,
            weights: #weights,
        }
    }
}

//! The language-model head and decoding "one token at a time", for a decoder that reads token
//! ids and has `lm_head` (a `decoder`'s one stack, or an `encoder_decoder`'s second): the
//! head's field (a separate one), `logits`, the key/value cache type, `cache`, `prefill` and
//! `step`, `remember` where the decoder attends to a memory, and the stack's cached runner.
//!
//! ```text
//! pub lm_head: Linear<{ TinyLm::D_MODEL }, { TinyLm::VOCAB }>,         // field (separate)
//! pub type TinyLmCache = KvCache<{ TinyLm::LAYERS }, { … }, …>;        // cache type
//! pub fn prefill(&self, cache: &mut TinyLmCache, ids: &[u32]) -> …     // decoding
//! ```
//!
//! The kernels are the runtime's `KvCache` (`cache.rs`) and cached attention steps.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{Layout, Names, Part, StackNames, Tensor, embedding, norm, rt_link};
use crate::model::{LmHead, Model, Stack};

/// The stack that decodes, and its index: the decoder, if it has a language-model head.
pub fn decoding_stack(model: &Model) -> Option<(usize, &Stack)> {
    model
        .stacks
        .iter()
        .enumerate()
        .find(|(_, stack)| stack.lm_head != LmHead::None)
}

/// `lm_head`, a `[VOCAB][D_MODEL]` linear layer without bias, for a separate head.
pub fn head_part(names: &Names, stack: &Stack, stack_names: &StackNames) -> Option<Part> {
    (stack.lm_head == LmHead::Separate).then(|| {
        let (rt, m) = (&names.rt, &names.model);
        let (dialect, vocab) = (names.dialect, &stack_names.vocab_const);
        Part {
            field: format_ident!("lm_head"),
            doc: format!(" Language-model head, `[{vocab}][D_MODEL]`: row `id` scores token `id`."),
            ty: quote!(#rt::Linear<{ #m::D_MODEL }, { #m::#vocab }>),
            zeroed: quote!(#rt::Linear::zeroed(false)),
            init: quote!(#rt::Linear::xavier(&mut rng, #m::#vocab, false)),
            tensors: vec![Tensor {
                path: quote!(),
                layout: Layout::Plain,
                name: dialect.lm_head.to_owned(),
            }],
            parameters: quote!(#rt::Linear::<{ #m::D_MODEL }, { #m::#vocab }>::parameters(false)),
            kind: "language-model head",
            is_norm: false,
        }
    })
}

/// What `load` does before reading a model with a tied head: a checkpoint may store the
/// head too (a copy of the token embedding), which the model does not read.
pub fn load_steps(model: &Model, names: &Names) -> Option<TokenStream> {
    let (_, stack) = decoding_stack(model)?;
    (stack.lm_head == LmHead::Tied).then(|| {
        let head = names.dialect.lm_head;
        quote!(loader.ignore_prefix(#head);)
    })
}

/// `TinyLmCache`, the runtime's `KvCache` at the model's dimensions.
pub fn cache_alias(model: &Model, names: &Names) -> Option<TokenStream> {
    let (index, _) = decoding_stack(model)?;
    let (rt, m) = (&names.rt, &names.model);
    let alias = cache_name(names);
    let layers = &names.stacks[index].count_const;
    let vis = &model.vis;
    let doc = format!(
        " The key/value cache of `{m}`'s decoding: make one with `{m}::cache(capacity)`, fill it with `prefill` and `step`."
    );
    Some(quote! {
        #[doc = #doc]
        #vis type #alias = #rt::KvCache<
            { #m::#layers },
            { #m::KV_HEADS * #m::D_HEAD },
            { #m::D_MODEL },
            { #m::D_FF },
        >;
    })
}

fn cache_name(names: &Names) -> syn::Ident {
    format_ident!("{}Cache", names.model)
}

/// `KV_BYTES_PER_TOKEN`.
pub fn consts(model: &Model, names: &Names) -> Option<TokenStream> {
    let (index, stack) = decoding_stack(model)?;
    let alias = cache_name(names);
    let layers = &names.stacks[index].count_const;
    let memory = if stack.cross() {
        "; a remembered memory's keys and values take as much again per memory token"
    } else {
        ""
    };
    let doc = format!(" `{layers} · 2 · KV_HEADS · D_HEAD` numbers{memory}.");
    Some(quote! {
        /// Bytes of the key/value cache per token: every layer's keys and values,
        #[doc = #doc]
        pub const KV_BYTES_PER_TOKEN: usize = #alias::BYTES_PER_TOKEN;
    })
}

/// `logits`, `cache`, `prefill`, `step`, `remember` for a decoder that attends to a memory,
/// and the cached runner; `final_norms` are every stack's.
pub fn methods(model: &Model, names: &Names, final_norms: &[Option<&Part>]) -> Option<TokenStream> {
    let (index, stack) = decoding_stack(model)?;
    let (stack_names, final_norm) = (&names.stacks[index], final_norms[index]);
    let vocab = &stack_names.vocab_const;
    let (rt, m) = (&names.rt, &names.model);
    let alias = cache_name(names);
    let (embed, layers) = (&stack_names.embed_fn, &stack_names.layers_field);
    let head_weight = match stack.lm_head {
        LmHead::Tied => {
            let table = &stack_names.token_embedding;
            quote!(&self.#table.weight)
        }
        LmHead::Separate | LmHead::None => quote!(&self.lm_head.weight),
    };
    let head_doc = match stack.lm_head {
        LmHead::Tied => " The head is the token-embedding matrix (tied).",
        LmHead::Separate | LmHead::None => " The head is `lm_head`.",
    };
    let input_steps = embedding::input_steps(names, stack, stack_names, &quote!(start));
    let calls = (0..stack.layers).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        quote!(self.#layers[#i].forward_cached(&mut caches[#i], start, scratch);)
    });
    let final_norm = final_norm.map(|part| norm::step(&part.field));
    let remember = stack.cross().then(|| remember(names, stack, stack_names));
    let memory_check = stack.cross().then(|| quote!(cache.check_memory()?;));
    let memory_doc = stack.cross().then(|| {
        quote! {
            ///
            /// The decoder attends to the encoder memory [`Self::remember`] gave `cache`.
        }
    });
    let forward_error = rt_link(rt, "ForwardError");
    let no_memory = if stack.cross() {
        ", `NothingRemembered` before `remember`"
    } else {
        ""
    };
    let errors_doc = format!(
        " {forward_error}: `Empty` for no ids, `IdOutOfRange` for an id `≥ {vocab}`, `CacheFull` if the ids do not fit in the cache{no_memory}; the cache is unchanged then."
    );
    let logits_doc =
        format!(" the final norm): the logits of the next token, over the `{vocab}` token ids.");
    let cache_errors_doc =
        format!(" {forward_error}: `Empty` for a capacity of 0, `TooLong` for one past `MAX_LEN`.");
    Some(quote! {
        /// The language-model head on one hidden state, a row of the decoder's output (after
        #[doc = #logits_doc]
        #[doc = #head_doc]
        #[must_use]
        pub fn logits(
            &self,
            hidden: &[f32; #m::D_MODEL],
        ) -> ::std::boxed::Box<[f32; #m::#vocab]> {
            let mut logits = #rt::__private::boxed_array(0.0);
            #rt::ops::linear(
                ::core::slice::from_mut(&mut *logits),
                #head_weight,
                ::core::option::Option::None,
                ::core::slice::from_ref(hidden),
            );
            logits
        }

        /// A key/value cache for sequences of up to `capacity` tokens, for [`Self::prefill`]
        /// and [`Self::step`]: `KV_BYTES_PER_TOKEN · capacity` bytes, allocated now.
        ///
        /// # Errors
        ///
        #[doc = #cache_errors_doc]
        pub fn cache(capacity: usize) -> ::core::result::Result<#alias, #rt::ForwardError> {
            #rt::__private::check_len("cache capacity", capacity, Self::MAX_LEN)?;
            ::core::result::Result::Ok(#alias::new(capacity))
        }

        /// Reads the token ids `ids` after the tokens `cache` holds (none, for a new
        /// sequence), appends their keys and values to it, and returns the logits of the
        /// token after the last: a prompt, or any number of tokens at once. Then
        /// [`Self::step`] generates. `prefill` and `step` give what one causal pass over the
        /// whole sequence gives.
        #memory_doc
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn prefill(
            &self,
            cache: &mut #alias,
            ids: &[u32],
        ) -> ::core::result::Result<::std::boxed::Box<[f32; #m::#vocab]>, #rt::ForwardError> {
            let Some(last) = ids.len().checked_sub(1) else {
                return ::core::result::Result::Err(#rt::ForwardError::Empty { input: "ids" });
            };
            #memory_check
            cache.check_room(ids.len())?;
            let mut x = ::std::vec![[0.0; #m::D_MODEL]; ids.len()];
            self.#embed(&mut x, ids, ::core::option::Option::None)?;
            self.run_cached(&mut x, cache);
            ::core::result::Result::Ok(self.logits(&x[last]))
        }

        /// Appends the token `id` to the sequence `cache` holds and returns the logits of
        /// the token after it: one step of generation.
        ///
        /// # Errors
        ///
        /// As [`Self::prefill`].
        pub fn step(
            &self,
            cache: &mut #alias,
            id: u32,
        ) -> ::core::result::Result<::std::boxed::Box<[f32; #m::#vocab]>, #rt::ForwardError> {
            self.prefill(cache, &[id])
        }

        #remember

        /// The decoder on the new token rows `x`, at positions `cache.len()..`, through the
        /// cache, in place: its keys and values are appended, then counted.
        fn run_cached(&self, x: &mut [[f32; #m::D_MODEL]], cache: &mut #alias) {
            let (caches, scratch, start) = cache.parts();
            #input_steps
            scratch.transpose_in(x);
            #(#calls)*
            #final_norm
            scratch.transpose_out(x);
            cache.advance(x.len());
        }
    })
}

/// `remember`: the encoder memory's keys and values, projected once into every layer's cache.
fn remember(names: &Names, stack: &Stack, stack_names: &StackNames) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let alias = cache_name(names);
    let layers = &stack_names.layers_field;
    let calls = (0..stack.layers).map(|i| {
        let i = Literal::usize_unsuffixed(i);
        quote!(self.#layers[#i].remember(&mut caches[#i], memory, scratch);)
    });
    let forward_error = rt_link(rt, "ForwardError");
    let errors_doc = format!(
        " {forward_error}: `Empty` for an empty memory, `TooLong` for one past `MAX_LEN`; the cache is unchanged then."
    );
    quote! {
        /// Gives `cache` the encoder memory its sequence attends to: `memory` is the encoder
        /// output, `[m][D_MODEL]`, whose keys and values every layer's cross-attention
        /// projects now, once, and every `prefill` and `step` after reads. The tokens the
        /// cache held are forgotten, as they attended to the old memory.
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn remember(
            &self,
            cache: &mut #alias,
            memory: &[[f32; #m::D_MODEL]],
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::__private::check_len("memory", memory.len(), Self::MAX_LEN)?;
            let (caches, scratch) = cache.remember_parts(memory.len());
            #(#calls)*
            ::core::result::Result::Ok(())
        }
    }
}

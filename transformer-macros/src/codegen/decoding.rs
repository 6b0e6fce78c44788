//! The language-model head and decoding "one token at a time", for a decoder that reads token
//! ids and has `lm_head`: the head's field (a separate one), `logits`, the key/value cache
//! type, `cache`, `prefill` and `step`, and the stack's cached runner.
//!
//! ```text
//! pub lm_head: Linear<{ TinyLm::D_MODEL }, { TinyLm::VOCAB }>,         // field (separate)
//! pub type TinyLmCache = KvCache<{ TinyLm::LAYERS }, { … }, …>;        // cache type
//! pub fn prefill(&self, cache: &mut TinyLmCache, ids: &[u32]) -> …     // decoding
//! ```
//!
//! The kernels are the runtime's `KvCache` (`cache.rs`) and cached attention step.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{Layout, Names, Part, StackNames, Tensor, embedding, norm, rt_link};
use crate::model::{LmHead, Model, Stack};

/// The stack that decodes: the model's one stack, if it has a language-model head.
pub fn decoding_stack(model: &Model) -> Option<&Stack> {
    match &model.stacks[..] {
        [stack] if stack.lm_head != LmHead::None => Some(stack),
        _ => None,
    }
}

/// `lm_head`, a `[VOCAB][D_MODEL]` linear layer without bias, for a separate head.
pub fn head_part(names: &Names, stack: &Stack) -> Option<Part> {
    (stack.lm_head == LmHead::Separate).then(|| {
        let (rt, m) = (&names.rt, &names.model);
        let dialect = names.dialect;
        Part {
            field: format_ident!("lm_head"),
            doc: " Language-model head, `[VOCAB][D_MODEL]`: row `id` scores token `id`.".to_owned(),
            ty: quote!(#rt::Linear<{ #m::D_MODEL }, { #m::VOCAB }>),
            zeroed: quote!(#rt::Linear::zeroed(false)),
            init: quote!(#rt::Linear::xavier(&mut rng, #m::VOCAB, false)),
            tensors: vec![Tensor {
                path: quote!(),
                layout: Layout::Plain,
                name: dialect.lm_head.to_owned(),
            }],
            parameters: quote!(#rt::Linear::<{ #m::D_MODEL }, { #m::VOCAB }>::parameters(false)),
            kind: "language-model head",
            is_norm: false,
        }
    })
}

/// What `load` does before reading a model with a tied head: a checkpoint may store the
/// head too (a copy of the token embedding), which the model does not read.
pub fn load_steps(model: &Model, names: &Names) -> Option<TokenStream> {
    let stack = decoding_stack(model)?;
    (stack.lm_head == LmHead::Tied).then(|| {
        let head = names.dialect.lm_head;
        quote!(loader.ignore_prefix(#head);)
    })
}

/// `TinyLmCache`, the runtime's `KvCache` at the model's dimensions.
pub fn cache_alias(model: &Model, names: &Names) -> Option<TokenStream> {
    decoding_stack(model)?;
    let (rt, m) = (&names.rt, &names.model);
    let alias = cache_name(names);
    let vis = &model.vis;
    let doc = format!(
        " The key/value cache of `{m}`'s decoding: make one with `{m}::cache(capacity)`, fill it with `prefill` and `step`."
    );
    Some(quote! {
        #[doc = #doc]
        #vis type #alias = #rt::KvCache<
            { #m::LAYERS },
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
    decoding_stack(model)?;
    let alias = cache_name(names);
    Some(quote! {
        /// Bytes of the key/value cache per token: every layer's keys and values,
        /// `LAYERS · 2 · KV_HEADS · D_HEAD` numbers.
        pub const KV_BYTES_PER_TOKEN: usize = #alias::BYTES_PER_TOKEN;
    })
}

/// `logits`, `cache`, `prefill`, `step` and the cached runner.
pub fn methods(
    model: &Model,
    names: &Names,
    stack_names: &StackNames,
    final_norm: Option<&Part>,
) -> Option<TokenStream> {
    let stack = decoding_stack(model)?;
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
    let forward_error = rt_link(rt, "ForwardError");
    let errors_doc = format!(
        " {forward_error}: `Empty` for no ids, `IdOutOfRange` for an id `≥ VOCAB`, `CacheFull` if the ids do not fit in the cache; the cache is unchanged then."
    );
    let cache_errors_doc =
        format!(" {forward_error}: `Empty` for a capacity of 0, `TooLong` for one past `MAX_LEN`.");
    Some(quote! {
        /// The language-model head on one hidden state, a row of the decoder's output (after
        /// the final norm): the logits of the next token, over the `VOCAB` token ids.
        #[doc = #head_doc]
        #[must_use]
        pub fn logits(
            &self,
            hidden: &[f32; #m::D_MODEL],
        ) -> ::std::boxed::Box<[f32; #m::VOCAB]> {
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
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn prefill(
            &self,
            cache: &mut #alias,
            ids: &[u32],
        ) -> ::core::result::Result<::std::boxed::Box<[f32; #m::VOCAB]>, #rt::ForwardError> {
            let Some(last) = ids.len().checked_sub(1) else {
                return ::core::result::Result::Err(#rt::ForwardError::Empty { input: "ids" });
            };
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
        ) -> ::core::result::Result<::std::boxed::Box<[f32; #m::VOCAB]>, #rt::ForwardError> {
            self.prefill(cache, &[id])
        }

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

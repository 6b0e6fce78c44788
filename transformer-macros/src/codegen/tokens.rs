//! Entry points for models that take token ids (`vocab`): `embed`, `forward_tokens` and its
//! `_with` and `_into` twins, and the runtime's `TokenModel` trait with the spec's
//! `Hyperparameters`.
//!
//! ```text
//! self.embed(out, tokens.ids, tokens.types)?;
//! run("ids", out, None, options, MAX_LEN, |rows, _, mask, _| self.run_encoder(rows, mask, scratch))
//! ```

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::forward::{activation, const_length_check};
use super::{Names, rt, rt_link};
use crate::model::{Model, Positional, Weights};

/// Everything token-related, or nothing for a model without `vocab`.
pub fn tokens(model: &Model, names: &Names) -> TokenStream {
    if model.vocab.is_none() {
        return TokenStream::new();
    }
    let m = &names.model;
    let embed = embed(model, names);
    let forward_tokens = forward_tokens(names);
    let forward_tokens_with = forward_tokens_with(names);
    let token_model = token_model(model, names);
    quote! {
        impl #m {
            #embed
            #forward_tokens
            #forward_tokens_with
        }

        #token_model
    }
}

/// The private runner of the model's only stack: `run_encoder` or `run_decoder`.
fn runner(names: &Names) -> Ident {
    format_ident!("run_{}", names.stacks[0].role)
}

/// `pub fn embed(&self, x, ids, token_types)`: token rows plus token-type rows.
fn embed(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let token_types = add_token_types(model);
    let errors_doc = format!(
        " {} naming the first id (or",
        rt_link(&rt, "ForwardError::IdOutOfRange")
    );
    let types_doc = if model.token_types.is_some() {
        " Token types index `token_type_embedding`; `None` means type 0 for every token."
    } else {
        " This model has no token-type table: `token_types`, if given, must all be 0."
    };
    quote! {
        /// Writes each token's embedding into `x` (`[n][D_MODEL]`, one row per id): its row of
        /// `token_embedding`, plus its token type's row.
        #[doc = #types_doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        /// type) past its table and its position; a length mismatch between `x`, `ids` and
        /// `token_types`.
        pub fn embed(
            &self,
            x: &mut [[f32; #m::D_MODEL]],
            ids: &[u32],
            token_types: ::core::option::Option<&[u32]>,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            if ids.len() != x.len() {
                return ::core::result::Result::Err(#rt::ForwardError::LengthMismatch {
                    input: "ids",
                    len: ids.len(),
                    expected: x.len(),
                });
            }
            x.fill([0.0; #m::D_MODEL]);
            self.token_embedding.add_ids(x, ids, "token")?;
            #token_types
            ::core::result::Result::Ok(())
        }
    }
}

/// `self.token_type_embedding.add_ids(x, types, "token type")?;`, or with no token-type
/// table, the check that every type is 0.
fn add_token_types(model: &Model) -> TokenStream {
    let rt = rt(model);
    match model.token_types {
        Some(_) => quote! {
            match token_types {
                ::core::option::Option::Some(types) => {
                    if types.len() != ids.len() {
                        return ::core::result::Result::Err(#rt::ForwardError::LengthMismatch {
                            input: "token types",
                            len: types.len(),
                            expected: ids.len(),
                        });
                    }
                    self.token_type_embedding.add_ids(x, types, "token type")?;
                }
                ::core::option::Option::None => self.token_type_embedding.add_row(x, 0),
            }
        },
        None => quote! {
            if let ::core::option::Option::Some(types) = token_types {
                #rt::__private::check_types_without_table(types)?;
            }
        },
    }
}

/// `pub fn forward_tokens<const N: usize>(&self, ids: &[u32; N])`.
fn forward_tokens(names: &Names) -> TokenStream {
    let rt = &names.rt;
    let m = &names.model;
    let errors_doc = format!(
        " {} for an id `≥ VOCAB`,",
        rt_link(rt, "ForwardError::IdOutOfRange")
    );
    let runner = runner(names);
    let length_check = const_length_check(&names.rt, m, "N");
    quote! {
        /// The last hidden states of the token ids `ids`: `[N][D_MODEL]`, on the heap.
        /// `N` is checked at compile time, `1 ≤ N ≤ MAX_LEN`; token types are all 0.
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        /// naming it and its position.
        pub fn forward_tokens<const N: usize>(
            &self,
            ids: &[u32; N],
        ) -> ::core::result::Result<#rt::Sequence<{ #m::D_MODEL }, N>, #rt::ForwardError> {
            #length_check
            let mut x = #rt::Sequence::<{ #m::D_MODEL }, N>::zeroed();
            self.embed(&mut x[..], ids, ::core::option::Option::None)?;
            let mut scratch = #rt::Scratch::with_capacity(N, N);
            self.#runner(&mut x[..], &#rt::__private::Attend::default(), &mut scratch);
            ::core::result::Result::Ok(x)
        }
    }
}

/// `forward_tokens_with(&self, tokens, options)` and its allocation-free twin
/// `forward_tokens_into`.
fn forward_tokens_with(names: &Names) -> TokenStream {
    let rt = &names.rt;
    let (m, scratch_ty) = (&names.model, &names.scratch);
    let runner = runner(names);
    let errors_doc = format!(
        " {} for an id or type past its table (padding ids included), naming it and its position; if `tokens.ids` is empty or longer than `MAX_LEN`, `tokens.types` is not as long, or `options` do not fit the ids (mask and padding sizes, a batch that is not whole sequences, a memory option).",
        rt_link(rt, "ForwardError")
    );
    quote! {
        /// [`Self::forward_tokens`] for a length known only at run time, with token types
        /// and `options`: an attention mask, or a padded batch (then `tokens` are
        /// `[batch · seq_len]`, and the output `[batch · seq_len][D_MODEL]`, zero at padding).
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn forward_tokens_with(
            &self,
            tokens: #rt::Tokens<'_>,
            options: &#rt::Options<'_>,
        ) -> ::core::result::Result<::std::vec::Vec<[f32; #m::D_MODEL]>, #rt::ForwardError> {
            let rows = tokens.ids.len();
            let mut out = ::std::vec![[0.0; #m::D_MODEL]; rows];
            let mut scratch = #rt::Scratch::with_capacity(
                rows.min(Self::MAX_LEN),
                rows.min(Self::MAX_LEN),
            );
            self.forward_tokens_into(tokens, options, &mut out, &mut scratch)?;
            ::core::result::Result::Ok(out)
        }

        /// [`Self::forward_tokens_with`] into caller-owned memory: `out` (one row per id)
        /// receives the last hidden states, with working memory from [`Self::scratch`];
        /// allocates nothing.
        ///
        /// # Errors
        ///
        /// As [`Self::forward_tokens_with`], and if `out` and `tokens.ids` differ in length.
        pub fn forward_tokens_into(
            &self,
            tokens: #rt::Tokens<'_>,
            options: &#rt::Options<'_>,
            out: &mut [[f32; #m::D_MODEL]],
            scratch: &mut #scratch_ty,
        ) -> ::core::result::Result<(), #rt::ForwardError> {
            #rt::__private::check_out(out.len(), tokens.ids.len())?;
            self.embed(out, tokens.ids, tokens.types)?;
            #rt::__private::run(
                "ids",
                out,
                ::core::option::Option::None,
                options,
                Self::MAX_LEN,
                |rows, _, mask, _| self.#runner(rows, mask, scratch),
            )
        }
    }
}

/// `impl TokenModel<{ M::D_MODEL }> for M`, so runtime helpers can take any token model:
/// `const HYPERPARAMETERS: Hyperparameters = Hyperparameters { d_model: M::D_MODEL, … };`.
fn token_model(model: &Model, names: &Names) -> TokenStream {
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
    let token_types = option(model.token_types.is_some(), quote!(#m::TOKEN_TYPES));
    let eps = option(model.has_layer_norm(), quote!(#m::EPS));
    let activation = activation(rt, model.activation);
    let positional = match model.positional {
        Positional::None => quote!(None),
        Positional::Sinusoidal => quote!(Sinusoidal),
        Positional::Learned => quote!(Learned),
    };
    let weights = match model.weights {
        Weights::Pytorch => quote!(Pytorch),
        Weights::Bert => quote!(Bert),
    };
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
            positional: #rt::model::Positional::#positional,
            weights: #rt::model::Weights::#weights,
        }
    }
}

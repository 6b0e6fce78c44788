//! The input nodes of a stack: its token tables (a stack that reads token ids) and its
//! positions, every facet, and `embed`, the lookup step of token models.
//!
//! ```text
//! pub token_embedding: Embedding<{ TinyLm::VOCAB }, { TinyLm::D_MODEL }>,   // field
//! self.token_embedding.add_ids(x, ids, "token")?;                          // embed
//! self.positions.add_rows(x, 0);                                           // runner's step
//! ```
//!
//! The kernels are the runtime's `Embedding` (`embedding.rs`) and sinusoids (`position.rs`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{Layout, Names, Part, StackNames, Tensor, norm, rt_link};
use crate::model::{Model, Positional, Stack, TokenTables};

/// A lookup table of `rows` (a const of the model) rows.
fn table(
    names: &Names,
    field: &Ident,
    rows: &Ident,
    doc: &str,
    name: &str,
    kind: &'static str,
) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    Part {
        field: field.clone(),
        doc: doc.to_owned(),
        ty: quote!(#rt::Embedding<{ #m::#rows }, { #m::D_MODEL }>),
        zeroed: quote!(#rt::Embedding::zeroed()),
        init: quote!(#rt::Embedding::xavier(&mut rng)),
        tensors: vec![Tensor {
            path: quote!(),
            layout: Layout::Plain,
            name: name.to_owned(),
        }],
        parameters: quote!(#rt::Embedding::<{ #m::#rows }, { #m::D_MODEL }>::PARAMETERS),
        kind,
        is_norm: false,
    }
}

/// The token tables of a stack that reads token ids, and its input norm if it has one.
pub fn input_parts(
    model: &Model,
    names: &Names,
    stack: &Stack,
    stack_names: &StackNames,
) -> Vec<Part> {
    let dialect = names.dialect;
    let prefix = dialect.stack_prefix(model, stack);
    let mut parts = Vec::new();
    if let Some(tables) = stack.tokens() {
        parts.push(table(
            names,
            &stack_names.token_embedding,
            &stack_names.vocab_const,
            &format!(
                " Token embeddings, `[{}][D_MODEL]`: row `id` is the embedding of token `id`.",
                stack_names.vocab_const
            ),
            &format!("{prefix}{}", dialect.token_embedding),
            "token embedding",
        ));
        if tables.token_types.is_some() {
            parts.push(table(
                names,
                &stack_names.token_type_embedding,
                &stack_names.token_types_const,
                &format!(
                    " Token-type (segment) embeddings, `[{}][D_MODEL]`, added to each token's.",
                    stack_names.token_types_const
                ),
                &format!("{prefix}{}", dialect.token_type_embedding),
                "token-type embedding",
            ));
        }
    }
    if stack.input_norm {
        parts.push(norm::part(
            model,
            names,
            stack,
            stack_names.embedding_norm.clone(),
            format!(
                " {} over `[D_MODEL]` of the summed embeddings (and positions).",
                norm::noun(stack)
            ),
            &format!("{prefix}{}", dialect.embedding_norm),
            "embedding layer norm",
        ));
    }
    parts
}

/// A stack's learned positions, if it learns them.
pub fn positions_part(
    model: &Model,
    names: &Names,
    stack: &Stack,
    stack_names: &StackNames,
) -> Option<Part> {
    (stack.positions == Positional::Learned).then(|| {
        let dialect = names.dialect;
        let doc = format!(
            " Learned positions of the {} input, `[MAX_LEN][D_MODEL]`: row `p` is added to the token at position `p`.",
            stack_names.role
        );
        let name = format!("{}{}", dialect.stack_prefix(model, stack), dialect.positions);
        table(
            names,
            &stack_names.positions_field,
            &format_ident!("MAX_LEN"),
            &doc,
            &name,
            "learned positions",
        )
    })
}

/// The runner's first steps on the stack's input rows `x`, the first at position `first`:
/// positions, the embeddings' norm.
pub fn input_steps(
    names: &Names,
    stack: &Stack,
    stack_names: &StackNames,
    first: &TokenStream,
) -> TokenStream {
    let rt = &names.rt;
    let positions = &stack_names.positions_field;
    let add_positions = match stack.positions {
        // Rotary positions are applied inside self-attention.
        Positional::None | Positional::Rope => None,
        Positional::Sinusoidal => Some(quote!(#rt::__private::add_sinusoidal(x, #first);)),
        Positional::Learned => Some(quote!(self.#positions.add_rows(x, #first);)),
    };
    let norm_field = &stack_names.embedding_norm;
    let norm = stack
        .input_norm
        .then(|| quote!(self.#norm_field.forward(x);));
    quote!(#add_positions #norm)
}

/// `pub fn embed(&self, x, ids, token_types)`: token rows plus token-type rows.
pub fn embed(names: &Names, stack_names: &StackNames, tables: &TokenTables) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let (tokens, types, embed) = (
        &stack_names.token_embedding,
        &stack_names.token_type_embedding,
        &stack_names.embed_fn,
    );
    let errors_doc = format!(
        " {} naming the first id (or",
        rt_link(rt, "ForwardError::IdOutOfRange")
    );
    let types_doc = if tables.token_types.is_some() {
        format!(" Token types index `{types}`; `None` means type 0 for every token.")
    } else {
        " This stack has no token-type table: `token_types`, if given, must all be 0.".to_owned()
    };
    let token_types = match tables.token_types {
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
                    self.#types.add_ids(x, types, "token type")?;
                }
                ::core::option::Option::None => self.#types.add_row(x, 0),
            }
        },
        None => quote! {
            if let ::core::option::Option::Some(types) = token_types {
                #rt::__private::check_types_without_table(types)?;
            }
        },
    };
    let lookup_doc = format!(
        " Writes each token's embedding into `x` (`[n][D_MODEL]`, one row per id): its row of `{tokens}`, plus its token type's row."
    );
    quote! {
        #[doc = #lookup_doc]
        #[doc = #types_doc]
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        /// type) past its table and its position; a length mismatch between `x`, `ids` and
        /// `token_types`.
        pub fn #embed(
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
            self.#tokens.add_ids(x, ids, "token")?;
            #token_types
            ::core::result::Result::Ok(())
        }
    }
}

/// The stack's positions as the runtime's `Hyperparameters` name them.
pub fn hyperparameter(rt: &TokenStream, positional: Positional) -> TokenStream {
    let variant = match positional {
        Positional::None => quote!(None),
        Positional::Sinusoidal => quote!(Sinusoidal),
        Positional::Learned => quote!(Learned),
        Positional::Rope => quote!(Rope),
    };
    quote!(#rt::model::Positional::#variant)
}

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

use super::dialect::Dialect;
use super::{Layout, Names, Part, StackNames, Tensor, norm, rt_link};
use crate::model::{Model, Positional, Stack, TokenTables};

/// A lookup table of `rows` (a const of the model) rows.
fn table(
    names: &Names,
    field: &str,
    rows: &str,
    doc: &str,
    name: &str,
    kind: &'static str,
) -> Part {
    let (rt, m) = (&names.rt, &names.model);
    let rows = format_ident!("{rows}");
    Part {
        field: format_ident!("{field}"),
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

/// The token tables and embedding norm of a stack that reads token ids.
pub fn token_parts(model: &Model, names: &Names, tables: &TokenTables) -> Vec<Part> {
    let dialect = Dialect::of(model);
    let mut parts = vec![table(
        names,
        "token_embedding",
        "VOCAB",
        " Token embeddings, `[VOCAB][D_MODEL]`: row `id` is the embedding of token `id`.",
        dialect.token_embedding,
        "token embedding",
    )];
    if tables.token_types.is_some() {
        parts.push(table(
            names,
            "token_type_embedding",
            "TOKEN_TYPES",
            " Token-type (segment) embeddings, `[TOKEN_TYPES][D_MODEL]`, added to each token's.",
            dialect.token_type_embedding,
            "token-type embedding",
        ));
    }
    if tables.norm {
        parts.push(norm::part(
            model,
            names,
            format_ident!("embedding_norm"),
            " Layer norm over `[D_MODEL]` of the summed embeddings (and positions).".to_owned(),
            dialect.embedding_norm,
            "embedding layer norm",
            &quote!(Self::EPS),
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
        let dialect = Dialect::of(model);
        let doc = format!(
            " Learned positions of the {} input, `[MAX_LEN][D_MODEL]`: row `p` is added to the token at position `p`.",
            stack_names.role
        );
        let name = format!("{}{}", dialect.stack_prefix(model, stack), dialect.positions);
        let mut part = table(
            names,
            "positions",
            "MAX_LEN",
            &doc,
            &name,
            "learned positions",
        );
        part.field = stack_names.positions_field.clone();
        part
    })
}

/// The runner's first steps on the stack's input rows `x`: positions, the embeddings' norm.
pub fn input_steps(names: &Names, stack: &Stack, stack_names: &StackNames) -> TokenStream {
    let rt = &names.rt;
    let positions = &stack_names.positions_field;
    let add_positions = match stack.positions {
        Positional::None => None,
        Positional::Sinusoidal => Some(quote!(#rt::__private::add_sinusoidal(x, 0);)),
        Positional::Learned => Some(quote!(self.#positions.add_rows(x, 0);)),
    };
    let norm = stack
        .tokens()
        .is_some_and(|tables| tables.norm)
        .then(|| quote!(self.embedding_norm.forward(x);));
    quote!(#add_positions #norm)
}

/// `pub fn embed(&self, x, ids, token_types)`: token rows plus token-type rows.
pub fn embed(names: &Names, tables: &TokenTables) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let errors_doc = format!(
        " {} naming the first id (or",
        rt_link(rt, "ForwardError::IdOutOfRange")
    );
    let types_doc = if tables.token_types.is_some() {
        " Token types index `token_type_embedding`; `None` means type 0 for every token."
    } else {
        " This model has no token-type table: `token_types`, if given, must all be 0."
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

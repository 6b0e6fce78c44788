//! The `transformer!` macro: a model spec in, a shape-checked model out.
//!
//! The pipeline reads top to bottom: [`spec`] parses tokens into specs (grammar only),
//! [`validate`] checks what they mean and reports every mistake at once, and [`codegen`]
//! writes the structs, consts, loaders and unrolled forward passes. See the `transformer`
//! crate for the user-facing documentation.

mod codegen;
mod count;
mod spec;
mod validate;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

/// Declares one or more transformer models; see the `transformer` crate's documentation.
#[proc_macro]
pub fn transformer(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(input.into()).into()
}

/// Tokens to tokens: the whole macro, callable from unit tests (which cannot use `proc_macro`).
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    syn::parse2::<spec::Specs>(input)
        .and_then(|specs| validate::validate(&specs))
        .map(|models| codegen::generate(&models))
        .unwrap_or_else(syn::Error::into_compile_error)
}

//! Tests of the whole expansion: snapshots of generated code, and a fuzz test that no input
//! makes the macro panic.

mod fuzz;
mod snapshots;

use proc_macro2::TokenStream;

/// `expand`'s output, pretty-printed as a person would read it in `cargo expand`.
pub fn pretty(input: TokenStream) -> String {
    let output = crate::expand(input);
    match syn::parse2::<syn::File>(output.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("expansion is not valid Rust ({e}):\n{output}"),
    }
}

//! Each model's own generated code as text, for users to snapshot-test:
//!
//! ```text
//! impl TinyLm {
//!     /// The code that `transformer!` generated for `TinyLm`, …
//!     pub const EXPANSION: &'static str =
//!         ::core::convert::identity("/// `TinyLm`: encoder, 2 layers, …");
//! }
//! ```

use std::panic::{self, AssertUnwindSafe};

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::model::Model;

/// `impl M { pub const EXPANSION: &'static str = identity("…"); }`, where `code` is
/// everything else generated for the model, so the text never holds the const itself.
pub fn expansion(model: &Model, code: &TokenStream) -> TokenStream {
    let name = &model.name;
    let text = Literal::string(&pretty(code));
    let doc = format!(
        " The code that `transformer!` generated for `{name}`, this const aside, pretty-printed\n \
         as `cargo expand` shows it. A snapshot test, \
         `insta::assert_snapshot!({name}::EXPANSION)`,\n \
         shows every change that a spec edit or a library upgrade makes to the model's code.\n\n \
         It costs nothing in a binary that does not use it: a const that nothing reads is not\n \
         emitted."
    );
    // Through a call, since rustdoc shows a literal value, all of it, on the model's page.
    quote! {
        impl #name {
            #[doc = #doc]
            pub const EXPANSION: &'static str = ::core::convert::identity(#text);
        }
    }
}

/// `code` as `cargo expand` shows it: parsed as a file and printed by prettyplease, as in our
/// snapshots. Should that fail, the tokens' own `to_string()`: a proc macro must not panic.
pub fn pretty(code: &TokenStream) -> String {
    try_pretty(code).unwrap_or_else(|_| code.to_string())
}

/// [`pretty`]'s printing, or why it failed: `code` is not a Rust file, or prettyplease
/// panicked, as it does on syntax it cannot print (`#[doc = become x]`, an attribute that
/// passes through to the model, parses but cannot be printed).
pub fn try_pretty(code: &TokenStream) -> Result<String, String> {
    let file = syn::parse2::<syn::File>(code.clone()).map_err(|e| e.to_string())?;
    // Within a proc macro a panic prints nothing, and prettyplease holds no state to break.
    panic::catch_unwind(AssertUnwindSafe(|| prettyplease::unparse(&file)))
        .map_err(|_| "prettyplease cannot print it".to_owned())
}

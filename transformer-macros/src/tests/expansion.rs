//! Each model's `EXPANSION`: the text of our snapshot of its spec, without the const itself.

use proc_macro2::TokenStream;
use quote::quote;

use super::pretty;
use crate::codegen;

/// The macro's output split in two: each `EXPANSION` (its model's name and text), and
/// everything else.
fn split_expansions(input: TokenStream) -> (Vec<(String, String)>, syn::File) {
    let mut file: syn::File = syn::parse2(crate::expand(input)).expect("the expansion parses");
    let mut expansions = Vec::new();
    file.items.retain(|item| match expansion_of(item) {
        Some(expansion) => {
            expansions.push(expansion);
            false
        }
        None => true,
    });
    (expansions, file)
}

/// `impl M { pub const EXPANSION: &'static str = identity("…"); }` → `("M", "…")`.
fn expansion_of(item: &syn::Item) -> Option<(String, String)> {
    let syn::Item::Impl(block) = item else {
        return None;
    };
    let [syn::ImplItem::Const(konst)] = block.items.as_slice() else {
        return None;
    };
    let syn::Expr::Call(call) = &konst.expr else {
        return None;
    };
    let Some(syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(text),
        ..
    })) = call.args.first()
    else {
        return None;
    };
    let self_ty = &block.self_ty;
    (konst.ident == "EXPANSION").then(|| (quote!(#self_ty).to_string(), text.value()))
}

#[test]
fn the_expansion_is_the_snapshot_text_and_follows_it() {
    let spec = quote! {
        /// One head of self-attention with a residual connection.
        pub SeedAttention < d_model: 4, heads: 1, layers: 1, max_len: 2,
                            norm: none, ffn: false, out_proj: false, bias: false >
    };
    let (expansions, rest) = split_expansions(spec.clone());
    let snapshot = pretty(spec);
    assert_eq!(expansions, [("SeedAttention".to_owned(), snapshot.clone())]);
    assert_eq!(prettyplease::unparse(&rest), snapshot);
    assert!(!snapshot.contains("EXPANSION"));
}

#[test]
fn each_model_of_one_invocation_has_its_own_expansion() {
    let first = quote! { pub First < d_model: 4, heads: 1, layers: 1 > };
    let second = quote! { Second < kind: decoder, d_model: 8, heads: 2, layers: 2, vocab: 10 > };
    let (expansions, rest) = split_expansions(quote!(#first #second));
    assert_eq!(
        expansions,
        [
            ("First".to_owned(), pretty(first.clone())),
            ("Second".to_owned(), pretty(second.clone())),
        ]
    );
    assert_eq!(prettyplease::unparse(&rest), pretty(quote!(#first #second)));
}

#[test]
fn code_prettyplease_cannot_print_becomes_plain_tokens() {
    // `become x` parses as an expression, which prettyplease does not print; the user's
    // attribute carries it into the model's code.
    let spec = quote! { #[doc = become x] M < d_model: 4, heads: 1, layers: 1 > };
    let models = syn::parse2::<crate::spec::Specs>(spec.clone())
        .and_then(|specs| crate::validate::validate(&specs))
        .expect("a valid spec");
    let code = codegen::generate_model(&models[0]);
    assert!(codegen::expansion::try_pretty(&code).is_err());
    let (expansions, _) = split_expansions(spec);
    assert_eq!(expansions, [("M".to_owned(), code.to_string())]);
}

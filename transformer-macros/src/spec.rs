//! Tokens → [`Spec`]s: the grammar only. What keys mean is decided in `validate`.
//!
//! ```text
//! INVOCATION := ITEM ((";" | ",")? ITEM)* (";" | ",")?
//! ITEM       := ATTRIBUTE* VIS? NAME? "<" (KEY ":" VALUE),* ","? ">"
//! VALUE      := INT | FLOAT | "true" | "false" | WORD | "-" VALUE | STRING | GROUP
//! GROUP      := "{" (KEY ":" VALUE),* ","? "}"      (one stack's settings: `decoder: { … }`)
//! ```

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Lit, Token, Visibility};

/// Every model declared in one `transformer! { … }` invocation, in order.
pub struct Specs {
    pub items: Vec<Spec>,
}

/// `#[doc] pub TinyLm < heads: 4, d_model: 64 >`, i.e. `$ATTRS $VIS $NAME < $KEY: $VALUE, … >`.
pub struct Spec {
    /// Outer attributes and doc comments, passed through to the generated struct.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    /// `None` when left out: the model is then named `Transformer`.
    pub name: Option<Ident>,
    /// The `<`, where errors about the item as a whole point when it has no name.
    pub open: Span,
    pub settings: Vec<Setting>,
}

/// One `key: value` pair; both keep their spans for later errors.
pub struct Setting {
    pub key: Ident,
    pub value: Value,
}

/// A setting's value as written; its meaning depends on the key.
pub enum Value {
    /// A literal: integer, float, `true`/`false`, string, char, …
    Lit(Lit),
    /// A bare word such as `gelu`.
    Word(Ident),
    /// A `-` before a value, e.g. `-4`.
    Negative(Span, Box<Value>),
    /// `{ key: value, … }`: settings of one part of the model, such as one stack.
    Group(Span, Vec<Setting>),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Lit(lit) => lit.span(),
            Value::Word(word) => word.span(),
            Value::Negative(minus, value) => minus.join(value.span()).unwrap_or(*minus),
            Value::Group(braces, _) => *braces,
        }
    }
}

impl quote::ToTokens for Value {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Value::Lit(lit) => lit.to_tokens(tokens),
            Value::Word(word) => word.to_tokens(tokens),
            Value::Negative(minus, value) => {
                Token![-](*minus).to_tokens(tokens);
                value.to_tokens(tokens);
            }
            Value::Group(braces, settings) => {
                let mut inner = proc_macro2::TokenStream::new();
                for setting in settings {
                    setting.key.to_tokens(&mut inner);
                    Token![:](setting.key.span()).to_tokens(&mut inner);
                    setting.value.to_tokens(&mut inner);
                    Token![,](setting.key.span()).to_tokens(&mut inner);
                }
                let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, inner);
                group.set_span(*braces);
                tokens.extend([proc_macro2::TokenTree::Group(group)]);
            }
        }
    }
}

impl Parse for Specs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse()?);
            if input.peek(Token![;]) {
                input.parse::<Token![;]>()?;
            } else if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
        }
        if items.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "`transformer!` declares no model\n\
                 help: declare one, e.g. `pub TinyLm < d_model: 64, heads: 4, layers: 2 >`",
            ));
        }
        Ok(Self { items })
    }
}

impl Parse for Spec {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name = if input.peek(Ident) {
            Some(input.parse::<Ident>()?)
        } else {
            None
        };
        if !input.peek(Token![<]) {
            return Err(expected_open(input, &vis, name.as_ref()));
        }
        if name.is_none() && !matches!(vis, Visibility::Inherited) {
            return Err(syn::Error::new(
                vis.span(),
                "missing model name after the visibility\n\
                 help: name the model, e.g. `pub TinyLm < … >`, or drop the visibility \
                 for a private model named `Transformer`",
            ));
        }
        let open = input.parse::<Token![<]>()?.span;
        let settings = parse_settings(input)?;
        Ok(Self {
            attrs,
            vis,
            name,
            open,
            settings,
        })
    }
}

/// The error for a model item that does not continue with `<`.
fn expected_open(input: ParseStream, vis: &Visibility, name: Option<&Ident>) -> syn::Error {
    match name {
        Some(name) => syn::Error::new(
            input.span(),
            format!(
                "expected `<` after the model name `{name}`\n\
                 help: settings go in angle brackets: `{name} < d_model: 64, heads: 4, layers: 2 >`"
            ),
        ),
        None if matches!(vis, Visibility::Inherited) => syn::Error::new(
            input.span(),
            "expected a model: `NAME < key: value, … >`\n\
             help: e.g. `pub TinyLm < d_model: 64, heads: 4, layers: 2 >`",
        ),
        None => syn::Error::new(
            input.span(),
            "expected a model name after the visibility\n\
             help: e.g. `pub TinyLm < d_model: 64, heads: 4, layers: 2 >`",
        ),
    }
}

/// `key: value, … >`, after the `<`; consumes the closing `>`.
fn parse_settings(input: ParseStream) -> syn::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    loop {
        if input.peek(Token![>]) {
            input.parse::<Token![>]>()?;
            return Ok(settings);
        }
        if input.is_empty() {
            return Err(input.error(
                "missing `>` at the end of the settings\n\
                 help: close the list: `< d_model: 64, heads: 4, layers: 2 >`",
            ));
        }
        settings.push(input.parse()?);
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        } else if !input.peek(Token![>]) && !input.is_empty() {
            return Err(input.error(
                "expected `,` or `>` after a setting\n\
                 help: separate settings with commas and close the list with `>`",
            ));
        }
    }
}

impl Parse for Setting {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = if input.peek(Ident) {
            input.parse::<Ident>()?
        } else {
            return Err(input.error(
                "expected a setting: `key: value`\n\
                 help: e.g. `d_model: 64`",
            ));
        };
        if !input.peek(Token![:]) {
            return Err(input.error(format!(
                "expected `:` after `{key}`\n\
                 help: write the setting as `{key}: value`"
            )));
        }
        input.parse::<Token![:]>()?;
        let value = input.parse()?;
        Ok(Self { key, value })
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Token![-]) {
            let minus = input.parse::<Token![-]>()?.span;
            return Ok(Value::Negative(minus, Box::new(input.parse()?)));
        }
        if input.peek(Lit) {
            return Ok(Value::Lit(input.parse()?));
        }
        if input.peek(Ident) {
            return Ok(Value::Word(input.parse()?));
        }
        if input.peek(syn::token::Brace) {
            let content;
            let braces = syn::braced!(content in input);
            let mut settings = Vec::new();
            while !content.is_empty() {
                settings.push(content.parse()?);
                if content.peek(Token![,]) {
                    content.parse::<Token![,]>()?;
                } else if !content.is_empty() {
                    return Err(content.error(
                        "expected `,` or `}` after a setting\n\
                         help: separate the settings of a group with commas",
                    ));
                }
            }
            return Ok(Value::Group(braces.span.join(), settings));
        }
        Err(input.error(
            "expected a value: an integer, a float, `true`, `false`, a word such as `gelu`, \
             or a group of settings in braces\n\
             help: e.g. `d_model: 64`, `eps: 1e-5`, `bias: false`, `activation: gelu`, \
             `decoder: { vocab: 51865 }`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Specs> {
        syn::parse2(tokens)
    }

    #[test]
    fn parses_several_items_with_separators_and_trailing_commas() {
        let specs = parse(quote! {
            /// Docs.
            pub A < d_model: 64, heads: 4, layers: 2, > ;
            pub(crate) B < activation: gelu, eps: 1e-6, bias: false >,
            < heads: 1 >
        })
        .unwrap();
        let names: Vec<_> = specs
            .items
            .iter()
            .map(|s| s.name.as_ref().map(Ident::to_string))
            .collect();
        assert_eq!(names, [Some("A".into()), Some("B".into()), None]);
        assert_eq!(specs.items[0].attrs.len(), 1);
        assert_eq!(specs.items[1].settings.len(), 3);
    }

    #[test]
    fn groups_hold_settings() {
        let specs = parse(quote! { M < decoder: { vocab: 100, positional: learned, }, heads: 2 > })
            .unwrap();
        let Value::Group(_, inner) = &specs.items[0].settings[0].value else {
            panic!("a group")
        };
        let keys: Vec<String> = inner.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(keys, ["vocab", "positional"]);
        let err = parse(quote! { M < decoder: { vocab: 100 positional: learned } > }).err();
        assert!(err.unwrap().to_string().contains("expected `,` or `}`"));
    }

    #[test]
    fn negative_values_parse_for_validation_to_reject() {
        let specs = parse(quote! { M < layers: -2 > }).unwrap();
        assert!(matches!(
            specs.items[0].settings[0].value,
            Value::Negative(..)
        ));
    }

    #[test]
    fn syntax_errors_say_what_was_expected() {
        let cases = [
            (
                quote! { M d_model: 64 > },
                "expected `<` after the model name `M`",
            ),
            (quote! { M < d_model 64 > }, "expected `:` after `d_model`"),
            (quote! { M < d_model: 64 }, "missing `>`"),
            (quote! { M < d_model: 64 heads: 4 > }, "expected `,` or `>`"),
            (quote! { M < d_model: [64] > }, "expected a value"),
            (quote! { M < 64 > }, "expected a setting"),
            (quote! { pub < d_model: 64 > }, "missing model name"),
            (quote! {}, "declares no model"),
            (quote! { + }, "expected a model"),
        ];
        for (tokens, message) in cases {
            let err = parse(tokens.clone())
                .err()
                .unwrap_or_else(|| panic!("{tokens} parsed"));
            assert!(err.to_string().contains(message), "{tokens}: {err}");
        }
    }
}

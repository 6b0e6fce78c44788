//! `#[transformer(…)]` on an item: settings about the generated code rather than the
//! architecture. Today one: `crate = "path"`, the path under which the user's crate reaches
//! the `transformer` facade, for a crate that renamed it (`tfm = { package = "transformer" }`),
//! as serde's `#[serde(crate = "…")]`.

use syn::{Attribute, LitStr, Path};

/// An item's own attributes split: what passes through to the struct, and the options.
pub struct Options {
    /// Every attribute but `#[transformer(…)]`, in order.
    pub passed: Vec<Attribute>,
    /// `::transformer` unless `crate = "…"` says otherwise.
    pub krate: Path,
}

impl Options {
    /// Splits `attrs`; every malformed or unknown option is an error, each reported.
    pub fn read(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Self {
        let mut passed = Vec::new();
        let mut krate: Option<Path> = None;
        for attr in attrs {
            if !attr.path().is_ident("transformer") {
                passed.push(attr.clone());
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                if !meta.path.is_ident("crate") {
                    return Err(meta.error(
                        "unknown `transformer` option; the one option is `crate = \"path\"`",
                    ));
                }
                const HELP: &str = "`crate` takes a path in quotes, such as `crate = \"::tfm\"`";
                let value = meta.value()?;
                let path = value
                    .parse::<LitStr>()
                    .map_err(|e| syn::Error::new(e.span(), HELP))?;
                let path = path
                    .parse::<Path>()
                    .map_err(|_| syn::Error::new(path.span(), HELP))?;
                if krate.replace(path).is_some() {
                    return Err(meta.error("`crate` is set twice; keep one"));
                }
                Ok(())
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        Self {
            passed,
            krate: krate.unwrap_or_else(|| syn::parse_quote!(::transformer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn read(attrs: proc_macro2::TokenStream) -> (Options, Vec<String>) {
        let attrs = syn::parse::Parser::parse2(Attribute::parse_outer, attrs).unwrap();
        let mut errors = Vec::new();
        let options = Options::read(&attrs, &mut errors);
        (options, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn the_crate_defaults_to_the_facade_and_other_attributes_pass_through() {
        let (options, errors) = read(quote!(#[doc = "A model."] #[allow(dead_code)]));
        assert!(errors.is_empty());
        assert_eq!(options.passed.len(), 2);
        let krate = &options.krate;
        assert_eq!(quote!(#krate).to_string(), ":: transformer");
    }

    #[test]
    fn crate_names_the_path_and_is_not_passed_through() {
        let (options, errors) = read(quote!(#[transformer(crate = "::tfm")] #[doc = "A model."]));
        assert!(errors.is_empty());
        assert_eq!(options.passed.len(), 1);
        let krate = &options.krate;
        assert_eq!(quote!(#krate).to_string(), ":: tfm");
    }

    #[test]
    fn unknown_malformed_and_repeated_options_are_errors() {
        let (_, errors) = read(quote!(#[transformer(krate = "tfm")]));
        assert!(
            errors[0].contains("unknown `transformer` option"),
            "{errors:?}"
        );
        let (_, errors) = read(quote!(#[transformer(crate = "not a path")]));
        assert!(errors[0].contains("a path in quotes"), "{errors:?}");
        let (_, errors) = read(quote!(#[transformer(crate = "a", crate = "b")]));
        assert!(errors[0].contains("set twice"), "{errors:?}");
        let (_, errors) = read(quote!(#[transformer(crate = tfm)]));
        assert!(errors[0].contains("a path in quotes"), "{errors:?}");
    }
}

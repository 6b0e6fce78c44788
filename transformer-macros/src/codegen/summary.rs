//! How a model describes itself: `Debug` with its dimensions, not its millions of weights.
//!
//! ```text
//! TinyLm { d_model: 64, heads: 4, layers: 2, d_ff: 256, max_len: 128, parameters: 99968, .. }
//! ```

use proc_macro2::TokenStream;
use quote::quote;

use super::Names;

/// `impl Debug for TinyLm`, listing the dimensions from the consts.
pub fn debug(names: &Names) -> TokenStream {
    let m = &names.model;
    let name = m.to_string();
    let layer_fields = names.stacks.iter().map(|stack| {
        let count = &stack.count_const;
        let label = count.to_string().to_lowercase();
        quote!(.field(#label, &Self::#count))
    });
    quote! {
        #[automatically_derived]
        impl ::core::fmt::Debug for #m {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name)
                    .field("d_model", &Self::D_MODEL)
                    .field("heads", &Self::HEADS)
                    #(#layer_fields)*
                    .field("d_ff", &Self::D_FF)
                    .field("max_len", &Self::MAX_LEN)
                    .field("parameters", &Self::PARAMETERS)
                    .finish_non_exhaustive()
            }
        }
    }
}

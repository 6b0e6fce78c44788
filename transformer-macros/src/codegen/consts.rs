//! The model's dimensions as associated consts, and the invariants between them.
//!
//! ```text
//! pub const D_HEAD: usize = Self::D_MODEL / Self::HEADS;
//! const _: () = ::core::assert!(TinyLm::HEADS * TinyLm::D_HEAD == TinyLm::D_MODEL);
//! ```

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{Names, Stack, rt};
use crate::model::{Model, NormPlacement, Positional};

/// `impl M { pub const D_MODEL: usize = 64; … }` for the model and each layer struct.
pub fn consts(model: &Model, names: &Names) -> TokenStream {
    let m = &names.model;
    let d_model = Literal::usize_unsuffixed(model.d_model);
    let heads = Literal::usize_unsuffixed(model.heads);
    let d_ff = Literal::usize_unsuffixed(model.d_ff);
    let max_len = Literal::usize_unsuffixed(model.max_len);
    // `EPS` only where a layer norm uses it: with none, `eps` is itself an error.
    let eps = model.has_layer_norm().then(|| {
        let eps = float_literal(model.eps);
        quote! {
            /// Epsilon of every layer norm.
            pub const EPS: f32 = #eps;
        }
    });
    let d_ff_doc = if model.ffn {
        " Width of the feed-forward sublayer's hidden layer."
    } else {
        " Width of the feed-forward hidden layer: 0, this model has no feed-forward sublayer."
    };
    let layer_counts = names.stacks.iter().map(|stack| {
        let name = &stack.count_const;
        let count = Literal::usize_unsuffixed(stack.count);
        let doc = format!(" Layers in the {} stack.", stack.role);
        quote! {
            #[doc = #doc]
            pub const #name: usize = #count;
        }
    });
    let parameters = model_parameters(model, names);
    let vocab = model.vocab.map(|v| {
        let v = Literal::usize_unsuffixed(v);
        quote! {
            /// Rows of the token-embedding table: valid token ids are `0..VOCAB`.
            pub const VOCAB: usize = #v;
        }
    });
    let token_types = model.token_types.map(|t| {
        let t = Literal::usize_unsuffixed(t);
        quote! {
            /// Rows of the token-type table: valid token types are `0..TOKEN_TYPES`.
            pub const TOKEN_TYPES: usize = #t;
        }
    });
    let layer_parameters = names
        .stacks
        .iter()
        .map(|stack| layer_parameters(model, names, stack));
    quote! {
        impl #m {
            /// Width of the residual stream: each token is a row of `D_MODEL` numbers.
            pub const D_MODEL: usize = #d_model;
            /// Attention heads in each attention sublayer.
            pub const HEADS: usize = #heads;
            /// Width of each head: `D_MODEL / HEADS`.
            pub const D_HEAD: usize = Self::D_MODEL / Self::HEADS;
            #(#layer_counts)*
            #[doc = #d_ff_doc]
            pub const D_FF: usize = #d_ff;
            /// The longest sequence the model accepts, in tokens.
            pub const MAX_LEN: usize = #max_len;
            #eps
            #vocab
            #token_types
            /// Learned numbers, as PyTorch's `sum(p.numel() for p in model.parameters())`.
            pub const PARAMETERS: usize = #parameters;
            /// Bytes of weights: `PARAMETERS` `f32`s.
            pub const WEIGHT_BYTES: usize = Self::PARAMETERS * ::core::mem::size_of::<f32>();
        }

        const _: () = ::core::assert!(#m::HEADS * #m::D_HEAD == #m::D_MODEL);
        #(#layer_parameters)*
    }
}

/// `f32` literal in scientific notation, as a person writes an epsilon: `1e-5f32`.
fn float_literal(value: f32) -> Literal {
    let text = format!("{value:e}f32");
    text.parse()
        .unwrap_or_else(|_| Literal::f32_suffixed(value))
}

/// `Self::LAYERS * TinyLmLayer::PARAMETERS + <final norm> + <learned positions>`.
fn model_parameters(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let bias = model.bias;
    let terms = names.stacks.iter().map(|stack| {
        let layer = &stack.layer;
        let count = &stack.count_const;
        let norm = model
            .final_norm
            .then(|| quote!(+ #rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias)));
        let positions = (model.positional == Positional::Learned)
            .then(|| quote!(+ #rt::Embedding::<{ #m::MAX_LEN }, { #m::D_MODEL }>::PARAMETERS));
        quote!(Self::#count * #layer::PARAMETERS #norm #positions)
    });
    let vocab = model
        .vocab
        .map(|_| quote!(+ #rt::Embedding::<{ #m::VOCAB }, { #m::D_MODEL }>::PARAMETERS));
    let token_types = model
        .token_types
        .map(|_| quote!(+ #rt::Embedding::<{ #m::TOKEN_TYPES }, { #m::D_MODEL }>::PARAMETERS));
    let embed_norm = model
        .embed_norm
        .then(|| quote!(+ #rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias)));
    quote!(#(#terms)+* #vocab #token_types #embed_norm)
}

/// `impl TinyLmLayer { pub const PARAMETERS: usize = …; }`: attention, norms, feed-forward.
fn layer_parameters(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let (m, layer, attention) = (&names.model, &stack.layer, &names.attention);
    let (bias, out_proj) = (model.bias, model.out_proj);
    let attentions = stack.cross.then(|| quote!(2 *));
    let sublayers = 1 + usize::from(stack.cross) + usize::from(model.ffn);
    let norms = (model.norm != NormPlacement::None).then(|| {
        let count = Literal::usize_unsuffixed(sublayers);
        quote!(+ #count * #rt::LayerNorm::<{ #m::D_MODEL }>::parameters(#bias))
    });
    let ffn = model
        .ffn
        .then(|| quote!(+ #rt::FeedForward::<{ #m::D_MODEL }, { #m::D_FF }>::parameters(#bias)));
    let doc = format!(" Learned numbers in one {} layer.", stack.role);
    quote! {
        impl #layer {
            #[doc = #doc]
            pub const PARAMETERS: usize = #attentions
                #attention::parameters(#bias, #out_proj)
                #norms
                #ffn;
        }
    }
}

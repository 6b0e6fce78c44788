//! The weight structs and their constructors: `zeroed()` and seeded `init(seed)`.
//!
//! ```text
//! pub struct TinyLmLayer { pub attn: MultiHeadAttention<…>, pub norm1: LayerNorm<…>, … }
//! pub fn init(seed: u64) -> Self { let mut rng = Rng::new(seed); … }
//! ```
//! Field names follow PyTorch's sublayer order: `norm1` follows the first sublayer
//! (self-attention), `norm2` the second, `norm3` the third.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{Names, Stack, rt};
use crate::model::{Kind, Model, NormPlacement, Positional};

/// One sublayer of a layer, in forward order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sublayer {
    SelfAttention,
    CrossAttention,
    FeedForward,
}

impl Sublayer {
    /// The weights' field: `attn`, `cross_attn`, `ffn`.
    pub fn field(self) -> Ident {
        format_ident!(
            "{}",
            match self {
                Sublayer::SelfAttention => "attn",
                Sublayer::CrossAttention => "cross_attn",
                Sublayer::FeedForward => "ffn",
            }
        )
    }
}

/// The sublayers of one layer of `stack`, each with its norm's field when the model has norms.
pub fn sublayers(model: &Model, stack: &Stack) -> Vec<(Sublayer, Option<Ident>)> {
    let mut list = vec![Sublayer::SelfAttention];
    if stack.cross {
        list.push(Sublayer::CrossAttention);
    }
    if model.ffn {
        list.push(Sublayer::FeedForward);
    }
    list.into_iter()
        .enumerate()
        .map(|(i, sublayer)| {
            let norm = (model.norm != NormPlacement::None).then(|| format_ident!("norm{}", i + 1));
            (sublayer, norm)
        })
        .collect()
}

/// A one-line description for doc comments: "2 layers, 4 heads of width 16, d_model 64, …".
pub fn describe(model: &Model) -> String {
    let layers = match model.kind {
        Kind::Encoder => format!("encoder, {}", count(model.encoder_layers, "layer")),
        Kind::Decoder if model.cross_attention => format!(
            "decoder with cross-attention, {}",
            count(model.decoder_layers, "layer")
        ),
        Kind::Decoder => format!("decoder, {}", count(model.decoder_layers, "layer")),
        // "2 + 1 layers": the sum is plural even when a stack has one layer.
        Kind::EncoderDecoder => format!(
            "encoder–decoder, {} + {} layers",
            model.encoder_layers, model.decoder_layers
        ),
    };
    let ffn = if model.ffn {
        format!("`d_ff` {}", model.d_ff)
    } else {
        "no feed-forward".to_owned()
    };
    let norm = match model.norm {
        NormPlacement::Post => "post-norm",
        NormPlacement::Pre => "pre-norm",
        NormPlacement::None => "no norms",
    };
    format!(
        "{layers}, {} of width {}, `d_model` {}, {ffn}, {norm}, `max_len` {}",
        count(model.heads, "head"),
        model.d_head(),
        model.d_model,
        model.max_len,
    )
}

/// "1 layer", "2 layers".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The model struct, one layer struct per stack, and the scratch type.
pub fn structs(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let vis = &model.vis;
    let attrs = &model.attrs;
    let summary = format!(" `{m}`: {}.", describe(model));
    // A blank doc line between the user's docs and ours makes them two paragraphs.
    let has_docs = attrs.iter().any(|attr| attr.path().is_ident("doc"));
    let separator = has_docs.then(|| quote!(#[doc = ""]));
    let tables = embedding_fields(model, names);
    let fields = names
        .stacks
        .iter()
        .map(|stack| stack_fields(model, names, stack));
    let layer_structs = names
        .stacks
        .iter()
        .map(|stack| layer_struct(model, names, stack));
    let (scratch, attention) = (&names.scratch, &names.attention);
    let scratch_doc = format!(
        " Working memory for forward passes of `{m}`: make one with `{m}::scratch()` and reuse it."
    );
    let attention_doc = format!(
        " Multi-head attention at the dimensions of `{m}`: `HEADS` heads of width `D_HEAD` over `D_MODEL`."
    );
    quote! {
        #(#attrs)*
        #separator
        #[doc = #summary]
        #[derive(Clone, PartialEq)]
        #vis struct #m {
            #tables
            #(#fields)*
        }

        #(#layer_structs)*

        #[doc = #attention_doc]
        #vis type #attention = #rt::MultiHeadAttention<{ #m::D_MODEL }, { #m::HEADS }, { #m::D_HEAD }>;

        #[doc = #scratch_doc]
        #vis type #scratch = #rt::Scratch<{ #m::D_MODEL }, { #m::D_FF }>;
    }
}

/// The token tables and embedding norm of a model that takes token ids.
fn embedding_fields(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let vocab = model.vocab.map(|_| {
        quote! {
            /// Token embeddings, `[VOCAB][D_MODEL]`: row `id` is the embedding of token `id`.
            pub token_embedding: #rt::Embedding<{ #m::VOCAB }, { #m::D_MODEL }>,
        }
    });
    let token_types = model.token_types.map(|_| {
        quote! {
            /// Token-type (segment) embeddings, `[TOKEN_TYPES][D_MODEL]`, added to each token's.
            pub token_type_embedding: #rt::Embedding<{ #m::TOKEN_TYPES }, { #m::D_MODEL }>,
        }
    });
    let norm = model.embed_norm.then(|| {
        quote! {
            /// Layer norm over `[D_MODEL]` of the summed embeddings (and positions).
            pub embedding_norm: #rt::LayerNorm<{ #m::D_MODEL }>,
        }
    });
    quote!(#vocab #token_types #norm)
}

/// The initialisers of [`embedding_fields`].
fn embedding_inits(model: &Model, init: &Init) -> TokenStream {
    let rt = rt(model);
    let bias = model.bias;
    let table = match init {
        Init::Zeroed => quote!(#rt::Embedding::zeroed()),
        Init::Seeded => quote!(#rt::Embedding::xavier(&mut rng)),
    };
    let vocab = model.vocab.map(|_| quote!(token_embedding: #table,));
    let token_types = model
        .token_types
        .map(|_| quote!(token_type_embedding: #table,));
    let norm = model
        .embed_norm
        .then(|| quote!(embedding_norm: #rt::LayerNorm::new(Self::EPS, #bias),));
    quote!(#vocab #token_types #norm)
}

/// A stack's fields in the model struct: positions, layers, final norm.
fn stack_fields(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let (layer, count) = (&stack.layer, &stack.count_const);
    let (layers, norm, positions) = (
        &stack.layers_field,
        &stack.norm_field,
        &stack.positions_field,
    );
    let role = stack.role;
    let positions = (model.positional == Positional::Learned).then(|| {
        let doc = format!(" Learned positions of the {role} input, `[MAX_LEN][D_MODEL]`: row `p` is added to the token at position `p`.");
        quote! {
            #[doc = #doc]
            pub #positions: #rt::Embedding<{ #m::MAX_LEN }, { #m::D_MODEL }>,
        }
    });
    let layers_doc = format!(" The {role} layers, applied first to last.");
    let norm = model.final_norm.then(|| {
        let doc = format!(" Layer norm over `[D_MODEL]` after the last {role} layer.");
        quote! {
            #[doc = #doc]
            pub #norm: #rt::LayerNorm<{ #m::D_MODEL }>,
        }
    });
    quote! {
        #positions
        #[doc = #layers_doc]
        pub #layers: [#layer; #m::#count],
        #norm
    }
}

/// `pub struct TinyLmLayer { pub attn: …, pub norm1: …, pub ffn: …, pub norm2: … }`.
fn layer_struct(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let vis = &model.vis;
    let (layer, attention) = (&stack.layer, &names.attention);
    let doc = format!(
        " One {} layer of [`{m}`]: {}.",
        stack.role,
        layer_summary(model, stack)
    );
    let fields = sublayers(model, stack).into_iter().map(|(sublayer, norm)| {
        let field = sublayer.field();
        let (ty, field_doc) = match sublayer {
            Sublayer::SelfAttention => (
                quote!(#attention),
                if stack.causal {
                    " Masked (causal) self-attention: each token attends to itself and earlier tokens."
                } else {
                    " Self-attention: each token attends to every token."
                },
            ),
            Sublayer::CrossAttention => (
                quote!(#attention),
                " Cross-attention: each token attends to the encoder memory.",
            ),
            Sublayer::FeedForward => (
                quote!(#rt::FeedForward<{ #m::D_MODEL }, { #m::D_FF }>),
                " Feed-forward: `[D_MODEL] → [D_FF] → [D_MODEL]` per token.",
            ),
        };
        let norm = norm.map(|norm| {
            let norm_doc = format!(" Layer norm over `[D_MODEL]` of the `{field}` sublayer.");
            quote! {
                #[doc = #norm_doc]
                pub #norm: #rt::LayerNorm<{ #m::D_MODEL }>,
            }
        });
        quote! {
            #[doc = #field_doc]
            pub #field: #ty,
            #norm
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, PartialEq)]
        #vis struct #layer {
            #(#fields)*
        }
    }
}

/// "self-attention then feed-forward, post-norm".
pub fn layer_summary(model: &Model, stack: &Stack) -> String {
    let mut parts = vec![if stack.causal {
        "masked self-attention"
    } else {
        "self-attention"
    }];
    if stack.cross {
        parts.push("cross-attention");
    }
    if model.ffn {
        parts.push("feed-forward");
    }
    let norm = match model.norm {
        NormPlacement::Post => "each added to its input, then normalised (post-norm)",
        NormPlacement::Pre => "each applied to a normalised copy and added to its input (pre-norm)",
        NormPlacement::None => "each added to its input, no norms",
    };
    format!("{}, {norm}", parts.join(" then "))
}

/// `zeroed()` and `init(seed)` for the model and its layers.
pub fn constructors(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let zeroed_fields = names
        .stacks
        .iter()
        .map(|stack| model_fields(model, stack, &Init::Zeroed));
    let init_fields = names
        .stacks
        .iter()
        .map(|stack| model_fields(model, stack, &Init::Seeded));
    let zeroed_tables = embedding_inits(model, &Init::Zeroed);
    let init_tables = embedding_inits(model, &Init::Seeded);
    let layers = names
        .stacks
        .iter()
        .map(|stack| layer_constructors(model, names, stack));
    let scratch = &names.scratch;
    quote! {
        impl #m {
            /// A model with every weight and bias zero and every norm the identity: a start
            /// for loading weights.
            #[must_use]
            pub fn zeroed() -> Self {
                Self {
                    #zeroed_tables
                    #(#zeroed_fields)*
                }
            }

            /// A model with deterministic random weights: Xavier-uniform matrices as in
            /// `nn.Transformer`, zero biases, unit norm scales. The same `seed` gives the same
            /// numbers on every platform.
            #[must_use]
            pub fn init(seed: u64) -> Self {
                let mut rng = #rt::Rng::new(seed);
                Self {
                    #init_tables
                    #(#init_fields)*
                }
            }

            /// Working memory for sequences of up to `MAX_LEN` tokens (and memories of up to
            /// `MAX_LEN` tokens): allocate once, reuse for every `*_into` call.
            #[must_use]
            pub fn scratch() -> #scratch {
                #rt::Scratch::with_capacity(Self::MAX_LEN, Self::MAX_LEN)
            }
        }

        #(#layers)*
    }
}

/// Which constructor is being written.
enum Init {
    Zeroed,
    Seeded,
}

/// A stack's field initialisers in the model constructor.
fn model_fields(model: &Model, stack: &Stack, init: &Init) -> TokenStream {
    let rt = rt(model);
    let layer = &stack.layer;
    let (layers, norm, positions) = (
        &stack.layers_field,
        &stack.norm_field,
        &stack.positions_field,
    );
    let bias = model.bias;
    let positions = (model.positional == Positional::Learned).then(|| match init {
        Init::Zeroed => quote!(#positions: #rt::Embedding::zeroed(),),
        Init::Seeded => quote!(#positions: #rt::Embedding::xavier(&mut rng),),
    });
    let layers = match init {
        Init::Zeroed => quote!(#layers: ::core::array::from_fn(|_| #layer::zeroed()),),
        Init::Seeded => quote!(#layers: ::core::array::from_fn(|_| #layer::init(&mut rng)),),
    };
    let norm = model
        .final_norm
        .then(|| quote!(#norm: #rt::LayerNorm::new(Self::EPS, #bias),));
    quote!(#positions #layers #norm)
}

/// `zeroed()` and `init(rng)` for one layer struct.
fn layer_constructors(model: &Model, names: &Names, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let layer = &stack.layer;
    let (bias, out_proj) = (model.bias, model.out_proj);
    let fields = |init: &Init| -> Vec<TokenStream> {
        sublayers(model, stack)
            .into_iter()
            .map(|(sublayer, norm)| {
                let field = sublayer.field();
                let value = match (sublayer, init) {
                    (Sublayer::FeedForward, Init::Zeroed) => {
                        quote!(#rt::FeedForward::zeroed(#bias))
                    }
                    (Sublayer::FeedForward, Init::Seeded) => {
                        quote!(#rt::FeedForward::xavier(rng, #bias))
                    }
                    (_, Init::Zeroed) => quote!(#rt::MultiHeadAttention::zeroed(#bias, #out_proj)),
                    (_, Init::Seeded) => {
                        quote!(#rt::MultiHeadAttention::xavier(rng, #bias, #out_proj))
                    }
                };
                let norm = norm.map(|norm| quote!(#norm: #rt::LayerNorm::new(#m::EPS, #bias),));
                quote!(#field: #value, #norm)
            })
            .collect()
    };
    let (zeroed, seeded) = (fields(&Init::Zeroed), fields(&Init::Seeded));
    quote! {
        impl #layer {
            /// Every weight and bias zero, every norm the identity.
            #[must_use]
            pub fn zeroed() -> Self {
                Self { #(#zeroed)* }
            }

            /// Xavier-uniform weights drawn from `rng` in field order, zero biases, unit norms.
            #[must_use]
            pub fn init(rng: &mut #rt::Rng) -> Self {
                Self { #(#seeded)* }
            }
        }
    }
}

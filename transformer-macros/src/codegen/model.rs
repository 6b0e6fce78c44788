//! The model node: its struct (per stack: token tables and input norm, positions, layers and
//! final norm),
//! its dimensions as consts, and its one `impl` with constructors, entry points (`entry`),
//! loading and saving, summary and flops; `Display` and a `Debug` that lists dimensions.
//!
//! ```text
//! pub struct TinyLm { pub layers: [TinyLmLayer; TinyLm::LAYERS], … }
//! impl TinyLm { pub const D_MODEL: usize = 64; … pub fn forward(…) … pub fn load(…) … }
//! ```

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::dialect::GGUF;
use super::{Layout, Names, Part, StackNames, count, embedding, entry, io_call, io_calls};
use super::{attention, decoding, norm, rt_link};
use crate::model::{Kind, LmHead, Model, NormPlacement, RopePairs, Stack, Sublayer};

/// A one-line description for doc comments: "encoder, 2 layers, 4 heads of width 16, …".
fn describe(model: &Model) -> String {
    let stack = &model.stacks[0];
    let layers = match model.kind {
        Kind::Encoder => format!("encoder, {}", count(stack.layers, "layer")),
        Kind::Decoder if stack.cross() => format!(
            "decoder with cross-attention, {}",
            count(stack.layers, "layer")
        ),
        Kind::Decoder => format!("decoder, {}", count(stack.layers, "layer")),
        // "2 + 1 layers": the sum is plural even when a stack has one layer.
        Kind::EncoderDecoder => format!(
            "encoder–decoder, {}",
            model
                .stacks
                .iter()
                .map(|stack| stack.layers.to_string())
                .collect::<Vec<_>>()
                .join(" + ")
                + " layers"
        ),
    };
    let ffn = if stack.ffn() {
        format!("`d_ff` {}", model.d_ff())
    } else {
        "no feed-forward".to_owned()
    };
    let norm = match stack.norm {
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

/// The parts of a stack that live in the model: its input's tables and norm, positions and
/// final norm.
struct StackParts<'a> {
    stack: &'a Stack,
    names: &'a StackNames,
    inputs: Vec<Part>,
    positions: Option<Part>,
    final_norm: Option<Part>,
    /// A separate language-model head.
    head: Option<Part>,
}

impl StackParts<'_> {
    /// The parts after the layers: the final norm, then a separate head.
    fn tail(&self) -> impl Iterator<Item = &Part> {
        self.final_norm.iter().chain(&self.head)
    }
}

fn stack_parts<'a>(model: &Model, names: &'a Names, stack: &'a Stack, i: usize) -> StackParts<'a> {
    let stack_names = &names.stacks[i];
    let dialect = names.dialect;
    let final_norm = stack.final_norm.then(|| {
        norm::part(
            model,
            names,
            stack,
            stack_names.norm_field.clone(),
            format!(
                " {} over `[D_MODEL]` after the last {} layer.",
                norm::noun(stack),
                stack_names.role
            ),
            &format!(
                "{}{}",
                dialect.stack_prefix(model, stack),
                dialect.final_norm
            ),
            "final layer norm",
        )
    });
    StackParts {
        stack,
        names: stack_names,
        inputs: embedding::input_parts(model, names, stack, stack_names),
        positions: embedding::positions_part(model, names, stack, stack_names),
        final_norm,
        head: decoding::head_part(names, stack, stack_names),
    }
}

/// Everything the model node emits.
pub fn model(model: &Model, names: &Names) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let vis = &model.vis;
    let stacks: Vec<StackParts<'_>> = model
        .stacks
        .iter()
        .enumerate()
        .map(|(i, stack)| stack_parts(model, names, stack, i))
        .collect();

    // The struct, its fields in forward order.
    let attrs = &model.attrs;
    let description = format!(" `{m}`: {}.", describe(model));
    // A blank doc line between the user's docs and ours makes them two paragraphs.
    let has_docs = attrs.iter().any(|attr| attr.path().is_ident("doc"));
    let separator = has_docs.then(|| quote!(#[doc = ""]));
    let field = |part: &Part| {
        let (field, doc, ty) = (&part.field, &part.doc, &part.ty);
        quote! {
            #[doc = #doc]
            pub #field: #ty,
        }
    };
    let stack_fields = stacks.iter().map(|s| {
        let inputs = s.inputs.iter().map(field);
        let positions = s.positions.as_ref().map(field);
        let (layers, layer, count) = (&s.names.layers_field, &s.names.layer, &s.names.count_const);
        let doc = format!(" The {} layers, applied first to last.", s.names.role);
        let norm = s.tail().map(field);
        quote! {
            #(#inputs)*
            #positions
            #[doc = #doc]
            pub #layers: [#layer; #m::#count],
            #(#norm)*
        }
    });
    let scratch = &names.scratch;
    let scratch_doc = format!(
        " Working memory for forward passes of `{m}`: make one with `{m}::scratch()` and reuse it."
    );
    let (alias, invariant) = (attention::alias(model, names), attention::invariant(names));
    let cache_alias = decoding::cache_alias(model, names);
    let final_norms: Vec<_> = stacks.iter().map(|s| s.final_norm.as_ref()).collect();
    let decoding = decoding::methods(model, names, &final_norms);

    let consts = consts(model, names, &stacks);
    let constructors = constructors(names, &stacks);
    let entries = entry::methods(model, names);
    let embeds = stacks.iter().filter_map(|s| {
        s.stack
            .tokens()
            .map(|tables| embedding::embed(names, s.names, tables))
    });
    let runners = model
        .stacks
        .iter()
        .zip(&stacks)
        .map(|(stack, s)| entry::runner(names, stack, s.names, s.final_norm.as_ref()));
    let io = io(model, names, &stacks);
    let gguf = gguf_io(model, names);
    let summary_and_flops = summary(names, &stacks);
    let debug = debug(names);
    // `TokenModel` is a model that reads token ids and nothing else: no memory.
    let token_model = (model.tokens().is_some() && !model.stacks[0].cross())
        .then(|| entry::token_model(model, names));

    quote! {
        #(#attrs)*
        #separator
        #[doc = #description]
        #[derive(Clone, PartialEq)]
        #vis struct #m {
            #(#stack_fields)*
        }

        #alias
        #cache_alias

        #[doc = #scratch_doc]
        #vis type #scratch = #rt::Scratch<{ #m::D_MODEL }, { #m::D_FF }>;

        impl #m {
            #consts
            #constructors
            #entries
            #(#embeds)*
            #(#runners)*
            #decoding
            #io
            #gguf
            #summary_and_flops
        }

        #invariant

        #[automatically_derived]
        impl ::core::fmt::Display for #m {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&Self::summary(), f)
            }
        }

        #debug
        #token_model
    }
}

/// `pub const D_MODEL: usize = 64; …` and `PARAMETERS`, the sum of the model's parts.
fn consts(model: &Model, names: &Names, stacks: &[StackParts<'_>]) -> TokenStream {
    let d_model = Literal::usize_unsuffixed(model.d_model);
    let head_consts = attention::consts(model);
    let cache_consts = decoding::consts(model, names);
    let d_ff = Literal::usize_unsuffixed(model.d_ff());
    let max_len = Literal::usize_unsuffixed(model.max_len);
    // `EPS` only where a layer norm uses it: with none, `eps` is itself an error.
    let eps = model.has_layer_norm().then(|| {
        let eps = float_literal(model.eps);
        quote! {
            /// Epsilon of every norm.
            pub const EPS: f32 = #eps;
        }
    });
    let d_ff_doc = if model.d_ff() > 0 {
        " Width of the feed-forward sublayer's hidden layer."
    } else {
        " Width of the feed-forward hidden layer: 0, this model has no feed-forward sublayer."
    };
    let layer_counts = stacks.iter().map(|s| {
        let name = &s.names.count_const;
        let count = Literal::usize_unsuffixed(s.stack.layers);
        let doc = format!(" Layers in the {} stack.", s.names.role);
        quote! {
            #[doc = #doc]
            pub const #name: usize = #count;
        }
    });
    let whose = |s: &StackParts<'_>| {
        if model.kind == Kind::EncoderDecoder {
            format!("the {}'s ", s.names.role)
        } else {
            "the ".to_owned()
        }
    };
    let vocab = stacks.iter().filter_map(|s| {
        let tables = s.stack.tokens()?;
        let (vocab_const, types_const) = (&s.names.vocab_const, &s.names.token_types_const);
        let vocab = Literal::usize_unsuffixed(tables.vocab);
        let token_types = tables.token_types.map(|t| {
            let t = Literal::usize_unsuffixed(t);
            let doc = format!(
                " Rows of {}token-type table: valid token types are `0..{types_const}`.",
                whose(s)
            );
            quote! {
                #[doc = #doc]
                pub const #types_const: usize = #t;
            }
        });
        let doc = format!(
            " Rows of {}token-embedding table: valid token ids are `0..{vocab_const}`.",
            whose(s)
        );
        Some(quote! {
            #[doc = #doc]
            pub const #vocab_const: usize = #vocab;
            #token_types
        })
    });
    let parameters = stacks.iter().flat_map(|s| {
        let (layer, count) = (&s.names.layer, &s.names.count_const);
        s.inputs
            .iter()
            .chain(&s.positions)
            .map(|part| part.parameters.clone())
            .chain([quote!(Self::#count * #layer::PARAMETERS)])
            .chain(s.tail().map(|part| part.parameters.clone()))
    });
    quote! {
        /// Width of the residual stream: each token is a row of `D_MODEL` numbers.
        pub const D_MODEL: usize = #d_model;
        #head_consts
        #(#layer_counts)*
        #[doc = #d_ff_doc]
        pub const D_FF: usize = #d_ff;
        /// The longest sequence the model accepts, in tokens.
        pub const MAX_LEN: usize = #max_len;
        #eps
        #(#vocab)*
        #cache_consts
        /// Learned numbers, as PyTorch's `sum(p.numel() for p in model.parameters())`.
        pub const PARAMETERS: usize = #(#parameters)+*;
        /// Bytes of weights: `PARAMETERS` `f32`s.
        pub const WEIGHT_BYTES: usize = Self::PARAMETERS * ::core::mem::size_of::<f32>();
    }
}

/// `f32` literal in scientific notation, as a person writes an epsilon: `1e-5f32`.
fn float_literal(value: f32) -> Literal {
    let text = format!("{value:e}f32");
    text.parse()
        .unwrap_or_else(|_| Literal::f32_suffixed(value))
}

/// `zeroed()`, `init(seed)` and `scratch()`.
fn constructors(names: &Names, stacks: &[StackParts<'_>]) -> TokenStream {
    let (rt, scratch) = (&names.rt, &names.scratch);
    let fields = |seeded: bool| -> Vec<TokenStream> {
        let value = |part: &Part| {
            let field = &part.field;
            let value = if seeded { &part.init } else { &part.zeroed };
            quote!(#field: #value,)
        };
        stacks
            .iter()
            .flat_map(|s| {
                let (layers, layer) = (&s.names.layers_field, &s.names.layer);
                let layers = if seeded {
                    quote!(#layers: ::core::array::from_fn(|_| #layer::init(&mut rng)),)
                } else {
                    quote!(#layers: ::core::array::from_fn(|_| #layer::zeroed()),)
                };
                s.inputs
                    .iter()
                    .chain(&s.positions)
                    .map(value)
                    .chain([layers])
                    .chain(s.tail().map(value))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (zeroed, seeded) = (fields(false), fields(true));
    let max_len = quote!(Self::MAX_LEN);
    let new_scratch = names.new_scratch(&max_len, &max_len);
    quote! {
        /// A model with every weight and bias zero and every norm the identity: a start
        /// for loading weights.
        #[must_use]
        pub fn zeroed() -> Self {
            Self { #(#zeroed)* }
        }

        /// A model with deterministic random weights: Xavier-uniform matrices as in
        /// `nn.Transformer`, zero biases, unit norm scales. The same `seed` gives the same
        /// numbers on every platform.
        #[must_use]
        pub fn init(seed: u64) -> Self {
            let mut rng = #rt::Rng::new(seed);
            Self { #(#seeded)* }
        }

        /// Working memory for sequences of up to `MAX_LEN` tokens (and memories of up to
        /// `MAX_LEN` tokens): allocate once, reuse for every `*_into` call.
        #[must_use]
        pub fn scratch() -> #scratch {
            #new_scratch
        }
    }
}

/// `load`/`save` over every tensor, unrolled over layers, and the file and byte entry points.
fn io(model: &Model, names: &Names, stacks: &[StackParts<'_>]) -> TokenStream {
    let rt = &names.rt;
    let dialect = names.dialect;
    let root = dialect.root.as_ref();
    let calls = |save: bool| -> Vec<TokenStream> {
        let name_prefix = (root.is_some() && !save).then_some("{root}");
        let mut calls = Vec::new();
        for (stack, s) in model.stacks.iter().zip(stacks) {
            calls.extend(io_calls(
                &s.inputs.iter().chain(&s.positions).collect::<Vec<_>>(),
                name_prefix,
                save,
            ));
            let layers = &s.names.layers_field;
            for i in 0..stack.layers {
                let name = format!(
                    "{}{}{}",
                    name_prefix.unwrap_or(""),
                    dialect.stack_prefix(model, stack),
                    dialect.layer(i)
                );
                let name = if name_prefix.is_some() {
                    quote!(&::std::format!(#name))
                } else {
                    quote!(#name)
                };
                if !save {
                    // Buffers a checkpoint may keep beside the layer's weights.
                    calls.extend(dialect.layer_buffers.iter().map(|buffer| {
                        let name = format!(
                            "{}{}{buffer}",
                            dialect.stack_prefix(model, stack),
                            dialect.layer(i)
                        );
                        quote!(loader.ignore_prefix(#name);)
                    }));
                }
                let index = Literal::usize_unsuffixed(i);
                calls.push(io_call(
                    &quote!(self.#layers[#index]),
                    &Layout::Plain,
                    &name,
                    save,
                ));
            }
            calls.extend(io_calls(&s.tail().collect::<Vec<_>>(), name_prefix, save));
        }
        calls
    };
    let (loads, saves) = (calls(false), calls(true));
    let tied_head = decoding::load_steps(model, names);
    // A checkpoint may nest the model under a root and carry tensors no model here uses.
    let find_root = root.map(|root| {
        let (probe, prefix) = (root.probe, root.prefix);
        let ignores = root.ignore.iter().map(|ignore| {
            let name = format!("{{root}}{ignore}");
            quote!(loader.ignore_prefix(&::std::format!(#name));)
        });
        quote! {
            let root = if loader.contains(#probe) { #prefix } else { "" };
            #(#ignores)*
        }
    });
    let module = (dialect.model_source)(model.kind, model.stacks.iter().any(Stack::cross));
    let file_doc = format!(
        " Loads a safetensors file holding the `state_dict` of a {module} of this shape \
         (`safetensors.torch.save_file(module.state_dict(), path)`). f32, f16 and bf16 tensors load."
    );
    let load_doc = match root {
        Some(root) => format!(
            " Reads every tensor of the model from `loader`, under `{}` if the file nests them there; {} are allowed and skipped. Faults are collected in `loader`.",
            root.prefix,
            root.ignore
                .iter()
                .map(|ignore| {
                    if ignore.ends_with('.') {
                        format!("`{ignore}*`")
                    } else {
                        format!("`{ignore}`")
                    }
                })
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        None => {
            " Reads every tensor of the model from `loader`; faults are collected there.".to_owned()
        }
    };
    let load_error = rt_link(rt, "load::LoadError");
    let load_error_doc = format!(" {load_error} naming every missing, mis-shaped or");
    let bytes_error_doc = format!(" {load_error} if serialisation fails.");
    let file_error_doc = format!(" {load_error} if the file cannot be written.");
    quote! {
        #[doc = #file_doc]
        ///
        /// # Errors
        ///
        #[doc = #load_error_doc]
        /// unexpected tensor, or why the file could not be read.
        pub fn from_safetensors(
            path: impl ::core::convert::AsRef<::std::path::Path>,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            Self::from_safetensors_with(path, #rt::load::LoadOptions::default())
        }

        /// [`Self::from_safetensors`], loading as `options` say (`LoadOptions::lenient()`
        /// skips tensors the model does not use).
        ///
        /// # Errors
        ///
        /// As [`Self::from_safetensors`].
        pub fn from_safetensors_with(
            path: impl ::core::convert::AsRef<::std::path::Path>,
            options: #rt::load::LoadOptions,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            // Streamed from the file tensor by tensor: the file is never held in memory
            // beside the model. Opened first, so a bad file fails before any allocation.
            let mut loader = #rt::load::Loader::open(path.as_ref())?;
            let mut model = Self::zeroed();
            model.load(&mut loader);
            loader.finish(options.strictness)?;
            ::core::result::Result::Ok(model)
        }

        /// [`Self::from_safetensors`] on the bytes of a file; strict: a tensor the model
        /// does not use is an error.
        ///
        /// # Errors
        ///
        /// As [`Self::from_safetensors`].
        pub fn from_safetensors_bytes(bytes: &[u8]) -> ::core::result::Result<Self, #rt::load::LoadError> {
            Self::from_safetensors_bytes_with(bytes, #rt::load::LoadOptions::default())
        }

        /// [`Self::from_safetensors_bytes`], loading as `options` say.
        ///
        /// # Errors
        ///
        /// As [`Self::from_safetensors`].
        pub fn from_safetensors_bytes_with(
            bytes: &[u8],
            options: #rt::load::LoadOptions,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            let mut loader = #rt::load::Loader::new(bytes)?;
            let mut model = Self::zeroed();
            model.load(&mut loader);
            loader.finish(options.strictness)?;
            ::core::result::Result::Ok(model)
        }

        #[doc = #load_doc]
        pub fn load(&mut self, loader: &mut #rt::load::Loader<'_>) {
            #find_root
            #tied_head
            #(#loads)*
        }

        /// Writes every tensor under the names [`Self::load`] reads.
        pub fn save(&self, writer: &mut #rt::load::Writer) {
            #(#saves)*
        }

        /// The model as safetensors bytes, under the names [`Self::load`] reads.
        ///
        /// # Errors
        ///
        #[doc = #bytes_error_doc]
        pub fn to_safetensors_bytes(&self) -> ::core::result::Result<::std::vec::Vec<u8>, #rt::load::LoadError> {
            let mut writer = #rt::load::Writer::new();
            self.save(&mut writer);
            writer.to_bytes()
        }

        /// Writes the model to a safetensors file at `path`, under the names
        /// [`Self::load`] reads.
        ///
        /// # Errors
        ///
        #[doc = #file_error_doc]
        pub fn to_safetensors(
            &self,
            path: impl ::core::convert::AsRef<::std::path::Path>,
        ) -> ::core::result::Result<(), #rt::load::LoadError> {
            let mut writer = #rt::load::Writer::new();
            self.save(&mut writer);
            writer.write_file(path.as_ref())
        }
    }
}

/// `from_gguf`, `from_gguf_bytes` and `load_gguf`, for a Llama-shaped model: the metadata
/// checked against the spec, every tensor read under llama.cpp's name, and the rows of
/// `attn_q` and `attn_k` put back in Hugging Face's order unless the model rotates adjacent
/// lanes as llama.cpp does.
fn gguf_io(model: &Model, names: &Names) -> Option<TokenStream> {
    if !model.llama_shaped() {
        return None;
    }
    let rt = &names.rt;
    let gguf_names = names.in_dialect(&GGUF);
    let stack = &model.stacks[0];
    let s = stack_parts(model, &gguf_names, stack, 0);
    let mut loads = io_calls(&s.inputs.iter().collect::<Vec<_>>(), None, false);
    let layers = &s.names.layers_field;
    for i in 0..stack.layers {
        let (index, prefix) = (Literal::usize_unsuffixed(i), GGUF.layer(i));
        loads.push(quote!(self.#layers[#index].load_gguf(loader, #prefix);));
    }
    loads.extend(io_calls(&s.tail().collect::<Vec<_>>(), None, false));
    let rope = stack.block.iter().find_map(|sublayer| match sublayer {
        Sublayer::Attention(attention) => attention.rope,
        Sublayer::FeedForward(_) => None,
    })?;
    let theta = Literal::f32_unsuffixed(rope.theta);
    let tied = match stack.lm_head {
        LmHead::None => quote!(::core::option::Option::None),
        LmHead::Tied => quote!(::core::option::Option::Some(true)),
        LmHead::Separate => quote!(::core::option::Option::Some(false)),
    };
    let unpermute = (rope.pairs == RopePairs::Half).then(|| {
        quote! {
            // llama.cpp's converter reorders the rows of `attn_q` and `attn_k` for its
            // adjacent-pair rotation; this model rotates lanes `i` and `i + D_HEAD / 2`.
            for layer in &mut model.#layers {
                layer.attn.unpermute_gguf_rope_rows().map_err(#rt::load::LoadError::Gguf)?;
            }
        }
    });
    let load_error = rt_link(rt, "load::LoadError");
    let errors_doc = format!(
        " {load_error}: `Gguf` if the file cannot be read or is not GGUF; `Mismatch` naming every metadata key whose value differs from the spec (layers, widths, heads, key/value heads, RoPE base, epsilon, vocabulary, context length, tied or separate head); `Tensors` naming every tensor missing, mis-shaped, of a type that does not convert, or not read."
    );
    Some(quote! {
        /// Loads a GGUF file of llama.cpp's `llama` architecture that holds this model:
        /// its metadata is checked against the spec first, then every tensor is read under
        /// llama.cpp's name (`token_embd`, `blk.{i}.attn_q`, …) and dequantized to `f32`
        /// (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K convert).
        ///
        /// # Errors
        ///
        #[doc = #errors_doc]
        pub fn from_gguf(
            path: impl ::core::convert::AsRef<::std::path::Path>,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            let file = #rt::gguf::GgufFile::open(path.as_ref()).map_err(#rt::load::LoadError::Gguf)?;
            Self::from_gguf_file(file)
        }

        /// [`Self::from_gguf`] on the bytes of a file.
        ///
        /// # Errors
        ///
        /// As [`Self::from_gguf`].
        pub fn from_gguf_bytes(
            bytes: ::std::vec::Vec<u8>,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            let file = #rt::gguf::GgufFile::from_bytes(bytes).map_err(#rt::load::LoadError::Gguf)?;
            Self::from_gguf_file(file)
        }

        /// [`Self::from_gguf`] on a file already opened.
        fn from_gguf_file(
            file: #rt::gguf::GgufFile,
        ) -> ::core::result::Result<Self, #rt::load::LoadError> {
            let spec = #rt::gguf::LlamaSpec {
                layers: Self::LAYERS,
                d_model: Self::D_MODEL,
                d_ff: Self::D_FF,
                heads: Self::HEADS,
                kv_heads: Self::KV_HEADS,
                rope_theta: #theta,
                eps: Self::EPS,
                vocab: Self::VOCAB,
                max_len: Self::MAX_LEN,
                tied_head: #tied,
            };
            let mismatches = spec.mismatches(&file).map_err(#rt::load::LoadError::Gguf)?;
            if !mismatches.is_empty() {
                return ::core::result::Result::Err(#rt::load::LoadError::Mismatch(mismatches));
            }
            let mut loader = #rt::load::Loader::gguf(file);
            let mut model = Self::zeroed();
            model.load_gguf(&mut loader);
            loader.finish(#rt::load::Strictness::Strict)?;
            #unpermute
            ::core::result::Result::Ok(model)
        }

        /// Reads every tensor of the model from a GGUF `loader`, under llama.cpp's names,
        /// as they are stored (see [`Self::from_gguf`]); faults are collected there.
        pub fn load_gguf(&mut self, loader: &mut #rt::load::Loader<'_>) {
            #(#loads)*
        }
    })
}

/// `summary()` with a row for every part and layer, and `flops(n)`.
fn summary(names: &Names, stacks: &[StackParts<'_>]) -> TokenStream {
    let (rt, m) = (&names.rt, &names.model);
    let title = m.to_string();
    let row = |part: &Part| {
        let (name, kind, parameters) = (part.field.to_string(), part.kind, &part.parameters);
        quote!(summary.row(0, #name, #kind, Self::D_MODEL, #parameters);)
    };
    let mut rows: Vec<TokenStream> = Vec::new();
    for s in stacks {
        rows.extend(s.inputs.iter().chain(&s.positions).map(row));
        let (layers, layer) = (&s.names.layers_field, &s.names.layer);
        for i in 0..s.stack.layers {
            let name = format!("{layers}.{i}");
            rows.push(quote!(#layer::summary_rows(&mut summary, #name);));
        }
        rows.extend(s.tail().map(row));
    }
    let kv_cache = stacks
        .iter()
        .any(|s| s.stack.lm_head != LmHead::None)
        .then(|| quote!(summary.kv_cache(Self::KV_BYTES_PER_TOKEN);));
    let flops = stacks.iter().map(|s| {
        let (layer, count) = (&s.names.layer, &s.names.count_const);
        quote!(Self::#count as u64 * #layer::flops(n))
    });
    let memory_note = if stacks.iter().any(|s| s.stack.cross()) {
        " Every input (source, target, memory) is taken to be `n` tokens long."
    } else {
        ""
    };
    let flops_doc = format!(
        " Floating-point operations of one forward pass over `n` tokens: a multiply-add counts 2, \
         matrix products only (norms, softmax and activations are not counted).{memory_note}"
    );
    quote! {
        /// One row per table, layer and sublayer with its output shape and learned numbers,
        /// and the totals: like torchinfo's summary. Printed by `Display`.
        #[must_use]
        pub fn summary() -> #rt::Summary {
            let mut summary = #rt::Summary::new(#title, Self::PARAMETERS);
            #(#rows)*
            #kv_cache
            summary
        }

        #[doc = #flops_doc]
        #[must_use]
        pub const fn flops(n: usize) -> u64 {
            #(#flops)+*
        }
    }
}

/// `impl Debug for TinyLm`, listing the dimensions from the consts.
fn debug(names: &Names) -> TokenStream {
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

//! Loading and saving weights in safetensors files, under the names of the checkpoints they
//! come from.
//!
//! ```text
//! self.layers[0].load(loader, "layers.0.");
//! self.attn.load_packed(loader, &::std::format!("{prefix}self_attn."));
//! ```
//! `weights: pytorch` uses `nn.TransformerEncoderLayer`'s names (`self_attn`, `linear1`,
//! `linear2`, `norm1`, `norm2`), `nn.TransformerDecoderLayer`'s (adds `multihead_attn`,
//! `norm3`) and `nn.Transformer`'s (`encoder.`/`decoder.` before `layers.{i}.` and `norm.`);
//! tables PyTorch's modules lack are `positions`, `token_embedding`, `token_type_embedding`
//! and `embedding_norm`. `weights: bert` uses Hugging Face `BertModel`'s names, optionally
//! under `bert.` (as `BertFor…` checkpoints store them).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::weights::{Sublayer, sublayers};
use super::{Names, Stack, rt, rt_link};
use crate::model::{Kind, Model, Positional, Weights};

/// How one weight field is stored.
enum Layout {
    /// A linear layer, norm or embedding: `load`/`save` at a prefix.
    Plain,
    /// `nn.MultiheadAttention`'s stacked `in_proj_weight`.
    PackedAttention,
    /// The `Option`al output projection of an attention.
    Optional,
}

/// One weight field, its layout and its name under the layer's prefix.
type Tensor = (TokenStream, Layout, String);

/// The `load`/`save` methods of layers and model, and the safetensors entry points.
pub fn load(model: &Model, names: &Names) -> TokenStream {
    let layers = names.stacks.iter().map(|stack| layer_io(model, stack));
    let model_io = model_io(model, names);
    quote! {
        #(#layers)*
        #model_io
    }
}

/// A layer's weight fields with their layout and checkpoint name, in `state_dict` order.
fn layer_tensors(model: &Model, stack: &Stack) -> Vec<Tensor> {
    match model.weights {
        Weights::Pytorch => pytorch_layer_tensors(model, stack),
        Weights::Bert => bert_layer_tensors(model, stack),
    }
}

fn pytorch_layer_tensors(model: &Model, stack: &Stack) -> Vec<Tensor> {
    let mut tensors = Vec::new();
    let mut norms = Vec::new();
    for (sublayer, norm) in sublayers(model, stack) {
        let field = sublayer.field();
        match sublayer {
            Sublayer::SelfAttention => {
                tensors.push((
                    quote!(self.#field),
                    Layout::PackedAttention,
                    "self_attn.".to_owned(),
                ));
            }
            Sublayer::CrossAttention => {
                tensors.push((
                    quote!(self.#field),
                    Layout::PackedAttention,
                    "multihead_attn.".to_owned(),
                ));
            }
            Sublayer::FeedForward => {
                tensors.push((
                    quote!(self.#field.w_up),
                    Layout::Plain,
                    "linear1.".to_owned(),
                ));
                tensors.push((
                    quote!(self.#field.w_down),
                    Layout::Plain,
                    "linear2.".to_owned(),
                ));
            }
        }
        if let Some(norm) = norm {
            norms.push((quote!(self.#norm), Layout::Plain, format!("{norm}.")));
        }
    }
    tensors.extend(norms);
    tensors
}

/// `BertLayer`: validation guarantees self-attention, output projection, feed-forward and
/// post-norms.
fn bert_layer_tensors(model: &Model, stack: &Stack) -> Vec<Tensor> {
    let mut tensors = Vec::new();
    for (sublayer, norm) in sublayers(model, stack) {
        let field = sublayer.field();
        let (parts, norm_name): (Vec<Tensor>, &str) = match sublayer {
            Sublayer::SelfAttention | Sublayer::CrossAttention => (
                vec![
                    (
                        quote!(self.#field.w_q),
                        Layout::Plain,
                        "attention.self.query.".to_owned(),
                    ),
                    (
                        quote!(self.#field.w_k),
                        Layout::Plain,
                        "attention.self.key.".to_owned(),
                    ),
                    (
                        quote!(self.#field.w_v),
                        Layout::Plain,
                        "attention.self.value.".to_owned(),
                    ),
                    (
                        quote!(self.#field.w_o),
                        Layout::Optional,
                        "attention.output.dense.".to_owned(),
                    ),
                ],
                "attention.output.LayerNorm.",
            ),
            Sublayer::FeedForward => (
                vec![
                    (
                        quote!(self.#field.w_up),
                        Layout::Plain,
                        "intermediate.dense.".to_owned(),
                    ),
                    (
                        quote!(self.#field.w_down),
                        Layout::Plain,
                        "output.dense.".to_owned(),
                    ),
                ],
                "output.LayerNorm.",
            ),
        };
        tensors.extend(parts);
        if let Some(norm) = norm {
            tensors.push((quote!(self.#norm), Layout::Plain, norm_name.to_owned()));
        }
    }
    tensors
}

/// `field.load(loader, name);` or `field.save(writer, name);` for one tensor.
fn io_call(field: &TokenStream, layout: &Layout, name: &TokenStream, save: bool) -> TokenStream {
    let (method, packed, target, option) = if save {
        (
            quote!(save),
            quote!(save_packed),
            quote!(writer),
            quote!(as_ref),
        )
    } else {
        (
            quote!(load),
            quote!(load_packed),
            quote!(loader),
            quote!(as_mut),
        )
    };
    match layout {
        Layout::Plain => quote!(#field.#method(#target, #name);),
        Layout::PackedAttention => quote!(#field.#packed(#target, #name);),
        Layout::Optional => quote! {
            if let ::core::option::Option::Some(projection) = #field.#option() {
                projection.#method(#target, #name);
            }
        },
    }
}

/// `impl TinyLmLayer { pub fn load(…); pub fn save(…); }`.
fn layer_io(model: &Model, stack: &Stack) -> TokenStream {
    let rt = rt(model);
    let layer = &stack.layer;
    let tensors = layer_tensors(model, stack);
    let calls = |save: bool| -> Vec<TokenStream> {
        tensors
            .iter()
            .map(|(field, layout, name)| {
                let name = format!("{{prefix}}{name}");
                io_call(field, layout, &quote!(&::std::format!(#name)), save)
            })
            .collect()
    };
    let (loads, saves) = (calls(false), calls(true));
    let source = match model.weights {
        Weights::Bert => "Hugging Face's `BertLayer`",
        Weights::Pytorch if stack.cross => "PyTorch's `nn.TransformerDecoderLayer`",
        Weights::Pytorch => "PyTorch's `nn.TransformerEncoderLayer`",
    };
    let example = match model.weights {
        Weights::Bert => "encoder.layer.0.",
        Weights::Pytorch => "layers.0.",
    };
    let load_doc = format!(
        " Reads this layer's tensors, named as {source} under `prefix` (such as `{example}`)."
    );
    quote! {
        impl #layer {
            #[doc = #load_doc]
            pub fn load(&mut self, loader: &mut #rt::load::Loader<'_>, prefix: &str) {
                #(#loads)*
            }

            /// Writes the tensors that [`Self::load`] reads.
            pub fn save(&self, writer: &mut #rt::load::Writer, prefix: &str) {
                #(#saves)*
            }
        }
    }
}

/// The model-level tensors (tables, layers, final norms) with their full names.
fn model_tensors(model: &Model, names: &Names) -> Vec<(TokenStream, Layout, String)> {
    let bert = model.weights == Weights::Bert;
    let mut tensors = Vec::new();
    let table = |field: &str, pytorch: &str, bert_name: &str| -> (TokenStream, Layout, String) {
        let field = quote::format_ident!("{field}");
        let name = if bert { bert_name } else { pytorch };
        (quote!(self.#field), Layout::Plain, name.to_owned())
    };
    if model.vocab.is_some() {
        tensors.push(table(
            "token_embedding",
            "token_embedding.",
            "embeddings.word_embeddings.",
        ));
    }
    if model.token_types.is_some() {
        tensors.push(table(
            "token_type_embedding",
            "token_type_embedding.",
            "embeddings.token_type_embeddings.",
        ));
    }
    if model.embed_norm {
        tensors.push(table(
            "embedding_norm",
            "embedding_norm.",
            "embeddings.LayerNorm.",
        ));
    }
    for stack in &names.stacks {
        let prefix = match model.kind {
            Kind::EncoderDecoder => format!("{}.", stack.role),
            Kind::Encoder | Kind::Decoder => String::new(),
        };
        let (layers, norm, positions) = (
            &stack.layers_field,
            &stack.norm_field,
            &stack.positions_field,
        );
        if model.positional == Positional::Learned {
            let name = if bert {
                "embeddings.position_embeddings.".to_owned()
            } else {
                format!("{prefix}positions.")
            };
            tensors.push((quote!(self.#positions), Layout::Plain, name));
        }
        for i in 0..stack.count {
            let index = Literal::usize_unsuffixed(i);
            let name = if bert {
                format!("encoder.layer.{i}.")
            } else {
                format!("{prefix}layers.{i}.")
            };
            tensors.push((quote!(self.#layers[#index]), Layout::Plain, name));
        }
        if model.final_norm {
            tensors.push((quote!(self.#norm), Layout::Plain, format!("{prefix}norm.")));
        }
    }
    tensors
}

/// The model's `load`/`save`, unrolled over layers, and the file and byte entry points.
fn model_io(model: &Model, names: &Names) -> TokenStream {
    let rt = rt(model);
    let m = &names.model;
    let bert = model.weights == Weights::Bert;
    let tensors = model_tensors(model, names);
    let load_error = rt_link(&rt, "load::LoadError");
    let load_error_doc = format!(" {load_error} naming every missing, mis-shaped or");
    let bytes_error_doc = format!(" {load_error} if serialisation fails.");
    let file_error_doc = format!(" {load_error} if the file cannot be written.");
    let name_expr = |name: &str, save: bool| -> TokenStream {
        if bert && !save {
            let name = format!("{{root}}{name}");
            quote!(&::std::format!(#name))
        } else {
            quote!(#name)
        }
    };
    let loads = tensors
        .iter()
        .map(|(field, layout, name)| io_call(field, layout, &name_expr(name, false), false));
    let saves = tensors
        .iter()
        .map(|(field, layout, name)| io_call(field, layout, &name_expr(name, true), true));
    // BERT checkpoints may nest the model under `bert.` and carry tensors no encoder uses.
    let root = bert.then(|| {
        quote! {
            let root = if loader.contains("bert.encoder.layer.0.attention.self.query.weight") { "bert." } else { "" };
            loader.ignore_prefix(&::std::format!("{root}pooler."));
            loader.ignore_prefix(&::std::format!("{root}embeddings.position_ids"));
        }
    });
    let module = match (model.weights, model.kind) {
        (Weights::Bert, _) => "Hugging Face `BertModel`",
        (Weights::Pytorch, Kind::Encoder) => "PyTorch `nn.TransformerEncoder`",
        (Weights::Pytorch, Kind::Decoder) if model.cross_attention => {
            "PyTorch `nn.TransformerDecoder`"
        }
        (Weights::Pytorch, Kind::Decoder) => "PyTorch `nn.TransformerEncoder`",
        (Weights::Pytorch, Kind::EncoderDecoder) => "PyTorch `nn.Transformer`",
    };
    let file_doc = format!(
        " Loads a safetensors file holding the `state_dict` of a {module} of this shape \
         (`safetensors.torch.save_file(module.state_dict(), path)`). f32, f16 and bf16 tensors load."
    );
    let load_doc = if bert {
        " Reads every tensor of the model from `loader`, under `bert.` if the file nests them there; `pooler.*` and `embeddings.position_ids` are allowed and skipped. Faults are collected in `loader`."
    } else {
        " Reads every tensor of the model from `loader`; faults are collected there."
    };
    quote! {
        impl #m {
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
                #root
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
}

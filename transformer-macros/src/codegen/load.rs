//! Loading and saving weights in safetensors files, under PyTorch's `state_dict` names.
//!
//! ```text
//! self.layers[0].load(loader, "layers.0.");
//! self.attn.load_packed(loader, &::std::format!("{prefix}self_attn."));
//! ```
//! Names are those of `nn.TransformerEncoderLayer` (`self_attn`, `linear1`, `linear2`,
//! `norm1`, `norm2`), `nn.TransformerDecoderLayer` (adds `multihead_attn`, `norm3`) and
//! `nn.Transformer` (`encoder.`/`decoder.` before `layers.{i}.` and `norm.`). Learned
//! positions, which PyTorch's modules lack, are `positions.weight`.

use proc_macro2::TokenStream;
use quote::quote;

use super::weights::{Sublayer, sublayers};
use super::{Names, Stack, rt};
use crate::validate::{Kind, Model, Positional};

/// How one weight field is stored.
enum Layout {
    /// A linear layer, norm or embedding: `load`/`save` at a prefix.
    Plain,
    /// `nn.MultiheadAttention`'s stacked `in_proj_weight`.
    PackedAttention,
}

/// The `load`/`save` methods of layers and model, and the safetensors entry points.
pub fn load(model: &Model, names: &Names) -> TokenStream {
    let layers = names.stacks.iter().map(|stack| layer_io(model, stack));
    let model_io = model_io(model, names);
    quote! {
        #(#layers)*
        #model_io
    }
}

/// The prefix of a stack's tensors: empty for a single stack, `encoder.`/`decoder.` for
/// `nn.Transformer`.
fn stack_prefix(model: &Model, stack: &Stack) -> String {
    match model.kind {
        Kind::EncoderDecoder => format!("{}.", stack.role),
        Kind::Encoder | Kind::Decoder => String::new(),
    }
}

/// A layer's weight fields with their layout and PyTorch name, in `state_dict` order.
fn layer_tensors(model: &Model, stack: &Stack) -> Vec<(TokenStream, Layout, String)> {
    let mut tensors = Vec::new();
    let mut norms = Vec::new();
    for (sublayer, norm) in sublayers(model, stack) {
        let field = sublayer.field();
        match sublayer {
            Sublayer::SelfAttention => tensors.push((
                quote!(self.#field),
                Layout::PackedAttention,
                "self_attn.".to_owned(),
            )),
            Sublayer::CrossAttention => tensors.push((
                quote!(self.#field),
                Layout::PackedAttention,
                "multihead_attn.".to_owned(),
            )),
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

/// `impl TinyLmLayer { pub fn load(…); pub fn save(…); }`.
fn layer_io(model: &Model, stack: &Stack) -> TokenStream {
    let rt = rt();
    let layer = &stack.layer;
    let tensors = layer_tensors(model, stack);
    let loads = tensors.iter().map(|(field, layout, name)| {
        let name = format!("{{prefix}}{name}");
        match layout {
            Layout::Plain => quote!(#field.load(loader, &::std::format!(#name));),
            Layout::PackedAttention => quote!(#field.load_packed(loader, &::std::format!(#name));),
        }
    });
    let saves = tensors.iter().map(|(field, layout, name)| {
        let name = format!("{{prefix}}{name}");
        match layout {
            Layout::Plain => quote!(#field.save(writer, &::std::format!(#name));),
            Layout::PackedAttention => quote!(#field.save_packed(writer, &::std::format!(#name));),
        }
    });
    let pytorch = if stack.cross {
        "nn.TransformerDecoderLayer"
    } else {
        "nn.TransformerEncoderLayer"
    };
    let load_doc = format!(
        " Reads this layer's tensors, named as PyTorch's `{pytorch}` under `prefix` (such as `layers.0.`)."
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

/// The model's `load`/`save`, unrolled over layers, and the file and byte entry points.
fn model_io(model: &Model, names: &Names) -> TokenStream {
    let rt = rt();
    let m = &names.model;
    let mut loads = Vec::new();
    let mut saves = Vec::new();
    for stack in &names.stacks {
        let prefix = stack_prefix(model, stack);
        let (layers, norm, positions) = (
            &stack.layers_field,
            &stack.norm_field,
            &stack.positions_field,
        );
        if model.positional == Positional::Learned {
            let name = format!("{prefix}positions.");
            loads.push(quote!(self.#positions.load(loader, #name);));
            saves.push(quote!(self.#positions.save(writer, #name);));
        }
        for i in 0..stack.count {
            let index = proc_macro2::Literal::usize_unsuffixed(i);
            let name = format!("{prefix}layers.{i}.");
            loads.push(quote!(self.#layers[#index].load(loader, #name);));
            saves.push(quote!(self.#layers[#index].save(writer, #name);));
        }
        if model.final_norm {
            let name = format!("{prefix}norm.");
            loads.push(quote!(self.#norm.load(loader, #name);));
            saves.push(quote!(self.#norm.save(writer, #name);));
        }
    }
    let module = match model.kind {
        Kind::Encoder => "nn.TransformerEncoder",
        Kind::Decoder if model.cross_attention => "nn.TransformerDecoder",
        Kind::Decoder => "nn.TransformerEncoder",
        Kind::EncoderDecoder => "nn.Transformer",
    };
    let file_doc = format!(
        " Loads a safetensors file holding the `state_dict` of a PyTorch `{module}` of this shape \
         (`safetensors.torch.save_file(module.state_dict(), path)`). f32, f16 and bf16 tensors load."
    );
    quote! {
        impl #m {
            #[doc = #file_doc]
            ///
            /// # Errors
            ///
            /// [`::transformer::runtime::load::LoadError`] naming every missing, mis-shaped or
            /// unexpected tensor, or why the file could not be read.
            pub fn from_safetensors(
                path: impl ::core::convert::AsRef<::std::path::Path>,
            ) -> ::core::result::Result<Self, #rt::load::LoadError> {
                let bytes = #rt::load::read_file(path.as_ref())?;
                Self::from_safetensors_bytes(&bytes)
            }

            /// [`Self::from_safetensors`] on the bytes of a file; strict: a tensor the model
            /// does not use is an error.
            ///
            /// # Errors
            ///
            /// As [`Self::from_safetensors`].
            pub fn from_safetensors_bytes(bytes: &[u8]) -> ::core::result::Result<Self, #rt::load::LoadError> {
                Self::from_safetensors_bytes_with(bytes, #rt::load::Strictness::Strict)
            }

            /// [`Self::from_safetensors_bytes`], choosing what happens to tensors the model
            /// does not use: an error (`Strict`) or nothing (`Lenient`).
            ///
            /// # Errors
            ///
            /// As [`Self::from_safetensors`].
            pub fn from_safetensors_bytes_with(
                bytes: &[u8],
                strictness: #rt::load::Strictness,
            ) -> ::core::result::Result<Self, #rt::load::LoadError> {
                let mut loader = #rt::load::Loader::new(bytes)?;
                let mut model = Self::zeroed();
                model.load(&mut loader);
                loader.finish(strictness)?;
                ::core::result::Result::Ok(model)
            }

            /// Reads every tensor of the model from `loader`; faults are collected there.
            pub fn load(&mut self, loader: &mut #rt::load::Loader<'_>) {
                #(#loads)*
            }

            /// Writes every tensor under the names [`Self::load`] reads.
            pub fn save(&self, writer: &mut #rt::load::Writer) {
                #(#saves)*
            }

            /// The model as safetensors bytes, under PyTorch's names.
            ///
            /// # Errors
            ///
            /// [`::transformer::runtime::load::LoadError`] if serialisation fails.
            pub fn to_safetensors_bytes(&self) -> ::core::result::Result<::std::vec::Vec<u8>, #rt::load::LoadError> {
                let mut writer = #rt::load::Writer::new();
                self.save(&mut writer);
                writer.to_bytes()
            }

            /// Writes the model to a safetensors file at `path`, under PyTorch's names.
            ///
            /// # Errors
            ///
            /// [`::transformer::runtime::load::LoadError`] if the file cannot be written.
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

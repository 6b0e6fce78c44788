//! [`Model`]: a model spec after validation, every value present, in range and consistent.
//! `validate` builds it, `count` sizes it and `codegen` writes it out.

use syn::{Attribute, Ident, Path, Visibility};

/// Where each layer normalises: PyTorch's `norm_first` (`pre`) or not (`post`), or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormPlacement {
    Post,
    Pre,
    None,
}

/// The feed-forward non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Gelu,
    GeluTanh,
}

/// How token order enters the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positional {
    None,
    Sinusoidal,
    Learned,
}

/// Whose tensor names `from_safetensors` reads and `to_safetensors` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// PyTorch's `nn.TransformerEncoder`/`nn.TransformerDecoder`/`nn.Transformer` names.
    Pytorch,
    /// Hugging Face `BertModel` names.
    Bert,
}

/// What the model is: one stack that attends to itself, or PyTorch's `nn.Transformer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bidirectional self-attention (unless `causal`): `nn.TransformerEncoder`.
    Encoder,
    /// Causal self-attention; with cross-attention, `nn.TransformerDecoder`.
    Decoder,
    /// An encoder stack and a decoder stack: `nn.Transformer`.
    EncoderDecoder,
}

/// A checked model spec: every value present, in range and consistent with the others.
pub struct Model {
    pub attrs: Vec<Attribute>,
    /// The `transformer` facade as the user's crate names it: `::transformer` by default.
    pub krate: Path,
    pub vis: Visibility,
    pub name: Ident,
    /// Declared without a name, so named `Transformer`.
    pub unnamed: bool,
    pub kind: Kind,
    pub d_model: usize,
    pub heads: usize,
    /// Layers of the encoder stack (the only stack, for `encoder`); 0 for a `decoder`.
    pub encoder_layers: usize,
    /// Layers of the decoder stack; 0 for an `encoder`.
    pub decoder_layers: usize,
    /// The feed-forward width; 0 when `ffn: false`.
    pub d_ff: usize,
    pub max_len: usize,
    pub norm: NormPlacement,
    pub final_norm: bool,
    pub eps: f32,
    pub activation: Activation,
    pub positional: Positional,
    pub bias: bool,
    pub ffn: bool,
    pub out_proj: bool,
    /// Self-attention hides later positions (always for a decoder stack).
    pub causal: bool,
    /// Decoder layers also attend to an encoder memory.
    pub cross_attention: bool,
    /// Token-embedding rows: the model takes token ids.
    pub vocab: Option<usize>,
    /// Token-type (segment) embedding rows, BERT style.
    pub token_types: Option<usize>,
    /// A layer norm on the summed embeddings, BERT style.
    pub embed_norm: bool,
    pub weights: Weights,
}

impl Model {
    pub fn d_head(&self) -> usize {
        self.d_model / self.heads
    }

    /// Some layer norm exists (in the layers, after a stack, or on the embeddings), so `eps`
    /// is used.
    pub fn has_layer_norm(&self) -> bool {
        self.norm != NormPlacement::None || self.final_norm || self.embed_norm
    }
}

//! Tensor-name schemes, one table per checkpoint dialect (the `weights` setting): the names
//! `load` reads and `save` writes. A new dialect (`llama`, `gpt2`, GGUF's `blk.{i}.attn_q`) is
//! a new table, not new code.
//!
//! `pytorch` is PyTorch's own `state_dict`: `nn.TransformerEncoderLayer` (`self_attn`,
//! `linear1`, `linear2`, `norm1`, `norm2`), `nn.TransformerDecoderLayer` (adds
//! `multihead_attn`, `norm3`) and `nn.Transformer` (`encoder.`/`decoder.` before `layers.{i}.`
//! and `norm.`); tables PyTorch's modules lack are named after their fields, and a gated
//! feed-forward's gate, which PyTorch's layers lack too, `linear_gate`. `bert` is
//! Hugging Face `BertModel`'s, optionally under `bert.` (as `BertFor…` checkpoints store them).
//! `llama` is Hugging Face `LlamaForCausalLM`'s (`model.layers.{i}.self_attn.q_proj`, …,
//! `lm_head`); `gpt2` is `GPT2LMHeadModel`'s (`transformer.h.{i}.attn.c_attn`, …), whose
//! linear layers are `Conv1D`s, stored transposed.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Kind, Model, Stack, Weights};

/// One dialect's names.
pub struct Dialect {
    /// A layer's prefix, `{i}` its index: `layers.{i}.`.
    pub layer: &'static str,
    /// With two stacks, each stack's names start `encoder.`/`decoder.`.
    pub stack_prefixes: bool,
    pub self_attention: AttentionNames,
    pub cross_attention: AttentionNames,
    pub ffn_up: &'static str,
    /// A gated feed-forward's gate.
    pub ffn_gate: &'static str,
    pub ffn_down: &'static str,
    /// The feed-forward's linear layers are GPT-2 `Conv1D`s, stored transposed.
    pub ffn_conv1d: bool,
    /// Tensors a checkpoint may keep in each layer that are not weights (GPT-2's causal-mask
    /// buffers), skipped, after the layer's prefix.
    pub layer_buffers: &'static [&'static str],
    pub norms: NormNames,
    pub final_norm: &'static str,
    /// A separate language-model head.
    pub lm_head: &'static str,
    /// Learned positions (after the stack prefix).
    pub positions: &'static str,
    pub token_embedding: &'static str,
    pub token_type_embedding: &'static str,
    pub embedding_norm: &'static str,
    /// The root a checkpoint may nest every name under, found by probing for one tensor.
    pub root: Option<Root>,
    /// What the layer's names follow, for docs: `nn.TransformerEncoderLayer` and the like.
    pub layer_source: fn(cross: bool) -> &'static str,
    /// What the model's names follow, for docs.
    pub model_source: fn(kind: Kind, cross: bool) -> &'static str,
}

/// An attention's names: PyTorch's one packed `in_proj`, or separate projections.
pub enum AttentionNames {
    /// `{prefix}in_proj_weight` `[3d, d]` and `{prefix}out_proj.*`.
    Packed(&'static str),
    /// GPT-2's `{prefix}c_attn.*` (`Conv1D`, `[d, 3d]`) and `{prefix}c_proj.*`.
    Conv1d(&'static str),
    /// One linear layer each, the output projection optional.
    Split {
        q: &'static str,
        k: &'static str,
        v: &'static str,
        o: &'static str,
    },
}

/// The names of the norms of a layer's sublayers.
pub enum NormNames {
    /// `norm1.`, `norm2.`, … by sublayer, after every sublayer's own tensors.
    Numbered,
    /// Named after the sublayer they follow, right after its tensors.
    AfterSublayer {
        attention: &'static str,
        cross_attention: &'static str,
        feed_forward: &'static str,
    },
}

/// A prefix a checkpoint may put before every name, and what it may carry that no model uses.
pub struct Root {
    /// Present when the checkpoint uses the root.
    pub probe: &'static str,
    pub prefix: &'static str,
    /// Prefixes (after the root) of tensors to skip.
    pub ignore: &'static [&'static str],
}

const PYTORCH: Dialect = Dialect {
    layer: "layers.{i}.",
    stack_prefixes: true,
    self_attention: AttentionNames::Packed("self_attn."),
    cross_attention: AttentionNames::Packed("multihead_attn."),
    ffn_up: "linear1.",
    ffn_gate: "linear_gate.",
    ffn_down: "linear2.",
    ffn_conv1d: false,
    layer_buffers: &[],
    norms: NormNames::Numbered,
    final_norm: "norm.",
    lm_head: "lm_head.",
    positions: "positions.",
    token_embedding: "token_embedding.",
    token_type_embedding: "token_type_embedding.",
    embedding_norm: "embedding_norm.",
    root: None,
    layer_source: |cross| {
        if cross {
            "PyTorch's `nn.TransformerDecoderLayer`"
        } else {
            "PyTorch's `nn.TransformerEncoderLayer`"
        }
    },
    model_source: |kind, cross| match kind {
        Kind::EncoderDecoder => "PyTorch `nn.Transformer`",
        Kind::Decoder if cross => "PyTorch `nn.TransformerDecoder`",
        // A decoder without cross-attention is a causal `nn.TransformerEncoder`.
        Kind::Encoder | Kind::Decoder => "PyTorch `nn.TransformerEncoder`",
    },
};

const BERT: Dialect = Dialect {
    layer: "encoder.layer.{i}.",
    stack_prefixes: false,
    self_attention: AttentionNames::Split {
        q: "attention.self.query.",
        k: "attention.self.key.",
        v: "attention.self.value.",
        o: "attention.output.dense.",
    },
    // `BertLayer` with `add_cross_attention` (validation allows `weights: bert` only on a
    // BERT-shaped encoder today).
    cross_attention: AttentionNames::Split {
        q: "crossattention.self.query.",
        k: "crossattention.self.key.",
        v: "crossattention.self.value.",
        o: "crossattention.output.dense.",
    },
    ffn_up: "intermediate.dense.",
    // BERT has no gated feed-forward (validation allows `weights: bert` on ungated ones only).
    ffn_gate: "intermediate.gate.",
    ffn_down: "output.dense.",
    ffn_conv1d: false,
    layer_buffers: &[],
    norms: NormNames::AfterSublayer {
        attention: "attention.output.LayerNorm.",
        cross_attention: "crossattention.output.LayerNorm.",
        feed_forward: "output.LayerNorm.",
    },
    final_norm: "norm.",
    // BERT has no language-model head here (validation allows `lm_head` on decoders only).
    lm_head: "lm_head.",
    positions: "embeddings.position_embeddings.",
    token_embedding: "embeddings.word_embeddings.",
    token_type_embedding: "embeddings.token_type_embeddings.",
    embedding_norm: "embeddings.LayerNorm.",
    root: Some(Root {
        probe: "bert.encoder.layer.0.attention.self.query.weight",
        prefix: "bert.",
        ignore: &["pooler.", "embeddings.position_ids"],
    }),
    layer_source: |_| "Hugging Face's `BertLayer`",
    model_source: |_, _| "Hugging Face `BertModel`",
};

const LLAMA: Dialect = Dialect {
    layer: "model.layers.{i}.",
    stack_prefixes: false,
    self_attention: AttentionNames::Split {
        q: "self_attn.q_proj.",
        k: "self_attn.k_proj.",
        v: "self_attn.v_proj.",
        o: "self_attn.o_proj.",
    },
    // Llama has no cross-attention (validation allows `weights: llama` on decoders without
    // it only).
    cross_attention: AttentionNames::Split {
        q: "cross_attn.q_proj.",
        k: "cross_attn.k_proj.",
        v: "cross_attn.v_proj.",
        o: "cross_attn.o_proj.",
    },
    ffn_up: "mlp.up_proj.",
    ffn_gate: "mlp.gate_proj.",
    ffn_down: "mlp.down_proj.",
    ffn_conv1d: false,
    layer_buffers: &[],
    // Pre-norm: each norm comes before the sublayer it is named after.
    norms: NormNames::AfterSublayer {
        attention: "input_layernorm.",
        cross_attention: "cross_attention_layernorm.",
        feed_forward: "post_attention_layernorm.",
    },
    final_norm: "model.norm.",
    lm_head: "lm_head.",
    positions: "model.embed_positions.",
    token_embedding: "model.embed_tokens.",
    token_type_embedding: "model.embed_token_types.",
    embedding_norm: "model.embed_norm.",
    root: None,
    layer_source: |_| "Hugging Face's `LlamaDecoderLayer`",
    model_source: |_, _| "Hugging Face `LlamaForCausalLM`",
};

const GPT2: Dialect = Dialect {
    layer: "transformer.h.{i}.",
    stack_prefixes: false,
    self_attention: AttentionNames::Conv1d("attn."),
    // GPT-2's cross-attention is not supported (validation allows `weights: gpt2` on
    // decoders without it only).
    cross_attention: AttentionNames::Conv1d("crossattention."),
    ffn_up: "mlp.c_fc.",
    // GPT-2 has no gated feed-forward (validation allows ungated ones only).
    ffn_gate: "mlp.c_gate.",
    ffn_down: "mlp.c_proj.",
    ffn_conv1d: true,
    layer_buffers: &["attn.bias", "attn.masked_bias"],
    // Pre-norm: each norm comes before the sublayer it is named after.
    norms: NormNames::AfterSublayer {
        attention: "ln_1.",
        cross_attention: "ln_cross_attn.",
        feed_forward: "ln_2.",
    },
    final_norm: "transformer.ln_f.",
    lm_head: "lm_head.",
    positions: "transformer.wpe.",
    token_embedding: "transformer.wte.",
    token_type_embedding: "transformer.wtte.",
    embedding_norm: "transformer.ln_embed.",
    root: None,
    layer_source: |_| "Hugging Face's `GPT2Block`",
    model_source: |_, _| "Hugging Face `GPT2LMHeadModel`",
};

/// llama.cpp's GGUF names (its `llama` architecture), which `from_gguf` reads whatever the
/// model's `weights`.
pub const GGUF: Dialect = Dialect {
    layer: "blk.{i}.",
    stack_prefixes: false,
    self_attention: AttentionNames::Split {
        q: "attn_q.",
        k: "attn_k.",
        v: "attn_v.",
        o: "attn_output.",
    },
    // GGUF's `llama` has no cross-attention (only a Llama-shaped model reads GGUF).
    cross_attention: AttentionNames::Split {
        q: "cross_attn_q.",
        k: "cross_attn_k.",
        v: "cross_attn_v.",
        o: "cross_attn_output.",
    },
    ffn_up: "ffn_up.",
    ffn_gate: "ffn_gate.",
    ffn_down: "ffn_down.",
    ffn_conv1d: false,
    layer_buffers: &[],
    norms: NormNames::AfterSublayer {
        attention: "attn_norm.",
        cross_attention: "cross_attn_norm.",
        feed_forward: "ffn_norm.",
    },
    final_norm: "output_norm.",
    lm_head: "output.",
    positions: "position_embd.",
    token_embedding: "token_embd.",
    token_type_embedding: "token_types.",
    embedding_norm: "token_embd_norm.",
    root: None,
    layer_source: |_| "llama.cpp's GGUF `blk.{i}.*`",
    model_source: |_, _| "GGUF file of llama.cpp's `llama` architecture",
};

impl Dialect {
    /// The model's dialect.
    pub fn of(model: &Model) -> &'static Dialect {
        match model.weights {
            Weights::Pytorch => &PYTORCH,
            Weights::Bert => &BERT,
            Weights::Llama => &LLAMA,
            Weights::Gpt2 => &GPT2,
        }
    }

    /// `encoder.`/`decoder.` before a stack's names, or nothing.
    pub fn stack_prefix(&self, model: &Model, stack: &Stack) -> String {
        if self.stack_prefixes && model.kind == Kind::EncoderDecoder {
            format!("{}.", stack.role.word())
        } else {
            String::new()
        }
    }

    /// Layer `i`'s prefix.
    pub fn layer(&self, i: usize) -> String {
        self.layer.replace("{i}", &i.to_string())
    }
}

/// The checkpoint dialect as the runtime's `Hyperparameters` name it.
pub fn hyperparameter(rt: &TokenStream, weights: Weights) -> TokenStream {
    let variant = match weights {
        Weights::Pytorch => quote!(Pytorch),
        Weights::Bert => quote!(Bert),
        Weights::Llama => quote!(Llama),
        Weights::Gpt2 => quote!(Gpt2),
    };
    quote!(#rt::model::Weights::#variant)
}

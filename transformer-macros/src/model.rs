//! [`Model`]: a model spec after validation, as a tree. `validate` builds it, `count` sizes
//! it and `codegen` writes each of its nodes out.
//!
//! ```text
//! Model                      name, width, heads, max_len, eps, biases, checkpoint dialect
//! └─ Stack (1 or 2)          encoder or decoder: layer count, input, positions, norms
//!    ├─ Input                features, or token ids with their tables
//!    └─ block: [Sublayer]    one layer, in forward order
//!       ├─ Attention         to itself (causal or not, rotary positions or not) or to a
//!       │                    memory; key/value heads; output projection
//!       └─ FeedForward       hidden width, activation, gated or not
//! ```

use syn::{Attribute, Ident, Path, Visibility};

/// Where each layer normalises: PyTorch's `norm_first` (`pre`) or not (`post`), or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormPlacement {
    Post,
    Pre,
    None,
}

/// What each norm computes: PyTorch's `nn.LayerNorm` (centred, scaled, shifted) or
/// `nn.RMSNorm` (scaled by the root mean square only, as Llama's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    Layer,
    Rms,
}

/// The feed-forward non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Gelu,
    GeluTanh,
    Silu,
}

/// How token order enters a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positional {
    None,
    Sinusoidal,
    Learned,
    /// Rotary: applied inside self-attention, to queries and keys, not added to the input.
    Rope,
}

impl Positional {
    /// Learned numbers of a stack's positions, `d` wide for up to `max_len` tokens: a table
    /// if they are learned, none otherwise; `None` if the count overflows.
    pub fn parameters(self, max_len: u64, d: u64) -> Option<u64> {
        match self {
            Self::Learned => max_len.checked_mul(d),
            Self::None | Self::Sinusoidal | Self::Rope => Some(0),
        }
    }
}

/// Which lanes of a head rotate together under RoPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopePairs {
    /// `i` with `i + d_head/2` (Hugging Face's `rotate_half`).
    Half,
    /// `2i` with `2i + 1` (GPT-J, llama.cpp).
    Adjacent,
}

/// The rotary position embedding of a self-attention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    pub theta: f32,
    pub pairs: RopePairs,
}

/// Whose tensor names `from_safetensors` reads and `to_safetensors` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// PyTorch's `nn.TransformerEncoder`/`nn.TransformerDecoder`/`nn.Transformer` names.
    Pytorch,
    /// Hugging Face `BertModel` names.
    Bert,
    /// Hugging Face `LlamaForCausalLM` names.
    Llama,
    /// Hugging Face `GPT2LMHeadModel` names, its linear layers stored as `Conv1D`.
    Gpt2,
}

/// The language-model head of a decoder that reads token ids: logits over its vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmHead {
    None,
    /// The token-embedding matrix, shared.
    Tied,
    /// A `[vocab][d_model]` matrix of its own.
    Separate,
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
    pub vis: Visibility,
    pub name: Ident,
    /// Declared without a name, so named `Transformer`.
    pub unnamed: bool,
    /// The `transformer` facade as the user's crate names it: `::transformer` by default.
    pub krate: Path,
    pub kind: Kind,
    pub d_model: usize,
    pub heads: usize,
    /// Key/value heads of every attention: `heads`, or fewer shared in groups.
    pub kv_heads: usize,
    pub max_len: usize,
    pub eps: f32,
    /// Biases in every linear layer and layer norm.
    pub bias: bool,
    pub weights: Weights,
    /// The stacks in forward order: the encoder first.
    pub stacks: Vec<Stack>,
}

/// One stack of identical layers.
pub struct Stack {
    pub role: Role,
    pub layers: usize,
    pub input: Input,
    pub positions: Positional,
    /// A layer norm on the input rows once embedded and positioned (BERT's embedding norm).
    pub input_norm: bool,
    /// One layer's sublayers in forward order, each with a residual connection.
    pub block: Vec<Sublayer>,
    pub norm: NormPlacement,
    /// The kind of every norm of the stack.
    pub norm_kind: NormKind,
    /// A layer norm after the last layer.
    pub final_norm: bool,
    /// Logits after the final norm (a `kind: decoder` reading token ids only).
    pub lm_head: LmHead,
}

/// Which stack of the model a stack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Encoder,
    Decoder,
}

impl Role {
    /// "encoder", "decoder": for names and docs.
    pub fn word(self) -> &'static str {
        match self {
            Role::Encoder => "encoder",
            Role::Decoder => "decoder",
        }
    }
}

/// What a stack reads.
pub enum Input {
    /// Rows of `d_model` numbers.
    Features,
    /// Token ids, looked up in embedding tables.
    Tokens(TokenTables),
}

/// The embedding tables of a stack that reads token ids, BERT style.
pub struct TokenTables {
    pub vocab: usize,
    /// Rows of a token-type (segment) table, if any.
    pub token_types: Option<usize>,
}

/// One residual sublayer of a layer.
pub enum Sublayer {
    Attention(Attention),
    FeedForward(FeedForward),
}

/// Multi-head attention of `Model::heads` heads over `Model::d_model`.
pub struct Attention {
    /// Attends to an encoder memory (cross-attention) rather than to its own tokens.
    pub memory: bool,
    /// Hides later positions (self-attention only).
    pub causal: bool,
    /// An output projection after the heads.
    pub out_proj: bool,
    /// Rotates queries and keys by their positions (self-attention of a `positional: rope`
    /// stack).
    pub rope: Option<Rope>,
}

/// The position-wise feed-forward network.
pub struct FeedForward {
    pub d_ff: usize,
    pub activation: Activation,
    /// `down(act(gate(x)) ⊙ up(x))` rather than `down(act(up(x)))`.
    pub gated: bool,
}

impl Model {
    pub fn d_head(&self) -> usize {
        self.d_model / self.heads
    }

    /// A decoder shaped as llama.cpp's `llama` architecture, whose GGUF files it can read:
    /// one pre-norm RMS stack reading token ids, rotary self-attention with an output
    /// projection, a gated feed-forward, a final norm, no biases.
    pub fn llama_shaped(&self) -> bool {
        let [stack] = &self.stacks[..] else {
            return false;
        };
        let layers = match &stack.block[..] {
            [Sublayer::Attention(attention), Sublayer::FeedForward(ffn)] => {
                attention.rope.is_some() && attention.out_proj && !attention.memory && ffn.gated
            }
            _ => false,
        };
        layers
            && stack.role == Role::Decoder
            && stack
                .tokens()
                .is_some_and(|tables| tables.token_types.is_none())
            && !stack.input_norm
            && stack.norm == NormPlacement::Pre
            && stack.norm_kind == NormKind::Rms
            && stack.final_norm
            && !self.bias
    }

    /// Some feed-forward sublayer is gated.
    pub fn gated(&self) -> bool {
        self.stacks
            .iter()
            .flat_map(|stack| &stack.block)
            .any(|sublayer| matches!(sublayer, Sublayer::FeedForward(ffn) if ffn.gated))
    }

    /// Some layer norm exists (in the layers, after a stack, or on the embeddings), so `eps`
    /// is used.
    pub fn has_layer_norm(&self) -> bool {
        self.stacks
            .iter()
            .any(|stack| stack.norm != NormPlacement::None || stack.final_norm || stack.input_norm)
    }

    /// The feed-forward width shared by every stack: 0 without feed-forward sublayers.
    pub fn d_ff(&self) -> usize {
        self.stacks
            .iter()
            .flat_map(|stack| &stack.block)
            .find_map(|sublayer| match sublayer {
                Sublayer::FeedForward(ffn) => Some(ffn.d_ff),
                Sublayer::Attention(_) => None,
            })
            .unwrap_or(0)
    }

    /// The token tables of a single-stack model that reads token ids.
    pub fn tokens(&self) -> Option<&TokenTables> {
        match &self.stacks[..] {
            [stack] => stack.tokens(),
            _ => None,
        }
    }
}

impl Stack {
    /// Its token tables, if it reads token ids.
    pub fn tokens(&self) -> Option<&TokenTables> {
        match &self.input {
            Input::Tokens(tables) => Some(tables),
            Input::Features => None,
        }
    }

    /// Some layer attends to an encoder memory.
    pub fn cross(&self) -> bool {
        self.block
            .iter()
            .any(|sublayer| matches!(sublayer, Sublayer::Attention(a) if a.memory))
    }

    /// Its self-attention hides later positions.
    pub fn causal(&self) -> bool {
        self.block
            .iter()
            .any(|sublayer| matches!(sublayer, Sublayer::Attention(a) if a.causal))
    }

    /// It has a feed-forward sublayer.
    pub fn ffn(&self) -> bool {
        self.block
            .iter()
            .any(|sublayer| matches!(sublayer, Sublayer::FeedForward(_)))
    }
}

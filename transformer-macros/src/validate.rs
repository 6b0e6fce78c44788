//! [`Specs`] → [`Model`]s: every semantic check, with every error of a build reported at once.
//!
//! Reading a setting checks its own value (kind, range); `check_*` functions then check how
//! settings relate. Each rule is one function, and a rule whose inputs were already
//! rejected stays quiet, so one mistake gives one error.

pub(crate) mod keys;
mod settings;

use std::collections::HashMap;

use proc_macro2::Span;
use syn::{Attribute, Ident, Visibility};

use crate::spec::{Spec, Specs};
use settings::{Got, Settings};

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
}

/// Checks every item, then that no two items share a name.
pub fn validate(specs: &Specs) -> syn::Result<Vec<Model>> {
    let mut errors = Vec::new();
    let models: Vec<Model> = specs
        .items
        .iter()
        .filter_map(|spec| validate_item(spec, &mut errors))
        .collect();
    check_unique_names(&models, &mut errors);
    match errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        Some(all) => Err(all),
        None => Ok(models),
    }
}

/// One item: read every setting, then check the rules between them.
fn validate_item(spec: &Spec, errors: &mut Vec<syn::Error>) -> Option<Model> {
    let anchor = spec.name.as_ref().map_or(spec.open, Ident::span);
    let errors_before = errors.len();
    let s = Settings::read(&spec.settings, errors);
    let kind = s.word("kind", KINDS, errors);
    let d_model = s.dim("d_model", errors);
    let heads = s.dim("heads", errors);
    let layers = s.dim("layers", errors);
    let encoder_layers = s.dim("encoder_layers", errors);
    let decoder_layers = s.dim("decoder_layers", errors);
    let d_ff = s.dim("d_ff", errors);
    let max_len = s.dim("max_len", errors);
    let norm = s.word("norm", NORMS, errors);
    let final_norm = s.flag("final_norm", errors);
    let eps = s.positive_float("eps", errors);
    let activation = s.word("activation", ACTIVATIONS, errors);
    let positional = s.word("positional", POSITIONALS, errors);
    let bias = s.flag("bias", errors);
    let ffn = s.flag("ffn", errors);
    let out_proj = s.flag("out_proj", errors);
    let causal = s.flag("causal", errors);
    let cross_attention = s.flag("cross_attention", errors);
    let vocab = s.dim("vocab", errors);
    let token_types = s.dim("token_types", errors);
    let embed_norm = s.flag("embed_norm", errors);
    let weights = s.word("weights", WEIGHTS, errors);

    // Rules between settings read a rejected value as its default; its error is already out.
    let kind_value = kind.or(Kind::Encoder).unwrap_or(Kind::Encoder);
    let norm_value = norm.or(NormPlacement::Post).unwrap_or(NormPlacement::Post);
    let ffn_value = ffn.or(true).unwrap_or(true);
    // `nn.Transformer` puts a final norm on both stacks; elsewhere it is opt-in.
    let final_norm_default =
        kind_value == Kind::EncoderDecoder && norm_value != NormPlacement::None;
    let final_norm_value = final_norm.or(final_norm_default).unwrap_or(false);
    let embed_norm_value = embed_norm.or(false).unwrap_or(false);

    check_required(&s, kind_value, anchor, errors);
    check_layer_keys(
        kind_value,
        &layers,
        &encoder_layers,
        &decoder_layers,
        errors,
    );
    check_heads_divide_d_model(&heads, &d_model, errors);
    check_final_norm_has_norms(norm_value, &final_norm, errors);
    check_eps_has_a_norm(
        norm_value,
        final_norm_value || embed_norm_value,
        &eps,
        errors,
    );
    check_ffn_settings_need_ffn(ffn_value, &d_ff, &activation, errors);
    check_causal_is_for_encoders(kind_value, &causal, errors);
    check_cross_attention_is_for_decoders(kind_value, &cross_attention, errors);
    let single_stack =
        kind_value != Kind::EncoderDecoder && !cross_attention.or(false).unwrap_or(false);
    check_token_tables_need_a_single_stack(single_stack, &vocab, &token_types, &embed_norm, errors);
    check_token_types_need_vocab(&vocab, &token_types, errors);
    check_bert_layout(
        kind_value,
        norm_value,
        ffn_value,
        final_norm_value,
        &s,
        &weights,
        errors,
    );
    if errors.len() > errors_before {
        return None;
    }

    let d_model_value = d_model.value()?;
    let (encoder_layers, decoder_layers) = match kind_value {
        Kind::Encoder => (layers.value()?, 0),
        Kind::Decoder => (0, layers.value()?),
        Kind::EncoderDecoder => (encoder_layers.value()?, decoder_layers.value()?),
    };
    let model = Model {
        attrs: spec.attrs.clone(),
        vis: spec.vis.clone(),
        name: spec
            .name
            .clone()
            .unwrap_or_else(|| Ident::new("Transformer", spec.open)),
        unnamed: spec.name.is_none(),
        kind: kind_value,
        d_model: d_model_value,
        heads: heads.value()?,
        encoder_layers,
        decoder_layers,
        d_ff: if ffn_value {
            d_ff.or(4 * d_model_value)?
        } else {
            0
        },
        max_len: max_len.or(512)?,
        norm: norm_value,
        final_norm: final_norm_value,
        eps: eps.or(1e-5)?,
        activation: activation.or(Activation::Relu)?,
        positional: positional.or(Positional::None)?,
        bias: bias.or(true)?,
        ffn: ffn_value,
        out_proj: out_proj.or(true)?,
        causal: kind_value != Kind::Encoder || causal.or(false)?,
        cross_attention: kind_value == Kind::EncoderDecoder || cross_attention.or(false)?,
        vocab: vocab.value(),
        token_types: token_types.value(),
        embed_norm: embed_norm_value,
        weights: weights.or(Weights::Pytorch)?,
    };
    check_size(&model, anchor, errors);
    (errors.len() == errors_before).then_some(model)
}

const KINDS: &[(&str, Kind)] = &[
    ("encoder", Kind::Encoder),
    ("decoder", Kind::Decoder),
    ("encoder_decoder", Kind::EncoderDecoder),
];
const NORMS: &[(&str, NormPlacement)] = &[
    ("post", NormPlacement::Post),
    ("pre", NormPlacement::Pre),
    ("none", NormPlacement::None),
];
const ACTIVATIONS: &[(&str, Activation)] = &[
    ("relu", Activation::Relu),
    ("gelu", Activation::Gelu),
    ("gelu_tanh", Activation::GeluTanh),
];
const WEIGHTS: &[(&str, Weights)] = &[("pytorch", Weights::Pytorch), ("bert", Weights::Bert)];
const POSITIONALS: &[(&str, Positional)] = &[
    ("none", Positional::None),
    ("sinusoidal", Positional::Sinusoidal),
    ("learned", Positional::Learned),
];

/// Required keys, all named in one error at the model's name.
fn check_required(settings: &Settings, kind: Kind, anchor: Span, errors: &mut Vec<syn::Error>) {
    let required: &[(&str, &str)] = match kind {
        Kind::EncoderDecoder => &[
            ("d_model", "64"),
            ("heads", "4"),
            ("encoder_layers", "2"),
            ("decoder_layers", "2"),
        ],
        Kind::Encoder | Kind::Decoder => &[("d_model", "64"), ("heads", "4"), ("layers", "2")],
    };
    // A misspelled key already has an error suggesting the key: don't also call it missing.
    // Likewise `layers` on an `encoder_decoder` is reported as such, not as two missing keys.
    let layers_instead = kind == Kind::EncoderDecoder && settings.has("layers");
    let missing: Vec<_> = required
        .iter()
        .filter(|(key, _)| !settings.has(key) && !settings.suggested(key))
        .filter(|(key, _)| !(layers_instead && key.ends_with("_layers")))
        .collect();
    if missing.is_empty() {
        return;
    }
    let names = list(missing.iter().map(|(key, _)| format!("`{key}`")));
    let example = missing
        .iter()
        .map(|(key, v)| format!("{key}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let s = if missing.len() == 1 { "" } else { "s" };
    errors.push(syn::Error::new(
        anchor,
        format!("missing required setting{s} {names}\nhelp: add `{example}`"),
    ));
}

/// `layers` sizes a single stack; `encoder_layers`/`decoder_layers` size `nn.Transformer`'s two.
fn check_layer_keys(
    kind: Kind,
    layers: &Got<usize>,
    encoder_layers: &Got<usize>,
    decoder_layers: &Got<usize>,
    errors: &mut Vec<syn::Error>,
) {
    if kind == Kind::EncoderDecoder {
        if let Some(span) = layers.key_span() {
            errors.push(syn::Error::new(
                span,
                "`layers` does not apply to `kind: encoder_decoder`, which has two stacks\n\
                 help: replace it with `encoder_layers` and `decoder_layers`",
            ));
        }
        return;
    }
    for (key, got) in [
        ("encoder_layers", encoder_layers),
        ("decoder_layers", decoder_layers),
    ] {
        if let Some(span) = got.key_span() {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` applies only to `kind: encoder_decoder`; this model is `kind: {}`\n\
                     help: size its single stack with `layers`, or set `kind: encoder_decoder`",
                    kind_name(kind)
                ),
            ));
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Encoder => "encoder",
        Kind::Decoder => "decoder",
        Kind::EncoderDecoder => "encoder_decoder",
    }
}

/// Each head reads an equal slice of the model width: `D_HEAD = D_MODEL / HEADS`.
fn check_heads_divide_d_model(
    heads: &Got<usize>,
    d_model: &Got<usize>,
    errors: &mut Vec<syn::Error>,
) {
    let (Some(h), Some(d), Some(span)) = (heads.value(), d_model.value(), heads.at()) else {
        return;
    };
    if d % h != 0 {
        let divisors: Vec<String> = (1..=d)
            .filter(|k| d % k == 0)
            .map(|k| k.to_string())
            .collect();
        errors.push(syn::Error::new(
            span,
            format!(
                "`heads` ({h}) must divide `d_model` ({d})\n\
                 help: {d} splits evenly into {} heads",
                list_or(divisors),
            ),
        ));
    }
}

/// A final norm is a layer norm, which `norm: none` turns off.
fn check_final_norm_has_norms(
    norm: NormPlacement,
    final_norm: &Got<bool>,
    errors: &mut Vec<syn::Error>,
) {
    if let (NormPlacement::None, Some(true), Some(span)) =
        (norm, final_norm.value(), final_norm.at())
    {
        errors.push(syn::Error::new(
            span,
            "`final_norm: true` contradicts `norm: none`\n\
             help: remove `final_norm`, or set `norm: post` or `norm: pre`",
        ));
    }
}

/// `eps` configures layer norms; with none in the model it would silently do nothing.
fn check_eps_has_a_norm(
    norm: NormPlacement,
    final_norm: bool,
    eps: &Got<f32>,
    errors: &mut Vec<syn::Error>,
) {
    if norm != NormPlacement::None || final_norm {
        return;
    }
    if let Some(span) = eps.key_span() {
        let error = syn::Error::new(
            span,
            "`eps` has no effect: `norm: none` leaves no layer norm to apply it to\n\
             help: remove `eps`, or set `norm: post` or `norm: pre`",
        );
        errors.push(error);
    }
}

/// `d_ff` and `activation` describe the feed-forward sublayer, which `ffn: false` removes.
fn check_ffn_settings_need_ffn(
    ffn: bool,
    d_ff: &Got<usize>,
    activation: &Got<Activation>,
    errors: &mut Vec<syn::Error>,
) {
    if ffn {
        return;
    }
    for (key, span) in [
        ("d_ff", d_ff.key_span()),
        ("activation", activation.key_span()),
    ] {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` has no effect: `ffn: false` removes the feed-forward sublayer\n\
                     help: remove `{key}`, or set `ffn: true`"
                ),
            ));
        }
    }
}

/// `causal` makes an encoder stack causal; decoder stacks are causal already.
fn check_causal_is_for_encoders(kind: Kind, causal: &Got<bool>, errors: &mut Vec<syn::Error>) {
    if let (Kind::Decoder | Kind::EncoderDecoder, Some(span)) = (kind, causal.key_span()) {
        errors.push(syn::Error::new(
            span,
            format!(
                "`causal` applies only to `kind: encoder`; a `{}` is causal already\n\
                 help: remove `causal`",
                kind_name(kind)
            ),
        ));
    }
}

/// `cross_attention` adds attention to an encoder memory to a `decoder`'s layers.
fn check_cross_attention_is_for_decoders(
    kind: Kind,
    cross: &Got<bool>,
    errors: &mut Vec<syn::Error>,
) {
    let Some(span) = cross.key_span() else {
        return;
    };
    let help = match kind {
        Kind::Decoder => return,
        Kind::EncoderDecoder => {
            "help: remove it: the decoder of an `encoder_decoder` always attends to the encoder"
        }
        Kind::Encoder => {
            "help: set `kind: decoder` for a decoder that attends to an encoder memory"
        }
    };
    errors.push(syn::Error::new(
        span,
        format!(
            "`cross_attention` applies only to `kind: decoder`; this model is `kind: {}`\n{help}",
            kind_name(kind)
        ),
    ));
}

/// Token ids enter a single stack; an encoder–decoder or a decoder reading a memory takes
/// embeddings, since its two inputs would need two tables.
fn check_token_tables_need_a_single_stack(
    single_stack: bool,
    vocab: &Got<usize>,
    token_types: &Got<usize>,
    embed_norm: &Got<bool>,
    errors: &mut Vec<syn::Error>,
) {
    if single_stack {
        return;
    }
    let keys = [
        ("vocab", vocab.key_span()),
        ("token_types", token_types.key_span()),
        ("embed_norm", embed_norm.key_span()),
    ];
    for (key, span) in keys {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` applies only to a single stack without cross-attention\n\
                     help: remove `{key}` and pass embeddings to `encode`/`decode`"
                ),
            ));
        }
    }
}

/// Token types are added to token embeddings, so they need a token table.
fn check_token_types_need_vocab(
    vocab: &Got<usize>,
    token_types: &Got<usize>,
    errors: &mut Vec<syn::Error>,
) {
    if let (Got::Absent, Some(span)) = (vocab, token_types.key_span()) {
        errors.push(syn::Error::new(
            span,
            "`token_types` needs `vocab`: token types are added to token embeddings\n\
             help: add `vocab`, e.g. `vocab: 30522`, or remove `token_types`",
        ));
    }
}

/// BERT's names describe a post-norm encoder with every sublayer and no final norm.
fn check_bert_layout(
    kind: Kind,
    norm: NormPlacement,
    ffn: bool,
    final_norm: bool,
    settings: &Settings,
    weights: &Got<Weights>,
    errors: &mut Vec<syn::Error>,
) {
    let Some(span) = weights
        .at()
        .filter(|_| weights.value() == Some(Weights::Bert))
    else {
        return;
    };
    let conflicts = [
        (kind != Kind::Encoder, "kind", "`kind: encoder`"),
        (norm != NormPlacement::Post, "norm", "`norm: post`"),
        (!ffn, "ffn", "`ffn: true`"),
        (final_norm, "final_norm", "no `final_norm`"),
        (
            settings.has("out_proj") && !settings.flag_value("out_proj"),
            "out_proj",
            "`out_proj: true`",
        ),
        (
            settings.word_is("positional", "sinusoidal"),
            "positional",
            "`positional: learned` or none",
        ),
    ];
    for (conflict, key, needed) in conflicts {
        if conflict {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`weights: bert` names a BERT encoder, which has {needed}; this spec sets `{key}` otherwise\n\
                     help: change `{key}`, or use `weights: pytorch`"
                ),
            ));
        }
    }
}

/// The parameter count must fit in memory: reject specs whose weights could never be allocated.
fn check_size(model: &Model, anchor: Span, errors: &mut Vec<syn::Error>) {
    if crate::count::parameters(model).is_none() {
        errors.push(syn::Error::new(
            anchor,
            format!(
                "`{}` is too large: its weights would not fit in memory\n\
                 help: shrink `d_model`, `d_ff`, `max_len` or the layer counts",
                model.name
            ),
        ));
    }
}

/// Two models of one invocation cannot share a name (an unnamed model is `Transformer`).
fn check_unique_names(models: &[Model], errors: &mut Vec<syn::Error>) {
    let mut seen: HashMap<String, &Model> = HashMap::new();
    for model in models {
        let name = model.name.to_string();
        if seen.insert(name.clone(), model).is_some() {
            errors.push(syn::Error::new(
                model.name.span(),
                format!(
                    "a second model is named `{name}`{}\nhelp: give each model its own name",
                    if model.unnamed {
                        " (each model declared without a name is named `Transformer`)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn list_or(items: Vec<String>) -> String {
    join_last(items, " or ")
}

/// `a`, `a and b`, `a, b and c`.
fn list(items: impl Iterator<Item = String>) -> String {
    join_last(items.collect(), " and ")
}

fn join_last(mut items: Vec<String>, last_sep: &str) -> String {
    match items.pop() {
        None => String::new(),
        Some(last) if items.is_empty() => last,
        Some(last) => format!("{}{last_sep}{last}", items.join(", ")),
    }
}

#[cfg(test)]
mod tests;

//! [`Specs`] → [`Model`]s: every semantic check, with every error of a build reported at once.
//!
//! Reading a setting checks its own value (kind, range); `check_*` functions then check how
//! settings relate. Each rule is one function, and a rule whose inputs were already
//! rejected stays quiet, so one mistake gives one error.

pub(crate) mod keys;
mod options;
mod settings;

use std::collections::HashMap;

use proc_macro2::Span;
use syn::Ident;

use crate::model::{
    Activation, Attention, FeedForward, Input, Kind, LmHead, Model, NormKind, NormPlacement,
    Positional, Role, Rope, RopePairs, Stack, Sublayer, TokenTables, Weights,
};
use crate::spec::{Spec, Specs};
use keys::Key;
use options::Options;
use settings::{Got, Settings};

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

/// One item: read every setting, check the rules between them, then build the model.
fn validate_item(spec: &Spec, errors: &mut Vec<syn::Error>) -> Option<Model> {
    let anchor = spec.name.as_ref().map_or(spec.open, Ident::span);
    let errors_before = errors.len();
    let options = Options::read(&spec.attrs, errors);
    let settings = Settings::read(&spec.settings, errors);
    let read = Read::new(&settings, errors);
    let assumed = Assumed::new(&read);
    check_rules(&settings, &read, &assumed, anchor, errors);
    if errors.len() > errors_before {
        return None;
    }
    let model = build(spec, options, &read, &assumed)?;
    check_size(&model, anchor, errors);
    (errors.len() == errors_before).then_some(model)
}

/// Every setting of one item, each checked on its own (kind of value, range).
struct Read {
    kind: Got<Kind>,
    d_model: Got<usize>,
    heads: Got<usize>,
    kv_heads: Got<usize>,
    layers: Got<usize>,
    encoder_layers: Got<usize>,
    decoder_layers: Got<usize>,
    d_ff: Got<usize>,
    max_len: Got<usize>,
    norm: Got<NormPlacement>,
    norm_kind: Got<NormKind>,
    final_norm: Got<bool>,
    eps: Got<f32>,
    activation: Got<Activation>,
    gated: Got<bool>,
    positional: Got<Positional>,
    rope_theta: Got<f32>,
    rope_pairs: Got<RopePairs>,
    bias: Got<bool>,
    ffn: Got<bool>,
    out_proj: Got<bool>,
    causal: Got<bool>,
    cross_attention: Got<bool>,
    vocab: Got<usize>,
    token_types: Got<usize>,
    embed_norm: Got<bool>,
    lm_head: Got<LmHead>,
    weights: Got<Weights>,
    /// `encoder: { … }` and `decoder: { … }`, each stack's own settings.
    encoder: Option<StackRead>,
    decoder: Option<StackRead>,
}

/// The settings of one stack's group, each checked on its own.
struct StackRead {
    /// The group's key, `encoder` or `decoder`.
    key: Span,
    positional: Got<Positional>,
    vocab: Got<usize>,
    token_types: Got<usize>,
    embed_norm: Got<bool>,
}

impl StackRead {
    fn new(s: &Settings, key: &Key, errors: &mut Vec<syn::Error>) -> Option<Self> {
        let (key, group) = s.group(key, keys::STACK_KEYS, errors)?;
        Some(Self {
            key,
            positional: group.word(&keys::POSITIONAL, POSITIONALS, errors),
            vocab: group.dim(&keys::VOCAB, errors),
            token_types: group.dim(&keys::TOKEN_TYPES, errors),
            embed_norm: group.flag(&keys::EMBED_NORM, errors),
        })
    }
}

impl Read {
    /// Reads the keys in table order, so their errors come out in that order.
    fn new(s: &Settings, errors: &mut Vec<syn::Error>) -> Self {
        Self {
            kind: s.word(&keys::KIND, KINDS, errors),
            d_model: s.dim(&keys::D_MODEL, errors),
            heads: s.dim(&keys::HEADS, errors),
            kv_heads: s.dim(&keys::KV_HEADS, errors),
            layers: s.dim(&keys::LAYERS, errors),
            encoder_layers: s.dim(&keys::ENCODER_LAYERS, errors),
            decoder_layers: s.dim(&keys::DECODER_LAYERS, errors),
            d_ff: s.dim(&keys::D_FF, errors),
            max_len: s.dim(&keys::MAX_LEN, errors),
            norm: s.word(&keys::NORM, NORMS, errors),
            norm_kind: s.word(&keys::NORM_KIND, NORM_KINDS, errors),
            final_norm: s.flag(&keys::FINAL_NORM, errors),
            eps: s.positive_float(&keys::EPS, errors),
            activation: s.word(&keys::ACTIVATION, ACTIVATIONS, errors),
            gated: s.flag(&keys::GATED, errors),
            positional: s.word(&keys::POSITIONAL, POSITIONALS, errors),
            rope_theta: s.positive_float(&keys::ROPE_THETA, errors),
            rope_pairs: s.word(&keys::ROPE_PAIRS, ROPE_PAIRS, errors),
            bias: s.flag(&keys::BIAS, errors),
            ffn: s.flag(&keys::FFN, errors),
            out_proj: s.flag(&keys::OUT_PROJ, errors),
            causal: s.flag(&keys::CAUSAL, errors),
            cross_attention: s.flag(&keys::CROSS_ATTENTION, errors),
            vocab: s.dim(&keys::VOCAB, errors),
            token_types: s.dim(&keys::TOKEN_TYPES, errors),
            embed_norm: s.flag(&keys::EMBED_NORM, errors),
            lm_head: s.word(&keys::LM_HEAD, LM_HEADS, errors),
            weights: s.word(&keys::WEIGHTS, WEIGHTS, errors),
            encoder: StackRead::new(s, &keys::ENCODER, errors),
            decoder: StackRead::new(s, &keys::DECODER, errors),
        }
    }
}

/// The settings that other rules depend on. Rules between settings read a rejected value as
/// its default; its error is already out.
struct Assumed {
    kind: Kind,
    norm: NormPlacement,
    ffn: bool,
    final_norm: bool,
    /// Some stack normalises its embedded input.
    embed_norm: bool,
    /// Where some stack's `positional: rope` is written, if one is.
    rope: Option<Span>,
}

impl Assumed {
    fn new(read: &Read) -> Self {
        let kind = read.kind.or(Kind::Encoder).unwrap_or(Kind::Encoder);
        let norm = read
            .norm
            .or(NormPlacement::Post)
            .unwrap_or(NormPlacement::Post);
        // `nn.Transformer` puts a final norm on both stacks; elsewhere it is opt-in.
        let final_norm_default = kind == Kind::EncoderDecoder && norm != NormPlacement::None;
        let in_group = [&read.encoder, &read.decoder]
            .into_iter()
            .flatten()
            .any(|group| group.embed_norm.or(false).unwrap_or(false));
        let groups = [&read.encoder, &read.decoder].into_iter().flatten();
        let rope = std::iter::once(&read.positional)
            .chain(groups.map(|group| &group.positional))
            .find(|positional| positional.value() == Some(Positional::Rope))
            .and_then(Got::at);
        Self {
            kind,
            norm,
            rope,
            ffn: read.ffn.or(true).unwrap_or(true),
            final_norm: read.final_norm.or(final_norm_default).unwrap_or(false),
            embed_norm: read.embed_norm.or(false).unwrap_or(false) || in_group,
        }
    }
}

/// Every rule between settings, each in its own function.
fn check_rules(
    settings: &Settings,
    read: &Read,
    assumed: &Assumed,
    anchor: Span,
    errors: &mut Vec<syn::Error>,
) {
    let Assumed { kind, norm, .. } = *assumed;
    check_required(settings, kind, anchor, errors);
    check_layer_keys(
        kind,
        &read.layers,
        &read.encoder_layers,
        &read.decoder_layers,
        errors,
    );
    check_heads_divide_d_model(&read.heads, &read.d_model, errors);
    check_kv_heads_divide_heads(&read.kv_heads, &read.heads, errors);
    check_rope_has_even_heads(assumed.rope, &read.heads, &read.d_model, errors);
    check_rope_settings_need_rope(assumed.rope, read, errors);
    check_final_norm_has_norms(norm, &read.final_norm, errors);
    let other_norms = assumed.final_norm || assumed.embed_norm;
    let norm_keys = [
        (read.eps.key_span(), keys::EPS.name, "to apply it to"),
        (
            read.norm_kind.key_span(),
            keys::NORM_KIND.name,
            "for it to choose",
        ),
    ];
    check_norm_settings_have_a_norm(norm, other_norms, norm_keys, errors);
    check_ffn_settings_need_ffn(assumed.ffn, read, errors);
    check_causal_is_for_encoders(kind, &read.causal, errors);
    check_cross_attention_is_for_decoders(kind, &read.cross_attention, errors);
    check_stack_groups_need_two_stacks(kind, read, errors);
    check_token_tables_say_which_stack(kind, read, errors);
    check_token_types_need_vocab(&read.vocab, &read.token_types, errors);
    for group in [&read.encoder, &read.decoder].into_iter().flatten() {
        check_token_types_need_vocab(&group.vocab, &group.token_types, errors);
    }
    check_bert_layout(assumed, settings, read, errors);
    check_llama_layout(assumed, settings, read, errors);
    check_gpt2_layout(assumed, settings, read, errors);
    check_lm_head(assumed.kind, read, errors);
}

/// The model of settings that passed every check; `None` only if a check missed a rejection.
fn build(spec: &Spec, options: Options, read: &Read, assumed: &Assumed) -> Option<Model> {
    let d_model = read.d_model.value()?;
    let ffn = if assumed.ffn {
        Some(FeedForward {
            d_ff: read.d_ff.or(4 * d_model)?,
            activation: read.activation.or(Activation::Relu)?,
            gated: read.gated.or(false)?,
        })
    } else {
        None
    };
    let out_proj = read.out_proj.or(true)?;
    let norm_kind = read.norm_kind.or(NormKind::Layer)?;
    let rope = Rope {
        theta: read.rope_theta.or(10_000.0)?,
        pairs: read.rope_pairs.or(RopePairs::Half)?,
    };
    // A stack's own group overrides the model's settings for that stack.
    let input = |group: &Option<StackRead>| -> Option<(Input, Positional, bool)> {
        let (positional, vocab, token_types, embed_norm) = match group {
            Some(g) => (
                g.positional
                    .value()
                    .map_or(read.positional.or(Positional::None), Some)?,
                g.vocab.value(),
                g.token_types.value(),
                g.embed_norm.or(false)?,
            ),
            None => (
                read.positional.or(Positional::None)?,
                read.vocab.value(),
                read.token_types.value(),
                read.embed_norm.or(false)?,
            ),
        };
        let input = match vocab {
            Some(vocab) => Input::Tokens(TokenTables { vocab, token_types }),
            None => Input::Features,
        };
        Some((input, positional, embed_norm))
    };
    let stack =
        |role: Role, layers: usize, causal: bool, cross: bool, group: &Option<StackRead>| {
            let (input, positions, input_norm) = input(group)?;
            let attention = |memory: bool| {
                Sublayer::Attention(Attention {
                    memory,
                    causal: causal && !memory,
                    out_proj,
                    rope: (positions == Positional::Rope && !memory).then_some(rope),
                })
            };
            let mut block = vec![attention(false)];
            if cross {
                block.push(attention(true));
            }
            if let Some(ffn) = &ffn {
                block.push(Sublayer::FeedForward(FeedForward {
                    d_ff: ffn.d_ff,
                    activation: ffn.activation,
                    gated: ffn.gated,
                }));
            }
            Some(Stack {
                role,
                layers,
                input,
                positions,
                input_norm,
                block,
                norm: assumed.norm,
                norm_kind,
                final_norm: assumed.final_norm,
                lm_head: if role == Role::Decoder {
                    read.lm_head.or(LmHead::None)?
                } else {
                    LmHead::None
                },
            })
        };
    let stacks = match assumed.kind {
        Kind::Encoder => vec![stack(
            Role::Encoder,
            read.layers.value()?,
            read.causal.or(false)?,
            false,
            &None,
        )?],
        Kind::Decoder => vec![stack(
            Role::Decoder,
            read.layers.value()?,
            true,
            read.cross_attention.or(false)?,
            &None,
        )?],
        Kind::EncoderDecoder => vec![
            stack(
                Role::Encoder,
                read.encoder_layers.value()?,
                false,
                false,
                &read.encoder,
            )?,
            stack(
                Role::Decoder,
                read.decoder_layers.value()?,
                true,
                true,
                &read.decoder,
            )?,
        ],
    };
    Some(Model {
        attrs: options.passed,
        krate: options.krate,
        vis: spec.vis.clone(),
        name: spec
            .name
            .clone()
            .unwrap_or_else(|| Ident::new("Transformer", spec.open)),
        unnamed: spec.name.is_none(),
        kind: assumed.kind,
        d_model,
        heads: read.heads.value()?,
        kv_heads: read.kv_heads.or(read.heads.value()?)?,
        max_len: read.max_len.or(512)?,
        eps: read.eps.or(1e-5)?,
        bias: read.bias.or(true)?,
        weights: read.weights.or(Weights::Pytorch)?,
        stacks,
    })
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
const NORM_KINDS: &[(&str, NormKind)] = &[("layer", NormKind::Layer), ("rms", NormKind::Rms)];
const ACTIVATIONS: &[(&str, Activation)] = &[
    ("relu", Activation::Relu),
    ("gelu", Activation::Gelu),
    ("gelu_tanh", Activation::GeluTanh),
    ("silu", Activation::Silu),
];
const WEIGHTS: &[(&str, Weights)] = &[
    ("pytorch", Weights::Pytorch),
    ("bert", Weights::Bert),
    ("llama", Weights::Llama),
    ("gpt2", Weights::Gpt2),
];
const LM_HEADS: &[(&str, LmHead)] = &[
    ("none", LmHead::None),
    ("tied", LmHead::Tied),
    ("separate", LmHead::Separate),
];
const POSITIONALS: &[(&str, Positional)] = &[
    ("none", Positional::None),
    ("sinusoidal", Positional::Sinusoidal),
    ("learned", Positional::Learned),
    ("rope", Positional::Rope),
];
const ROPE_PAIRS: &[(&str, RopePairs)] =
    &[("half", RopePairs::Half), ("adjacent", RopePairs::Adjacent)];

/// Required keys, all named in one error at the model's name.
fn check_required(settings: &Settings, kind: Kind, anchor: Span, errors: &mut Vec<syn::Error>) {
    let required: &[&Key] = match kind {
        Kind::EncoderDecoder => &[
            &keys::D_MODEL,
            &keys::HEADS,
            &keys::ENCODER_LAYERS,
            &keys::DECODER_LAYERS,
        ],
        Kind::Encoder | Kind::Decoder => &[&keys::D_MODEL, &keys::HEADS, &keys::LAYERS],
    };
    // A misspelled key already has an error suggesting the key: don't also call it missing.
    // Likewise `layers` on an `encoder_decoder` is reported as such, not as two missing keys.
    let layers_instead = kind == Kind::EncoderDecoder && settings.has(&keys::LAYERS);
    let missing: Vec<&Key> = required
        .iter()
        .copied()
        .filter(|key| !settings.has(key) && !settings.suggested(key))
        .filter(|key| !(layers_instead && key.name.ends_with("_layers")))
        .collect();
    if missing.is_empty() {
        return;
    }
    let names = list(missing.iter().map(|key| format!("`{}`", key.name)));
    let example = missing
        .iter()
        .map(|key| format!("{}: {}", key.name, settings::example(key)))
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
        (keys::ENCODER_LAYERS.name, encoder_layers),
        (keys::DECODER_LAYERS.name, decoder_layers),
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
        errors.push(syn::Error::new(
            span,
            format!(
                "`heads` ({h}) must divide `d_model` ({d})\n\
                 help: {d} splits evenly into {} heads",
                divisors(d, |_| true),
            ),
        ));
    }
}

/// Key/value heads are shared by equal groups of query heads: `kv_heads` divides `heads`.
fn check_kv_heads_divide_heads(
    kv_heads: &Got<usize>,
    heads: &Got<usize>,
    errors: &mut Vec<syn::Error>,
) {
    let (Some(kv), Some(h), Some(span)) = (kv_heads.value(), heads.value(), kv_heads.at()) else {
        return;
    };
    if h % kv != 0 {
        errors.push(syn::Error::new(
            span,
            format!(
                "`kv_heads` ({kv}) must divide `heads` ({h}): query heads share key/value heads in equal groups\n\
                 help: {h} heads share {} key/value heads evenly",
                divisors(h, |_| true),
            ),
        ));
    }
}

/// RoPE turns pairs of lanes, so each head must have an even width.
fn check_rope_has_even_heads(
    rope: Option<Span>,
    heads: &Got<usize>,
    d_model: &Got<usize>,
    errors: &mut Vec<syn::Error>,
) {
    let (Some(span), Some(h), Some(d)) = (rope, heads.value(), d_model.value()) else {
        return;
    };
    if d % h != 0 || (d / h) % 2 == 0 {
        return;
    }
    let help = if d % 2 == 1 {
        format!(
            "`d_model` ({d}) is odd: no number of heads gives them an even width; make `d_model` even"
        )
    } else {
        let even = divisors(d, |heads| (d / heads) % 2 == 0);
        format!("set `heads` to {even}, which give heads of an even width")
    };
    errors.push(syn::Error::new(
        span,
        format!(
            "`positional: rope` rotates pairs of lanes, and each head has {} (`d_model` {d} / `heads` {h}), an odd number\nhelp: {help}",
            d / h
        ),
    ));
}

/// `rope_theta` and `rope_pairs` describe the rotary embedding, which some stack must use.
fn check_rope_settings_need_rope(rope: Option<Span>, read: &Read, errors: &mut Vec<syn::Error>) {
    if rope.is_some() {
        return;
    }
    for (key, span) in [
        (keys::ROPE_THETA.name, read.rope_theta.key_span()),
        (keys::ROPE_PAIRS.name, read.rope_pairs.key_span()),
    ] {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` has no effect: no stack uses `positional: rope`\n\
                     help: remove `{key}`, or set `positional: rope`"
                ),
            ));
        }
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

/// `eps` and `norm_kind` describe the norms, so some norm must exist: `keys` pairs each
/// such key's span, if written, with what it does to a norm.
fn check_norm_settings_have_a_norm(
    norm: NormPlacement,
    other_norms: bool,
    keys: [(Option<Span>, &str, &str); 2],
    errors: &mut Vec<syn::Error>,
) {
    if norm != NormPlacement::None || other_norms {
        return;
    }
    for (span, key, effect) in keys {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` has no effect: `norm: none` leaves no norm {effect}\n\
                     help: remove `{key}`, or set `norm: post` or `norm: pre`"
                ),
            ));
        }
    }
}

/// `d_ff`, `activation` and `gated` describe the feed-forward sublayer, which `ffn: false`
/// removes.
fn check_ffn_settings_need_ffn(ffn: bool, read: &Read, errors: &mut Vec<syn::Error>) {
    if ffn {
        return;
    }
    for (key, span) in [
        (keys::D_FF.name, read.d_ff.key_span()),
        (keys::ACTIVATION.name, read.activation.key_span()),
        (keys::GATED.name, read.gated.key_span()),
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
/// `encoder: { … }` and `decoder: { … }` set one of `nn.Transformer`'s two stacks; a single
/// stack takes the same settings directly.
fn check_stack_groups_need_two_stacks(kind: Kind, read: &Read, errors: &mut Vec<syn::Error>) {
    if kind == Kind::EncoderDecoder {
        return;
    }
    for (name, group) in [("encoder", &read.encoder), ("decoder", &read.decoder)] {
        if let Some(group) = group {
            errors.push(syn::Error::new(
                group.key,
                format!(
                    "`{name}: {{ … }}` sets one stack of `kind: encoder_decoder`, and this model has one stack\n\
                     help: write the settings directly, e.g. `positional: learned` instead of `{name}: {{ positional: learned }}`"
                ),
            ));
        }
    }
}

/// Of `nn.Transformer`'s two stacks, the spec must say which reads token ids.
fn check_token_tables_say_which_stack(kind: Kind, read: &Read, errors: &mut Vec<syn::Error>) {
    if kind != Kind::EncoderDecoder {
        return;
    }
    let given = [
        (keys::VOCAB.name, read.vocab.key_span(), "vocab: 51865"),
        (
            keys::TOKEN_TYPES.name,
            read.token_types.key_span(),
            "token_types: 2",
        ),
        (
            keys::EMBED_NORM.name,
            read.embed_norm.key_span(),
            "embed_norm: true",
        ),
    ];
    for (key, span, example) in given {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!(
                    "`{key}` on `kind: encoder_decoder` must say which stack it is for\n\
                     help: move it into that stack's group, e.g. `decoder: {{ {example} }}`"
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

/// Logits are over a decoder's own token vocabulary, from tokens it alone reads.
fn check_lm_head(kind: Kind, read: &Read, errors: &mut Vec<syn::Error>) {
    let (Some(span), Some(head)) = (read.lm_head.key_span(), read.lm_head.value()) else {
        return;
    };
    if head == LmHead::None {
        return;
    }
    // An `encoder_decoder`'s decoder may take its `vocab` from its own group.
    let decoder_vocab = read.decoder.as_ref().map(|group| &group.vocab);
    let error = if kind == Kind::Encoder {
        "`lm_head` applies only to a decoder, which predicts the next token; this model is `kind: encoder`\n\
         help: remove `lm_head`, or set `kind: decoder` or `kind: encoder_decoder`"
            .to_owned()
    } else if [Some(&read.vocab), decoder_vocab]
        .into_iter()
        .flatten()
        .all(|vocab| matches!(vocab, Got::Absent))
    {
        let add = if kind == Kind::EncoderDecoder {
            "add `vocab` to the decoder's settings, e.g. `decoder: { vocab: 32000 }`"
        } else {
            "add `vocab`, e.g. `vocab: 32000`"
        };
        format!(
            "`lm_head` needs `vocab`: its logits are over the decoder's token vocabulary\n\
             help: {add}, or remove `lm_head`"
        )
    } else {
        return;
    };
    errors.push(syn::Error::new(span, error));
}

/// BERT's names describe a post-norm encoder with every sublayer and no final norm.
fn check_bert_layout(
    assumed: &Assumed,
    settings: &Settings,
    read: &Read,
    errors: &mut Vec<syn::Error>,
) {
    let Some(span) = weights_span(read, Weights::Bert) else {
        return;
    };
    let out_proj_off = settings.has(&keys::OUT_PROJ) && !settings.flag_value(&keys::OUT_PROJ);
    let sinusoidal = settings.word_is(&keys::POSITIONAL, "sinusoidal");
    let rope = assumed.rope.is_some();
    let gated = read.gated.value() == Some(true);
    let shared_kv = read
        .kv_heads
        .value()
        .is_some_and(|kv| Some(kv) != read.heads.value());
    let conflicts = [
        (assumed.kind != Kind::Encoder, keys::KIND, "`kind: encoder`"),
        (
            assumed.norm != NormPlacement::Post,
            keys::NORM,
            "`norm: post`",
        ),
        (!assumed.ffn, keys::FFN, "`ffn: true`"),
        (assumed.final_norm, keys::FINAL_NORM, "no `final_norm`"),
        (
            settings.word_is(&keys::NORM_KIND, "rms"),
            keys::NORM_KIND,
            "layer norms",
        ),
        (out_proj_off, keys::OUT_PROJ, "`out_proj: true`"),
        (
            sinusoidal || rope,
            keys::POSITIONAL,
            "`positional: learned` or none",
        ),
        (gated, keys::GATED, "an ungated feed-forward"),
        (
            shared_kv,
            keys::KV_HEADS,
            "one key/value head per query head",
        ),
    ];
    report_layout_conflicts(
        span,
        "`weights: bert` names a BERT encoder",
        settings,
        &conflicts,
        errors,
    );
}

/// Llama's names describe a pre-norm RMS decoder with rotary positions, grouped or not,
/// gated feed-forwards and no biases, reading token ids.
fn check_llama_layout(
    assumed: &Assumed,
    settings: &Settings,
    read: &Read,
    errors: &mut Vec<syn::Error>,
) {
    let Some(span) = weights_span(read, Weights::Llama) else {
        return;
    };
    let mut conflicts = decoder_conflicts(assumed, read);
    conflicts.extend([
        (
            read.norm_kind.value() != Some(NormKind::Rms),
            keys::NORM_KIND,
            "`norm_kind: rms`",
        ),
        (
            assumed.rope.is_none(),
            keys::POSITIONAL,
            "`positional: rope`",
        ),
        (
            read.rope_pairs.value() == Some(RopePairs::Adjacent),
            keys::ROPE_PAIRS,
            "`rope_pairs: half` (Hugging Face's `rotate_half`)",
        ),
        (!flag(&read.gated, false), keys::GATED, "`gated: true`"),
        (flag(&read.bias, true), keys::BIAS, "`bias: false`"),
    ]);
    let intro = "`weights: llama` names a Llama decoder (`LlamaForCausalLM`)";
    report_layout_conflicts(span, intro, settings, &conflicts, errors);
}

/// GPT-2's names describe a pre-norm decoder with learned positions, layer norms, biases
/// everywhere and an ungated feed-forward, reading token ids.
fn check_gpt2_layout(
    assumed: &Assumed,
    settings: &Settings,
    read: &Read,
    errors: &mut Vec<syn::Error>,
) {
    let Some(span) = weights_span(read, Weights::Gpt2) else {
        return;
    };
    let shared_kv = read
        .kv_heads
        .value()
        .is_some_and(|kv| Some(kv) != read.heads.value());
    let mut conflicts = decoder_conflicts(assumed, read);
    conflicts.extend([
        (
            read.norm_kind.value() == Some(NormKind::Rms),
            keys::NORM_KIND,
            "layer norms",
        ),
        (
            read.positional.value() != Some(Positional::Learned),
            keys::POSITIONAL,
            "`positional: learned`",
        ),
        (
            flag(&read.gated, false),
            keys::GATED,
            "an ungated feed-forward",
        ),
        (
            shared_kv,
            keys::KV_HEADS,
            "one key/value head per query head",
        ),
        (!flag(&read.bias, true), keys::BIAS, "biases"),
    ]);
    let intro = "`weights: gpt2` names a GPT-2 (`GPT2LMHeadModel`)";
    report_layout_conflicts(span, intro, settings, &conflicts, errors);
}

/// What every decoder-only checkpoint dialect has: one pre-norm decoder stack reading token
/// ids, every sublayer, a final norm, no token types, embedding norm or memory.
fn decoder_conflicts(assumed: &Assumed, read: &Read) -> Vec<(bool, Key, &'static str)> {
    vec![
        (assumed.kind != Kind::Decoder, keys::KIND, "`kind: decoder`"),
        (read.vocab.value().is_none(), keys::VOCAB, "`vocab`"),
        (
            assumed.norm != NormPlacement::Pre,
            keys::NORM,
            "`norm: pre`",
        ),
        (!assumed.final_norm, keys::FINAL_NORM, "`final_norm: true`"),
        (!assumed.ffn, keys::FFN, "`ffn: true`"),
        (
            !flag(&read.out_proj, true),
            keys::OUT_PROJ,
            "`out_proj: true`",
        ),
        (
            flag(&read.cross_attention, false),
            keys::CROSS_ATTENTION,
            "no `cross_attention`",
        ),
        (
            read.token_types.key_span().is_some(),
            keys::TOKEN_TYPES,
            "no `token_types`",
        ),
        (assumed.embed_norm, keys::EMBED_NORM, "no `embed_norm`"),
    ]
}

/// A flag's value, or `default` where it is absent or was rejected.
fn flag(got: &Got<bool>, default: bool) -> bool {
    got.or(default).unwrap_or(default)
}

/// Where `weights: {dialect}` is written, if it is.
fn weights_span(read: &Read, dialect: Weights) -> Option<Span> {
    read.weights
        .at()
        .filter(|_| read.weights.value() == Some(dialect))
}

/// One error per setting that contradicts a checkpoint dialect, at the `weights` value:
/// each conflict is whether it applies, the key, and what the dialect's model has instead.
fn report_layout_conflicts(
    span: Span,
    intro: &str,
    settings: &Settings,
    conflicts: &[(bool, Key, &str)],
    errors: &mut Vec<syn::Error>,
) {
    for (conflict, key, needed) in conflicts {
        if !conflict {
            continue;
        }
        let key_name = key.name;
        let message = if settings.has(key) {
            format!(
                "{intro}, which has {needed}; this spec sets `{key_name}` otherwise\n\
                 help: change `{key_name}`, or use `weights: pytorch`"
            )
        } else {
            format!(
                "{intro}, which has {needed}; this spec leaves `{key_name}` out\n\
                 help: add {needed}, or use `weights: pytorch`"
            )
        };
        errors.push(syn::Error::new(span, message));
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

/// The divisors of `n` that `keep` keeps, as a list: `1, 2, 3 or 6`.
fn divisors(n: usize, keep: impl Fn(usize) -> bool) -> String {
    list_or(
        (1..=n)
            .filter(|k| n.is_multiple_of(*k) && keep(*k))
            .map(|k| k.to_string())
            .collect(),
    )
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

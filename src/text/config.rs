//! A Hugging Face `config.json` against a model's spec: each key the spec also settles,
//! compared, every disagreement collected.

use serde_json::Value;
use transformer_runtime::Activation;
use transformer_runtime::model::{Hyperparameters, Positional, Weights};

use super::ConfigMismatch;

/// Every key of `config` that contradicts `spec`, in the order of the file's usual layout.
pub(super) fn check(config: &Value, spec: &Hyperparameters) -> Vec<ConfigMismatch> {
    let mut mismatches = Vec::new();
    let mut differ = |key: &str, spec: String| {
        mismatches.push(mismatch("config.json", key, config.get(key), spec));
    };
    if spec.weights != Weights::Bert || config["model_type"] != "bert" {
        differ(
            "model_type",
            format!("`weights: {}`", weights(spec.weights)),
        );
    }
    let sizes = [
        ("hidden_size", "d_model", spec.d_model),
        ("num_attention_heads", "heads", spec.heads),
        ("num_hidden_layers", "layers", spec.layers),
        ("intermediate_size", "d_ff", spec.d_ff),
        ("vocab_size", "vocab", spec.vocab),
    ];
    for (key, spec_key, value) in sizes {
        if !is_integer(&config[key], value) {
            differ(key, format!("`{spec_key}: {value}`"));
        }
    }
    // BERT's position table has `max_position_embeddings` rows: the spec's learned table
    // must have as many.
    let positions = config["max_position_embeddings"].as_u64();
    if spec.positional != Positional::Learned || positions != Some(spec.max_len as u64) {
        differ("max_position_embeddings", positions_in(spec));
    }
    if let Some(kind) = config.get("position_embedding_type")
        && kind != "absolute"
    {
        differ("position_embedding_type", positions_in(spec));
    }
    let token_types = spec.token_types.unwrap_or(0);
    if !is_integer(&config["type_vocab_size"], token_types) {
        differ("type_vocab_size", option("token_types", spec.token_types));
    }
    let eps = config["layer_norm_eps"].as_f64();
    if !eps
        .zip(spec.eps)
        .is_some_and(|(file, spec)| same_eps(file, spec))
    {
        differ(
            "layer_norm_eps",
            option("eps", spec.eps.map(|e| format!("{e:e}"))),
        );
    }
    let activation = config["hidden_act"].as_str().and_then(hf_activation);
    if activation != Some(spec.activation) {
        let spec_value = format!("`activation: {}`", activation_name(spec.activation));
        differ("hidden_act", spec_value);
    }
    mismatches
}

/// A mismatch of `key` in `file`, whose value there is `found` (`None`: the key is missing).
pub(super) fn mismatch(
    file: &str,
    key: &str,
    found: Option<&Value>,
    spec: String,
) -> ConfigMismatch {
    ConfigMismatch {
        file: file.to_owned(),
        key: key.to_owned(),
        found: found.map_or_else(|| "missing".to_owned(), Value::to_string),
        spec,
    }
}

/// Whether `value` is the JSON integer `expected`.
pub(super) fn is_integer(value: &Value, expected: usize) -> bool {
    value.as_u64() == Some(expected as u64)
}

/// Equal epsilons, up to the rounding of `f32` and of the decimal text.
fn same_eps(file: f64, spec: f32) -> bool {
    (file - f64::from(spec)).abs() <= 1e-6 * file.abs()
}

/// The spec's positions, for the keys that describe BERT's absolute position table.
fn positions_in(spec: &Hyperparameters) -> String {
    match spec.positional {
        Positional::Learned => format!("`positional: learned, max_len: {}`", spec.max_len),
        Positional::Sinusoidal => "`positional: sinusoidal`".to_owned(),
        Positional::None => "`positional: none`".to_owned(),
        Positional::Rope => "`positional: rope`".to_owned(),
    }
}

/// `` `key: value` ``, or `` no `key` `` where the spec has none.
fn option(key: &str, value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| format!("no `{key}`"), |v| format!("`{key}: {v}`"))
}

/// Hugging Face's `hidden_act` names of the activations the library has (`ACT2FN`).
fn hf_activation(name: &str) -> Option<Activation> {
    match name {
        "relu" => Some(Activation::Relu),
        "gelu" => Some(Activation::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
        "silu" | "swish" => Some(Activation::Silu),
        _ => None,
    }
}

/// The spec's word for an activation.
fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Relu => "relu",
        Activation::Gelu => "gelu",
        Activation::GeluTanh => "gelu_tanh",
        Activation::Silu => "silu",
    }
}

/// The spec's word for a weights layout.
fn weights(weights: Weights) -> &'static str {
    match weights {
        Weights::Pytorch => "pytorch",
        Weights::Bert => "bert",
        Weights::Llama => "llama",
        Weights::Gpt2 => "gpt2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BERT of the sizes of `SPEC`, as its `config.json` states them.
    fn config() -> Value {
        serde_json::json!({
            "model_type": "bert", "hidden_size": 32, "num_attention_heads": 2,
            "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 99,
            "max_position_embeddings": 32, "position_embedding_type": "absolute",
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"
        })
    }

    const SPEC: Hyperparameters = Hyperparameters {
        name: "Tiny",
        d_model: 32,
        heads: 2,
        layers: 2,
        d_ff: 64,
        max_len: 32,
        vocab: 99,
        token_types: Some(2),
        eps: Some(1e-12),
        activation: Activation::Gelu,
        positional: Positional::Learned,
        weights: Weights::Bert,
    };

    #[test]
    fn a_matching_config_has_no_mismatch() {
        assert_eq!(check(&config(), &SPEC), []);
    }

    #[test]
    fn every_contradicted_key_is_named_with_both_values() {
        let mut config = config();
        config["hidden_size"] = 64.into();
        config["hidden_act"] = "gelu_new".into();
        config["layer_norm_eps"] = 1e-5.into();
        config.as_object_mut().unwrap().remove("vocab_size");
        let found: Vec<String> = check(&config, &SPEC)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "config.json: `hidden_size` is 64, the spec has `d_model: 32`",
                "config.json: `vocab_size` is missing, the spec has `vocab: 99`",
                "config.json: `layer_norm_eps` is 0.00001, the spec has `eps: 1e-12`",
                "config.json: `hidden_act` is \"gelu_new\", the spec has `activation: gelu`",
            ]
        );
    }

    #[test]
    fn tables_the_spec_lacks_are_named() {
        let spec = Hyperparameters {
            token_types: None,
            positional: Positional::None,
            weights: Weights::Pytorch,
            ..SPEC
        };
        let keys: Vec<String> = check(&config(), &spec)
            .into_iter()
            .map(|m| m.spec)
            .collect();
        assert_eq!(
            keys,
            [
                "`weights: pytorch`",
                "`positional: none`",
                "no `token_types`"
            ]
        );
    }

    #[test]
    fn tanh_approximations_are_gelu_tanh() {
        for name in ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"] {
            assert_eq!(hf_activation(name), Some(Activation::GeluTanh), "{name}");
        }
        assert_eq!(hf_activation("silu"), Some(Activation::Silu));
        assert_eq!(hf_activation("mish"), None);
    }
}

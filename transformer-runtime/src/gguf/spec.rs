//! A GGUF file's metadata against the spec of the model that loads it: every disagreement
//! found at once, each naming the key, the file's value and the spec's.

use std::fmt;

use super::{GgufError, GgufFile};

/// What a `transformer!` spec of a Llama-shaped decoder declares, as a GGUF file of
/// architecture `llama` states it.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaSpec {
    /// `layers`; the file's `llama.block_count`.
    pub layers: usize,
    /// `d_model`; `llama.embedding_length`.
    pub d_model: usize,
    /// `d_ff`; `llama.feed_forward_length`.
    pub d_ff: usize,
    /// `heads`; `llama.attention.head_count`.
    pub heads: usize,
    /// `kv_heads`; `llama.attention.head_count_kv` (absent: as many as `heads`).
    pub kv_heads: usize,
    /// `rope_theta`; `llama.rope.freq_base` (absent: 10000).
    pub rope_theta: f32,
    /// `eps`; `llama.attention.layer_norm_rms_epsilon`.
    pub eps: f32,
    /// `vocab`; `llama.vocab_size`, or the length of `tokenizer.ggml.tokens`.
    pub vocab: usize,
    /// `max_len`; at most `llama.context_length`.
    pub max_len: usize,
    /// `lm_head: tied` (no `output.weight` tensor) or `separate` (one); `None` for a model
    /// without a head, which reads neither.
    pub tied_head: Option<bool>,
}

/// One disagreement between a GGUF file and the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The file's key (or tensor) in question.
    pub key: String,
    /// What the file says.
    pub file: String,
    /// What the spec declares, as it is written in `transformer!`.
    pub spec: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the file has `{}` = {}, the spec declares `{}`",
            self.key, self.file, self.spec
        )
    }
}

impl LlamaSpec {
    /// Every way `file` differs from this spec; empty if it is a file of this model.
    ///
    /// # Errors
    ///
    /// [`GgufError`] if a key the check needs has a value of the wrong type.
    pub fn mismatches(&self, file: &GgufFile) -> Result<Vec<Mismatch>, GgufError> {
        let mut found = Vec::new();
        let architecture = file.get_str("general.architecture").unwrap_or("none");
        if architecture != "llama" {
            found.push(Mismatch {
                key: "general.architecture".into(),
                file: format!("\"{architecture}\""),
                spec: "a Llama-shaped decoder (\"llama\")".into(),
            });
            // Its other keys are another architecture's: nothing more to compare.
            return Ok(found);
        }
        let mut count = |key: &str, spec: usize, spec_key: &str, default: Option<usize>| {
            let value = match (file.metadata(key), default) {
                (None, Some(default)) => Ok(default),
                _ => file.get_usize(key),
            };
            value.map(|value| {
                if value != spec {
                    found.push(Mismatch {
                        key: key.into(),
                        file: value.to_string(),
                        spec: format!("{spec_key}: {spec}"),
                    });
                }
            })
        };
        count("llama.block_count", self.layers, "layers", None)?;
        count("llama.embedding_length", self.d_model, "d_model", None)?;
        count("llama.feed_forward_length", self.d_ff, "d_ff", None)?;
        count("llama.attention.head_count", self.heads, "heads", None)?;
        let heads = file.get_usize("llama.attention.head_count")?;
        let kv_key = "llama.attention.head_count_kv";
        count(kv_key, self.kv_heads, "kv_heads", Some(heads))?;
        let vocab = match file.metadata("llama.vocab_size") {
            Some(_) => file.get_usize("llama.vocab_size")?,
            None => file.get_str_array("tokenizer.ggml.tokens")?.len(),
        };
        if vocab != self.vocab {
            found.push(Mismatch {
                key: "llama.vocab_size".into(),
                file: vocab.to_string(),
                spec: format!("vocab: {}", self.vocab),
            });
        }
        let theta = match file.metadata("llama.rope.freq_base") {
            Some(_) => file.get_f32("llama.rope.freq_base")?,
            None => 10_000.0,
        };
        if theta != self.rope_theta {
            found.push(Mismatch {
                key: "llama.rope.freq_base".into(),
                file: float(theta),
                spec: format!("rope_theta: {}", float(self.rope_theta)),
            });
        }
        let eps_key = "llama.attention.layer_norm_rms_epsilon";
        let eps = file.get_f32(eps_key)?;
        if eps != self.eps {
            found.push(Mismatch {
                key: eps_key.into(),
                file: float(eps),
                spec: format!("eps: {}", float(self.eps)),
            });
        }
        if file.metadata("llama.context_length").is_some() {
            let context = file.get_usize("llama.context_length")?;
            if self.max_len > context {
                found.push(Mismatch {
                    key: "llama.context_length".into(),
                    file: context.to_string(),
                    spec: format!("max_len: {} (at most the file's)", self.max_len),
                });
            }
        }
        if let Some(tied) = self.tied_head {
            let separate = file.tensor("output.weight").is_some();
            if separate == tied {
                found.push(Mismatch {
                    key: "output.weight".into(),
                    file: if separate { "a tensor" } else { "no tensor" }.into(),
                    spec: if tied {
                        "lm_head: tied"
                    } else {
                        "lm_head: separate"
                    }
                    .into(),
                });
            }
        }
        Ok(found)
    }
}

impl LlamaSpec {
    /// The spec a GGUF file of architecture `llama` describes: what
    /// [`Self::declaration`] writes out.
    ///
    /// # Errors
    ///
    /// [`GgufError::MissingKey`] or [`GgufError::WrongType`] naming a key the spec needs;
    /// [`GgufError::WrongType`] for `general.architecture` if the file is not a `llama`.
    pub fn read(file: &GgufFile) -> Result<Self, GgufError> {
        let architecture = file.get_str("general.architecture")?;
        if architecture != "llama" {
            return Err(GgufError::WrongType {
                key: "general.architecture".into(),
                expected: "\"llama\" (a Llama-shaped decoder)",
                found: format!("\"{architecture}\""),
            });
        }
        let heads = file.get_usize("llama.attention.head_count")?;
        let optional = |key: &str, default: usize| match file.metadata(key) {
            Some(_) => file.get_usize(key),
            None => Ok(default),
        };
        let vocab = match file.metadata("llama.vocab_size") {
            Some(_) => file.get_usize("llama.vocab_size")?,
            None => file.get_str_array("tokenizer.ggml.tokens")?.len(),
        };
        Ok(Self {
            layers: file.get_usize("llama.block_count")?,
            d_model: file.get_usize("llama.embedding_length")?,
            d_ff: file.get_usize("llama.feed_forward_length")?,
            heads,
            kv_heads: optional("llama.attention.head_count_kv", heads)?,
            rope_theta: match file.metadata("llama.rope.freq_base") {
                Some(_) => file.get_f32("llama.rope.freq_base")?,
                None => 10_000.0,
            },
            eps: file.get_f32("llama.attention.layer_norm_rms_epsilon")?,
            vocab,
            max_len: optional("llama.context_length", 2048)?,
            tied_head: Some(file.tensor("output.weight").is_none()),
        })
    }

    /// The `transformer!` declaration of a model named `name` with this spec, ready to
    /// paste: a Llama-shaped decoder (`weights: llama`, so that it reads Hugging Face's
    /// safetensors too, and `from_gguf`).
    pub fn declaration(&self, name: &str) -> String {
        let head = match self.tied_head {
            Some(true) => ", lm_head: tied",
            Some(false) => ", lm_head: separate",
            None => "",
        };
        format!(
            "transformer! {{\n    pub {name} < kind: decoder, vocab: {}, d_model: {}, heads: {}, kv_heads: {}, layers: {},\n        \
             d_ff: {}, max_len: {}, norm: pre, norm_kind: rms, eps: {}, final_norm: true,\n        \
             positional: rope, rope_theta: {}, gated: true, activation: silu, bias: false{head},\n        \
             weights: llama >\n}}",
            self.vocab,
            self.d_model,
            self.heads,
            self.kv_heads,
            self.layers,
            self.d_ff,
            self.max_len,
            float(self.eps),
            float(self.rope_theta),
        )
    }
}

/// A float as a person writes it: `100000`, `1e-5`.
fn float(value: f32) -> String {
    if value.abs() >= 1.0 && value.fract() == 0.0 {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Value, Writer};

    fn spec() -> LlamaSpec {
        LlamaSpec {
            layers: 2,
            d_model: 8,
            d_ff: 16,
            heads: 2,
            kv_heads: 1,
            rope_theta: 100_000.0,
            eps: 1e-5,
            vocab: 3,
            max_len: 64,
            tied_head: Some(true),
        }
    }

    fn file(edit: impl FnOnce(&mut Writer)) -> GgufFile {
        let mut writer = Writer::new();
        let entries = [
            ("general.architecture", Value::String("llama".into())),
            ("llama.block_count", Value::U32(2)),
            ("llama.embedding_length", Value::U32(8)),
            ("llama.feed_forward_length", Value::U32(16)),
            ("llama.attention.head_count", Value::U32(2)),
            ("llama.attention.head_count_kv", Value::U32(1)),
            ("llama.rope.freq_base", Value::F32(100_000.0)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.context_length", Value::U32(8192)),
            ("llama.vocab_size", Value::U32(3)),
        ];
        for (key, value) in entries {
            writer.add_metadata(key, value).unwrap();
        }
        edit(&mut writer);
        GgufFile::from_bytes(writer.to_bytes()).unwrap()
    }

    #[test]
    fn a_file_of_the_model_matches() {
        assert_eq!(spec().mismatches(&file(|_| {})).unwrap(), []);
    }

    #[test]
    fn every_disagreement_is_named_with_both_values() {
        let spec = LlamaSpec {
            layers: 30,
            kv_heads: 9,
            rope_theta: 10_000.0,
            max_len: 10_000,
            tied_head: Some(false),
            ..spec()
        };
        let messages: Vec<String> = spec
            .mismatches(&file(|_| {}))
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            messages,
            [
                "the file has `llama.block_count` = 2, the spec declares `layers: 30`",
                "the file has `llama.attention.head_count_kv` = 1, the spec declares `kv_heads: 9`",
                "the file has `llama.rope.freq_base` = 100000, the spec declares `rope_theta: 10000`",
                "the file has `llama.context_length` = 8192, the spec declares `max_len: 10000 (at most the file's)`",
                "the file has `output.weight` = no tensor, the spec declares `lm_head: separate`",
            ]
        );
    }

    #[test]
    fn a_file_reads_back_as_the_spec_it_matches() {
        let spec = LlamaSpec {
            max_len: 8192,
            ..spec()
        };
        let file = file(|_| {});
        assert_eq!(LlamaSpec::read(&file).unwrap(), spec);
        assert_eq!(spec.mismatches(&file).unwrap(), []);
        assert_eq!(
            spec.declaration("Tiny"),
            "transformer! {\n    pub Tiny < kind: decoder, vocab: 3, d_model: 8, heads: 2, kv_heads: 1, layers: 2,\n        \
             d_ff: 16, max_len: 8192, norm: pre, norm_kind: rms, eps: 1e-5, final_norm: true,\n        \
             positional: rope, rope_theta: 100000, gated: true, activation: silu, bias: false, lm_head: tied,\n        \
             weights: llama >\n}"
        );
    }

    #[test]
    fn another_architecture_is_one_mismatch() {
        let mut writer = Writer::new();
        writer
            .add_metadata("general.architecture", Value::String("gpt2".into()))
            .unwrap();
        let file = GgufFile::from_bytes(writer.to_bytes()).unwrap();
        let found = spec().mismatches(&file).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].file, "\"gpt2\"");
    }

    #[test]
    fn absent_optional_keys_take_llama_defaults() {
        let spec = LlamaSpec {
            kv_heads: 2,
            rope_theta: 10_000.0,
            ..spec()
        };
        let mut writer = Writer::new();
        let entries = [
            ("general.architecture", Value::String("llama".into())),
            ("llama.block_count", Value::U32(2)),
            ("llama.embedding_length", Value::U32(8)),
            ("llama.feed_forward_length", Value::U32(16)),
            ("llama.attention.head_count", Value::U32(2)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.vocab_size", Value::U32(3)),
        ];
        for (key, value) in entries {
            writer.add_metadata(key, value).unwrap();
        }
        let file = GgufFile::from_bytes(writer.to_bytes()).unwrap();
        assert_eq!(spec.mismatches(&file).unwrap(), []);
    }
}

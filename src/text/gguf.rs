//! A byte-level BPE tokenizer from GGUF metadata (`tokenizer.ggml.*`), built as Hugging Face
//! transformers' GGUF converter builds it (`integrations/gguf/gguf_tokenizer_mapping.py`),
//! with the text split llama.cpp uses for the file's `tokenizer.ggml.pre` (`llama-vocab.cpp`).
//!
//! The vocabulary becomes the `tokenizer.json` it stands for ([`GgufVocab::tokenizer_json`]):
//! a BPE model over the file's tokens and merges, the pre-tokenizer of its `pre`, a byte-level
//! decoder, control tokens (type 3) as special added tokens and user-defined ones (type 4) as
//! plain added tokens, both matched whole in the text.

use serde_json::{Value, json};

use super::TextError;
use crate::runtime::gguf::{Array, GgufError, GgufFile};

/// The tokenizer metadata of a GGUF file, one field per `tokenizer.ggml.*` key. A GGUF reader
/// fills it; the text module reads no GGUF file itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) is the one supported.
    pub model: String,
    /// `tokenizer.ggml.pre`: how text is split before BPE; see [`GgufVocab::SUPPORTED_PRE`].
    /// `None` splits as GPT-2 does, as transformers does for a file without the key.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: token `i` has id `i`.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`, one per token: 1 normal, 3 control (special), 4
    /// user-defined (added), others as normal. Empty: all normal.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"a b"`, best first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub padding: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: encoding with special tokens puts `bos` first.
    pub add_bos: bool,
    /// `tokenizer.ggml.add_eos_token`: encoding with special tokens puts `eos` last.
    pub add_eos: bool,
    /// `tokenizer.chat_template`: the Jinja template of chat prompts.
    pub chat_template: Option<String>,
}

/// How the text is cut before BPE, by `tokenizer.ggml.pre`.
#[derive(Clone, Copy, Debug)]
enum Split {
    /// GPT-2's regex, inside the `ByteLevel` pre-tokenizer.
    Gpt2,
    /// Every digit alone first (llama.cpp's `\p{N}`), then GPT-2's regex: StarCoder's split.
    DigitsThenGpt2,
    /// A regex of its own, then bytes.
    Regex(&'static str),
}

/// Llama 3's split (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's split (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` values and their split; llama.cpp's names.
const PRE: [(&str, Split); 7] = [
    ("gpt2", Split::Gpt2),
    ("smollm", Split::DigitsThenGpt2),
    ("starcoder", Split::DigitsThenGpt2),
    ("llama-bpe", Split::Regex(LLAMA3)),
    ("llama3", Split::Regex(LLAMA3)),
    ("llama-v3", Split::Regex(LLAMA3)),
    ("qwen2", Split::Regex(QWEN2)),
];

/// Token types of `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

impl GgufVocab {
    /// The vocabulary a GGUF file carries in its `tokenizer.ggml.*` metadata (and its
    /// `tokenizer.chat_template`), as [`Tokenizer::from_gguf_metadata`](super::Tokenizer::from_gguf_metadata)
    /// takes it. Optional keys are `None`, empty or false when absent.
    ///
    /// # Errors
    ///
    /// [`TextError::Vocab`] naming the key, if one the tokenizer needs is missing or of
    /// another type.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TextError> {
        let vocab = |error: GgufError| TextError::Vocab(error.to_string());
        let optional_str = |key: &str| -> Result<Option<String>, TextError> {
            match file.metadata(key) {
                None => Ok(None),
                Some(_) => file.get_str(key).map(|s| Some(s.to_owned())).map_err(vocab),
            }
        };
        let optional_id = |key: &str| -> Result<Option<u32>, TextError> {
            match file.metadata(key) {
                None => Ok(None),
                Some(_) => file.get_u32(key).map(Some).map_err(vocab),
            }
        };
        let flag = |key: &str| -> Result<bool, TextError> {
            match file.metadata(key) {
                None => Ok(false),
                Some(_) => file.get_bool(key).map_err(vocab),
            }
        };
        let token_types = match file.metadata("tokenizer.ggml.token_type") {
            None => Vec::new(),
            Some(_) => match file.get_array("tokenizer.ggml.token_type").map_err(vocab)? {
                Array::I32(types) => types.clone(),
                Array::U32(types) => types.iter().map(|&t| t as i32).collect(),
                other => {
                    return Err(TextError::Vocab(format!(
                        "`tokenizer.ggml.token_type` is an array of {other:?}-typed values, not of integers"
                    )));
                }
            },
        };
        let merges = match file.metadata("tokenizer.ggml.merges") {
            None => Vec::new(),
            Some(_) => file
                .get_str_array("tokenizer.ggml.merges")
                .map_err(vocab)?
                .to_vec(),
        };
        Ok(Self {
            model: file
                .get_str("tokenizer.ggml.model")
                .map_err(vocab)?
                .to_owned(),
            pre: optional_str("tokenizer.ggml.pre")?,
            tokens: file
                .get_str_array("tokenizer.ggml.tokens")
                .map_err(vocab)?
                .to_vec(),
            token_types,
            merges,
            bos: optional_id("tokenizer.ggml.bos_token_id")?,
            eos: optional_id("tokenizer.ggml.eos_token_id")?,
            unk: optional_id("tokenizer.ggml.unknown_token_id")?,
            padding: optional_id("tokenizer.ggml.padding_token_id")?,
            add_bos: flag("tokenizer.ggml.add_bos_token")?,
            add_eos: flag("tokenizer.ggml.add_eos_token")?,
            chat_template: optional_str("tokenizer.chat_template")?,
        })
    }

    /// The `tokenizer.ggml.pre` values this module splits text for.
    pub const SUPPORTED_PRE: [&str; 7] = [
        PRE[0].0, PRE[1].0, PRE[2].0, PRE[3].0, PRE[4].0, PRE[5].0, PRE[6].0,
    ];

    /// The `tokenizer.json` this vocabulary stands for, as `tokenizers` reads it.
    ///
    /// # Errors
    ///
    /// [`TextError::UnsupportedVocab`] for a `model` other than `gpt2` or an unknown `pre`;
    /// [`TextError::Vocab`] for token types that do not match the tokens, a merge that is not
    /// two tokens, a special id past the vocabulary.
    pub fn tokenizer_json(&self) -> Result<Value, TextError> {
        let split = self.split()?;
        self.check_lengths()?;
        let vocab = self.byte_level_vocab();
        let merges = self.merge_pairs()?;
        Ok(json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": self.added_tokens(&vocab),
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer(split),
            "post_processor": self.post_processor()?,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false,
                // llama.cpp looks a whole Llama 3 piece up before merging, as Llama 3's own
                // tokenizer.json asks (`ignore_merges`).
                "ignore_merges": matches!(split, Split::Regex(LLAMA3)),
                "vocab": vocab.iter().enumerate().map(|(id, t)| (t.clone(), json!(id))).collect::<serde_json::Map<_, _>>(),
                "merges": merges,
            },
        }))
    }

    fn split(&self) -> Result<Split, TextError> {
        if self.model != "gpt2" {
            return Err(TextError::UnsupportedVocab {
                key: "tokenizer.ggml.model",
                value: self.model.clone(),
                supported: &["gpt2"],
            });
        }
        let pre = self.pre.as_deref().unwrap_or("gpt2");
        PRE.iter()
            .find(|(name, _)| *name == pre)
            .map(|&(_, split)| split)
            .ok_or_else(|| TextError::UnsupportedVocab {
                key: "tokenizer.ggml.pre",
                value: pre.to_owned(),
                supported: &Self::SUPPORTED_PRE,
            })
    }

    fn check_lengths(&self) -> Result<(), TextError> {
        let n = self.tokens.len();
        if !self.token_types.is_empty() && self.token_types.len() != n {
            let reason = format!(
                "{} token types for {n} tokens: `tokenizer.ggml.token_type` needs one per token",
                self.token_types.len()
            );
            return Err(TextError::Vocab(reason));
        }
        let specials = [
            ("bos", self.bos),
            ("eos", self.eos),
            ("unk", self.unk),
            ("padding", self.padding),
        ];
        for (name, id) in specials {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                let reason = format!("`{name}` id {id} is past the vocabulary of {n} tokens");
                return Err(TextError::Vocab(reason));
            }
        }
        Ok(())
    }

    /// Each token as byte-level BPE spells it. A token with a character outside the byte
    /// alphabet (llama.cpp writes some with real spaces) is spelt from its UTF-8 bytes, as
    /// transformers' converter does.
    fn byte_level_vocab(&self) -> Vec<String> {
        let alphabet = byte_alphabet();
        // The printable bytes, and U+0100..=U+0143 for the 68 others.
        let in_alphabet = |c: char| matches!(c as u32, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0x143);
        let respell = |t: &str| t.bytes().map(|b| alphabet[b as usize]).collect();
        self.tokens
            .iter()
            .map(|t| match t.chars().all(in_alphabet) {
                true => t.clone(),
                false => respell(t),
            })
            .collect()
    }

    fn merge_pairs(&self) -> Result<Vec<[&str; 2]>, TextError> {
        let mut pairs = Vec::with_capacity(self.merges.len());
        for (i, merge) in self.merges.iter().enumerate() {
            match merge.split(' ').collect::<Vec<_>>()[..] {
                [a, b] if !a.is_empty() && !b.is_empty() => pairs.push([a, b]),
                _ => {
                    let reason =
                        format!("merge {i} ({merge:?}) is not two tokens separated by one space");
                    return Err(TextError::Vocab(reason));
                }
            }
        }
        Ok(pairs)
    }

    /// Control tokens spelt in the byte alphabet become special added tokens (one with other
    /// characters is a llama.cpp mislabel, which transformers skips too); user-defined tokens
    /// become plain added tokens.
    fn added_tokens(&self, vocab: &[String]) -> Vec<Value> {
        let added = |id: usize, special: bool| {
            json!({
                "id": id, "content": self.tokens[id], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special,
            })
        };
        let respelled = |id: usize| vocab[id] != self.tokens[id];
        let mut out = Vec::new();
        for (id, &token_type) in self.token_types.iter().enumerate() {
            match token_type {
                CONTROL if !respelled(id) => out.push(added(id, true)),
                USER_DEFINED if !respelled(id) => out.push(added(id, false)),
                _ => {}
            }
        }
        out
    }

    /// `bos $A eos` as `add_bos` and `add_eos` ask; `null` when neither.
    fn post_processor(&self) -> Result<Value, TextError> {
        let special = |flag: bool, id: Option<u32>, key: &str| match (flag, id) {
            (false, _) => Ok(None),
            (true, Some(id)) => Ok(Some((self.tokens[id as usize].clone(), id))),
            (true, None) => Err(TextError::Vocab(format!(
                "`add_{key}_token` is set but the file has no `{key}_token_id`"
            ))),
        };
        let bos = special(self.add_bos, self.bos, "bos")?;
        let eos = special(self.add_eos, self.eos, "eos")?;
        if bos.is_none() && eos.is_none() {
            return Ok(Value::Null);
        }
        let token = |t: &(String, u32)| json!({"SpecialToken": {"id": t.0, "type_id": 0}});
        let sequence = |id: &str| json!({"Sequence": {"id": id, "type_id": 0}});
        let around = |id: &str| -> Vec<Value> {
            let middle = std::iter::once(sequence(id));
            bos.iter()
                .map(token)
                .chain(middle)
                .chain(eos.iter().map(token))
                .collect()
        };
        let specials: serde_json::Map<String, Value> = bos
            .iter()
            .chain(&eos)
            .map(|(t, id)| (t.clone(), json!({"id": t, "ids": [id], "tokens": [t]})))
            .collect();
        Ok(json!({
            "type": "TemplateProcessing",
            "single": around("A"),
            "pair": around("A").into_iter().chain(around("B")).collect::<Vec<_>>(),
            "special_tokens": specials,
        }))
    }
}

fn pre_tokenizer(split: Split) -> Value {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    match split {
        Split::Gpt2 => byte_level(true),
        Split::DigitsThenGpt2 => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true),
        ]}),
        Split::Regex(regex) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            byte_level(false),
        ]}),
    }
}

/// GPT-2's `bytes_to_unicode`: byte `b` is spelt `alphabet[b]`. Printable bytes stand for
/// themselves; the others (controls, space, DEL, NBSP, soft hyphen) take the characters from
/// U+0100 on, in byte order.
pub(super) fn byte_alphabet() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut alphabet = ['\0'; 256];
    let mut next = 0x100;
    for b in 0..=255u8 {
        alphabet[b as usize] = match printable(b) {
            true => char::from(b),
            false => {
                next += 1;
                char::from_u32(next - 1).expect("U+0100..U+0143 are characters")
            }
        };
    }
    alphabet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_spells_space_and_newline_as_gpt2_does() {
        let alphabet = byte_alphabet();
        assert_eq!(alphabet[b' ' as usize], 'Ġ');
        assert_eq!(alphabet[b'\n' as usize], 'Ċ');
        assert_eq!(alphabet[b'a' as usize], 'a');
        assert_eq!(alphabet[0xAD], 'Ń'); // the last of the 68 remapped bytes: U+0143
    }

    #[test]
    fn unknown_pre_is_named_with_the_supported_ones() {
        let vocab = GgufVocab {
            model: "gpt2".into(),
            pre: Some("klingon".into()),
            ..GgufVocab::default()
        };
        let err = vocab.tokenizer_json().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`tokenizer.ggml.pre` is \"klingon\", which the text module does not support\n\
             help: supported: gpt2, smollm, starcoder, llama-bpe, llama3, llama-v3, qwen2"
        );
    }

    #[test]
    fn sentencepiece_models_are_refused() {
        let vocab = GgufVocab {
            model: "llama".into(),
            ..GgufVocab::default()
        };
        let err = vocab.tokenizer_json().unwrap_err().to_string();
        assert!(
            err.starts_with("`tokenizer.ggml.model` is \"llama\""),
            "{err}"
        );
    }

    #[test]
    fn malformed_vocabularies_are_named() {
        let base = GgufVocab {
            model: "gpt2".into(),
            tokens: vec!["a".into(), "b".into()],
            ..GgufVocab::default()
        };
        let cases = [
            (
                GgufVocab {
                    token_types: vec![1],
                    ..base.clone()
                },
                "1 token types for 2 tokens",
            ),
            (
                GgufVocab {
                    merges: vec!["ab".into()],
                    ..base.clone()
                },
                "merge 0 (\"ab\") is not two tokens",
            ),
            (
                GgufVocab {
                    eos: Some(2),
                    ..base.clone()
                },
                "`eos` id 2 is past the vocabulary of 2 tokens",
            ),
            (
                GgufVocab {
                    add_bos: true,
                    ..base.clone()
                },
                "`add_bos_token` is set but the file has no `bos_token_id`",
            ),
        ];
        for (vocab, want) in cases {
            let err = vocab.tokenizer_json().unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}

//! [`Tokenizer`]: text to token ids and back, from a `tokenizer.json` or a GGUF vocabulary,
//! with the special tokens and the chat template that go with it.

use std::path::Path;

use super::chat::ChatTemplate;
use super::gguf::GgufVocab;
use super::stream::TextStream;
use super::{TextError, file_error};

/// The special tokens a chat template sees, as text: `bos_token`, `eos_token`, `unk_token`,
/// `pad_token` (transformers passes a tokenizer's whole special-tokens map).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<String>,
    /// End of sequence (for a chat model, often the end of a turn).
    pub eos: Option<String>,
    /// Unknown.
    pub unk: Option<String>,
    /// Padding.
    pub pad: Option<String>,
}

/// A Hugging Face tokenizer: [`encode`](Self::encode), [`decode`](Self::decode), a
/// [`stream`](Self::stream) decoder for generated ids, and the model's
/// [`chat_template`](Self::chat_template).
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special_tokens: SpecialTokens,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Reads a `tokenizer.json`. It names no special tokens and holds no chat template (both
    /// live in `tokenizer_config.json`): give them with [`with_special_tokens`] and
    /// [`with_chat_template`].
    ///
    /// [`with_special_tokens`]: Self::with_special_tokens
    /// [`with_chat_template`]: Self::with_chat_template
    ///
    /// # Errors
    ///
    /// [`TextError::File`] if the file is missing or not a tokenizer.
    pub fn from_file(path: &Path) -> Result<Self, TextError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| file_error(path, e))?;
        Ok(Self {
            inner,
            special_tokens: SpecialTokens::default(),
            chat_template: None,
        })
    }

    /// The byte-level BPE tokenizer a GGUF file's `tokenizer.ggml.*` metadata describes (see
    /// [`GgufVocab::tokenizer_json`]), with its special tokens and chat template.
    ///
    /// # Errors
    ///
    /// As [`GgufVocab::tokenizer_json`]; [`TextError::Vocab`] if `tokenizers` refuses the
    /// result (a merge of tokens not in the vocabulary, say).
    pub fn from_gguf_metadata(vocab: &GgufVocab) -> Result<Self, TextError> {
        let json = vocab.tokenizer_json()?.to_string();
        let inner = json
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| TextError::Vocab(e.to_string()))?;
        let name = |id: Option<u32>| id.map(|id| vocab.tokens[id as usize].clone());
        Ok(Self {
            inner,
            special_tokens: SpecialTokens {
                bos: name(vocab.bos),
                eos: name(vocab.eos),
                unk: name(vocab.unk),
                pad: name(vocab.padding),
            },
            chat_template: vocab.chat_template.clone(),
        })
    }

    /// This tokenizer with `special_tokens` for its chat template.
    #[must_use]
    pub fn with_special_tokens(mut self, special_tokens: SpecialTokens) -> Self {
        self.special_tokens = special_tokens;
        self
    }

    /// This tokenizer with the Jinja chat template `source` (checked by
    /// [`chat_template`](Self::chat_template)).
    #[must_use]
    pub fn with_chat_template(mut self, source: impl Into<String>) -> Self {
        self.chat_template = Some(source.into());
        self
    }

    /// The ids of `text`. With `add_special_tokens`, the tokenizer's own additions too
    /// (`bos` for a GGUF vocabulary with `add_bos`, `[CLS] … [SEP]` for BERT). Special tokens
    /// written in the text (`<|im_start|>`) are matched whole either way.
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`] if the tokenizer fails.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`; bytes that are not UTF-8 (an id sequence cut inside a character)
    /// become U+FFFD. With `skip_special_tokens`, special tokens are left out.
    ///
    /// # Errors
    ///
    /// [`TextError::Decode`] for an id past the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TextError> {
        let vocab_size = self.vocab_size();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab_size) {
            let reason = format!("token id {id} is past the vocabulary of {vocab_size} tokens");
            return Err(TextError::Decode(reason));
        }
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| TextError::Decode(e.to_string()))
    }

    /// A decoder for ids arriving one at a time that gives only whole characters.
    pub fn stream(&self, skip_special_tokens: bool) -> TextStream<'_> {
        TextStream::new(self, skip_special_tokens)
    }

    /// The chat template, ready to render, with this tokenizer's special tokens.
    ///
    /// # Errors
    ///
    /// [`TextError::NoChatTemplate`] if there is none; [`TextError::Template`] if it does
    /// not parse.
    pub fn chat_template(&self) -> Result<ChatTemplate, TextError> {
        let source = self
            .chat_template
            .as_deref()
            .ok_or(TextError::NoChatTemplate)?;
        ChatTemplate::new(source, self.special_tokens.clone())
    }

    /// The special tokens, as the chat template sees them.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special_tokens
    }

    /// The number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of the token spelt `token` (byte-level spelling: `Ġthe` for " the").
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The spelling of token `id`.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The `tokenizers` tokenizer inside, for what this type does not offer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// A hand-made byte-level vocabulary for tests: ids 0–2 are `<|endoftext|>`, `<|im_start|>`
/// (control) and `<think>` (user-defined), 3 is the control token `<| |>` (with a real
/// space, so not added), 4–259 the 256 bytes, then the merges' tokens `Ġt`, `he`, `Ġthe`,
/// `ĠĠ`, `Ã©` (`é`).
#[cfg(test)]
pub(super) fn tiny_vocab(pre: &str) -> GgufVocab {
    let alphabet = super::gguf::byte_alphabet();
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<think>", "<| |>"]
        .map(String::from)
        .to_vec();
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    let merges = ["Ġ t", "h e", "Ġt he", "Ġ Ġ", "Ã ©"];
    tokens.extend(merges.iter().map(|m| m.replace(' ', "")));
    let mut token_types = vec![1; tokens.len()];
    token_types[..4].copy_from_slice(&[3, 3, 4, 3]);
    GgufVocab {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens,
        token_types,
        merges: merges.map(String::from).to_vec(),
        bos: Some(1),
        eos: Some(0),
        chat_template: Some(
            "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}".into(),
        ),
        ..GgufVocab::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids of the tiny vocabulary: a byte's, and the merged tokens'.
    fn byte(b: u8) -> u32 {
        4 + u32::from(b)
    }
    const T_: u32 = 260; // Ġt
    const HE: u32 = 261;
    const THE: u32 = 262; // Ġthe
    const SPACES: u32 = 263; // ĠĠ
    const E_ACUTE: u32 = 264; // Ã© = é

    fn tiny(pre: &str) -> Tokenizer {
        Tokenizer::from_gguf_metadata(&tiny_vocab(pre)).unwrap()
    }

    #[test]
    fn merges_apply_in_order() {
        let t = tiny("gpt2");
        assert_eq!(t.encode(" the", false).unwrap(), [THE]);
        assert_eq!(t.encode("the", false).unwrap(), [byte(b't'), HE]);
        assert_eq!(t.encode(" té", false).unwrap(), [T_, E_ACUTE]);
        assert_eq!(t.token_to_id("Ġthe"), Some(THE));
    }

    #[test]
    fn control_and_user_defined_tokens_are_matched_whole() {
        let t = tiny("gpt2");
        let ids = t.encode("<|im_start|>a<think>b", false).unwrap();
        assert_eq!(ids, [1, byte(b'a'), 2, byte(b'b')]);
        // `<| |>` is spelt with a real space: a mislabel that stays bytes, as in transformers.
        let ids = t.encode("<| |>", false).unwrap();
        let bytes: Vec<u32> = "<| |>".bytes().map(byte).collect();
        assert_eq!(ids, bytes);
    }

    #[test]
    fn smollm_splits_digits_before_gpt2s_regex() {
        // GPT-2's regex gives `a`, ` `, ` 12`; with digits split first, `a`, `  `, `1`, `2`.
        let digits = [byte(b'1'), byte(b'2')];
        let gpt2 = tiny("gpt2").encode("a  12", false).unwrap();
        assert_eq!(
            gpt2,
            [&[byte(b'a'), byte(b' '), byte(b' ')][..], &digits].concat()
        );
        let smollm = tiny("smollm").encode("a  12", false).unwrap();
        assert_eq!(smollm, [&[byte(b'a'), SPACES][..], &digits].concat());
    }

    #[test]
    fn regex_splits_compile_and_round_trip() {
        for pre in ["llama-bpe", "qwen2"] {
            let t = tiny(pre);
            let text = "It's 12345 the\n\n  end 🦀";
            let ids = t.encode(text, false).unwrap();
            assert_eq!(t.decode(&ids, false).unwrap(), text, "{pre}");
        }
    }

    #[test]
    fn add_bos_and_add_eos_apply_with_special_tokens_only() {
        let vocab = GgufVocab {
            add_bos: true,
            add_eos: true,
            ..tiny_vocab("gpt2")
        };
        let t = Tokenizer::from_gguf_metadata(&vocab).unwrap();
        assert_eq!(t.encode(" the", true).unwrap(), [1, THE, 0]);
        assert_eq!(t.encode(" the", false).unwrap(), [THE]);
    }

    #[test]
    fn decode_restores_the_text_and_can_skip_special_tokens() {
        let t = tiny("smollm");
        let text = "<|im_start|>héllo  the 東京 🦀\n";
        let ids = t.encode(text, false).unwrap();
        assert_eq!(t.decode(&ids, false).unwrap(), text);
        assert_eq!(t.decode(&ids, true).unwrap(), "héllo  the 東京 🦀\n");
    }

    #[test]
    fn decode_refuses_ids_past_the_vocabulary() {
        let t = tiny("gpt2");
        let err = t.decode(&[3, 9999], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "decoding failed: token id 9999 is past the vocabulary of 265 tokens"
        );
    }

    #[test]
    fn the_chat_template_and_special_tokens_come_from_the_vocabulary() {
        let t = tiny("gpt2");
        assert_eq!(t.special_tokens().bos.as_deref(), Some("<|im_start|>"));
        assert_eq!(t.special_tokens().eos.as_deref(), Some("<|endoftext|>"));
        let chat = t.chat_template().unwrap();
        let prompt = chat.render(&[super::super::Message::user("hi")], false);
        assert_eq!(prompt.unwrap(), "<|im_start|>hi");
        let plain = Tokenizer::from_gguf_metadata(&GgufVocab {
            chat_template: None,
            ..tiny_vocab("gpt2")
        })
        .unwrap();
        assert!(matches!(
            plain.chat_template(),
            Err(TextError::NoChatTemplate)
        ));
    }
}

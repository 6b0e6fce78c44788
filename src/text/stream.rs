//! [`TextStream`]: decoding generated ids one at a time into whole characters.

use super::TextError;
use super::tokenizer::Tokenizer;

/// Decodes ids as they are generated and returns text only once it is whole: byte-level BPE
/// splits a multi-byte character (`é`, `東`, `🦀`) across tokens, and a decoder's output for
/// part of it ends in U+FFFD. Call [`flush`](Self::flush) at the end for what is left.
///
/// Each step decodes the new ids together with the ones last returned, and returns the
/// difference, so decoders that depend on the previous token (a leading space, `##` pieces)
/// give the same text as decoding everything at once.
pub struct TextStream<'t> {
    tokenizer: &'t Tokenizer,
    skip_special_tokens: bool,
    /// The ids last returned (`..prefix`), then the ids not returned yet.
    ids: Vec<u32>,
    prefix: usize,
}

impl<'t> TextStream<'t> {
    pub(super) fn new(tokenizer: &'t Tokenizer, skip_special_tokens: bool) -> Self {
        Self {
            tokenizer,
            skip_special_tokens,
            ids: Vec::new(),
            prefix: 0,
        }
    }

    /// Takes the next id; returns the text it completes, or `None` while a character is still
    /// cut (or the id adds no text, as a skipped special token).
    ///
    /// # Errors
    ///
    /// [`TextError::Decode`] for an id past the vocabulary (the stream is unchanged).
    pub fn push(&mut self, id: u32) -> Result<Option<String>, TextError> {
        self.ids.push(id);
        let text = match self.new_text() {
            Ok(text) => text,
            Err(e) => {
                self.ids.pop();
                return Err(e);
            }
        };
        match text.ends_with(char::REPLACEMENT_CHARACTER) {
            true => Ok(None),
            false => Ok(self.advance(text)),
        }
    }

    /// The text of the ids not returned yet, whole or not (a cut character becomes U+FFFD),
    /// or `None` if there is none. The stream starts over afterwards.
    ///
    /// # Errors
    ///
    /// [`TextError::Decode`] if decoding fails.
    pub fn flush(&mut self) -> Result<Option<String>, TextError> {
        let text = self.new_text()?;
        self.ids.clear();
        self.prefix = 0;
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    /// The decoded ids past the prefix: `decode(prefix + rest) - decode(prefix)`.
    fn new_text(&self) -> Result<String, TextError> {
        let decode = |ids: &[u32]| self.tokenizer.decode(ids, self.skip_special_tokens);
        let before = decode(&self.ids[..self.prefix])?;
        let all = decode(&self.ids)?;
        // Decoders only append here; if one rewrote earlier text, return from where the two
        // part.
        let common = before
            .char_indices()
            .zip(all.chars())
            .find(|&((_, a), b)| a != b)
            .map_or(before.len().min(all.len()), |((i, _), _)| i);
        Ok(all[common..].to_owned())
    }

    /// Returns `text` if it is not empty, and makes the ids just returned the new prefix.
    fn advance(&mut self, text: String) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        self.ids.drain(..self.prefix);
        self.prefix = self.ids.len();
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokenizer::tiny_vocab;
    use super::*;

    fn tiny() -> Tokenizer {
        Tokenizer::from_gguf_metadata(&tiny_vocab("gpt2")).unwrap()
    }

    /// What the stream returns for each id of `ids`, then the flush.
    fn pieces(t: &Tokenizer, ids: &[u32], skip_special: bool) -> Vec<Option<String>> {
        let mut stream = t.stream(skip_special);
        let mut out: Vec<_> = ids.iter().map(|&id| stream.push(id).unwrap()).collect();
        out.push(stream.flush().unwrap());
        out
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn a_character_split_across_tokens_comes_out_whole() {
        let t = tiny();
        // 🦀 is F0 9F A6 80: four byte tokens, as the tiny vocabulary has no merge for them.
        let ids = t.encode("a🦀 the", false).unwrap();
        assert_eq!(ids.len(), 6);
        assert_eq!(
            pieces(&t, &ids, false),
            [some("a"), None, None, None, some("🦀"), some(" the"), None]
        );
    }

    #[test]
    fn streamed_text_is_the_decoded_text() {
        let t = tiny();
        let text = "<|im_start|>東京 é  the🦀\nend";
        let ids = t.encode(text, false).unwrap();
        for skip in [false, true] {
            let streamed: String = pieces(&t, &ids, skip).into_iter().flatten().collect();
            assert_eq!(streamed, t.decode(&ids, skip).unwrap());
            assert!(!streamed.contains(char::REPLACEMENT_CHARACTER));
        }
    }

    #[test]
    fn flush_gives_a_cut_character_as_a_replacement() {
        let t = tiny();
        let ids = t.encode("é東", false).unwrap();
        let cut = &ids[..ids.len() - 1]; // 東 is three bytes; its last is missing
        assert_eq!(
            pieces(&t, cut, false),
            [some("é"), None, None, some("\u{FFFD}")]
        );
    }

    #[test]
    fn skipped_special_tokens_add_nothing() {
        let t = tiny();
        assert_eq!(
            pieces(&t, &[1, 262, 0], true),
            [None, some(" the"), None, None]
        );
        assert_eq!(
            pieces(&t, &[1, 262], false),
            [some("<|im_start|>"), some(" the"), None]
        );
    }

    #[test]
    fn an_id_past_the_vocabulary_is_an_error_and_changes_nothing() {
        let t = tiny();
        let mut stream = t.stream(false);
        assert!(stream.push(70_000).is_err());
        assert_eq!(stream.push(262).unwrap(), some(" the"));
    }
}

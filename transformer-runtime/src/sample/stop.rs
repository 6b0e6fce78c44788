//! When generation ends: at an end-of-sequence token or after `max_new_tokens`, as
//! transformers' `EosTokenCriteria` and `max_new_tokens` decide.

/// When to stop generating. The end-of-sequence token is kept as the last generated token,
/// as transformers keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// Ids that end the sequence (a chat model's `<|im_end|>`, say). May be empty.
    pub eos: Vec<u32>,
    /// The most tokens to generate, the prompt not counted.
    pub max_new_tokens: usize,
}

/// Why [`Stop::reason`] ended generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The last generated token is this end-of-sequence id.
    Eos(u32),
    /// `max_new_tokens` tokens have been generated.
    MaxNewTokens,
}

impl Stop {
    /// Why generation is over after the tokens `generated` so far (the prompt not included),
    /// or `None` to generate another. Call it before each step: with `max_new_tokens: 0`, no
    /// token is generated.
    pub fn reason(&self, generated: &[u32]) -> Option<StopReason> {
        if let Some(&last) = generated.last().filter(|id| self.eos.contains(id)) {
            return Some(StopReason::Eos(last));
        }
        (generated.len() >= self.max_new_tokens).then_some(StopReason::MaxNewTokens)
    }

    /// Whether generation is over: [`reason`](Self::reason) is not `None`.
    pub fn should_stop(&self, generated: &[u32]) -> bool {
        self.reason(generated).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_eos_first_then_at_the_length() {
        let stop = Stop {
            eos: vec![2, 0],
            max_new_tokens: 3,
        };
        assert_eq!(stop.reason(&[]), None);
        assert_eq!(stop.reason(&[5, 6]), None);
        assert_eq!(stop.reason(&[5, 0]), Some(StopReason::Eos(0)));
        assert_eq!(stop.reason(&[5, 6, 2]), Some(StopReason::Eos(2)));
        assert_eq!(stop.reason(&[5, 6, 7]), Some(StopReason::MaxNewTokens));
    }

    #[test]
    fn zero_new_tokens_generates_nothing() {
        let stop = Stop {
            eos: vec![],
            max_new_tokens: 0,
        };
        assert!(stop.should_stop(&[]));
    }
}

//! Why a token could not be chosen.

use std::fmt;

/// Why [`Sampler`](super::Sampler) refused its options or its logits.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleError {
    /// Options out of their ranges: every one of them.
    InvalidOptions(Vec<InvalidOption>),
    /// The logits slice is empty: there is no token to choose.
    EmptyLogits,
    /// A logit is NaN or `+∞`, so no probability can be computed.
    InvalidLogit {
        /// Its token id.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// Every logit is `-∞`: every token is ruled out.
    NoCandidate,
    /// A seen id (for the repetition penalty) is past the end of the logits.
    SeenOutOfRange {
        /// The id.
        id: u32,
        /// The number of logits (valid ids are `0..vocab`).
        vocab: usize,
    },
}

/// One option out of its range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InvalidOption {
    /// The field of [`SamplingOptions`](super::SamplingOptions): `"top_p"`, ...
    pub option: &'static str,
    /// Its value.
    pub value: f32,
    /// The values it may take.
    pub valid: &'static str,
}

impl fmt::Display for InvalidOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            option,
            value,
            valid,
        } = self;
        write!(f, "`{option}` is {value}, valid: {valid}")
    }
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidOptions(invalid) => {
                write!(f, "invalid sampling options:")?;
                invalid.iter().try_for_each(|i| write!(f, "\n  {i}"))
            }
            Self::EmptyLogits => write!(f, "the logits are empty: there is no token to choose"),
            Self::InvalidLogit { index, value } => {
                write!(f, "logit {index} is {value}: logits must be finite or -inf")
            }
            Self::NoCandidate => write!(f, "every logit is -inf: every token is ruled out"),
            Self::SeenOutOfRange { id, vocab } => write!(
                f,
                "seen token {id} is past the end of the logits (valid ids are 0..{vocab})"
            ),
        }
    }
}

impl std::error::Error for SampleError {}

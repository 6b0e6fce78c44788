//! What a [`Sampler`](super::Sampler) does: the settings of transformers' `GenerationConfig`
//! that shape one step, with its defaults for "off".

use super::error::{InvalidOption, SampleError};

/// How the next token is chosen. `Default` is greedy decoding without a penalty:
///
/// ```
/// use transformer_runtime::sample::SamplingOptions;
///
/// let greedy = SamplingOptions::default();
/// let creative = SamplingOptions { temperature: 0.8, top_k: 50, top_p: 0.95, seed: 7, ..greedy };
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Logits are divided by it before sampling. `0.0` means greedy: the most likely token,
    /// no draw (transformers' `do_sample=False`). Valid: `0.0` or more, finite. Default `0.0`.
    pub temperature: f32,
    /// Keep only the `top_k` largest logits (and any equal to the `top_k`-th). `0` means off.
    /// Default `0`.
    pub top_k: usize,
    /// Nucleus sampling: keep the most likely tokens whose probabilities add up to at least
    /// `top_p`, at least one. `1.0` means off. Valid: `(0, 1]`. Default `1.0`.
    pub top_p: f32,
    /// Drop the tokens less likely than `min_p` times the most likely one. `0.0` means off.
    /// Valid: `[0, 1]`. Default `0.0`.
    pub min_p: f32,
    /// Each token already seen has its logit divided by this (multiplied, if negative), so
    /// values above 1 discourage repeats. `1.0` means off. Valid: more than 0, finite.
    /// Default `1.0`.
    pub repetition_penalty: f32,
    /// Seeds the generator of draws; greedy decoding ignores it. Default `0`.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingOptions {
    /// Whether the next token is the argmax (`temperature` is `0.0`) rather than a draw.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Every option out of its range, at once.
    ///
    /// # Errors
    ///
    /// [`SampleError::InvalidOptions`] naming each option, its value and its valid range.
    pub fn validate(&self) -> Result<(), SampleError> {
        let checks = [
            (
                "temperature",
                self.temperature,
                self.temperature >= 0.0 && self.temperature.is_finite(),
                "0 (greedy) or more, finite",
            ),
            (
                "top_p",
                self.top_p,
                self.top_p > 0.0 && self.top_p <= 1.0,
                "(0, 1], 1 = off",
            ),
            (
                "min_p",
                self.min_p,
                (0.0..=1.0).contains(&self.min_p),
                "[0, 1], 0 = off",
            ),
            (
                "repetition_penalty",
                self.repetition_penalty,
                self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite(),
                "more than 0, finite, 1 = off",
            ),
        ];
        let invalid: Vec<InvalidOption> = checks
            .into_iter()
            .filter(|&(_, _, ok, _)| !ok)
            .map(|(option, value, _, valid)| InvalidOption {
                option,
                value,
                valid,
            })
            .collect();
        match invalid.is_empty() {
            true => Ok(()),
            false => Err(SampleError::InvalidOptions(invalid)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_greedy_and_valid() {
        let options = SamplingOptions::default();
        assert!(options.is_greedy());
        assert_eq!(options.validate(), Ok(()));
    }

    #[test]
    fn every_invalid_option_is_named_with_its_range() {
        let options = SamplingOptions {
            temperature: f32::NAN,
            top_p: 0.0,
            min_p: 1.5,
            repetition_penalty: 0.0,
            ..SamplingOptions::default()
        };
        let err = options.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sampling options:\n  \
             `temperature` is NaN, valid: 0 (greedy) or more, finite\n  \
             `top_p` is 0, valid: (0, 1], 1 = off\n  \
             `min_p` is 1.5, valid: [0, 1], 0 = off\n  \
             `repetition_penalty` is 0, valid: more than 0, finite, 1 = off"
        );
    }

    #[test]
    fn negative_temperature_and_penalty_are_refused() {
        let options = SamplingOptions {
            temperature: -1.0,
            repetition_penalty: -1.2,
            ..SamplingOptions::default()
        };
        let SampleError::InvalidOptions(invalid) = options.validate().unwrap_err() else {
            panic!("expected invalid options");
        };
        let names: Vec<_> = invalid.iter().map(|i| i.option).collect();
        assert_eq!(names, ["temperature", "repetition_penalty"]);
    }
}

//! Reading one item's settings: unknown and duplicate keys, then each value by the kind its
//! key takes (positive integer, flag, float, one of some words).

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::Lit;

use super::keys::{Key, Values, closest, names};
use crate::spec::{Setting, Value};

/// The largest dimension accepted: beyond it a single weight matrix would not fit in memory.
pub const MAX_DIM: u64 = 1 << 20;

/// A setting as read: left out, given but rejected (already reported), or given and valid.
pub enum Got<T> {
    Absent,
    Invalid { key: Span },
    Given { key: Span, at: Span, value: T },
}

impl<T: Copy> Got<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Got::Given { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// The value's span, where an error asking to change it points.
    pub fn at(&self) -> Option<Span> {
        match self {
            Got::Given { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// The key's span whenever the key was written, valid or not.
    pub fn key_span(&self) -> Option<Span> {
        match self {
            Got::Absent => None,
            Got::Invalid { key } | Got::Given { key, .. } => Some(*key),
        }
    }

    /// The value, the default when absent, `None` when invalid (its error is already out).
    pub fn or(&self, default: T) -> Option<T> {
        match self {
            Got::Absent => Some(default),
            Got::Invalid { .. } => None,
            Got::Given { value, .. } => Some(*value),
        }
    }
}

/// One item's settings by key, after unknown and duplicate keys were reported.
pub struct Settings<'a> {
    by_key: HashMap<String, &'a Setting>,
    /// Known keys that an unknown key was taken for (`hedas` → `heads`).
    suggested: Vec<&'static str>,
}

impl<'a> Settings<'a> {
    pub fn read(settings: &'a [Setting], errors: &mut Vec<syn::Error>) -> Self {
        Self::read_known(settings, &names().collect::<Vec<_>>(), None, errors)
    }

    /// The settings of the group `key` (`decoder: { vocab: 51865 }`), which takes the keys
    /// `allowed`; `None` when the item does not set `key` or sets it to something else than
    /// a group (reported).
    pub fn group(
        &self,
        key: &Key,
        allowed: &[&Key],
        errors: &mut Vec<syn::Error>,
    ) -> Option<(proc_macro2::Span, Settings<'a>)> {
        let setting = self.by_key.get(key.name)?;
        let Value::Group(_, inner) = &setting.value else {
            errors.push(syn::Error::new_spanned(
                &setting.value,
                wrong_kind(
                    key.name,
                    &setting.value,
                    "a group of settings in braces",
                    "{ vocab: 51865 }",
                ),
            ));
            return None;
        };
        let allowed: Vec<&'static str> = allowed.iter().map(|key| key.name).collect();
        let settings = Self::read_known(inner, &allowed, Some(key.name), errors);
        Some((setting.key.span(), settings))
    }

    /// Reads `settings` whose keys must be among `known`; `group` names the group they are
    /// in, if any, for the errors.
    fn read_known(
        settings: &'a [Setting],
        known: &[&'static str],
        group: Option<&str>,
        errors: &mut Vec<syn::Error>,
    ) -> Self {
        let mut by_key: HashMap<String, &'a Setting> = HashMap::new();
        let mut suggested = Vec::new();
        for setting in settings {
            let key = setting.key.to_string();
            if !known.contains(&key.as_str()) {
                suggested.extend(closest(&key, known.iter().copied()));
                errors.push(match group {
                    Some(group) if names().any(|name| name == key) => syn::Error::new(
                        setting.key.span(),
                        format!(
                            "`{key}` is a setting of the whole model, not of one stack\n\
                             help: move it out of `{group}: {{ … }}`; a stack's own settings are {}",
                            list(known)
                        ),
                    ),
                    _ => unknown_key(setting, known),
                });
            } else if let Some(first) = by_key.get(&key) {
                errors.push(syn::Error::new(
                    setting.key.span(),
                    format!(
                        "`{key}` is set twice\n\
                         help: keep one; the first sets `{key}: {}`",
                        value_text(&first.value)
                    ),
                ));
            } else {
                by_key.insert(key, setting);
            }
        }
        Self { by_key, suggested }
    }

    pub fn has(&self, key: &Key) -> bool {
        self.by_key.contains_key(key.name)
    }

    /// Whether `key` is written as `true` (a rule reading another key's flag; its own
    /// errors come from [`Self::flag`]).
    pub fn flag_value(&self, key: &Key) -> bool {
        matches!(self.by_key.get(key.name).map(|s| &s.value), Some(Value::Lit(Lit::Bool(b))) if b.value)
    }

    /// Whether `key` is written as the bare word `word`.
    pub fn word_is(&self, key: &Key, word: &str) -> bool {
        matches!(self.by_key.get(key.name).map(|s| &s.value), Some(Value::Word(w)) if w == word)
    }

    /// Whether an unknown key was reported as a misspelling of `key`.
    pub fn suggested(&self, key: &Key) -> bool {
        self.suggested.contains(&key.name)
    }

    /// Reads `key` with `parse`, which explains any rejection in its own words.
    fn get<T>(
        &self,
        key: &Key,
        errors: &mut Vec<syn::Error>,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Got<T> {
        let Some(setting) = self.by_key.get(key.name) else {
            return Got::Absent;
        };
        match parse(&setting.value) {
            Ok(value) => Got::Given {
                key: setting.key.span(),
                at: setting.value.span(),
                value,
            },
            Err(message) => {
                errors.push(syn::Error::new_spanned(&setting.value, message));
                Got::Invalid {
                    key: setting.key.span(),
                }
            }
        }
    }

    /// A positive integer: a model dimension or a count.
    pub fn dim(&self, key: &Key, errors: &mut Vec<syn::Error>) -> Got<usize> {
        let example = example(key);
        self.get(key, errors, |value| {
            let key = key.name;
            let Value::Lit(Lit::Int(int)) = value else {
                return Err(wrong_kind(key, value, "a positive integer", example));
            };
            let digits = int.base10_digits();
            match int.base10_parse::<u64>() {
                Ok(0) => Err(format!("`{key}` must be at least 1\nhelp: use a positive integer, e.g. `{key}: {example}`")),
                Ok(n) if n > MAX_DIM => Err(format!(
                    "`{key}` ({n}) is too large: the limit is {MAX_DIM}\nhelp: use at most {MAX_DIM}"
                )),
                Ok(n) => usize::try_from(n).map_err(|_| format!("`{key}` ({n}) does not fit in `usize`")),
                Err(_) => Err(format!(
                    "`{key}` ({digits}) is too large: the limit is {MAX_DIM}\nhelp: use at most {MAX_DIM}"
                )),
            }
        })
    }

    /// `true` or `false`.
    pub fn flag(&self, key: &Key, errors: &mut Vec<syn::Error>) -> Got<bool> {
        self.get(key, errors, |value| match value {
            Value::Lit(Lit::Bool(b)) => Ok(b.value),
            _ => Err(wrong_kind(key.name, value, "`true` or `false`", "true")),
        })
    }

    /// A finite float greater than zero that survives rounding to `f32`.
    pub fn positive_float(&self, key: &Key, errors: &mut Vec<syn::Error>) -> Got<f32> {
        self.get(key, errors, |value| {
            let key = key.name;
            let written = value_text(value);
            let not_positive = || {
                format!("`{key}` ({written}) must be greater than zero\nhelp: e.g. `{key}: 1e-5`")
            };
            let parsed = match value {
                Value::Lit(Lit::Float(f)) => f.base10_parse::<f64>(),
                Value::Lit(Lit::Int(i)) => i.base10_parse::<f64>(),
                Value::Negative(..) => return Err(not_positive()),
                _ => return Err(wrong_kind(key, value, "a positive float", "1e-5")),
            };
            let float = parsed.map_err(|e| format!("`{key}` ({written}) is not a number: {e}"))?;
            if float == 0.0 {
                return Err(not_positive());
            }
            let single = float as f32;
            if !(single.is_finite() && single > 0.0) {
                let fate = if single == 0.0 {
                    "rounds to zero"
                } else {
                    "overflows"
                };
                return Err(format!(
                    "`{key}` ({written}) {fate} in `f32`, the precision layer norms compute in\n\
                     help: use a value between 1e-38 and 1e38, e.g. `{key}: 1e-5`"
                ));
            }
            Ok(single)
        })
    }

    /// One of `choices`, written as a bare word.
    pub fn word<T: Copy>(
        &self,
        key: &Key,
        choices: &[(&str, T)],
        errors: &mut Vec<syn::Error>,
    ) -> Got<T> {
        self.get(key, errors, |value| {
            let key = key.name;
            let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            let allowed = words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let written = match value {
                Value::Word(word) => word.to_string(),
                Value::Lit(Lit::Str(s)) if words.contains(&s.value().as_str()) => {
                    return Err(format!(
                        "`{key}` takes a bare word, not a string\nhelp: write `{key}: {}`",
                        s.value()
                    ));
                }
                _ => {
                    return Err(wrong_kind(
                        key,
                        value,
                        &format!("one of {allowed}"),
                        words[0],
                    ));
                }
            };
            if let Some((_, choice)) = choices.iter().find(|(w, _)| *w == written) {
                return Ok(*choice);
            }
            Err(match closest(&written, words.iter().copied()) {
                Some(near) => format!(
                    "unknown `{key}` `{written}`: expected one of {allowed}\nhelp: use `{key}: {near}`"
                ),
                None => format!("unknown `{key}` `{written}`\nhelp: use one of {allowed}"),
            })
        })
    }
}

/// "`a`, `b`, `c`".
fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error for a key that `transformer!` does not know here, suggesting the closest of the
/// `known` keys.
fn unknown_key(setting: &Setting, known: &[&str]) -> syn::Error {
    let key = setting.key.to_string();
    let help = match closest(&key, known.iter().copied()) {
        Some(near) => format!("help: the closest known setting is `{near}`"),
        None => format!("help: known settings are {}", list(known)),
    };
    syn::Error::new(
        setting.key.span(),
        format!("unknown setting `{key}`\n{help}"),
    )
}

/// "`d_model` takes a positive integer, found the float `64.0`".
fn wrong_kind(key: &str, value: &Value, expected: &str, example: &str) -> String {
    let found = match value {
        Value::Lit(Lit::Int(i)) => format!("the integer `{}`", i.base10_digits()),
        Value::Lit(Lit::Float(f)) => format!("the float `{}`", f.base10_digits()),
        Value::Lit(Lit::Bool(b)) => format!("`{}`", b.value),
        Value::Lit(Lit::Str(s)) => format!("the string `{}`", s.to_token_stream()),
        Value::Lit(other) => format!("`{}`", other.to_token_stream()),
        Value::Word(word) => format!("the word `{word}`"),
        Value::Negative(..) => format!("the negative number `{}`", value_text(value)),
        Value::Group(..) => "a group of settings `{ … }`".to_owned(),
    };
    let help = match value {
        Value::Lit(Lit::Str(s)) if s.value().trim().parse::<f64>().is_ok() => {
            format!("help: drop the quotes: `{key}: {}`", s.value().trim())
        }
        _ => format!("help: e.g. `{key}: {example}`"),
    };
    format!("`{key}` takes {expected}, found {found}\n{help}")
}

/// A typical value of an integer key, for `help:` lines.
pub fn example(key: &Key) -> &'static str {
    match key.values {
        Values::Int { example } => example,
        Values::Flag | Values::Float | Values::Word | Values::Group => "2",
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Lit(lit) => lit.to_token_stream().to_string(),
        Value::Word(word) => word.to_string(),
        Value::Negative(_, inner) => format!("-{}", value_text(inner)),
        Value::Group(..) => "{ … }".to_owned(),
    }
}

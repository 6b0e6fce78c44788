//! The macro must never panic, whatever tokens it is given: random streams built from the
//! grammar's own pieces, and valid specs mutated token by token, all go through `expand`,
//! which must return tokens (a model or a `compile_error!`).

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::validate::keys::KEYS;

/// SplitMix64: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Words that are not keys: values, names, keywords, a typo and a raw identifier. Keys come
/// from the validator's own list, so new keys are fuzzed as soon as they exist.
const OTHER_WORDS: &[&str] = &[
    "pub",
    "crate",
    "true",
    "false",
    "relu",
    "gelu",
    "pre",
    "post",
    "none",
    "learned",
    "sinusoidal",
    "encoder",
    "decoder",
    "encoder_decoder",
    "bert",
    "pytorch",
    "Model",
    "Transformer",
    "_",
    "hedas",
    "r#type",
];
const PUNCTS: &[char] = &['<', '>', ':', ',', ';', '-', '#', '!', '=', '+', '.', '/'];
const LITERALS: &[&str] = &[
    "0",
    "1",
    "4",
    "64",
    "1e-5",
    "0.0",
    "-1",
    "18446744073709551616",
    "99999999999999999999999999",
    "1048577",
    "\"text\"",
    "'c'",
    "b\"x\"",
    "3.4e39",
    "1e-50",
    "64usize",
    "0x40",
    "1_000",
];

fn random_tree(rng: &mut Rng, depth: usize) -> TokenTree {
    match rng.below(if depth > 2 { 3 } else { 4 }) {
        0 => {
            let word = if rng.below(2) == 0 {
                rng.pick(KEYS).name
            } else {
                *rng.pick(OTHER_WORDS)
            };
            match word.strip_prefix("r#") {
                Some(raw) => TokenTree::Ident(Ident::new_raw(raw, Span::call_site())),
                None => TokenTree::Ident(Ident::new(word, Span::call_site())),
            }
        }
        1 => {
            let spacing = if rng.below(2) == 0 {
                Spacing::Alone
            } else {
                Spacing::Joint
            };
            TokenTree::Punct(Punct::new(*rng.pick(PUNCTS), spacing))
        }
        2 => TokenTree::Literal(
            rng.pick(LITERALS)
                .parse::<Literal>()
                .expect("a valid literal"),
        ),
        _ => {
            let delimiter =
                *rng.pick(&[Delimiter::Bracket, Delimiter::Parenthesis, Delimiter::Brace]);
            let inner: TokenStream = (0..rng.below(5))
                .map(|_| random_tree(rng, depth + 1))
                .collect();
            TokenTree::Group(Group::new(delimiter, inner))
        }
    }
}

/// Valid specs to mutate.
fn seeds() -> Vec<Vec<TokenTree>> {
    [
        "pub Tiny < d_model: 64, heads: 4, layers: 2 >",
        "#[doc = \"x\"] pub(crate) M < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1, norm: pre > ; < heads: 1, d_model: 4, layers: 1 >",
        "D < kind: decoder, cross_attention: true, d_model: 12, heads: 3, layers: 1, positional: learned, max_len: 8, eps: 1e-6, activation: gelu_tanh, bias: false, ffn: true, out_proj: false, final_norm: true >",
        "S < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1, encoder: { positional: sinusoidal }, decoder: { vocab: 50, token_types: 2, positional: learned, embed_norm: true } >",
    ]
    .iter()
    .map(|s| s.parse::<TokenStream>().expect("seed parses").into_iter().collect())
    .collect()
}

fn mutate(rng: &mut Rng, tokens: &mut Vec<TokenTree>) {
    for _ in 0..=rng.below(3) {
        let at = rng.below(tokens.len() + 1);
        match rng.below(4) {
            0 if !tokens.is_empty() => {
                tokens.remove(at.min(tokens.len() - 1));
            }
            1 => tokens.insert(at, random_tree(rng, 0)),
            2 if at < tokens.len() => tokens[at] = random_tree(rng, 0),
            _ => tokens.truncate(at),
        }
    }
}

#[test]
fn random_token_streams_never_panic() {
    let mut rng = Rng(1);
    for _ in 0..3000 {
        let input: TokenStream = (0..rng.below(24))
            .map(|_| random_tree(&mut rng, 0))
            .collect();
        let _ = crate::expand(input);
    }
}

#[test]
fn mutated_specs_never_panic_and_errors_stay_errors() {
    let mut rng = Rng(2);
    let seeds = seeds();
    for _ in 0..3000 {
        let mut tokens = rng.pick(&seeds).clone();
        mutate(&mut rng, &mut tokens);
        let input: TokenStream = tokens.into_iter().collect();
        let output = crate::expand(input.clone());
        // Either a model or errors: never an empty expansion for a non-empty input.
        assert!(
            !output.is_empty() || input.is_empty(),
            "empty expansion for `{input}`"
        );
    }
}

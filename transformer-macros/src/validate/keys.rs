//! The setting keys `transformer!` knows, in one table, and the nearest one to a misspelling.
//!
//! The validator reads each key through its constant here (`D_MODEL`, not `"d_model"`), so a
//! misspelt key in this crate does not compile. The README and the `transformer!` doc comment
//! list the same keys with the same defaults; a test below keeps them in step.

/// One spec key: its name, the values it takes, its default and what it means.
pub struct Key {
    pub name: &'static str,
    pub values: Values,
    /// The default as the docs write it: `` `512` ``, `required`, `none`, ….
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read only by the tests against the docs")
    )]
    pub default: &'static str,
    /// What the key sets, as the `transformer!` doc comment says it.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read only by the tests against the docs")
    )]
    pub doc: &'static str,
}

/// How a key's value is written.
pub enum Values {
    /// A positive integer; `example` is a typical value, for `help:` lines.
    Int { example: &'static str },
    /// `true` or `false`.
    Flag,
    /// A float greater than zero.
    Float,
    /// One of a few bare words; `validate` maps each to its enum.
    Word,
    /// `{ key: value, … }`: settings of one stack, from [`STACK_KEYS`].
    Group,
}

const fn int(example: &'static str) -> Values {
    Values::Int { example }
}

macro_rules! keys {
    ($($constant:ident: $name:literal, $values:expr, $default:literal, $doc:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $doc, ".")]
            pub const $constant: Key = Key {
                name: $name,
                values: $values,
                default: $default,
                doc: $doc,
            };
        )*

        /// Every key, in the order the docs list them.
        pub const KEYS: &[Key] = &[$($constant),*];
    };
}

keys! {
    KIND: "kind", Values::Word, "`encoder`",
        "one bidirectional stack, one causal stack, or PyTorch's `nn.Transformer`";
    D_MODEL: "d_model", int("64"), "required", "width of the residual stream";
    HEADS: "heads", int("4"), "required", "attention heads";
    KV_HEADS: "kv_heads", int("2"), "`heads`",
        "key/value heads, shared by `heads / kv_heads` query heads each (grouped-query attention)";
    LAYERS: "layers", int("2"), "required (not for `encoder_decoder`)", "layers of the stack";
    ENCODER_LAYERS: "encoder_layers", int("2"), "required for `encoder_decoder`",
        "layers of each stack";
    DECODER_LAYERS: "decoder_layers", int("2"), "required for `encoder_decoder`",
        "layers of each stack";
    D_FF: "d_ff", int("256"), "`4 * d_model`", "feed-forward hidden width";
    MAX_LEN: "max_len", int("512"), "`512`", "longest sequence";
    NORM: "norm", Values::Word, "`post`", "where each sublayer normalises";
    NORM_KIND: "norm_kind", Values::Word, "`layer`", "every norm's kind: LayerNorm or RMSNorm";
    FINAL_NORM: "final_norm", Values::Flag, "`false` (`true` for `encoder_decoder`)",
        "a layer norm after each stack";
    EPS: "eps", Values::Float, "`1e-5`", "layer norm epsilon";
    ACTIVATION: "activation", Values::Word, "`relu`", "feed-forward non-linearity";
    GATED: "gated", Values::Flag, "`false`",
        "a gated feed-forward, `down(act(gate(x)) ⊙ up(x))` (SwiGLU with `silu`)";
    POSITIONAL: "positional", Values::Word, "`none`",
        "positions added to the input, or rotated into queries and keys (`rope`)";
    ROPE_THETA: "rope_theta", Values::Float, "`10000`", "RoPE base: pair `i` turns by `theta^(-2i/d_head)` per position";
    ROPE_PAIRS: "rope_pairs", Values::Word, "`half`",
        "lanes RoPE rotates together: `i` and `i + d_head/2`, or `2i` and `2i+1` (`adjacent`)";
    BIAS: "bias", Values::Flag, "`true`", "biases in linear layers and layer norms";
    FFN: "ffn", Values::Flag, "`true`", "the feed-forward sublayer";
    OUT_PROJ: "out_proj", Values::Flag, "`true`", "the attention output projection";
    CAUSAL: "causal", Values::Flag, "`false`", "masked self-attention";
    CROSS_ATTENTION: "cross_attention", Values::Flag, "`false`", "attention to an encoder memory";
    VOCAB: "vocab", int("30522"), "none", "token ids in";
    TOKEN_TYPES: "token_types", int("2"), "none", "a token-type table";
    EMBED_NORM: "embed_norm", Values::Flag, "`false`", "a layer norm on the summed embeddings";
    LM_HEAD: "lm_head", Values::Word, "`none`",
        "logits over `vocab` after the final norm, from the token embedding (`tied`) or a matrix of its own (`separate`)";
    WEIGHTS: "weights", Values::Word, "`pytorch`", "tensor names for safetensors";
    ENCODER: "encoder", Values::Group, "none",
        "settings of one stack of an `encoder_decoder`: `positional`, `vocab`, `token_types`, `embed_norm`";
    DECODER: "decoder", Values::Group, "none",
        "settings of one stack of an `encoder_decoder`: `positional`, `vocab`, `token_types`, `embed_norm`";
}

/// The keys a stack's group (`encoder: { … }`, `decoder: { … }`) takes: what one stack reads
/// and how its input is embedded.
pub const STACK_KEYS: &[&Key] = &[&POSITIONAL, &VOCAB, &TOKEN_TYPES, &EMBED_NORM];

/// Every key's name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> + Clone {
    KEYS.iter().map(|key| key.name)
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo:
/// at most 2 edits, and fewer than half of the word's length.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= 2 && 2 * d < word.chars().count().max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbours each cost 1 (`hedas` → `heads` is one swap).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_map_to_the_key_meant() {
        let keys = names();
        assert_eq!(closest("hedas", keys.clone()), Some("heads"));
        assert_eq!(closest("dmodel", keys.clone()), Some("d_model"));
        assert_eq!(closest("layer", keys.clone()), Some("layers"));
        assert_eq!(closest("max_length", keys.clone()), None);
        assert_eq!(closest("zzz", keys), None);
    }

    #[test]
    fn swaps_of_neighbours_cost_one() {
        assert_eq!(edit_distance("hedas", "heads"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("gleu", "gelu"), 1);
    }

    /// One documented key: its name, its default and its meaning, as the docs write them.
    type Row = (String, String, String);

    /// A row per key of the first table after `heading` in `markdown`, with any `/// `
    /// doc-comment prefix removed. A row may list several keys: `` `a`, `b` ``.
    fn documented_keys(markdown: &str, heading: &str) -> Vec<Row> {
        let lines = markdown
            .lines()
            .map(|line| line.trim_start().trim_start_matches("///").trim())
            .skip_while(|line| !line.starts_with(heading))
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2); // the header and the `|---|` line
        let mut rows = Vec::new();
        for line in lines {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let &[keys, _values, default, meaning] = cells.as_slice() else {
                panic!("not a row of four cells: {line}");
            };
            for key in keys.split(", ") {
                let key = key.trim_matches('`').to_owned();
                rows.push((key, default.to_owned(), meaning.to_owned()));
            }
        }
        rows
    }

    #[test]
    fn the_readme_lists_every_key_with_its_default() {
        let readme = include_str!("../../../README.md");
        let documented: Vec<(String, String)> = documented_keys(readme, "## The spec language")
            .into_iter()
            .map(|(key, default, _)| (key, default))
            .collect();
        let table: Vec<(String, String)> = KEYS
            .iter()
            .map(|key| (key.name.to_owned(), key.default.to_owned()))
            .collect();
        assert_eq!(documented, table);
    }

    #[test]
    fn the_macro_docs_list_every_key_with_its_default_and_meaning() {
        let lib = include_str!("../lib.rs");
        let documented = documented_keys(lib, "Declares one or more transformer models");
        let table: Vec<Row> = KEYS
            .iter()
            .map(|key| {
                (
                    key.name.to_owned(),
                    key.default.to_owned(),
                    key.doc.to_owned(),
                )
            })
            .collect();
        assert_eq!(documented, table);
    }
}

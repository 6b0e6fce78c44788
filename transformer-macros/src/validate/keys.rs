//! The setting keys `transformer!` knows, and the nearest one to a misspelling.

/// Every key, in the order the docs list them.
pub const KEYS: &[&str] = &[
    "kind",
    "d_model",
    "heads",
    "layers",
    "encoder_layers",
    "decoder_layers",
    "d_ff",
    "max_len",
    "norm",
    "final_norm",
    "eps",
    "activation",
    "positional",
    "bias",
    "ffn",
    "out_proj",
    "causal",
    "cross_attention",
    "vocab",
    "token_types",
    "embed_norm",
    "weights",
];

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
        let keys = KEYS.iter().copied();
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
}

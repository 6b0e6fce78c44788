//! Which unread tensor a missing one was probably meant to be.

/// Names further apart than this many single-character edits are not suggested.
const MAX_EDITS: usize = 2;

/// The candidate most likely meant by `name`, in this order of preference:
/// 1. the same dotted path under a prefix, or without one (`model.` + `name`, or the reverse);
/// 2. the same path under another first component (`bert.x.y` for `roberta.x.y`), when at
///    least two components remain;
/// 3. a name at most [`MAX_EDITS`] edits away, and at most one edit per 4 characters of
///    `name` (so `c` never suggests `a`), but never the name itself.
///
/// Ties go to the candidate listed first.
pub(super) fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let max_edits = MAX_EDITS.min(name.len() / 4);
    let find = |matches: &dyn Fn(&str) -> bool| candidates.iter().copied().find(|c| matches(c));
    find(&|c| has_prefix(c, name) || has_prefix(name, c))
        .or_else(|| find(&|c| same_after_first(c, name)))
        .or_else(|| {
            candidates
                .iter()
                .copied()
                .filter_map(|c| Some((edits_within(name, c, max_edits)?, c)))
                .filter(|&(edits, _)| edits > 0)
                .min_by_key(|&(edits, _)| edits)
                .map(|(_, c)| c)
        })
}

/// `long` is `short` under one or more leading components: `long = "<prefix>." + short`.
fn has_prefix(long: &str, short: &str) -> bool {
    long.strip_suffix(short)
        .is_some_and(|prefix| prefix.ends_with('.'))
}

/// `a` and `b` differ in their first dotted component only, and share at least two more.
fn same_after_first(a: &str, b: &str) -> bool {
    let rest = |s: &str| s.split_once('.').map(|(_, rest)| rest.to_owned());
    matches!((rest(a), rest(b)), (Some(x), Some(y)) if x == y && x.contains('.'))
}

/// Levenshtein distance between `a` and `b` (over bytes), if it is at most `max`.
fn edits_within(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // prev[j] = distance between a[..i] and b[..j], one row of the usual table at a time.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            row.push(substitute.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        // Distances never shrink from one row to the next, so stop once all exceed `max`.
        if row.iter().all(|&d| d > max) {
            return None;
        }
        prev = row;
    }
    prev.last().copied().filter(|&d| d <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_name_under_a_prefix_or_without_one() {
        let file = ["model.layers.0.w", "other"];
        assert_eq!(closest("layers.0.w", &file), Some("model.layers.0.w"));
        assert_eq!(
            closest("encoder.layer.0.w", &["layer.0.w"]),
            Some("layer.0.w")
        );
    }

    #[test]
    fn finds_the_name_under_another_first_component() {
        let file = ["roberta.encoder.layer.0.w"];
        assert_eq!(
            closest("bert.encoder.layer.0.w", &file),
            Some("roberta.encoder.layer.0.w")
        );
        // One shared component is too little to suggest.
        assert_eq!(closest("a.weight", &["bbbb.weight"]), None);
    }

    #[test]
    fn finds_a_near_spelling() {
        let file = ["layers.0.norm_1.weight", "layers.0.norm1.bias"];
        assert_eq!(
            closest("layers.0.norm1.weight", &file),
            Some("layers.0.norm_1.weight")
        );
        assert_eq!(closest("completely.different", &file), None);
        assert_eq!(closest("c", &["a"]), None);
    }

    #[test]
    fn edit_distance_is_levenshtein_within_a_bound() {
        assert_eq!(edits_within("kitten", "sitting", 3), Some(3));
        assert_eq!(edits_within("kitten", "sitting", 2), None);
        assert_eq!(edits_within("", "ab", 2), Some(2));
        assert_eq!(edits_within("same", "same", 0), Some(0));
    }
}

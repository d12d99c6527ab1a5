//! "did you mean …?" for mistyped commands.

/// Largest edit distance still considered a typo.
pub const MAX_DISTANCE: usize = 2;

/// The known name closest to `typed`: within [`MAX_DISTANCE`] edits (adjacent transpositions
/// count as one), or one that `typed` is a prefix of. Ties go to the smaller distance, then the
/// alphabetically first name, so the answer is stable.
pub fn suggest<'a, I>(typed: &str, known: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    if typed.is_empty() {
        return None;
    }
    known
        .into_iter()
        .filter(|k| *k != typed)
        .filter_map(|k| {
            let d = distance(typed, k);
            let prefix = k.starts_with(typed);
            (d <= MAX_DISTANCE || prefix).then_some((if prefix { d.min(1) } else { d }, k))
        })
        .min()
        .map(|(_, k)| k.to_string())
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
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
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("gate", "gate"), 0);
        assert_eq!(distance("gtae", "gate"), 1);
        assert_eq!(distance("gat", "gate"), 1);
        assert_eq!(distance("gxtex", "gate"), 2);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        let known = ["gate", "policy", "plugin", "help", "version"];
        let s = |t: &str| suggest(t, known.iter().copied());
        assert_eq!(s("gtae").as_deref(), Some("gate"));
        assert_eq!(s("polciy").as_deref(), Some("policy"));
        assert_eq!(s("ver").as_deref(), Some("version"));
        assert_eq!(s("plugn").as_deref(), Some("plugin"));
        assert_eq!(s("zzzzzz"), None);
        assert_eq!(s("gate"), None);
        assert_eq!(s(""), None);
    }
}

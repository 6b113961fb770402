//! "Did you mean" for names people type: the closest known word, when it
//! is close enough to be a typo.

/// ` (did you mean `x`?)` when a known word is close to `word`.
pub fn suggest<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> String {
    // Past this length no name is a typo of another, and the distance costs
    // the product of the lengths.
    const LONGEST: usize = 64;
    if word.len() > LONGEST {
        return String::new();
    }
    known
        .filter(|k| k.len() <= LONGEST && k.len().abs_diff(word.len()) <= 2.max(k.len() / 4))
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

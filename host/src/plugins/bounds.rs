//! What a plugin may hand back: its name, and bounds on every string it
//! supplies. A plugin's name becomes a path (its scratch directory) and a
//! key (steps find it by name), so it is a short lower-case word; strings
//! that the host prints, stores or caches have a stated size.

/// The longest plugin name.
pub const NAME_MAX: usize = 64;
/// An error message; longer ones are cut, with a note.
pub const MESSAGE_MAX: usize = 8 << 10;
/// `info.version`.
pub const VERSION_MAX: usize = 64;
/// `info.description` and each action's description.
pub const DESCRIPTION_MAX: usize = 4 << 10;
/// How many actions `info` may declare.
pub const ACTIONS_MAX: usize = 64;
/// Each JSON Schema in `info` (action arguments, account schema).
pub const SCHEMA_MAX: usize = 64 << 10;
/// An account's `id` and `login`.
pub const ACCOUNT_FIELD_MAX: usize = 256;
/// The cursor a `sync` page hands back.
pub const CURSOR_MAX: usize = 4 << 10;

/// Whether `name` is a plugin name: `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && name.len() <= NAME_MAX
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Why `name` is not a plugin name, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    (!is_valid_name(name)).then(|| {
        format!(
            "`{}` is not a valid plugin name: a name is 1 to {NAME_MAX} characters of \
             a-z, 0-9, `_` and `-`, starting with a letter or a digit",
            shorten(name, NAME_MAX)
        )
    })
}

/// `text`, cut to at most `max` bytes (at a character boundary).
pub fn shorten(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A plugin's error message, cut to [`MESSAGE_MAX`] with a note saying so.
pub fn message(text: String) -> String {
    if text.len() <= MESSAGE_MAX {
        return text;
    }
    format!(
        "{} … [cut by keystep: the plugin's message was {} bytes, over the limit of {MESSAGE_MAX}]",
        shorten(&text, MESSAGE_MAX),
        text.len()
    )
}

/// Fails when the string `what` is longer than `max` bytes.
pub fn at_most(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "{what} is {} bytes, over the limit of {max}",
            text.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lower_case_words() {
        for good in ["a", "tracker", "risk-rust", "x_1", "0day", &"a".repeat(64)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "/",
            "..",
            ".",
            "...",
            "-a",
            "_a",
            "A",
            "a/b",
            "a.b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
            assert!(name_problem(bad).is_some());
        }
    }

    #[test]
    fn long_messages_are_cut_with_a_note_at_a_character_boundary() {
        let long = "é".repeat(MESSAGE_MAX);
        let cut = message(long.clone());
        assert!(cut.len() < MESSAGE_MAX + 200, "{}", cut.len());
        assert!(cut.contains(&format!("was {} bytes", long.len())));
        assert_eq!(message("short".into()), "short");
    }
}

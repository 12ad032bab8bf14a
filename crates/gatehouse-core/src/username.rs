//! Username canonicalisation: unique after Unicode NFKC + case folding.

use unicode_normalization::UnicodeNormalization;

/// Maximum username length, in characters, after canonicalisation.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The key two usernames are compared by: NFKC, full case folding, NFKC again
/// (Unicode's `NFKC_Casefold` closure for practical purposes). `"Alice"`, `"ALICE"` and
/// `"ａｌｉｃｅ"` (full-width) share one key.
pub fn username_key(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    caseless::default_case_fold_str(&nfkc).nfkc().collect()
}

/// Why a username is not acceptable.
pub fn username_problem(name: &str) -> Option<&'static str> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Some("must not be empty");
    }
    if trimmed.len() != name.len() {
        return Some("must not start or end with whitespace");
    }
    if name.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    if username_key(name).chars().count() > MAX_USERNAME_CHARS {
        return Some("must be at most 64 characters");
    }
    if name.contains(':') {
        return Some("must not contain ':'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_width_variants_collide() {
        assert_eq!(username_key("Alice"), username_key("aLICE"));
        assert_eq!(username_key("alice"), username_key("ａｌｉｃｅ"));
        assert_eq!(username_key("Straße"), username_key("STRASSE"));
        assert_ne!(username_key("alice"), username_key("alicia"));
    }

    #[test]
    fn problems() {
        assert!(username_problem("").is_some());
        assert!(username_problem(" bob").is_some());
        assert!(username_problem("bo\u{0}b").is_some());
        assert!(username_problem(&"x".repeat(65)).is_some());
        assert!(username_problem("bob").is_none());
    }
}

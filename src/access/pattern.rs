//! Stream name patterns: literal text with `*` matching any run of characters (`/` included).
//!
//! Owns: pattern validation and matching. Must not: allocate or recurse when matching (names
//! come from peers; the two-pointer walk is linear in practice and never overflows the stack).

use std::fmt;

/// A validated glob: `live/*`, `*`, `cam1`, `*/backup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// A pattern of 1 to 512 bytes (the Stream ID limit, draft-sharabayko-srt §3.2.1.3) without
    /// control characters.
    pub fn new(text: &str) -> Result<Pattern, String> {
        if text.is_empty() || text.len() > 512 {
            return Err(format!("pattern {text:?} must be 1 to 512 bytes long"));
        }
        if text.chars().any(char::is_control) {
            return Err(format!("pattern {text:?} contains a control character"));
        }
        Ok(Pattern(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether any of `patterns` matches `name`.
pub fn any_matches(patterns: &[Pattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

/// Classic wildcard matching with single-star backtracking: on a mismatch, let the last `*`
/// swallow one more byte. Bytes, not chars: `*` may stop inside a UTF-8 sequence, but literal
/// parts compare whole sequences, so a match is still a match of strings.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p).unwrap().matches(s)
    }

    #[test]
    fn stars_match_any_run_including_slashes() {
        assert!(m("*", ""));
        assert!(m("*", "live/cam1"));
        assert!(m("live/*", "live/cam1"));
        assert!(m("live/*", "live/"));
        assert!(!m("live/*", "live"));
        assert!(!m("live/*", "backup/live/cam1"));
        assert!(m("*/cam1", "a/b/cam1"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("cam1", "cam1"));
        assert!(!m("cam1", "cam10"));
        assert!(m("**", "x"));
        assert!(m("é*", "été"));
    }

    #[test]
    fn invalid_patterns_are_refused() {
        assert!(Pattern::new("").is_err());
        assert!(Pattern::new("a\nb").is_err());
        assert!(Pattern::new(&"x".repeat(513)).is_err());
        assert!(Pattern::new(&"x".repeat(512)).is_ok());
    }

    proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(a in "[a-z/]{0,12}", b in "[a-z/]{0,12}") {
            prop_assume!(!a.is_empty());
            prop_assert_eq!(m(&a, &b), a == b);
        }

        #[test]
        fn prefix_star_matches_every_extension(a in "[a-z/]{1,8}", b in "[a-z/*]{0,8}") {
            let name = format!("{a}{b}");
            let pattern = format!("{a}*");
            prop_assert!(m(&pattern, &name));
        }
    }
}

//! Text helpers of upstream URLs: percent-decoding (RFC 3986 §2.1), the encoding the display
//! form uses, and masking of secret-looking `key=value` pairs for logs and the API.

/// Bytes for `%XX` escapes; a `%` without two hex digits is an error (not kept as is: a URL
/// that means two things is refused). `+` stays `+` (RFC 3986, not form encoding).
pub(super) fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => {
                return Err(format!(
                    "a % at byte {} is not followed by two hex digits (write % as %25)",
                    i + 1
                ));
            }
        }
        i += 3;
    }
    Ok(out)
}

/// Percent-encodes every byte but RFC 3986's unreserved and sub-delims, `:`, `@` and `/`: what
/// [`percent_decode`] turns back into the same bytes, readable for the usual stream ids and
/// paths, and safe to print (no spaces, controls, `#`, `?`, `&` or `%` left).
pub(super) fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &c in bytes {
        let keep = c.is_ascii_alphanumeric() || b"-._~!$'()*+,;=:@/".contains(&c);
        if keep {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// What a masked value is shown as.
pub(super) const MASK: &str = "***";

/// `text` with the value of every secret-looking `key=value` replaced by [`MASK`]. Pairs are
/// separated by any of `? & , ; #` (URL queries, `#!::` Stream IDs and their mixtures); within
/// one, the first `=` whose key looks secret hides the rest of the pair, so `x=token=abc` is
/// caught too. Empty values stay empty: there is nothing to hide.
pub(super) fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let end = rest.find(DELIMITERS).unwrap_or(rest.len());
        let (pair, tail) = rest.split_at(end);
        out.push_str(&mask_pair(pair));
        let Some(delim) = tail.chars().next() else {
            return out;
        };
        out.push(delim);
        rest = &tail[delim.len_utf8()..];
    }
}

/// Whether a query or Stream ID key names a secret: tokens, keys, passwords, signatures,
/// sessions (`s` is the session in SRT's `#!::` Stream IDs and in the relay's own `?s=`).
/// Over-masking a harmless key costs a less informative log line; under-masking leaks.
pub(super) fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 9] = [
        "token", "secret", "pass", "pwd", "key", "auth", "sig", "session", "cred",
    ];
    let k = key.to_ascii_lowercase();
    k == "s" || WORDS.iter().any(|w| k.contains(w))
}

const DELIMITERS: [char; 5] = ['?', '&', ',', ';', '#'];

fn mask_pair(pair: &str) -> String {
    for (i, _) in pair.match_indices('=') {
        let before = &pair[..i];
        // The key is the run of word characters before the `=` (after a multi-byte character
        // too: its index is where it starts, not where it ends).
        let key_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map_or(0, |(j, c)| j + c.len_utf8());
        let value = &pair[i + 1..];
        if is_secret_key(&before[key_start..]) && !value.is_empty() {
            return format!("{before}={MASK}");
        }
    }
    pair.to_string()
}

fn hex(c: &u8) -> Option<u8> {
    char::from(*c).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_strict_and_inverts_encoding() {
        assert_eq!(percent_decode("%23%21%3a%3A+x").unwrap(), b"#!::+x");
        for bad in ["%", "%2", "%zz", "%+1", "a%2"] {
            let err = percent_decode(bad).unwrap_err();
            assert!(err.contains("two hex digits"), "{bad}: {err}");
        }
        let all: Vec<u8> = (0..=255).collect();
        let shown = percent_encode(&all);
        assert!(shown.is_ascii() && !shown.contains([' ', '#', '?', '&', '\n']));
        assert_eq!(percent_decode(&shown).unwrap(), all);
        assert_eq!(
            percent_encode(b"#!::r=live/a,m=request"),
            "%23!::r=live/a,m=request"
        );
    }

    #[test]
    fn masking_hides_secret_values_only() {
        let m = mask_secrets;
        assert_eq!(m("/a.ts?token=abc&x=1"), "/a.ts?token=***&x=1");
        assert_eq!(
            m("/a?API_KEY=1&Signature=2&s=3&u=me"),
            "/a?API_KEY=***&Signature=***&s=***&u=me"
        );
        assert_eq!(
            m("#!::r=live/x,s=sess,m=request"),
            "#!::r=live/x,s=***,m=request"
        );
        assert_eq!(m("x=token=abc;y=2"), "x=token=***;y=2");
        assert_eq!(
            m("token=&passphrase="),
            "token=&passphrase=",
            "nothing to hide"
        );
        assert_eq!(m("live/cam"), "live/cam");
        assert_eq!(m("a#password=é€"), "a#password=***");
        // A key after a multi-byte character (found by the fuzzer: a slice inside `я`).
        assert_eq!(m("яtoken=x,€=y"), "яtoken=***,€=y");
    }
}

//! Webhook authentication: the tenant's token in `?access_token=`, as `Authorization: Bearer`,
//! or as the password of HTTP Basic (mluvii turns `https://user:token@host/…` into Basic),
//! compared in constant time.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The tokens a request presents, from every accepted place.
pub fn presented_tokens(headers: &HeaderMap, query: Option<&str>) -> Vec<String> {
    let mut tokens = Vec::new();
    if let Some(query) = query {
        for pair in query.split('&') {
            if let Some(("access_token", value)) = pair.split_once('=') {
                tokens.push(percent_decode(value));
            }
        }
    }
    if let Some(token) = bearer_token(headers) {
        tokens.push(token);
    } else if let Some((scheme, rest)) = authorization(headers).and_then(|v| v.split_once(' '))
        && scheme.eq_ignore_ascii_case("basic")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((_, password)) = text.split_once(':')
    {
        tokens.push(password.to_owned());
    }
    tokens
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    authorization(headers)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
}

/// Whether any presented token equals `expected` (constant time per comparison).
pub fn authorized(presented: &[String], expected: &str) -> bool {
    presented.iter().fold(false, |ok, token| {
        ok | bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Decodes `%XX` and `+`, byte by byte (never slicing the text, which may hold multi-byte
/// characters); a `%` not followed by two hex digits stays as it is.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: &u8) -> Option<u8> {
    (*byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn all_three_places_are_read() {
        let none = HeaderMap::new();
        assert_eq!(
            presented_tokens(&none, Some("a=1&access_token=t%2Bk")),
            ["t+k"]
        );
        assert_eq!(presented_tokens(&headers("Bearer tok"), None), ["tok"]);
        assert_eq!(presented_tokens(&headers("bearer tok"), None), ["tok"]);
        let basic = base64::engine::general_purpose::STANDARD.encode("mluvii:tok");
        assert_eq!(
            presented_tokens(&headers(&format!("Basic {basic}")), None),
            ["tok"]
        );
        assert!(presented_tokens(&headers("Basic !!!"), None).is_empty());
    }

    #[test]
    fn percent_escapes_next_to_multibyte_characters_never_panic() {
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("é%"), "é%");
        assert_eq!(percent_decode("%é1"), "%é1");
        assert_eq!(percent_decode("%41%4a%4A+x%"), "AJJ x%");
        assert_eq!(percent_decode("%C3%A9"), "é");
        // Arbitrary text, including multi-byte characters and stray escapes.
        let alphabet: Vec<char> = "%+=&aZ09é€😀\u{0}".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let text: String = (0..rng.usize(0..12))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let _ = percent_decode(&text);
            let _ = presented_tokens(&HeaderMap::new(), Some(&text));
        }
    }

    #[test]
    fn only_the_exact_token_is_authorized() {
        assert!(authorized(&["x".into(), "tok".into()], "tok"));
        assert!(!authorized(&["to".into()], "tok"));
        assert!(!authorized(&["tokk".into()], "tok"));
        assert!(!authorized(&[], "tok"));
    }
}

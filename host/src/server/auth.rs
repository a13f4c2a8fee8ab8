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
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some((scheme, rest)) = authorization.and_then(|v| v.split_once(' ')) {
        if scheme.eq_ignore_ascii_case("bearer") {
            tokens.push(rest.trim().to_owned());
        } else if scheme.eq_ignore_ascii_case("basic")
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim())
            && let Ok(text) = String::from_utf8(decoded)
            && let Some((_, password)) = text.split_once(':')
        {
            tokens.push(password.to_owned());
        }
    }
    tokens
}

/// Whether any presented token equals `expected` (constant time per comparison).
pub fn authorized(presented: &[String], expected: &str) -> bool {
    presented.iter().fold(false, |ok, token| {
        ok | bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&value[i + 1..i + 3], 16) {
                Ok(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn only_the_exact_token_is_authorized() {
        assert!(authorized(&["x".into(), "tok".into()], "tok"));
        assert!(!authorized(&["to".into()], "tok"));
        assert!(!authorized(&["tokk".into()], "tok"));
        assert!(!authorized(&[], "tok"));
    }
}

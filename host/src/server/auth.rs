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
        tokens.extend(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(name, _)| name == "access_token")
                .map(|(_, value)| value.into_owned()),
        );
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

    fn token_of(query: &str) -> Vec<String> {
        presented_tokens(&HeaderMap::new(), Some(query))
    }

    #[test]
    fn percent_escapes_next_to_multibyte_characters_never_panic() {
        assert_eq!(token_of("access_token=%aé"), ["%aé"]);
        assert_eq!(token_of("access_token=é%"), ["é%"]);
        assert_eq!(token_of("access_token=%é1"), ["%é1"]);
        assert_eq!(token_of("access_token=%41%4a%4A+x%"), ["AJJ x%"]);
        assert_eq!(token_of("access_token=%C3%A9"), ["é"]);
        assert_eq!(
            token_of("access%5Ftoken=a&x=1"),
            ["a"],
            "an encoded name too"
        );
        // Arbitrary text, including multi-byte characters and stray escapes.
        let alphabet: Vec<char> = "%+=&aZ09é€😀\u{0}".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let text: String = (0..rng.usize(0..12))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
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

//! Any query string and Authorization header: reading the presented tokens never panics, and
//! a token is only accepted when it is exactly the expected one.

#![no_main]

use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use wasmbot::server::auth::{authorized, presented_tokens};

fuzz_target!(|input: (&str, &[u8], &str)| {
    let (query, header, expected) = input;
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        headers.insert(AUTHORIZATION, value);
    }
    let tokens = presented_tokens(&headers, Some(query));
    assert_eq!(
        authorized(&tokens, expected),
        tokens.iter().any(|t| t == expected)
    );
});

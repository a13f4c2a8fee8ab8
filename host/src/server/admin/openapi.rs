//! `GET /admin/openapi.json`: the admin API as an OpenAPI 3.1 document, written by hand beside
//! the routes and checked against them by the tests below (every route of [`super::routes`] is
//! documented with its method, and nothing else is).

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Serves [`DOCUMENT`] (no token needed: it names no tenant and holds no data).
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(METHOD, path)` of every route `admin/mod.rs` registers, read from its source.
    fn routes_in_source() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let mut routes = BTreeSet::new();
        for call in source.split(".route(").skip(1) {
            // The path, then the method router up to the next call on the router.
            let call = call.trim_start().strip_prefix('"').unwrap();
            let (path, rest) = call.split_once('"').unwrap();
            let handlers = rest.split(".route").next().unwrap();
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = [format!("{method}("), format!(".{method}(")];
                if called.iter().any(|c| handlers.contains(c.as_str())) {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        routes
    }

    fn routes_in_document() -> BTreeSet<(String, String)> {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut routes = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
        routes
    }

    #[test]
    fn the_document_lists_exactly_the_routes_of_the_router() {
        let source = routes_in_source();
        assert!(source.len() >= 10, "{source:?}");
        assert_eq!(routes_in_document(), source);
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        for reference in DOCUMENT
            .split("\"$ref\": \"#/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
        {
            let pointer = format!("/{reference}");
            assert!(
                document.pointer(&pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }
}

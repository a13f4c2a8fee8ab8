//! Answers from a list instead of the network, for `wasmbot test`: a bot's admitted request
//! gets the first answer with its method and URL, and a request without one (or one the
//! policy refused) is noted, so the test step that made it fails naming it.

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiBody;

/// One canned response: what request it answers and what it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedAnswer {
    /// The request's method (compared without regard to case).
    pub method: String,
    /// The request's URL, compared after both are parsed (so `HTTPS://Host/` equals
    /// `https://host/`).
    pub url: String,
    /// The response's status.
    pub status: u16,
    /// The response's headers.
    pub headers: Vec<(String, String)>,
    /// The response's body.
    pub body: Vec<u8>,
}

/// The answers of the current test step, and what the bot asked that they did not answer.
#[derive(Debug, Default)]
pub struct HttpStub {
    answers: Mutex<Vec<CannedAnswer>>,
    problems: Mutex<Vec<String>>,
    answered: Mutex<Vec<String>>,
}

impl HttpStub {
    /// Replaces the answers (at the start of a step).
    pub fn set_answers(&self, answers: Vec<CannedAnswer>) {
        *lock(&self.answers) = answers;
    }

    /// The requests that got no answer or were refused since the last call, one line each.
    pub fn take_problems(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.problems))
    }

    /// The requests answered since the last call (`GET https://… → 200`).
    pub fn take_answered(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.answered))
    }

    /// Notes a request the policy refused.
    pub fn refused(&self, method: &http::Method, uri: &http::Uri, reason: &str) {
        lock(&self.problems).push(format!(
            "outbound request {method} {uri} was refused: {reason}"
        ));
    }

    /// The response to `method url`, or `None` (noted) when no answer matches.
    pub fn answer(
        &self,
        method: &http::Method,
        url: &reqwest::Url,
    ) -> Option<http::Response<WasiBody>> {
        let found = lock(&self.answers)
            .iter()
            .find(|a| a.method.eq_ignore_ascii_case(method.as_str()) && same_url(&a.url, url))
            .cloned();
        let Some(answer) = found else {
            lock(&self.problems).push(format!(
                "outbound request {method} {url} is unexpected: no `http` answer of the script matches it"
            ));
            return None;
        };
        lock(&self.answered).push(format!("{method} {url} → {}", answer.status));
        let mut response = http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            response = response.header(name, value);
        }
        let body = Full::new(Bytes::from(answer.body))
            .map_err(|never| match never {})
            .boxed_unsync();
        match response.body(body) {
            Ok(response) => Some(response),
            Err(error) => {
                lock(&self.problems).push(format!(
                    "the answer to {method} {url} is not a valid response: {error}"
                ));
                None
            }
        }
    }
}

fn same_url(declared: &str, actual: &reqwest::Url) -> bool {
    reqwest::Url::parse(declared).is_ok_and(|declared| &declared == actual)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(method: &str, url: &str) -> CannedAnswer {
        CannedAnswer {
            method: method.into(),
            url: url.into(),
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"ok\":true}".to_vec(),
        }
    }

    #[test]
    fn a_request_gets_the_answer_with_its_method_and_url() {
        let stub = HttpStub::default();
        stub.set_answers(vec![
            answer("POST", "https://api.example.com/x"),
            answer("get", "HTTPS://API.example.com/x"),
        ]);
        let url = reqwest::Url::parse("https://api.example.com/x").unwrap();
        let response = stub.answer(&http::Method::GET, &url).unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert!(stub.take_problems().is_empty());
        assert_eq!(
            stub.take_answered(),
            vec!["GET https://api.example.com/x → 201"]
        );
    }

    #[test]
    fn an_unexpected_request_is_noted_by_name() {
        let stub = HttpStub::default();
        stub.set_answers(vec![answer("GET", "https://api.example.com/x")]);
        let url = reqwest::Url::parse("https://api.example.com/y?q=1").unwrap();
        assert!(stub.answer(&http::Method::GET, &url).is_none());
        let problems = stub.take_problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("GET https://api.example.com/y?q=1 is unexpected"),
            "{problems:?}"
        );
        assert!(stub.take_problems().is_empty());
    }
}

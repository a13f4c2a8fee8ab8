//! The echo job as a plain `wasi:http` proxy component, the baseline `wasmtime serve` runs in
//! BENCHMARKS.md: each webhook (`POST`, a mluvii `Text` event) is answered `200` after its
//! reply, `You said: <text>`, was posted to the Send API of the bench's sink at
//! [`SINK_AUTHORITY`] (`wasmbot bench`'s default `--sink-listen`). One instance per request,
//! as `wasmtime serve` runs it: no journal, no per-session order, no retries.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

/// Where the bench's sink listens.
const SINK_AUTHORITY: &str = "127.0.0.1:9100";

struct Echo;

impl Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let status = match read_body(&request).and_then(|body| reply(&body)) {
            Ok(()) => 200,
            Err(_) => 500,
        };
        let response = OutgoingResponse::new(Fields::new());
        response.set_status_code(status).ok();
        let body = response.body().expect("a new response's body");
        ResponseOutparam::set(response_out, Ok(response));
        OutgoingBody::finish(body, None).ok();
    }
}

/// The whole body of `request`.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "body taken")?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
    }
    Ok(bytes)
}

/// Posts the echo of the event in `webhook` to the sink, and waits for its answer.
fn reply(webhook: &[u8]) -> Result<(), String> {
    let event: serde_json::Value = serde_json::from_slice(webhook).map_err(|e| e.to_string())?;
    let (Some(session), Some(text)) = (event["sessionId"].as_i64(), event["text"].as_str()) else {
        return Ok(());
    };
    let activity = serde_json::json!({
        "sessionId": session, "type": "message", "text": format!("You said: {text}"),
    })
    .to_string();
    let headers = Fields::new();
    headers
        .append("content-type", b"application/json")
        .map_err(|e| format!("{e:?}"))?;
    let request = OutgoingRequest::new(headers);
    request.set_method(&Method::Post).map_err(|()| "method")?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(SINK_AUTHORITY))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some("/api/v1/Chatbot/0/activity"))
        .map_err(|()| "path")?;
    let body = request.body().map_err(|()| "request body")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = body.write().map_err(|()| "body stream")?;
        for chunk in activity.as_bytes().chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    if response.status() >= 300 {
        return Err(format!("the sink answered {}", response.status()));
    }
    Ok(())
}

wasip2::http::proxy::export!(Echo);

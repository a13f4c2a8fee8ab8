//! Traces on a real `wasmbot serve` with `[telemetry]`: one event's spans reach an OTLP/HTTP
//! receiver started here (decoded from protobuf) as one trace, ingress → journal commit → bot
//! run → the bot's outbound request and the Send API attempt; the bot's backend gets the
//! request span's `traceparent`, and the JSON log lines written during the run carry the
//! trace id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::Value;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{ServeProcess, simulator, wait_for_bodies, write_config};

type Spans = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP receiver: every span posted to `/v1/traces`, decoded.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let kept = spans.clone();
    let router = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.lock().unwrap().extend(scope.spans);
                    }
                }
                ExportTraceServiceResponse::default().encode_to_vec()
            }
        }),
    );
    (serve(router).await, spans)
}

/// A bot's backend: `/ping` answers `pong` and keeps each request's `traceparent`.
async fn backend() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let router = Router::new().route(
        "/ping",
        get(move |headers: HeaderMap| {
            let kept = kept.clone();
            async move {
                let traceparent = headers.get("traceparent").map(|v| v.to_str().unwrap());
                kept.lock()
                    .unwrap()
                    .push(traceparent.unwrap_or("none").to_owned());
                "pong"
            }
        }),
    );
    (serve(router).await, seen)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(text) => Some(text.clone()),
        AnyValue::IntValue(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Waits until the receiver holds spans named each of `names` in one trace; returns them by
/// name (the first of each).
async fn trace_with(spans: &Spans, names: &[&str]) -> HashMap<String, Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = spans.lock().unwrap().clone();
        let mut traces: HashMap<Vec<u8>, HashMap<String, Span>> = HashMap::new();
        for span in held {
            traces
                .entry(span.trace_id.clone())
                .or_default()
                .entry(span.name.clone())
                .or_insert(span);
        }
        if let Some(trace) = traces
            .into_values()
            .find(|trace| names.iter().all(|name| trace.contains_key(*name)))
        {
            return trace;
        }
        assert!(Instant::now() < deadline, "no trace with {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_events_trace_reaches_the_collector_and_the_bots_backend() {
    let (collector, spans) = receiver().await;
    let (backend_url, traceparents) = backend().await;
    let (sim, sim_url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let http_policy = format!(
        "\n[tenant.http]\nallowed_hosts = [{:?}]",
        backend_url.trim_start_matches("http://")
    );
    let config = write_config(
        dir.path(),
        &sim_url,
        &format!("\n[telemetry]\notlp_endpoint = {collector:?}\nsampling_ratio = 1.0"),
        &[("acme", plugins::MISBEHAVING, 1, &http_policy)],
    );
    let server = ServeProcess::start_with_env(&config, &[("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "activity": "Text", "sessionId": 7, "text": format!("fetch {backend_url}/ping")
    });
    let answer = http
        .post(server.webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let replies = wait_for_bodies(&sim, 7, 1).await;
    assert_eq!(replies[0]["text"], "200 pong");

    let names = [
        "webhook",
        "journal.commit",
        "bot.run",
        "bot.http",
        "send_api.attempt",
    ];
    let trace = trace_with(&spans, &names).await;
    let (webhook, commit, run) = (
        &trace["webhook"],
        &trace["journal.commit"],
        &trace["bot.run"],
    );
    let (request, attempt) = (&trace["bot.http"], &trace["send_api.attempt"]);
    // One tree: the webhook is the root; the commit and the run its children; the bot's
    // request and the Send API attempt the run's.
    assert!(
        webhook.parent_span_id.is_empty(),
        "the webhook span is the root"
    );
    assert_eq!(commit.parent_span_id, webhook.span_id);
    assert_eq!(run.parent_span_id, webhook.span_id);
    assert_eq!(request.parent_span_id, run.span_id);
    assert_eq!(attempt.parent_span_id, run.span_id);
    assert_eq!(attribute(webhook, "tenant").as_deref(), Some("acme"));
    assert_eq!(attribute(webhook, "outcome").as_deref(), Some("accepted"));
    assert_eq!(attribute(run, "outcome").as_deref(), Some("ok"));
    let hash =
        wasmbot::runtime::plugin::content_hash(&std::fs::read(plugins::MISBEHAVING).unwrap());
    assert_eq!(attribute(run, "plugin"), Some(hash));
    assert_eq!(attribute(request, "status").as_deref(), Some("200"));
    assert_eq!(attribute(attempt, "outcome").as_deref(), Some("delivered"));
    // The backend got the request span's context.
    let trace_id = hex(&webhook.trace_id);
    let expected = format!("00-{trace_id}-{}-01", hex(&request.span_id));
    assert_eq!(*traceparents.lock().unwrap(), [expected]);
    for (name, span) in &trace {
        let micros = (span.end_time_unix_nano - span.start_time_unix_nano) / 1000;
        println!("{name}: {micros} µs");
    }

    // A log line written during a run carries that run's trace id.
    let log = serde_json::json!({"activity": "Text", "sessionId": 8, "text": "log"});
    http.post(server.webhook("acme"))
        .json(&log)
        .send()
        .await
        .unwrap();
    let run_of_log = || {
        spans
            .lock()
            .unwrap()
            .iter()
            .find(|span| {
                span.name == "bot.run" && attribute(span, "session").as_deref() == Some("8")
            })
            .map(|span| hex(&span.trace_id))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while run_of_log().is_none() {
        assert!(
            Instant::now() < deadline,
            "the run of session 8 was not exported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal("TERM");
    let (_, lines, _) = server.wait(Duration::from_secs(20)).await;
    let bot_lines: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "bot" && line["fields"]["session"] == 8)
        .collect();
    assert!(!bot_lines.is_empty(), "{lines:?}");
    let logged = bot_lines[0]["span"]["trace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(run_of_log(), Some(logged));
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

use super::*;

/// A scripted answer of the Send API: status and `Retry-After`.
type Step = (u16, Option<&'static str>);

/// A scripted mluvii: the token endpoint answers `token_status`; the Send API answers the
/// scripted responses in order, then 200.
#[derive(Clone, Default)]
struct Fake {
    token_calls: Arc<AtomicUsize>,
    token_status: Arc<Mutex<u16>>,
    expires_in: Arc<Mutex<u64>>,
    sends: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<Step>>>,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

impl Fake {
    async fn start(&self) -> String {
        *self.token_status.lock().unwrap() = 200;
        *self.expires_in.lock().unwrap() = 3600;
        let (a, b) = (self.clone(), self.clone());
        let router = Router::new()
            .route(
                "/login/connect/token",
                post(move || {
                    let fake = a.clone();
                    async move {
                        let n = fake.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
                        let status = *fake.token_status.lock().unwrap();
                        let expires_in = *fake.expires_in.lock().unwrap();
                        let body =
                            format!(r#"{{"access_token":"t{n}","expires_in":{expires_in}}}"#);
                        (StatusCode::from_u16(status).unwrap(), body)
                    }
                }),
            )
            .route(
                "/api/v1/Chatbot/1/activity",
                post(move |headers: HeaderMap, body: String| {
                    let fake = b.clone();
                    async move {
                        let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_owned();
                        fake.sends.lock().unwrap().push(format!("{auth} {body}"));
                        let next = fake.script.lock().unwrap().pop_front();
                        let (status, retry_after) = next.unwrap_or((200, None));
                        let mut response = StatusCode::from_u16(status).unwrap().into_response();
                        if let Some(value) = retry_after {
                            response
                                .headers_mut()
                                .insert(header::RETRY_AFTER, value.parse().unwrap());
                        }
                        response
                    }
                }),
            );
        serve(router).await
    }

    fn script(&self, steps: &[Step]) {
        self.script.lock().unwrap().extend(steps.iter().copied());
    }
}

fn client(base_url: &str) -> MluviiClient {
    MluviiClient::new(
        http_client().unwrap(),
        MluviiEndpoint {
            base_url: base_url.into(),
            chatbot_id: 1,
            client_id: "c".into(),
            client_secret: Secret::new("s"),
        },
    )
}

#[tokio::test]
async fn outcomes_are_classified_and_retry_after_is_read() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    fake.script(&[(503, Some("7")), (429, None), (400, None), (500, None)]);
    assert_eq!(
        client.attempt("{}").await,
        Attempt::Transient {
            reason: "mluvii answered 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(matches!(
        client.attempt("{}").await,
        Attempt::Transient {
            retry_after: None,
            ..
        }
    ));
    let refused = client.attempt("{}").await;
    assert!(
        matches!(&refused, Attempt::Refused { reason } if reason.contains("400")),
        "{refused:?}"
    );
    assert!(matches!(
        client.attempt("{}").await,
        Attempt::Transient { .. }
    ));
    assert_eq!(client.attempt(r#"{"a":1}"#).await, Attempt::Delivered);
    assert_eq!(
        fake.sends.lock().unwrap().len(),
        5,
        "one request per attempt"
    );
    assert_eq!(
        fake.sends.lock().unwrap()[4],
        r#"Bearer t1 {"a":1}"#,
        "the body is sent as given, with the cached token"
    );
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_concurrent_requests_share_the_fetch() {
    let fake = Fake::default();
    let client = Arc::new(client(&fake.start().await));
    fake.script(&[(401, None)]);
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 2);
    let sends = fake.sends.lock().unwrap().clone();
    assert_eq!(sends, vec!["Bearer t1 {}", "Bearer t2 {}"]);
    // Two 401s in a row: a transient failure, not a loop of refreshes.
    fake.script(&[(401, None), (401, None)]);
    assert!(
        matches!(client.attempt("{}").await, Attempt::Transient { reason, .. } if reason.contains("401"))
    );
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 3);
    // Many requests at once with no token yet: one fetch serves them all.
    let fresh = Fake::default();
    let client = Arc::new(self::client(&fresh.start().await));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.attempt("{}").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Attempt::Delivered);
    }
    assert_eq!(fresh.token_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_that_claims_to_live_forever_is_used_and_refreshed_daily() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    *fake.expires_in.lock().unwrap() = u64::MAX;
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 1);
    tokio::time::pause();
    tokio::time::advance(MAX_TOKEN_LIFETIME).await;
    tokio::time::resume();
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_transient_failure() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    *fake.token_status.lock().unwrap() = 503;
    let attempt = client.attempt("{}").await;
    assert!(
        matches!(&attempt, Attempt::Transient { reason, .. } if reason.contains("token endpoint answered 503")),
        "{attempt:?}"
    );
    assert!(fake.sends.lock().unwrap().is_empty());
    *fake.token_status.lock().unwrap() = 200;
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
}

#[tokio::test]
async fn the_token_is_refreshed_five_minutes_before_it_expires() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    // The token lives 3600 s; with the clock paused, move to just before the refresh point.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3600 - 300 - 1)).await;
    tokio::time::resume();
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(fake.token_calls.load(Ordering::SeqCst), 1, "still fresh");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    assert_eq!(client.attempt("{}").await, Attempt::Delivered);
    assert_eq!(
        fake.token_calls.load(Ordering::SeqCst),
        2,
        "refreshed early"
    );
    assert_eq!(
        refresh_after(Duration::from_secs(2)),
        Duration::from_secs(1)
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = serve(Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "stolen" }
    }))
    .await;
    let target = format!("{elsewhere}/login/connect/token");
    let redirecting = serve(Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
    }))
    .await;
    let client = client(&redirecting);
    let attempt = client.attempt("{}").await;
    assert!(matches!(attempt, Attempt::Transient { .. }), "{attempt:?}");
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the token form never left the origin"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_gets_at_most_120_requests_a_minute_and_the_rest_wait() {
    let client = client("http://127.0.0.1:9");
    let start = Instant::now();
    for _ in 0..RATE_LIMIT {
        client.pace(7).await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "the first 120 go at once");
    client.pace(8).await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "another session is not held back"
    );
    client.pace(7).await;
    assert_eq!(
        start.elapsed(),
        RATE_WINDOW,
        "the 121st waits for the window"
    );
    for _ in 0..RATE_LIMIT - 1 {
        client.pace(7).await;
    }
    assert_eq!(start.elapsed(), RATE_WINDOW);
    client.pace(7).await;
    assert_eq!(start.elapsed(), RATE_WINDOW * 2);
}

#[tokio::test]
async fn sends_of_another_sender_count_against_the_window() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    let ago: Vec<Duration> = (0..RATE_LIMIT as u64)
        .map(|i| Duration::from_millis(30_000 + i))
        .collect();
    client.seed_pacing(7, &ago);
    // The window is full for about 30 s more: the next request of session 7 waits.
    let paced = tokio::time::timeout(Duration::from_millis(300), client.pace(7)).await;
    assert!(paced.is_err(), "a full window lets no request through");
    // Other sessions, and requests older than the window, do not count.
    tokio::time::timeout(Duration::from_millis(300), client.pace(8))
        .await
        .unwrap();
    client.seed_pacing(9, &[Duration::from_secs(61); RATE_LIMIT]);
    tokio::time::timeout(Duration::from_millis(300), client.pace(9))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_record_of_sends_replaces_this_senders_own_count_and_keeps_its_later_attempts() {
    let fake = Fake::default();
    let client = client(&fake.start().await);
    // 100 requests made here, then a record of 120 sends older than all of them (another
    // sender's): the requests made here are not in it, so all of them stay: 220.
    for _ in 0..100 {
        client.pace(5).await;
    }
    let recorded: Vec<Duration> = (0..120u64)
        .map(|i| Duration::from_millis(40_000 - i * 10))
        .collect();
    client.seed_pacing(5, &recorded);
    let paced = tokio::time::timeout(Duration::from_millis(300), client.pace(5)).await;
    assert!(paced.is_err(), "220 in the window");
    // A record that covers this sender's requests replaces them.
    let covering: Vec<Duration> = (0..60u64).map(Duration::from_millis).collect();
    client.seed_pacing(5, &covering);
    for _ in 0..60 {
        tokio::time::timeout(Duration::from_millis(300), client.pace(5))
            .await
            .expect("60 in the window: 60 more may go");
    }
    let paced = tokio::time::timeout(Duration::from_millis(300), client.pace(5)).await;
    assert!(paced.is_err(), "then the window is full");
}

#[test]
fn retry_after_is_read_as_seconds_or_as_an_http_date() {
    let wait = |value: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, value.parse().unwrap());
        super::retry_after(&headers)
    };
    assert_eq!(wait("120"), Some(Duration::from_secs(120)));
    assert_eq!(wait("99999"), Some(super::MAX_RETRY_AFTER), "capped");
    let in_30_s = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
    let waited = wait(&in_30_s).unwrap();
    assert!(
        (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&waited),
        "{waited:?} for {in_30_s}"
    );
    assert_eq!(
        wait("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO),
        "past"
    );
    assert_eq!(wait("soon"), None);
}

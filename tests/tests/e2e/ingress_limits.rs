//! The server's connections against slow or greedy clients: a stalled header section or body
//! is cut off at its read timeout, past `max_connections` further clients wait until a
//! slot frees, and one peer cannot take every slot (`max_connections_per_peer`).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{Served, TOKEN};

const LIMITS: &str =
    "max_connections = 3\nheader_read_timeout_ms = 300\nbody_read_timeout_ms = 300";

async fn served() -> Served {
    Served::start(LIMITS, &[("acme", plugins::ECHO, 1, "")]).await
}

/// Opens a connection to `served`, writes `bytes`, and then sends nothing more.
async fn stalled(served: &Served, bytes: &str) -> TcpStream {
    let address = served.server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection (at most 5 s), and when.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received));
    read.await.expect("the server closes the connection").ok();
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// How long `GET /healthz` took to be answered (it must be answered 200).
async fn healthz_time(served: &Served) -> Duration {
    let started = Instant::now();
    let health = reqwest::get(format!("{}/healthz", served.server.url))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_header_section_or_body_is_cut_off_at_its_timeout() {
    let served = served().await;
    let mut headers = stalled(&served, "POST /webhook/acme HTTP/1.1\r\nHost: x\r\n").await;
    let (_, after) = read_until_closed(&mut headers).await;
    assert!(after < Duration::from_secs(2), "closed after {after:?}");

    let request = format!(
        "POST /webhook/acme?access_token={TOKEN} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"activity\""
    );
    let mut body = stalled(&served, &request).await;
    let (answer, after) = read_until_closed(&mut body).await;
    assert!(after < Duration::from_secs(2), "closed after {after:?}");
    // Answered with an error (or just closed), never accepted.
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    let metrics = served.server.metrics().await;
    assert!(
        !metrics.contains("outcome=\"accepted\""),
        "nothing was journaled: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_clients_wait_for_a_free_slot() {
    let served = served().await;
    // Three connections that never send a request take every slot until their header
    // timeout (300 ms) closes them.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(stalled(&served, "").await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waited = healthz_time(&served).await;
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
        "served after {waited:?}"
    );
    // With the slots free again, a request is served at once.
    let waited = healthz_time(&served).await;
    assert!(waited < Duration::from_millis(150), "{waited:?}");
    drop(idle);
}

/// A connection from `source` (another loopback address than the test's own) that sends the
/// start of a header section and then nothing.
async fn partial_headers_from(source: &str, served: &Served) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let address = served.server.url.trim_start_matches("http://");
    let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
    // Accepted and closed at once past the peer's limit: the write may fail then.
    let _ = stream
        .write_all(b"POST /webhook/acme HTTP/1.1\r\nHost: x\r\n")
        .await;
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_holding_partial_headers_cannot_lock_out_another() {
    let limits = "max_connections = 8\nmax_connections_per_peer = 3\nheader_read_timeout_ms = 5000";
    let served = Served::start(limits, &[("acme", plugins::ECHO, 1, "")]).await;
    // 127.0.0.2 opens far more connections than the server has slots, each stalled in its
    // header section (5 s before the header timeout would free a slot).
    let mut greedy = Vec::new();
    for _ in 0..20 {
        greedy.push(partial_headers_from("127.0.0.2", &served).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Another peer (127.0.0.1) is served at once, not after the greedy peer's timeouts.
    let waited = healthz_time(&served).await;
    assert!(waited < Duration::from_secs(2), "served after {waited:?}");
    // The greedy peer kept its 3 connections; the others were closed at once.
    let mut closed = 0;
    for stream in &mut greedy {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    assert_eq!(closed, 17, "connections of the greedy peer closed at once");
}

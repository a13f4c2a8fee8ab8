//! Test fixture: misbehaves as the guest's text asks, so the host's limits and error paths can
//! be tested. Not an example to follow.

mod outbound;

use wasmbot_sdk::{Activity, Bot, Conversation, Error, Event, Result, export_bot, log, state};

struct Misbehaving;

impl Bot for Misbehaving {
    fn handle(conversation: &Conversation, event: Event) -> Result<Vec<Activity>> {
        let Event::Text(message) = event else {
            return Ok(vec![]);
        };
        match message.text.as_str() {
            "panic" => panic!("the misbehaving bot panicked on purpose"),
            "loop" => loop {
                std::hint::black_box(());
            },
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "error" => Err(Error::msg("the bot refused on purpose")),
            "bad-raw" => Ok(vec![Activity::text("fine"), Activity::Raw("[1, 2]".into())]),
            "raw" => Ok(vec![Activity::raw(&serde_json::json!({
                "activity": "SomethingNew", "sessionId": 1, "flag": true
            }))]),
            "log" => {
                println!("printed to stdout");
                eprintln!("printed to stderr");
                log::error("logged through the log import");
                Ok(vec![])
            }
            "count" => {
                let scope = conversation.tenant_state();
                let count: u64 = scope.get("count")?.unwrap_or(0) + 1;
                scope.set("count", &count)?;
                Ok(vec![Activity::text(format!(
                    "{} {count}",
                    conversation.tenant()
                ))])
            }
            "big-state" => {
                state::set_bytes("big", &vec![0; 1 << 20])?;
                Ok(vec![])
            }
            "context" => Ok(vec![Activity::text(format!(
                "{}|{}|{}|{}",
                conversation.tenant(),
                conversation.session_id(),
                conversation.language().unwrap_or("-"),
                conversation.channel().unwrap_or("-")
            ))]),
            many if many.starts_with("many ") => {
                // "many 60": that many text activities.
                let count: usize = many[5..].parse().unwrap_or(0);
                Ok((0..count)
                    .map(|i| Activity::text(format!("#{i}")))
                    .collect())
            }
            "huge" => Ok(vec![Activity::text("x".repeat(300 * 1024))]),
            "global" => {
                // A global counter: 1 on every event of a fresh instance, counting up while a
                // warm instance is reused.
                static EVENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let count = EVENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                Ok(vec![Activity::text(format!("global {count}"))])
            }
            slow if slow.starts_with("slow ") => {
                // "slow 200 x": sleep 200 ms (a blocking host call), then answer "slow: x".
                let mut words = slow.split(' ').skip(1);
                let millis = words.next().and_then(|w| w.parse().ok()).unwrap_or(100);
                std::thread::sleep(std::time::Duration::from_millis(millis));
                let rest: Vec<&str> = words.collect();
                Ok(vec![Activity::text(format!("slow: {}", rest.join(" ")))])
            }
            spin if spin.starts_with("spin ") => {
                // "spin 1000000": that many rounds of integer mixing (a compute-heavy bot).
                let rounds: u64 = spin[5..].parse().unwrap_or(0);
                let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15u64);
                for i in 0..rounds {
                    x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ i;
                }
                Ok(vec![Activity::text(format!("spun {x:x}"))])
            }
            "recurse" => Ok(vec![Activity::text(format!("depth {}", recurse(0)))]),
            flood if flood.starts_with("log-flood ") => {
                // "log-flood 100000": that many 100-byte lines through the log import and
                // stdout, then an answer.
                let lines: usize = flood[10..].parse().unwrap_or(0);
                let padding = "x".repeat(80);
                for i in 0..lines {
                    if i % 2 == 0 {
                        log::info(&format!("flood {i:>8} {padding}"));
                    } else {
                        println!("flood {i:>8} {padding}");
                    }
                }
                Ok(vec![Activity::text(format!("logged {lines}"))])
            }
            "state-flood" => {
                // Distinct 1 KiB values until the host refuses one; says how many were kept.
                let value = vec![7u8; 1024];
                for i in 0.. {
                    if let Err(e) = state::set_bytes(&format!("flood/{i}"), &value) {
                        return Ok(vec![Activity::text(format!("stored {i}: {e}"))]);
                    }
                }
                unreachable!()
            }
            "escape" => {
                // What a bot can reach of its host: environment, files, sockets, name lookups.
                let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let files = [
                    std::fs::read("/etc/passwd").map(|_| ()).err(),
                    std::fs::read_dir("/").map(|_| ()).err(),
                    std::fs::read_dir(".").map(|_| ()).err(),
                    std::fs::write("escape.txt", b"x").err(),
                ];
                let tcp = std::net::TcpStream::connect("127.0.0.1:22")
                    .map(|_| ())
                    .err();
                let udp = std::net::UdpSocket::bind("0.0.0.0:0").map(|_| ()).err();
                let lookup = std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
                    .map(|_| ())
                    .err();
                let reached = files.iter().filter(|e| e.is_none()).count()
                    + [&tcp, &udp, &lookup].iter().filter(|e| e.is_none()).count();
                Ok(vec![Activity::text(format!(
                    "env [{}] reached {reached}",
                    env.join(",")
                ))])
            }
            fetch if fetch.starts_with("fetch ") => {
                // "fetch URL [URL…]": a GET of each, answered with one line per request:
                // "200 <body>" or the error the host returned.
                let lines: Vec<String> = fetch[6..].split(' ').map(outbound::get).collect();
                Ok(vec![Activity::text(lines.join("\n"))])
            }
            other => Ok(vec![Activity::text(format!("ok: {other}"))]),
        }
    }
}

/// Recurses until the wasm stack overflows (the depth is never returned).
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    if frame[3] == u64::MAX {
        return 0;
    }
    1 + recurse(frame[3] + 1) + std::hint::black_box(0)
}

export_bot!(Misbehaving);

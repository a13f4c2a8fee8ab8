//! Test fixture: misbehaves as the guest's text asks, so the host's limits and error paths can
//! be tested. Not an example to follow.

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
            other => Ok(vec![Activity::text(format!("ok: {other}"))]),
        }
    }
}

export_bot!(Misbehaving);

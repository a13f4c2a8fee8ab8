//! Warm instance reuse (`limits.reuse_instance_events` / `reuse_instance_secs`): one instance
//! serves several events of its tenant, never another tenant's, and is dropped after a
//! failure or past its event count or age.

use std::time::Duration;

use serde_json::json;
use wasmbot::runtime::{InstanceReuse, Limits};
use wasmbot_tests::{bodies, load, plugins, run, tenant, text};

fn reusing(max_events: u32, max_age: Duration) -> Limits {
    Limits {
        reuse: InstanceReuse {
            max_events,
            max_age,
        },
        ..Limits::default()
    }
}

/// The bot's global event counter, as it answers "global".
fn global(
    bot: &wasmbot::runtime::Plugin,
    env: &std::sync::Arc<wasmbot::runtime::TenantEnv>,
) -> String {
    bodies(bot, env, &text(1, "global"))[0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn without_reuse_every_event_gets_a_fresh_instance() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), Limits::default());
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(global(&bot, &acme), "global 1");
    assert!(acme.warm.is_empty());
}

#[test]
fn a_warm_instance_serves_up_to_its_event_count_then_a_fresh_one_follows() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), reusing(3, Duration::from_secs(60)));
    let counts: Vec<String> = (0..5).map(|_| global(&bot, &acme)).collect();
    assert_eq!(
        counts,
        ["global 1", "global 2", "global 3", "global 1", "global 2"]
    );
    assert_eq!(acme.warm.len(), 1);
}

#[test]
fn warm_instances_never_cross_tenants() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), reusing(10, Duration::from_secs(60)));
    let other = tenant("other", json!({}), reusing(10, Duration::from_secs(60)));
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(global(&bot, &acme), "global 2");
    assert_eq!(global(&bot, &other), "global 1");
    assert_eq!(global(&bot, &acme), "global 3");
    assert_eq!(global(&bot, &other), "global 2");
}

#[test]
fn a_trap_or_a_refusal_discards_the_instance() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), reusing(10, Duration::from_secs(60)));
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(global(&bot, &acme), "global 2");
    let trapped = run(&bot, &acme, &text(1, "panic"));
    assert!(trapped.result.is_err());
    assert!(acme.warm.is_empty(), "the trapped instance was kept");
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(global(&bot, &acme), "global 2");
    let refused = run(&bot, &acme, &text(1, "error"));
    assert!(refused.result.is_err());
    assert_eq!(global(&bot, &acme), "global 1");
}

#[test]
fn an_instance_past_its_age_is_not_reused_and_housekeeping_can_evict_it() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), reusing(10, Duration::from_millis(200)));
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(global(&bot, &acme), "global 2");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(global(&bot, &acme), "global 1");
    assert_eq!(acme.warm.len(), 1);
    std::thread::sleep(Duration::from_millis(250));
    acme.warm.evict_older_than(Duration::from_millis(200));
    assert!(acme.warm.is_empty());
}

#[test]
fn a_warm_instance_reports_each_events_own_logs() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), reusing(10, Duration::from_secs(60)));
    let first = run(&bot, &acme, &text(1, "log"));
    let second = run(&bot, &acme, &text(2, "log"));
    let lines = |r: &wasmbot::dispatch::step::EventRun| {
        r.logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        lines(&first),
        lines(&second),
        "output of the first event leaked into the second"
    );
    assert_eq!(lines(&second).len(), 3, "{:?}", lines(&second));
}

#[test]
fn idle_warm_instances_never_take_the_slots_runs_need() {
    // 4 run slots and 2 for idle warm instances.
    let runtime = wasmbot::runtime::Runtime::new(&wasmbot::runtime::EngineSettings {
        max_instances: 6,
        warm_instances: 2,
        ..Default::default()
    })
    .unwrap();
    let bytes = std::fs::read(plugins::MISBEHAVING).unwrap();
    let bot = runtime.load(&bytes).unwrap();
    let run_on =
        |env, session, said: &str| wasmbot_tests::run_on(&runtime, &bot, env, &text(session, said));
    let keepers: Vec<_> = (0..4)
        .map(|i| {
            tenant(
                &format!("warm{i}"),
                json!({}),
                reusing(100, Duration::from_secs(60)),
            )
        })
        .collect();
    for (i, keeper) in keepers.iter().enumerate() {
        run_on(keeper, i as i64, "global").result.unwrap();
    }
    let kept: usize = keepers.iter().map(|k| k.warm.len()).sum();
    assert_eq!(kept, 2, "only the warm budget is kept idle");
    // Four runs at once of another tenant all get an instance.
    let busy = tenant("busy", json!({}), Limits::default());
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let (run_on, busy) = (&run_on, &busy);
                scope.spawn(move || run_on(busy, 100 + i, "slow 300 x").result)
            })
            .collect();
        for run in runs {
            let sent = run.join().unwrap().expect("an instance slot was free");
            assert_eq!(sent[0].to_json()["text"], "slow: x");
        }
    });
}

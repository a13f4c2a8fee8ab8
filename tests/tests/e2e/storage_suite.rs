//! The storage suite: every test is written against the `Storage` trait and runs on each
//! backend (SQLite in a temporary directory, PostgreSQL on a throwaway server).

use std::sync::Arc;
use std::time::Duration;

use wasmbot::storage::{
    Claim, Completion, LeaseLost, NewActivity, NewEvent, Stage, StateQuota, StateWrite, Storage,
    TenantBacklog, now_ms,
};
use wasmbot_tests::stores::TestStore;

/// `name_sqlite` and `name_postgres`, each running `name` on a fresh store of its backend.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(wasmbot_tests::stores::TestStore::sqlite()).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(wasmbot_tests::stores::TestStore::postgres()).await
            })*
        }
    };
}

on_each_backend!(
    events_come_back_per_session_in_order_and_completing_fills_the_outbox,
    failures_keep_the_first_time_and_dead_letters_can_be_retried_or_dropped,
    concurrent_appends_are_all_kept_and_survive_reopening,
    pruning_removes_only_finished_rows,
    state_scopes_are_kept_apart_values_replace_and_survive_reopening,
    state_quotas_count_keys_and_bytes_per_scope_and_survive_reopening,
    expiry_removes_old_rows_of_the_prefixed_scopes_only_and_frees_their_usage,
    a_claim_is_exclusive_per_session_and_stage_and_release_says_what_waits,
    a_stale_claim_stores_nothing,
    waiting_work_is_claimed_once_for_the_listed_tenants,
    recent_sends_are_the_sessions_recorded_sends_since_a_time,
    relaxed_state_writes_count_against_the_quota_like_durable_ones,
    a_relaxed_update_merges_into_the_stored_value_before_later_calls,
    relaxed_updates_queued_together_apply_in_order_within_the_quota,
    traces_travel_with_events_and_activities,
    history_reads_conversations_back_with_their_activities,
    candidates_are_stored_replaced_and_cleared,
);

fn event(tenant: &str, session_id: i64, body: &str) -> NewEvent {
    NewEvent {
        tenant: tenant.into(),
        session_id,
        received_at_ms: 1,
        body: body.as_bytes().to_vec(),
        trace: None,
    }
}

fn activity(text: &str) -> NewActivity {
    NewActivity {
        name: "message".into(),
        body: text.into(),
        trace: None,
    }
}

fn done(seq: i64, texts: &[&str]) -> Vec<Completion> {
    vec![Completion {
        seq,
        activities: texts.iter().map(|t| activity(t)).collect(),
        error: None,
    }]
}

async fn claim(db: &dyn Storage, stage: Stage, tenant: &str, session: i64) -> Claim {
    db.claim(stage, tenant, session)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{tenant}/{session} could not be claimed"))
}

fn lost(result: anyhow::Result<impl std::fmt::Debug>) -> bool {
    match result {
        Ok(value) => panic!("expected a lost lease, got {value:?}"),
        Err(e) => e.downcast_ref::<LeaseLost>().is_some(),
    }
}

async fn events_come_back_per_session_in_order_and_completing_fills_the_outbox(store: TestStore) {
    let db = store.open().await;
    let a1 = db.append(event("a", 1, "a1")).await.unwrap();
    db.append(event("b", 1, "b1")).await.unwrap();
    let a2 = db.append(event("a", 1, "a2")).await.unwrap();
    db.append(event("a", 2, "a-2")).await.unwrap();
    assert!(a1 < a2);
    assert_eq!(
        db.sessions_with_events().await.unwrap(),
        vec![("a".into(), 1), ("b".into(), 1), ("a".into(), 2)]
    );
    let pending = db.pending_events("a", 1, 10).await.unwrap();
    let bodies: Vec<_> = pending.iter().map(|e| e.body.clone()).collect();
    assert_eq!(bodies, vec![b"a1".to_vec(), b"a2".to_vec()]);
    let run = claim(&*db, Stage::Run, "a", 1).await;
    let ids = db.complete(&run, done(a1, &["r1", "r2"])).await.unwrap();
    assert_eq!(db.pending_events("a", 1, 10).await.unwrap()[0].seq, a2);
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    assert_eq!(ids, out.iter().map(|a| a.id).collect::<Vec<_>>());
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].body.as_str(), out[1].body.as_str()), ("r1", "r2"));
    assert!(out[0].id < out[1].id);
    // Completing twice is an error and stores nothing twice.
    assert!(db.complete(&run, done(a1, &["dup"])).await.is_err());
    assert_eq!(db.pending_activities("a", 1, 10).await.unwrap().len(), 2);
    // Several events in one completion keep their order.
    let a3 = db.append(event("a", 1, "a3")).await.unwrap();
    let mut both = done(a2, &["r3"]);
    both.extend(done(a3, &["r4", "r5"]));
    let ids = db.complete(&run, both).await.unwrap();
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    let bodies: Vec<_> = out.iter().map(|a| a.body.as_str()).collect();
    assert_eq!(bodies, ["r1", "r2", "r3", "r4", "r5"]);
    assert_eq!(ids, out[2..].iter().map(|a| a.id).collect::<Vec<_>>());
}

async fn failures_keep_the_first_time_and_dead_letters_can_be_retried_or_dropped(store: TestStore) {
    let db = store.open().await;
    let seq = db.append(event("a", 7, "e")).await.unwrap();
    let run = claim(&*db, Stage::Run, "a", 7).await;
    db.complete(&run, done(seq, &["x", "y"])).await.unwrap();
    let out = db.pending_activities("a", 7, 10).await.unwrap();
    db.record_failure(out[0].id, "503", 100).await.unwrap();
    db.record_failure(out[0].id, "504", 200).await.unwrap();
    let first = &db.pending_activities("a", 7, 1).await.unwrap()[0];
    assert_eq!(first.attempts, 2);
    assert_eq!(first.first_failure_ms, Some(100));
    assert_eq!(first.last_error.as_deref(), Some("504"));
    db.mark_dead(out[0].id, "gave up", 300).await.unwrap();
    let dead = db.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].dead);
    let backlog = db.backlog().await.unwrap();
    assert_eq!(
        backlog,
        vec![TenantBacklog {
            tenant: "a".into(),
            events: 0,
            activities: 1,
            dead_letters: 1
        }]
    );
    // A session blocked by a dead letter is not work: not listed, nor claimed, nor reported
    // when its claim is given back.
    assert!(db.sessions_with_activities().await.unwrap().is_empty());
    let tenants = vec!["a".to_owned()];
    let waiting = db
        .claim_waiting(Stage::Deliver, &tenants, 10)
        .await
        .unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");
    let deliver = claim(&*db, Stage::Deliver, "a", 7).await;
    assert!(!db.release(&deliver).await.unwrap());
    assert_eq!(db.retry_dead(None).await.unwrap(), 1);
    assert_eq!(
        db.sessions_with_activities().await.unwrap(),
        vec![("a".to_owned(), 7)]
    );
    let retried = &db.pending_activities("a", 7, 1).await.unwrap()[0];
    assert!(!retried.dead);
    assert_eq!((retried.attempts, retried.first_failure_ms), (0, None));
    db.mark_dead(out[0].id, "again", 400).await.unwrap();
    assert_eq!(db.drop_dead(Some(out[0].id)).await.unwrap(), 1);
    assert_eq!(
        db.pending_activities("a", 7, 10).await.unwrap()[0].body,
        "y"
    );
}

async fn concurrent_appends_are_all_kept_and_survive_reopening(store: TestStore) {
    {
        let db = store.open().await;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("{i}");
                (
                    i % 10,
                    body.clone(),
                    db.append(event("t", i % 10, &body)).await.unwrap(),
                )
            }));
        }
        let mut seqs = std::collections::HashSet::new();
        for task in tasks {
            let (_, _, seq) = task.await.unwrap();
            assert!(seqs.insert(seq), "seq {seq} given twice");
        }
    }
    // SQLite's writer threads end when the last handle is gone.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let db = store.open().await;
    let backlog = db.backlog().await.unwrap();
    assert_eq!(backlog[0].events, 200);
    assert_eq!(db.sessions_with_events().await.unwrap().len(), 10);
    // Each session's events come back in journal order.
    let events = db.pending_events("t", 3, 100).await.unwrap();
    assert_eq!(events.len(), 20);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
}

async fn pruning_removes_only_finished_rows(store: TestStore) {
    let db = store.open().await;
    let finished = db.append(event("a", 1, "done")).await.unwrap();
    db.append(event("a", 2, "waiting")).await.unwrap();
    let run = claim(&*db, Stage::Run, "a", 1).await;
    db.complete(&run, done(finished, &["sent", "unsent"]))
        .await
        .unwrap();
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    let deliver = claim(&*db, Stage::Deliver, "a", 1).await;
    db.mark_sent(&deliver, out[0].id).await.unwrap();
    let removed = db.prune(now_ms() + 1000).await.unwrap();
    assert_eq!(removed, 2, "the processed event and the sent activity");
    assert_eq!(db.pending_events("a", 2, 10).await.unwrap().len(), 1);
    assert_eq!(db.pending_activities("a", 1, 10).await.unwrap().len(), 1);
}

async fn state_scopes_are_kept_apart_values_replace_and_survive_reopening(store: TestStore) {
    {
        let db = store.open().await;
        db.state_set("acme", "k", b"one".to_vec(), None)
            .await
            .unwrap();
        db.state_set("acme", "k", b"two".to_vec(), None)
            .await
            .unwrap();
        db.state_set("other", "k", b"three".to_vec(), None)
            .await
            .unwrap();
        db.state_set("acme", "gone", b"x".to_vec(), None)
            .await
            .unwrap();
        db.state_delete("acme", "gone").await.unwrap();
        db.state_delete("acme", "never-there").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let db = store.open().await;
    assert_eq!(
        db.state_get("acme", "k").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(
        db.state_get("other", "k").await.unwrap().as_deref(),
        Some(&b"three"[..])
    );
    assert_eq!(db.state_get("acme", "gone").await.unwrap(), None);
}

async fn state_quotas_count_keys_and_bytes_per_scope_and_survive_reopening(store: TestStore) {
    let quota = Some(StateQuota {
        max_keys: 2,
        max_bytes: 20,
    });
    {
        let db = store.open().await;
        // "a" + 4 bytes, "b" + 4 bytes: 10 bytes, 2 keys.
        let stored = db.state_set("acme", "a", vec![0; 4], quota).await.unwrap();
        assert_eq!(stored, StateWrite::Stored);
        let stored = db.state_set("acme", "b", vec![0; 4], quota).await.unwrap();
        assert_eq!(stored, StateWrite::Stored);
        // A third key is refused; replacing an existing one is not a new key.
        let refused = db.state_set("acme", "c", vec![0], quota).await.unwrap();
        assert!(
            matches!(&refused, StateWrite::OverQuota(r) if r.contains("keys")),
            "{refused:?}"
        );
        let stored = db.state_set("acme", "a", vec![0; 9], quota).await.unwrap();
        assert_eq!(stored, StateWrite::Stored);
        // 10 + 5 bytes, and "b" grown to 1 + 10 would make 21: refused.
        let refused = db.state_set("acme", "b", vec![0; 10], quota).await.unwrap();
        assert!(
            matches!(&refused, StateWrite::OverQuota(r) if r.contains("bytes")),
            "{refused:?}"
        );
        assert_eq!(db.state_get("acme", "b").await.unwrap(), Some(vec![0; 4]));
        // Another scope has its own usage.
        let stored = db.state_set("other", "c", vec![0; 4], quota).await.unwrap();
        assert_eq!(stored, StateWrite::Stored);
        db.state_delete("acme", "b").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let db = store.open().await;
    // After the delete (and a reopening) acme holds one key of 10 bytes: one more fits.
    let stored = db.state_set("acme", "c", vec![0; 9], quota).await.unwrap();
    assert_eq!(stored, StateWrite::Stored);
    let refused = db.state_set("acme", "d", vec![], quota).await.unwrap();
    assert!(matches!(refused, StateWrite::OverQuota(_)));
}

async fn expiry_removes_old_rows_of_the_prefixed_scopes_only_and_frees_their_usage(
    store: TestStore,
) {
    let db = store.open().await;
    let quota = Some(StateQuota {
        max_keys: 1,
        max_bytes: 1 << 20,
    });
    db.state_set("\u{1}host/acme", "s1", b"old".to_vec(), quota)
        .await
        .unwrap();
    db.state_set("\u{1}host/globex", "s1", b"old".to_vec(), None)
        .await
        .unwrap();
    db.state_set("acme", "kept", b"bot".to_vec(), None)
        .await
        .unwrap();
    let cutoff = now_ms() + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    db.state_set("\u{1}host/globex", "s2", b"new".to_vec(), None)
        .await
        .unwrap();

    assert_eq!(db.state_expire("\u{1}host/", cutoff).await.unwrap(), 2);
    assert_eq!(db.state_get("\u{1}host/acme", "s1").await.unwrap(), None);
    assert_eq!(db.state_get("\u{1}host/globex", "s1").await.unwrap(), None);
    let kept = db.state_get("\u{1}host/globex", "s2").await.unwrap();
    assert!(kept.is_some());
    assert!(db.state_get("acme", "kept").await.unwrap().is_some());
    // acme's host scope is empty again: its one-key quota admits a new key.
    let stored = db
        .state_set("\u{1}host/acme", "s3", b"x".to_vec(), quota)
        .await
        .unwrap();
    assert_eq!(stored, StateWrite::Stored);
    assert_eq!(db.state_expire("\u{1}host/", cutoff).await.unwrap(), 0);
}

async fn a_claim_is_exclusive_per_session_and_stage_and_release_says_what_waits(store: TestStore) {
    let db = store.open().await;
    let run = claim(&*db, Stage::Run, "a", 1).await;
    assert!(db.claim(Stage::Run, "a", 1).await.unwrap().is_none());
    // Other stages, sessions and tenants are claims of their own.
    let deliver = claim(&*db, Stage::Deliver, "a", 1).await;
    let other_session = claim(&*db, Stage::Run, "a", 2).await;
    let other_tenant = claim(&*db, Stage::Run, "b", 1).await;
    // Work journaled while the session was held (its claimant was refused) is reported
    // when the claim is given back, so it is not left waiting.
    let seq = db.append(event("a", 1, "late")).await.unwrap();
    assert!(db.claim(Stage::Run, "a", 1).await.unwrap().is_none());
    assert!(db.release(&run).await.unwrap(), "the late event waits");
    let run = claim(&*db, Stage::Run, "a", 1).await;
    db.complete(&run, done(seq, &["reply"])).await.unwrap();
    assert!(!db.release(&run).await.unwrap(), "nothing waits");
    db.renew(&deliver).await.unwrap();
    for claim in [deliver, other_session, other_tenant] {
        db.release(&claim).await.unwrap();
    }
    // Given back, a session can be claimed again, with a new token.
    let again = claim(&*db, Stage::Run, "a", 1).await;
    assert_ne!(again.token, run.token);
}

async fn a_stale_claim_stores_nothing(store: TestStore) {
    let db = store.open().await;
    let seq = db.append(event("a", 1, "e")).await.unwrap();
    let old = claim(&*db, Stage::Run, "a", 1).await;
    db.release(&old).await.unwrap();
    let current = claim(&*db, Stage::Run, "a", 1).await;
    assert!(lost(db.complete(&old, done(seq, &["stale"])).await));
    assert!(lost(db.renew(&old).await));
    assert!(db.pending_activities("a", 1, 10).await.unwrap().is_empty());
    assert_eq!(db.pending_events("a", 1, 10).await.unwrap().len(), 1);
    db.complete(&current, done(seq, &["fresh"])).await.unwrap();
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    let old_delivery = claim(&*db, Stage::Deliver, "a", 1).await;
    db.release(&old_delivery).await.unwrap();
    let _current_delivery = claim(&*db, Stage::Deliver, "a", 1).await;
    assert!(lost(db.mark_sent(&old_delivery, out[0].id).await));
    assert_eq!(db.pending_activities("a", 1, 10).await.unwrap().len(), 1);
}

async fn waiting_work_is_claimed_once_for_the_listed_tenants(store: TestStore) {
    let db = store.open().await;
    for (tenant, session) in [("a", 1), ("a", 2), ("b", 1), ("gone", 1)] {
        db.append(event(tenant, session, "e")).await.unwrap();
    }
    let held = claim(&*db, Stage::Run, "a", 2).await;
    let tenants = vec!["a".to_owned(), "b".to_owned()];
    let claims = db.claim_waiting(Stage::Run, &tenants, 10).await.unwrap();
    let mut sessions: Vec<(String, i64)> = claims
        .iter()
        .map(|c| (c.tenant.clone(), c.session_id))
        .collect();
    sessions.sort();
    assert_eq!(sessions, [("a".to_owned(), 1), ("b".to_owned(), 1)]);
    assert!(claims.iter().all(|c| c.stage == Stage::Run));
    assert!(
        db.claim_waiting(Stage::Run, &tenants, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed already"
    );
    assert!(db.claim(Stage::Run, "a", 1).await.unwrap().is_none());
    db.release(&held).await.unwrap();
    let limited = db.claim_waiting(Stage::Run, &tenants, 1).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(
        (limited[0].tenant.as_str(), limited[0].session_id),
        ("a", 2)
    );
}

async fn recent_sends_are_the_sessions_recorded_sends_since_a_time(store: TestStore) {
    let db = store.open().await;
    let seq = db.append(event("a", 1, "e")).await.unwrap();
    let other = db.append(event("a", 2, "e")).await.unwrap();
    let run = claim(&*db, Stage::Run, "a", 1).await;
    let ids = db
        .complete(&run, done(seq, &["x", "y", "z"]))
        .await
        .unwrap();
    let run2 = claim(&*db, Stage::Run, "a", 2).await;
    let other_ids = db.complete(&run2, done(other, &["o"])).await.unwrap();
    let before = now_ms();
    let deliver = claim(&*db, Stage::Deliver, "a", 1).await;
    db.mark_sent(&deliver, ids[0]).await.unwrap();
    db.mark_sent(&deliver, ids[1]).await.unwrap();
    let deliver2 = claim(&*db, Stage::Deliver, "a", 2).await;
    db.mark_sent(&deliver2, other_ids[0]).await.unwrap();
    let after = now_ms();
    let sent = db.recent_sends("a", 1, before).await.unwrap();
    assert_eq!(
        sent.len(),
        2,
        "the session's two sends, not the unsent one or another's"
    );
    assert!(
        sent.iter().all(|at| (before..=after).contains(at)),
        "{sent:?}"
    );
    assert!(db.recent_sends("a", 1, after + 1).await.unwrap().is_empty());
    assert!(db.recent_sends("b", 1, 0).await.unwrap().is_empty());
}

async fn a_relaxed_update_merges_into_the_stored_value_before_later_calls(store: TestStore) {
    let db = store.open().await;
    let quota = Some(StateQuota {
        max_keys: 1,
        max_bytes: 100,
    });
    let update = |key: &'static str, append: u8| {
        let db = db.clone();
        async move {
            let (done, outcome) = tokio::sync::oneshot::channel();
            let merge = Box::new(move |stored: Option<&[u8]>| {
                let mut value = stored.unwrap_or_default().to_vec();
                (!value.contains(&append)).then(|| {
                    value.push(append);
                    value
                })
            });
            db.state_update_relaxed(
                "s",
                key,
                merge,
                quota,
                Box::new(move |result| {
                    let _ = done.send(result.map_err(|e| e.to_string()));
                }),
            )
            .await;
            // Read at once, before the outcome: the update is ordered before this call.
            let read = db.state_get("s", key).await.unwrap();
            (read, outcome.await.unwrap())
        }
    };
    assert_eq!(
        update("a", 1).await,
        (Some(vec![1]), Ok(StateWrite::Stored))
    );
    assert_eq!(
        update("a", 2).await,
        (Some(vec![1, 2]), Ok(StateWrite::Stored))
    );
    assert_eq!(
        update("a", 2).await,
        (Some(vec![1, 2]), Ok(StateWrite::Stored)),
        "nothing to change"
    );
    let (read, outcome) = update("b", 1).await;
    assert_eq!(read, None, "a second key is over the quota");
    assert!(
        matches!(outcome, Ok(StateWrite::OverQuota(_))),
        "{outcome:?}"
    );
}

/// Updates queued back to back (one batch on PostgreSQL) see each other in queue order, and
/// the quota counts the keys the earlier ones added.
async fn relaxed_updates_queued_together_apply_in_order_within_the_quota(store: TestStore) {
    let db = store.open().await;
    let quota = Some(StateQuota {
        max_keys: 2,
        max_bytes: 100,
    });
    let mut outcomes = Vec::new();
    for (key, append) in [("k", 1u8), ("k", 2), ("m", 1), ("n", 1), ("k", 3)] {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let merge = Box::new(move |stored: Option<&[u8]>| {
            let mut value = stored.unwrap_or_default().to_vec();
            value.push(append);
            Some(value)
        });
        let done = Box::new(move |result: anyhow::Result<StateWrite>| {
            let _ = done.send(result.map_err(|e| e.to_string()));
        });
        db.state_update_relaxed("s", key, merge, quota, done).await;
        outcomes.push(outcome);
    }
    assert_eq!(db.state_get("s", "k").await.unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(db.state_get("s", "m").await.unwrap(), Some(vec![1]));
    assert_eq!(db.state_get("s", "n").await.unwrap(), None, "a third key");
    let mut results = Vec::new();
    for outcome in outcomes {
        results.push(outcome.await.unwrap());
    }
    assert!(
        matches!(results[3], Ok(StateWrite::OverQuota(_))),
        "{results:?}"
    );
    for i in [0, 1, 2, 4] {
        assert_eq!(results[i], Ok(StateWrite::Stored), "update {i}");
    }
    // The usage counts the two keys: a durable write of a third is refused too.
    let third = db.state_set("s", "x", vec![1], quota).await.unwrap();
    assert!(matches!(third, StateWrite::OverQuota(_)), "{third:?}");
}

async fn relaxed_state_writes_count_against_the_quota_like_durable_ones(store: TestStore) {
    let db = store.open().await;
    let quota = StateQuota {
        max_keys: 2,
        max_bytes: 100,
    };
    let set = |key: &'static str, value: Vec<u8>| {
        let db = db.clone();
        async move {
            db.state_set_relaxed("s", key, value, Some(quota))
                .await
                .unwrap()
        }
    };
    assert_eq!(set("a", vec![1; 10]).await, StateWrite::Stored);
    assert_eq!(set("b", vec![2; 10]).await, StateWrite::Stored);
    assert!(
        matches!(set("c", vec![3]).await, StateWrite::OverQuota(_)),
        "a third key"
    );
    assert_eq!(
        set("a", vec![4; 20]).await,
        StateWrite::Stored,
        "a replaced value"
    );
    assert!(
        matches!(set("b", vec![5; 90]).await, StateWrite::OverQuota(_)),
        "past the bytes"
    );
    assert_eq!(db.state_get("s", "a").await.unwrap(), Some(vec![4; 20]));
    assert_eq!(db.state_get("s", "c").await.unwrap(), None);
    // The durable path sees the same usage, and a relaxed delete frees it.
    let durable = db.state_set("s", "d", vec![6], Some(quota)).await.unwrap();
    assert!(matches!(durable, StateWrite::OverQuota(_)), "{durable:?}");
    db.state_delete_relaxed("s", "b").await.unwrap();
    assert_eq!(set("c", vec![3]).await, StateWrite::Stored);
}

/// Three replicas' worth of storage opened at once on one new database: the migrations run
/// once, and all three work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_starting_at_once_migrate_once() {
    let store = Arc::new(TestStore::postgres());
    let opening: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.open().await })
        })
        .collect();
    let mut dbs = Vec::new();
    for task in opening {
        dbs.push(task.await.unwrap());
    }
    for (i, db) in dbs.iter().enumerate() {
        db.append(event("a", i as i64, "e")).await.unwrap();
    }
    assert_eq!(dbs[0].backlog().await.unwrap()[0].events, 3);
}

/// Two replicas applying batches of relaxed updates to the same scopes at once: every update
/// is stored (the batches lock rows in one order, so neither is aborted as a deadlock) and the
/// scopes' usage counts each key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_updating_the_same_scopes_at_once_all_succeed() {
    let store = TestStore::postgres();
    let replicas = [store.open().await, store.open().await];
    let quota = Some(StateQuota {
        max_keys: 10,
        max_bytes: 10_000,
    });
    let mut outcomes = Vec::new();
    for round in 0..20u8 {
        for (r, db) in replicas.iter().enumerate() {
            // Each replica walks the scopes in its own order, as its sessions come.
            let mut scopes: Vec<usize> = (0..64).collect();
            if (usize::from(round) + r) % 2 == 1 {
                scopes.reverse();
            }
            for scope in scopes {
                let (done, outcome) = tokio::sync::oneshot::channel();
                let merge = Box::new(move |_: Option<&[u8]>| Some(vec![round; 8]));
                let done = Box::new(move |result: anyhow::Result<StateWrite>| {
                    let _ = done.send(result.map_err(|e| format!("{e:#}")));
                });
                db.state_update_relaxed(&format!("s{scope}"), "k", merge, quota, done)
                    .await;
                outcomes.push(outcome);
            }
        }
    }
    for outcome in outcomes {
        assert_eq!(outcome.await.unwrap(), Ok(StateWrite::Stored));
    }
    for db in &replicas {
        for scope in 0..64 {
            let value = db.state_get(&format!("s{scope}"), "k").await.unwrap();
            assert_eq!(value.map(|v| v.len()), Some(8));
        }
    }
    // Nine more keys fit in each scope's quota of ten: the first key was counted once.
    for key in 0..9 {
        let write = replicas[0]
            .state_set("s0", &format!("more{key}"), vec![1], quota)
            .await
            .unwrap();
        assert_eq!(write, StateWrite::Stored, "key {key}");
    }
    let over = replicas[1].state_set("s0", "one-too-many", vec![1], quota);
    assert!(matches!(over.await.unwrap(), StateWrite::OverQuota(_)));
}

/// A replica that stops renewing loses its claim after the lease: another replica takes the
/// session over, and the first one's late writes are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_expired_claim_is_taken_over_and_fenced_off() {
    let store = TestStore::postgres_with_lease(Duration::from_millis(600));
    let (first, second) = (store.open().await, store.open().await);
    let seq = first.append(event("a", 1, "e")).await.unwrap();
    let old = claim(&*first, Stage::Run, "a", 1).await;
    let tenants = vec!["a".to_owned()];
    assert!(
        second
            .claim_waiting(Stage::Run, &tenants, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let taken = second
        .claim_waiting(Stage::Run, &tenants, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "the expired claim is taken over");
    assert!(lost(first.complete(&old, done(seq, &["late"])).await));
    second
        .complete(&taken[0], done(seq, &["new"]))
        .await
        .unwrap();
    let out = second.pending_activities("a", 1, 10).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, "new");
}

/// Plugin publications: each tenant's newest is what every replica reads; a tenant's older
/// publications beyond the kept few go, with the blobs nothing names any more; what each
/// replica reports serving replaces its earlier report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plugin_publications_keep_the_newest_and_replicas_report_what_they_serve() {
    let store = TestStore::postgres();
    let (first, second) = (store.open().await, store.open().await);
    assert!(first.published_plugins().await.unwrap().is_empty());
    for i in 0..12u8 {
        let bytes = vec![i; 100];
        first
            .publish_plugin("a", &format!("h{i}"), "upload", &bytes)
            .await
            .unwrap();
    }
    second
        .publish_plugin("b", "h0", "rollback", &[0; 100])
        .await
        .unwrap();
    let published = second.published_plugins().await.unwrap();
    let newest: Vec<(&str, &str, &str)> = published
        .iter()
        .map(|p| (p.tenant.as_str(), p.hash.as_str(), p.source.as_str()))
        .collect();
    assert_eq!(newest, [("a", "h11", "upload"), ("b", "h0", "rollback")]);
    assert!(published[1].seq > published[0].seq);
    assert_eq!(
        second.plugin_bytes("h11").await.unwrap(),
        Some(vec![11; 100])
    );
    // Ten kept for `a`: h2..h11; h1 went, h0 stays because `b` names it.
    assert_eq!(first.plugin_bytes("h1").await.unwrap(), None);
    assert_eq!(first.plugin_bytes("h2").await.unwrap(), Some(vec![2; 100]));
    assert_eq!(first.plugin_bytes("h0").await.unwrap(), Some(vec![0; 100]));

    let serving = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(t, h)| (t.to_string(), h.to_string()))
            .collect()
    };
    first
        .report_serving("one", &serving(&[("a", "h10"), ("b", "h0")]))
        .await
        .unwrap();
    second
        .report_serving("two", &serving(&[("a", "h11")]))
        .await
        .unwrap();
    first
        .report_serving("one", &serving(&[("a", "h11")]))
        .await
        .unwrap();
    let on_a: Vec<(String, String)> = second
        .serving("a")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.replica, s.hash))
        .collect();
    assert_eq!(on_a, serving(&[("one", "h11"), ("two", "h11")]));
    assert!(first.serving("b").await.unwrap().is_empty(), "replaced");
}

async fn traces_travel_with_events_and_activities(store: TestStore) {
    let db = store.open().await;
    let ingress = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let run_span = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    let traced = NewEvent {
        trace: Some(ingress.into()),
        ..event("a", 1, "a1")
    };
    let seq = db.append(traced).await.unwrap();
    db.append(event("a", 1, "a2")).await.unwrap();
    let pending = db.pending_events("a", 1, 10).await.unwrap();
    let traces: Vec<_> = pending.iter().map(|e| e.trace.as_deref()).collect();
    assert_eq!(traces, [Some(ingress), None]);
    let run = claim(&*db, Stage::Run, "a", 1).await;
    let mut completion = done(seq, &["r1", "r2"]);
    completion[0].activities[0].trace = Some(run_span.into());
    db.complete(&run, completion).await.unwrap();
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    let traces: Vec<_> = out.iter().map(|a| a.trace.as_deref()).collect();
    assert_eq!(traces, [Some(run_span), None]);
}

async fn history_reads_conversations_back_with_their_activities(store: TestStore) {
    let db = store.open().await;
    let at = |ms: i64, session: i64, body: &str| NewEvent {
        received_at_ms: ms,
        ..event("a", session, body)
    };
    let a1 = db.append(at(100, 1, "a1")).await.unwrap();
    db.append(at(150, 2, "b1")).await.unwrap();
    db.append(at(200, 1, "a2")).await.unwrap();
    db.append(event("other", 1, "x")).await.unwrap();
    let run = claim(&*db, Stage::Run, "a", 1).await;
    db.complete(&run, done(a1, &["r1", "r2"])).await.unwrap();
    let query = |since_ms, until_ms, session| wasmbot::storage::HistoryQuery {
        tenant: "a".into(),
        since_ms,
        until_ms,
        session,
    };
    let all = db.history(&query(0, i64::MAX, None)).await.unwrap();
    let order: Vec<(i64, &[u8])> = all
        .iter()
        .map(|e| (e.session_id, e.body.as_slice()))
        .collect();
    assert_eq!(order, [(1, &b"a1"[..]), (1, b"a2"), (2, b"b1")]);
    assert!(all[0].processed && !all[1].processed);
    assert_eq!(all[0].activities, ["r1", "r2"]);
    assert!(all[1].activities.is_empty());
    let range = db.history(&query(120, 250, None)).await.unwrap();
    assert_eq!(range.len(), 2);
    let one = db.history(&query(0, i64::MAX, Some(2))).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].received_at_ms, 150);
}

async fn candidates_are_stored_replaced_and_cleared(store: TestStore) {
    let db = store.open().await;
    let candidate = |tenant: &str, hash: &str, at| wasmbot::storage::StoredCandidate {
        tenant: tenant.into(),
        hash: hash.into(),
        mode: "shadow".into(),
        set_at_ms: at,
    };
    assert!(db.candidates().await.unwrap().is_empty());
    db.set_candidate(&candidate("a", "h1", 1), b"one")
        .await
        .unwrap();
    db.set_candidate(&candidate("b", "h2", 2), b"two")
        .await
        .unwrap();
    db.set_candidate(&candidate("a", "h3", 3), b"three")
        .await
        .unwrap();
    assert_eq!(
        db.candidates().await.unwrap(),
        [candidate("a", "h3", 3), candidate("b", "h2", 2)]
    );
    assert_eq!(
        db.candidate_bytes("a", "h3").await.unwrap(),
        Some(b"three".to_vec())
    );
    assert_eq!(db.candidate_bytes("a", "h1").await.unwrap(), None);
    db.clear_candidate("a").await.unwrap();
    db.clear_candidate("nobody").await.unwrap();
    assert_eq!(db.candidates().await.unwrap(), [candidate("b", "h2", 2)]);
    drop(db);
    // Kept across a reopening (a restart).
    let reopened = store.open().await;
    assert_eq!(
        reopened.candidates().await.unwrap(),
        [candidate("b", "h2", 2)]
    );
}

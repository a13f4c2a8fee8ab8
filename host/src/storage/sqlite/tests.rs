use std::sync::Arc;

use super::*;
use crate::storage::{NewActivity, StateQuota, StateWrite, now_ms};

fn event(tenant: &str, session_id: i64, body: &str) -> NewEvent {
    NewEvent {
        tenant: tenant.into(),
        session_id,
        received_at_ms: 1,
        body: body.as_bytes().to_vec(),
    }
}

fn activity(text: &str) -> NewActivity {
    NewActivity {
        name: "message".into(),
        body: text.into(),
    }
}

#[tokio::test]
async fn events_come_back_per_session_in_order_and_completing_fills_the_outbox() {
    let db = SqliteStorage::in_memory().unwrap();
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
    let ids = db
        .complete(vec![Completion {
            seq: a1,
            activities: vec![activity("r1"), activity("r2")],
            error: None,
        }])
        .await
        .unwrap();
    assert_eq!(db.pending_events("a", 1, 10).await.unwrap()[0].seq, a2);
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    assert_eq!(ids, out.iter().map(|a| a.id).collect::<Vec<_>>());
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].body.as_str(), out[1].body.as_str()), ("r1", "r2"));
    assert!(out[0].id < out[1].id);
    // Completing twice is an error and stores nothing twice.
    let again = db.complete(vec![Completion {
        seq: a1,
        activities: vec![activity("dup")],
        error: None,
    }]);
    assert!(again.await.is_err());
    assert_eq!(db.pending_activities("a", 1, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn failures_keep_the_first_time_and_dead_letters_can_be_retried_or_dropped() {
    let db = SqliteStorage::in_memory().unwrap();
    let seq = db.append(event("a", 7, "e")).await.unwrap();
    db.complete(vec![Completion {
        seq,
        activities: vec![activity("x"), activity("y")],
        error: None,
    }])
    .await
    .unwrap();
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
    assert_eq!(db.retry_dead(None).await.unwrap(), 1);
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

#[tokio::test]
async fn concurrent_appends_share_commits_and_all_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    {
        let db = Arc::new(SqliteStorage::open(path, Durability::Fsync).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.append(event("t", i % 10, "x")).await.unwrap()
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
    let db = SqliteStorage::open(path, Durability::Fsync).unwrap();
    let backlog = db.backlog().await.unwrap();
    assert_eq!(backlog[0].events, 200);
    assert_eq!(db.sessions_with_events().await.unwrap().len(), 10);
}

#[tokio::test]
async fn pruning_removes_only_finished_rows() {
    let db = SqliteStorage::in_memory().unwrap();
    let done = db.append(event("a", 1, "done")).await.unwrap();
    db.append(event("a", 2, "waiting")).await.unwrap();
    db.complete(vec![Completion {
        seq: done,
        activities: vec![activity("sent"), activity("unsent")],
        error: None,
    }])
    .await
    .unwrap();
    let out = db.pending_activities("a", 1, 10).await.unwrap();
    db.mark_sent(out[0].id).await.unwrap();
    let removed = db.prune(now_ms() + 1000).await.unwrap();
    assert_eq!(removed, 2, "the processed event and the sent activity");
    assert_eq!(db.pending_events("a", 2, 10).await.unwrap().len(), 1);
    assert_eq!(db.pending_activities("a", 1, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn state_scopes_are_kept_apart_values_replace_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = SqliteStorage::open(dir.path(), Durability::Fsync).unwrap();
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
    let db = SqliteStorage::open(dir.path(), Durability::Fsync).unwrap();
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

#[tokio::test]
async fn state_quotas_count_keys_and_bytes_per_scope_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let quota = Some(StateQuota {
        max_keys: 2,
        max_bytes: 20,
    });
    {
        let db = SqliteStorage::open(dir.path(), Durability::Fsync).unwrap();
        // "a" + 4 bytes, "b" + 4 bytes: 10 bytes, 2 keys.
        assert_eq!(
            db.state_set("acme", "a", vec![0; 4], quota).await.unwrap(),
            StateWrite::Stored
        );
        assert_eq!(
            db.state_set("acme", "b", vec![0; 4], quota).await.unwrap(),
            StateWrite::Stored
        );
        // A third key is refused; replacing an existing one is not a new key.
        let refused = db.state_set("acme", "c", vec![0], quota).await.unwrap();
        assert!(
            matches!(&refused, StateWrite::OverQuota(r) if r.contains("keys")),
            "{refused:?}"
        );
        assert_eq!(
            db.state_set("acme", "a", vec![0; 9], quota).await.unwrap(),
            StateWrite::Stored
        );
        // 1 + 10 + 5 = 16 bytes would be 21 bytes with an 10-byte value for "b": refused.
        let refused = db.state_set("acme", "b", vec![0; 10], quota).await.unwrap();
        assert!(
            matches!(&refused, StateWrite::OverQuota(r) if r.contains("bytes")),
            "{refused:?}"
        );
        assert_eq!(db.state_get("acme", "b").await.unwrap(), Some(vec![0; 4]));
        // Another scope has its own usage.
        assert_eq!(
            db.state_set("other", "c", vec![0; 4], quota).await.unwrap(),
            StateWrite::Stored
        );
        db.state_delete("acme", "b").await.unwrap();
    }
    let db = SqliteStorage::open(dir.path(), Durability::Fsync).unwrap();
    // After the delete (and a restart) acme holds one key of 10 bytes: one more fits.
    assert_eq!(
        db.state_set("acme", "c", vec![0; 9], quota).await.unwrap(),
        StateWrite::Stored
    );
    let refused = db.state_set("acme", "d", vec![], quota).await.unwrap();
    assert!(matches!(refused, StateWrite::OverQuota(_)));
}

#[tokio::test]
async fn expiry_removes_old_rows_of_the_prefixed_scopes_only_and_frees_their_usage() {
    let db = SqliteStorage::in_memory().unwrap();
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
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    db.state_set("\u{1}host/globex", "s2", b"new".to_vec(), None)
        .await
        .unwrap();

    assert_eq!(db.state_expire("\u{1}host/", cutoff).await.unwrap(), 2);
    assert_eq!(db.state_get("\u{1}host/acme", "s1").await.unwrap(), None);
    assert_eq!(db.state_get("\u{1}host/globex", "s1").await.unwrap(), None);
    assert!(
        db.state_get("\u{1}host/globex", "s2")
            .await
            .unwrap()
            .is_some()
    );
    assert!(db.state_get("acme", "kept").await.unwrap().is_some());
    // acme's host scope is empty again: its one-key quota admits a new key.
    assert_eq!(
        db.state_set("\u{1}host/acme", "s3", b"x".to_vec(), quota)
            .await
            .unwrap(),
        StateWrite::Stored
    );
    assert_eq!(db.state_expire("\u{1}host/", cutoff).await.unwrap(), 0);
}

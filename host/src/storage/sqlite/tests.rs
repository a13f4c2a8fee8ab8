//! What only the embedded backend does: recording deliveries without waiting for the commit.

use super::SqliteStorage;
use crate::storage::{Completion, NewActivity, NewEvent, Stage, Storage};

fn activity(text: &str) -> NewActivity {
    NewActivity {
        name: "message".into(),
        body: text.into(),
        trace: None,
    }
}

/// The outbox ids of the session's activities not recorded as sent.
async fn unsent(db: &SqliteStorage) -> Vec<i64> {
    let pending = db.pending_activities("a", 1, 10).await.unwrap();
    pending.iter().map(|entry| entry.id).collect()
}

#[tokio::test]
async fn a_delivery_whose_record_fails_stops_the_sender_and_no_later_one_is_recorded_before_it() {
    let db = SqliteStorage::in_memory().unwrap();
    let event = NewEvent {
        tenant: "a".into(),
        session_id: 1,
        received_at_ms: 1,
        body: b"{}".to_vec(),
        trace: None,
    };
    let seq = db.append(event).await.unwrap();
    let run = db.claim(Stage::Run, "a", 1).await.unwrap().unwrap();
    let completion = Completion {
        seq,
        activities: vec![activity("A1"), activity("A2"), activity("A3")],
        error: None,
    };
    let ids = db.complete(&run, vec![completion]).await.unwrap();
    db.release(&run).await.unwrap();
    // Recording A1 as sent fails (as a full disk would).
    let first = ids[0];
    db.writer
        .call(move |conn| {
            conn.execute_batch(&format!(
                "CREATE TRIGGER broken BEFORE UPDATE OF status ON outbox WHEN NEW.id = {first}
                 BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
            ))
        })
        .await
        .unwrap();

    let claim = db.claim(Stage::Deliver, "a", 1).await.unwrap().unwrap();
    db.mark_sent(&claim, ids[0]).await.unwrap();
    // Queued (or refused already, when A1's failure came first): either way not recorded.
    let _ = db.mark_sent(&claim, ids[1]).await;
    assert_eq!(unsent(&db).await, ids, "A2 is not recorded before A1");
    let refused = db.mark_sent(&claim, ids[2]).await.unwrap_err();
    assert!(
        refused.to_string().contains("could not be recorded"),
        "{refused:#}"
    );
    db.release(&claim).await.unwrap();

    // Once the disk works again, the session is sent again from A1 and recorded in order.
    db.writer
        .call(|conn| conn.execute_batch("DROP TRIGGER broken"))
        .await
        .unwrap();
    let claim = db.claim(Stage::Deliver, "a", 1).await.unwrap().unwrap();
    for id in &ids {
        db.mark_sent(&claim, *id).await.unwrap();
    }
    assert!(unsent(&db).await.is_empty());
}

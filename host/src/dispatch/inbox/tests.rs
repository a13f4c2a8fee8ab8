use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Item(i64);

impl Pending for Item {
    fn key(&self) -> i64 {
        self.0
    }
    fn bytes(&self) -> usize {
        10
    }
}

fn inbox(max_per_session: usize, budget: usize) -> Inbox<Item> {
    Inbox::new(max_per_session, Box::leak(Box::new(Budget::new(budget))))
}

fn keys(take: Take<Item>) -> (Vec<i64>, bool) {
    match take {
        Take::Items { items, more } => (items.into_iter().map(|i| i.0).collect(), more),
        other => panic!("expected items, got {other:?}"),
    }
}

#[test]
fn pushed_items_are_taken_in_key_order_and_the_entry_goes_away() {
    let inbox = inbox(64, 1 << 20);
    inbox.begin(7);
    inbox.begin(7);
    inbox.push(7, vec![Item(12)]);
    assert!(
        matches!(inbox.take(7, 16), Take::Wait),
        "a producer is in flight"
    );
    inbox.push(7, vec![Item(11)]);
    assert_eq!(keys(inbox.take(7, 1)), (vec![11], true));
    assert_eq!(keys(inbox.take(7, 16)), (vec![12], false));
    assert_eq!(inbox.sessions(), 0);
    assert_eq!(inbox.budget.used(), 0);
    assert_eq!(keys(inbox.take(7, 16)), (vec![], false), "nothing waits");
}

#[test]
fn an_unknown_session_is_read_from_the_database_and_late_duplicates_are_dropped() {
    let inbox = inbox(64, 1 << 20);
    inbox.invalidate(3);
    inbox.begin(3);
    inbox.push(3, vec![Item(5)]);
    assert!(matches!(inbox.take(3, 16), Take::Load));
    // A producer committed 6 before the read and pushes it after; 7 commits after the read.
    inbox.begin(3);
    inbox.begin(3);
    inbox.push(3, vec![Item(7)]);
    assert!(inbox.loaded(3, &[Item(5), Item(6)], 16), "7 is waiting");
    inbox.push(3, vec![Item(6)]);
    assert_eq!(keys(inbox.take(3, 16)), (vec![7], false));
    assert_eq!(inbox.sessions(), 0);
}

#[test]
fn a_full_read_or_an_invalidation_during_the_read_keeps_reading_the_database() {
    let inbox = inbox(64, 1 << 20);
    inbox.invalidate(1);
    assert!(matches!(inbox.take(1, 2), Take::Load));
    assert!(inbox.loaded(1, &[Item(1), Item(2)], 2), "a full batch");
    assert!(matches!(inbox.take(1, 2), Take::Load));
    inbox.invalidate(1);
    assert!(inbox.loaded(1, &[Item(3)], 2), "invalidated while reading");
    assert!(matches!(inbox.take(1, 2), Take::Load));
    assert!(!inbox.loaded(1, &[], 2));
    assert_eq!(keys(inbox.take(1, 2)), (vec![], false));
}

#[test]
fn past_its_bounds_a_session_falls_back_to_the_database() {
    let inbox = inbox(2, 1 << 20);
    for key in 1..=3 {
        inbox.begin(9);
        inbox.push(9, vec![Item(key)]);
    }
    assert!(matches!(inbox.take(9, 16), Take::Load), "more than 2 held");
    assert_eq!(inbox.budget.used(), 0);

    let small = inbox_with_budget(25);
    for key in 1..=3 {
        small.begin(1);
        small.push(1, vec![Item(key)]);
    }
    assert!(
        matches!(small.take(1, 16), Take::Load),
        "over the byte budget"
    );
    assert_eq!(small.budget.used(), 0);
}

fn inbox_with_budget(bytes: usize) -> Inbox<Item> {
    inbox(64, bytes)
}

#[test]
fn an_abandoned_store_lets_the_session_go_on() {
    let inbox = inbox(64, 1 << 20);
    inbox.begin(4);
    inbox.push(4, vec![Item(1)]);
    inbox.begin(4);
    assert!(matches!(inbox.take(4, 16), Take::Wait));
    inbox.abandon(4);
    assert_eq!(keys(inbox.take(4, 16)), (vec![1], false));
}

#[test]
fn a_consumer_turned_away_is_called_back_when_the_last_producer_finishes_even_with_nothing() {
    let inbox = inbox(10, 1 << 20);
    // Event 1's reply is stored while event 2's outcome (no reply) is being committed.
    inbox.begin(5);
    inbox.begin(5);
    assert!(!inbox.push(5, vec![Item(1)]), "no one was turned away yet");
    assert!(matches!(inbox.take(5, 10), Take::Wait));
    // The second producer stores nothing, yet the waiting reply must be scheduled now.
    assert!(
        inbox.push(5, vec![]),
        "the reply waits: schedule the session"
    );
    assert_eq!(keys(inbox.take(5, 10)), (vec![1], false));
    // Turned away, then the last producer fails: the session is scheduled too.
    inbox.begin(6);
    inbox.begin(6);
    assert!(!inbox.push(6, vec![Item(2)]));
    assert!(matches!(inbox.take(6, 10), Take::Wait));
    assert!(inbox.abandon(6));
    // Nobody turned away: nothing to say.
    inbox.begin(7);
    assert!(!inbox.push(7, vec![Item(3)]));
}

//! An in-memory copy of the work a tenant's sessions have waiting in one stage (journaled
//! events to run, or outbox activities to send), so that what ingress stores reaches the
//! runner, and what the runner stores reaches the sender, without reading it back from the
//! database. The database stays the record: a session whose copy may be incomplete (after a
//! restart, a sweep, a storage error, or a copy grown past its bound) is marked `Unknown`
//! and its next batch is read from the database.
//!
//! A producer calls [`Inbox::begin`] before it stores an item and [`Inbox::push`] once the
//! store has committed (or [`Inbox::abandon`] if it failed). Items carry their database key
//! (journal seq, outbox id), increasing in commit order; the consumer takes nothing from a
//! session while a producer of it is between the two calls, since that producer's item may
//! sort before the ones already here. A session without an entry has nothing waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An item of work as the database keys it.
pub trait Pending {
    /// Its key in the database, increasing in commit order.
    fn key(&self) -> i64;
    /// About how much memory it holds.
    fn bytes(&self) -> usize;
}

impl Pending for crate::storage::JournalEntry {
    fn key(&self) -> i64 {
        self.seq
    }
    fn bytes(&self) -> usize {
        self.body.len() + self.tenant.len() + 64
    }
}

impl Pending for crate::storage::OutboxEntry {
    fn key(&self) -> i64 {
        self.id
    }
    fn bytes(&self) -> usize {
        self.body.len() + self.name.len() + self.tenant.len() + 96
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The copy holds every item of the session not yet taken.
    Synced,
    /// The database may hold items the copy does not.
    Unknown,
    /// The consumer is reading the database; items pushed meanwhile are kept and merged.
    Loading,
}

struct Slot<T> {
    items: VecDeque<T>,
    mode: Mode,
    /// Producers between `begin` and `push`/`abandon`.
    inflight: u32,
    /// Items with keys up to this were read from the database already: a late push of one
    /// of them is a duplicate.
    floor: i64,
    /// A consumer was told to wait for a producer in flight.
    turned_away: bool,
}

impl<T> Slot<T> {
    fn new(mode: Mode) -> Self {
        Self {
            items: VecDeque::new(),
            mode,
            inflight: 0,
            floor: i64::MIN,
            turned_away: false,
        }
    }

    fn idle(&self) -> bool {
        self.mode == Mode::Synced && self.items.is_empty() && self.inflight == 0
    }
}

/// What the consumer of a session gets.
#[derive(Debug)]
pub enum Take<T> {
    /// Items in key order (possibly none).
    Items {
        /// The items.
        items: Vec<T>,
        /// Further items are already here.
        more: bool,
    },
    /// A producer is storing an item for the session: take again when it pushes (its push
    /// schedules the session).
    Wait,
    /// Read the session's next batch from the database, then call [`Inbox::loaded`].
    Load,
}

/// The sessions of one tenant and stage with work in memory.
pub struct Inbox<T> {
    slots: Mutex<HashMap<i64, Slot<T>>>,
    max_per_session: usize,
    /// Bytes held by all inboxes sharing this budget, and their bound.
    budget: &'static Budget,
}

/// The budget of every tenant's inboxes in the process: 64 MiB.
pub static PROCESS_BUDGET: Budget = Budget::new(64 << 20);

/// Items per session an inbox keeps; a session with more is read from the database.
pub const MAX_PER_SESSION: usize = 64;

/// Memory shared by inboxes; past its bound, new items stay in the database only.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    /// A budget of `max` bytes.
    pub const fn new(max: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl<T: Pending> Inbox<T> {
    /// An inbox keeping at most `max_per_session` items per session, within `budget`.
    pub fn new(max_per_session: usize, budget: &'static Budget) -> Self {
        Self {
            slots: Mutex::default(),
            max_per_session: max_per_session.max(1),
            budget,
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Slot<T>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release_bytes<'a>(&self, items: impl Iterator<Item = &'a T>)
    where
        T: 'a,
    {
        let bytes: usize = items.map(Pending::bytes).sum();
        self.budget.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A producer is about to store an item for `session`.
    pub fn begin(&self, session: i64) {
        self.slots()
            .entry(session)
            .or_insert_with(|| Slot::new(Mode::Synced))
            .inflight += 1;
    }

    /// The producer's items for `session` have been stored (in key order). Returns whether
    /// the caller must schedule the session: a consumer was turned away while producers were
    /// in flight, and work is waiting now (even if this producer stored none).
    pub fn push(&self, session: i64, items: Vec<T>) -> bool {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&session) else {
            debug_assert!(false, "push without begin");
            return false;
        };
        slot.inflight = slot.inflight.saturating_sub(1);
        if slot.mode != Mode::Unknown {
            for item in items {
                if item.key() <= slot.floor {
                    continue;
                }
                let bytes = item.bytes();
                let over_budget =
                    self.budget.used.fetch_add(bytes, Ordering::Relaxed) + bytes > self.budget.max;
                let at = slot.items.partition_point(|held| held.key() < item.key());
                slot.items.insert(at, item);
                if over_budget || slot.items.len() > self.max_per_session {
                    // The database has them all; read from there when the session's turn comes.
                    self.release_bytes(slot.items.iter());
                    slot.items.clear();
                    slot.mode = Mode::Unknown;
                    break;
                }
            }
        }
        let wake = slot.turned_away
            && slot.inflight == 0
            && (!slot.items.is_empty() || slot.mode == Mode::Unknown);
        if slot.inflight == 0 {
            slot.turned_away = false;
        }
        if slot.idle() {
            slots.remove(&session);
        }
        wake
    }

    /// The producer failed to store its item for `session`; returns whether the caller must
    /// schedule the session (as for [`Inbox::push`]).
    pub fn abandon(&self, session: i64) -> bool {
        self.push(session, Vec::new())
    }

    /// The database may hold items of `session` this copy lacks.
    pub fn invalidate(&self, session: i64) {
        let mut slots = self.slots();
        let slot = slots
            .entry(session)
            .or_insert_with(|| Slot::new(Mode::Unknown));
        self.release_bytes(slot.items.iter());
        slot.items.clear();
        slot.mode = Mode::Unknown;
    }

    /// Up to `limit` of the session's items, or what to do instead.
    pub fn take(&self, session: i64, limit: usize) -> Take<T> {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&session) else {
            return Take::Items {
                items: Vec::new(),
                more: false,
            };
        };
        match slot.mode {
            Mode::Synced if slot.inflight > 0 => {
                slot.turned_away = true;
                Take::Wait
            }
            Mode::Synced => {
                let n = limit.min(slot.items.len());
                let items: Vec<T> = slot.items.drain(..n).collect();
                self.release_bytes(items.iter());
                let more = !slot.items.is_empty();
                if slot.idle() {
                    slots.remove(&session);
                }
                Take::Items { items, more }
            }
            Mode::Unknown | Mode::Loading => {
                self.release_bytes(slot.items.iter());
                slot.items.clear();
                slot.mode = Mode::Loading;
                Take::Load
            }
        }
    }

    /// The consumer read `items` of `session` from the database, asking for `limit`: when it
    /// got fewer, the database has no more, and the copy is complete again from here on.
    /// Returns whether more items are waiting (in the database or here).
    pub fn loaded(&self, session: i64, items: &[T], limit: usize) -> bool {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&session) else {
            return items.len() >= limit;
        };
        if let Some(last) = items.last() {
            slot.floor = slot.floor.max(last.key());
        }
        let floor = slot.floor;
        let before: usize = slot.items.iter().map(Pending::bytes).sum();
        slot.items.retain(|item| item.key() > floor);
        let after: usize = slot.items.iter().map(Pending::bytes).sum();
        self.budget
            .used
            .fetch_sub(before - after, Ordering::Relaxed);
        if items.len() >= limit || slot.mode != Mode::Loading {
            // More in the database than was read, or invalidated meanwhile: read again.
            self.release_bytes(slot.items.iter());
            slot.items.clear();
            slot.mode = Mode::Unknown;
            return true;
        }
        slot.mode = Mode::Synced;
        let more = !slot.items.is_empty();
        if slot.idle() {
            slots.remove(&session);
        }
        more
    }

    /// Sessions with an entry (work in memory, producers in flight, or to be read).
    pub fn sessions(&self) -> usize {
        self.slots().len()
    }
}

#[cfg(test)]
mod tests;

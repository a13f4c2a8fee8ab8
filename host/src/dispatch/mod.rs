//! From the journal to the bot and from the outbox to mluvii. Ingress journals an event and
//! tells the dispatcher its session has work; the runner takes a session's events in journal
//! order, runs them through the tenant's bot and stores each event's activities in the same
//! transaction that marks it processed; the sender delivers a session's activities in order,
//! retrying transient failures and turning lasting ones into dead letters. The backlog lives
//! in the database; what was just stored is also handed on in memory (a bounded [`inbox`]),
//! so the normal path never reads it back.

pub mod canary;
pub mod candidate;
mod claims;
pub mod drain;
pub mod fallback;
pub mod inbox;
mod pinning;
mod runner;
mod sender;
pub mod session_queue;
mod shadow;
pub mod step;
pub mod tenant;
pub mod tenants;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tracing::Instrument as _;

use crate::delivery::RetryPolicy;
use crate::dev::feed::DevFeed;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::storage::{NewEvent, Stage, Storage, now_ms};
use session_queue::{SessionQueue, Tracker};
pub use tenant::{LoadStatus, Tenant, TenantProfile};
pub use tenants::TenantMap;

/// Events or activities taken from the database per session at a time.
const BATCH: usize = 16;

/// Sessions claimed per stage at each look for work other replicas journaled.
const CLAIMS_PER_POLL: usize = 64;

/// Each stage of a session's work has its own queue (and worker limit) per tenant.
fn queue(stage: Stage, tenant: &Tenant) -> &SessionQueue {
    match stage {
        Stage::Run => &tenant.runs,
        Stage::Deliver => &tenant.deliveries,
    }
}

/// How the dispatcher behaves (from `[server]` of the configuration).
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Bot runs in flight across all tenants.
    pub max_concurrent_runs: usize,
    /// Past this many unprocessed events in all, webhooks are answered 503.
    pub max_backlog: usize,
    /// Past a backlog that would take longer than this to process at the recent rate (and
    /// above [`drain::ALWAYS_ADMITTED`] events), webhooks are answered 503; `None`: no such
    /// bound.
    pub max_backlog_secs: Option<f64>,
    /// Retries and dead letters.
    pub retry: RetryPolicy,
    /// How often the database is swept for work nobody was told about (after a restart,
    /// a dead letter retried from the command line, a storage error).
    pub sweep_interval: Duration,
    /// Processed events and sent activities are deleted after this long.
    pub retention: Duration,
    /// What is remembered of a session (language, channel) whose end was never reported is
    /// forgotten this long after it was last written.
    pub session_facts_ttl: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 32,
            max_backlog: 100_000,
            max_backlog_secs: None,
            retry: RetryPolicy::default(),
            sweep_interval: Duration::from_secs(10),
            retention: Duration::from_secs(24 * 3600),
            session_facts_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Why ingress may not accept an event now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The backlog is past its bound; try again later.
    #[error("overloaded: {0} unprocessed events are waiting; retry later")]
    Overloaded(usize),
    /// The event could not be stored.
    #[error("the event could not be stored")]
    Storage,
}

/// Ingress's place in a session's order while its event is being journaled (see
/// [`inbox`]). Dropped unfinished (the append failed, or the request was cancelled while it
/// waited), it lets the session go on and has its next events read from the journal, which
/// may or may not hold this one.
struct Journaling<'a> {
    dispatcher: &'a Arc<Dispatcher>,
    tenant: &'a Arc<Tenant>,
    session: i64,
    finished: bool,
}

impl<'a> Journaling<'a> {
    fn start(dispatcher: &'a Arc<Dispatcher>, tenant: &'a Arc<Tenant>, session: i64) -> Self {
        tenant.events.begin(session);
        Self {
            dispatcher,
            tenant,
            session,
            finished: false,
        }
    }

    /// The event is journaled; the caller hands it on.
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Journaling<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.tenant.events.invalidate(self.session);
            self.tenant.events.abandon(self.session);
            self.dispatcher
                .schedule(Stage::Run, self.tenant, self.session);
        }
    }
}

/// An event counted in the backlog before it is journaled; dropped without [`Counted::keep`]
/// (the append failed), the count is taken back.
struct Counted<'a> {
    dispatcher: &'a Dispatcher,
    tenant: &'a Tenant,
    kept: bool,
}

impl Counted<'_> {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let less = |n: usize| Some(n.saturating_sub(1));
            let _ = self
                .tenant
                .backlog
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, less);
            let _ = self
                .dispatcher
                .backlog
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, less);
        }
    }
}

/// The event path between ingress and mluvii.
pub struct Dispatcher {
    storage: Arc<dyn Storage>,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    tenants: Arc<TenantMap>,
    settings: DispatchSettings,
    global_runs: Semaphore,
    backlog: AtomicUsize,
    drain: drain::DrainRate,
    busy: Tracker,
    workers: Arc<Tracker>,
    stop: watch::Sender<bool>,
    feed: Option<Arc<DevFeed>>,
    /// Events for shadow candidates.
    shadow: shadow::ShadowQueue,
    /// Whether what this process stores is all there is (one process on the storage): then
    /// what ingress and the runner store is handed on in memory, not read back.
    memory_path: bool,
}

impl Dispatcher {
    /// A dispatcher for `tenants`; call [`Dispatcher::start`] before accepting events.
    pub fn new(
        storage: Arc<dyn Storage>,
        runtime: Runtime,
        metrics: Arc<Metrics>,
        tenants: Arc<TenantMap>,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            memory_path: storage.exclusive(),
            storage,
            runtime,
            metrics,
            tenants,
            global_runs: Semaphore::new(settings.max_concurrent_runs.max(1)),
            settings,
            backlog: AtomicUsize::new(0),
            drain: drain::DrainRate::default(),
            busy: Tracker::default(),
            workers: Arc::default(),
            stop: watch::channel(false).0,
            feed: None,
            shadow: Default::default(),
        }
    }

    /// Tells dev mode's `feed` about every event run (logs, failure, activities).
    pub fn with_feed(mut self, feed: Option<Arc<DevFeed>>) -> Self {
        self.feed = feed;
        self
    }

    /// Counts the backlog left by an earlier run, schedules its events and activities, and
    /// starts the periodic sweep and pruning.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut total = 0;
        for backlog in self.storage.backlog().await? {
            if let Some(tenant) = self.tenants.get(&backlog.tenant) {
                tenant
                    .backlog
                    .store(backlog.events as usize, Ordering::SeqCst);
            }
            total += backlog.events as usize;
            if backlog.events + backlog.activities + backlog.dead_letters > 0 {
                tracing::info!(tenant = %backlog.tenant, events = backlog.events,
                    activities = backlog.activities, dead_letters = backlog.dead_letters,
                    "resuming unfinished work");
            }
        }
        self.backlog.store(total, Ordering::SeqCst);
        self.sweep().await;
        let dispatcher = self.clone();
        self.spawn_worker(async move { dispatcher.housekeeping().await });
        let dispatcher = self.clone();
        self.spawn_worker(async move { dispatcher.run_shadows().await });
        if !self.memory_path {
            let dispatcher = self.clone();
            self.spawn_worker(async move { dispatcher.poll_shared().await });
        }
        Ok(())
    }

    /// With storage shared by other replicas: claims the sessions whose work nobody holds
    /// (journaled through another replica, or left by one that died), each time storage says
    /// it may have changed, and keeps the backlog counts current.
    async fn poll_shared(self: Arc<Self>) {
        let mut counted = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.stopped() => return,
                _ = self.storage.changed_elsewhere() => {}
            }
            let tenants: Vec<String> = self.tenants.all().keys().cloned().collect();
            for stage in [Stage::Run, Stage::Deliver] {
                match self
                    .storage
                    .claim_waiting(stage, &tenants, CLAIMS_PER_POLL)
                    .await
                {
                    Ok(claims) => self.adopt_claims(claims),
                    Err(e) => {
                        tracing::warn!(?stage, error = %format!("{e:#}"), "looking for waiting work failed");
                        break;
                    }
                }
            }
            if counted.elapsed() >= Duration::from_secs(1) {
                counted = tokio::time::Instant::now();
                self.count_backlog().await;
            }
        }
    }

    /// Sets the backlog counters from storage (other replicas' events included).
    async fn count_backlog(&self) {
        let Ok(backlogs) = self.storage.backlog().await else {
            return;
        };
        let mut total = 0;
        for tenant in self.tenants.all().values() {
            let events = backlogs
                .iter()
                .find(|b| b.tenant == tenant.id())
                .map_or(0, |b| b.events as usize);
            tenant.backlog.store(events, Ordering::SeqCst);
        }
        for backlog in &backlogs {
            total += backlog.events as usize;
        }
        self.backlog.store(total, Ordering::SeqCst);
    }

    /// Takes on tenants added by a configuration reload: counts the events the journal
    /// already holds for them (from before they were removed, or from an earlier run) and
    /// schedules their work.
    pub async fn adopt(self: &Arc<Self>, added: &[String]) {
        if added.is_empty() {
            return;
        }
        match self.storage.backlog().await {
            Ok(backlogs) => {
                for backlog in backlogs {
                    if added.contains(&backlog.tenant)
                        && let Some(tenant) = self.tenants.get(&backlog.tenant)
                    {
                        tenant
                            .backlog
                            .store(backlog.events as usize, Ordering::SeqCst);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "counting the backlog of added tenants failed");
            }
        }
        self.sweep().await;
    }

    /// The engine the bots run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The storage the event path runs on.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<crate::storage::OutboxEntry>> {
        self.storage.dead_letters().await
    }

    /// Makes a dead letter (or all, with `None`) pending again and schedules its session;
    /// returns how many.
    pub async fn retry_dead(self: &Arc<Self>, id: Option<i64>) -> anyhow::Result<usize> {
        let count = self.storage.retry_dead(id).await?;
        if count > 0 {
            self.sweep().await;
        }
        Ok(count)
    }

    /// Deletes a dead letter (or all, with `None`) and lets its session's later activities
    /// go; returns how many.
    pub async fn drop_dead(self: &Arc<Self>, id: Option<i64>) -> anyhow::Result<usize> {
        let count = self.storage.drop_dead(id).await?;
        if count > 0 {
            self.sweep().await;
        }
        Ok(count)
    }

    /// Whether an event for `tenant` may be journaled now.
    fn admit(&self, tenant: &Tenant) -> Result<(), Refusal> {
        let total = self.backlog();
        if total >= self.settings.max_backlog {
            return Err(Refusal::Overloaded(total));
        }
        if let Some(secs) = self.settings.max_backlog_secs {
            // On shared storage, this replica's share: what it journaled and did not process.
            let own_share = if self.memory_path {
                total
            } else {
                self.drain.outstanding()
            };
            if own_share >= self.drain.admitted(secs, std::time::Instant::now()) {
                return Err(Refusal::Overloaded(total));
            }
        }
        let own = tenant.backlog();
        if own >= tenant.profile().config.limits.max_backlog {
            return Err(Refusal::Overloaded(own));
        }
        Ok(())
    }

    /// Journals `body` (durably) and schedules its session. When this returns `Ok`, the event
    /// will reach the bot even if the process dies the next moment. The work runs on a task
    /// of its own: a caller that goes away (a client that hung up) cannot stop it half-way, so
    /// an event that gets journaled is always counted and scheduled.
    pub async fn accept(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        session_id: i64,
        body: Vec<u8>,
    ) -> Result<(), Refusal> {
        self.admit(tenant)?;
        // The event's trace is the ingress span's (the caller's): its run and deliveries
        // continue it from the journal.
        let trace = crate::telemetry::traceparent(&tracing::Span::current());
        let commit = if crate::telemetry::enabled() {
            tracing::info_span!("journal.commit", tenant = %tenant.id(), session = session_id)
        } else {
            tracing::Span::none()
        };
        let (dispatcher, tenant) = (self.clone(), tenant.clone());
        tokio::spawn(
            async move { dispatcher.journal(&tenant, session_id, body, trace).await }
                .instrument(commit),
        )
        .await
        .unwrap_or(Err(Refusal::Storage))
    }

    /// [`Dispatcher::accept`]'s work, once admitted.
    async fn journal(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        session_id: i64,
        body: Vec<u8>,
        trace: Option<String>,
    ) -> Result<(), Refusal> {
        let received_at_ms = now_ms();
        // Counted before the append, so the event's processing never finds it uncounted.
        tenant.backlog.fetch_add(1, Ordering::SeqCst);
        self.backlog.fetch_add(1, Ordering::SeqCst);
        let counted = Counted {
            dispatcher: self,
            tenant,
            kept: false,
        };
        if !self.memory_path {
            let event = NewEvent {
                tenant: tenant.id().to_owned(),
                session_id,
                received_at_ms,
                body,
                trace,
            };
            if let Err(error) = self.storage.append(event).await {
                tracing::error!(tenant = %tenant.id(), error = %format!("{error:#}"), "journaling an event failed");
                return Err(Refusal::Storage);
            }
            counted.keep();
            self.drain.journaled();
            // Other replicas write this session's events too: read them from storage.
            tenant.events.invalidate(session_id);
            self.schedule(Stage::Run, tenant, session_id);
            return Ok(());
        }
        let event = NewEvent {
            tenant: tenant.id().to_owned(),
            session_id,
            received_at_ms,
            body: body.clone(),
            trace: trace.clone(),
        };
        let journaling = Journaling::start(self, tenant, session_id);
        let seq = match self.storage.append(event).await {
            Ok(seq) => seq,
            Err(error) => {
                tracing::error!(tenant = %tenant.id(), error = %format!("{error:#}"), "journaling an event failed");
                return Err(Refusal::Storage);
            }
        };
        journaling.finish();
        counted.keep();
        let entry = crate::storage::JournalEntry {
            seq,
            tenant: tenant.id().to_owned(),
            session_id,
            received_at_ms,
            body,
            trace,
        };
        tenant.events.push(session_id, vec![entry]);
        self.schedule(Stage::Run, tenant, session_id);
        Ok(())
    }

    /// Unprocessed events of all tenants.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::SeqCst)
    }

    /// The bound of [`Dispatcher::backlog`].
    pub fn max_backlog(&self) -> usize {
        self.settings.max_backlog
    }

    /// Sessions with events to run or activities to send.
    pub fn busy_sessions(&self) -> usize {
        self.busy.count()
    }

    /// Completes when no session has work that can be done now (every event run, every
    /// deliverable activity sent).
    pub async fn idle(&self) {
        self.busy.wait_zero().await
    }

    /// Stops the event path: waits up to `finish_by` for the work in hand to finish, then
    /// tells every worker to stop (a bot already running finishes and its result is stored;
    /// no new event starts; deliveries waiting to retry stop) and waits for them until
    /// `stop_by`. What is left stays in the database for the next start.
    pub async fn shutdown(&self, finish_by: tokio::time::Instant, stop_by: tokio::time::Instant) {
        let finished = tokio::time::timeout_at(finish_by, self.idle())
            .await
            .is_ok();
        let _ = self.stop.send(true);
        let stopped = tokio::time::timeout_at(stop_by, self.workers.wait_zero())
            .await
            .is_ok();
        tracing::info!(
            finished,
            stopped,
            unprocessed_events = self.backlog(),
            "event path stopped; unfinished work stays journaled for the next start"
        );
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Completes once shutdown has told the workers to stop.
    async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stop| *stop).await;
    }

    fn spawn_worker(&self, work: impl Future<Output = ()> + Send + 'static) {
        struct Done(Arc<Tracker>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.remove();
            }
        }
        self.workers.add();
        let done = Done(self.workers.clone());
        tokio::spawn(async move {
            let _done = done;
            work.await;
        });
    }

    /// Says `session` of `tenant` has work in `stage`, starting a worker if the queue has
    /// fewer than its limit.
    fn schedule(self: &Arc<Self>, stage: Stage, tenant: &Arc<Tenant>, session: i64) {
        if queue(stage, tenant).push(session, &self.busy) {
            let (dispatcher, tenant) = (self.clone(), tenant.clone());
            self.spawn_worker(dispatcher.worker(stage, tenant));
        }
    }

    /// One of a tenant's workers of `stage`: their number is the tenant's limit for it. A
    /// run worker goes on to the next session while the previous one's outcome is being
    /// committed (the session stays taken until then), so its bot runs never wait for disks.
    /// The worker takes the session's claim first: a session claimed by someone else (another
    /// replica, or this tenant's predecessor after a reload) is left to them.
    /// (Boxed: a worker's release may start another worker.)
    fn worker(
        self: Arc<Self>,
        stage: Stage,
        tenant: Arc<Tenant>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let sessions = queue(stage, &tenant);
            while let Some(session) = sessions.next() {
                if self.stopping() {
                    self.release(stage, &tenant, session, false).await;
                    continue;
                }
                let Some(held) = self.take_claim(stage, &tenant, session).await else {
                    self.release(stage, &tenant, session, false).await;
                    continue;
                };
                match stage {
                    Stage::Run => self.run_session(&tenant, held).await,
                    Stage::Deliver => {
                        let more = self.deliver_session(&tenant, &held).await;
                        self.release(stage, &tenant, session, more).await;
                    }
                }
            }
        })
    }

    /// The work taken for `session` in `stage` is done; `more` says some was left. Unless more
    /// is left, the session's claim is given back first, and then the queue lets go of the
    /// session: work arriving meanwhile finds the session still queued and is taken under a
    /// new claim, never refused by this one.
    async fn release(
        self: &Arc<Self>,
        stage: Stage,
        tenant: &Arc<Tenant>,
        session: i64,
        mut more: bool,
    ) {
        if !more && self.give_back(stage, tenant, session).await {
            more = true;
        }
        if queue(stage, tenant).release(session, more, &self.busy) {
            let (dispatcher, tenant) = (self.clone(), tenant.clone());
            self.spawn_worker(dispatcher.worker(stage, tenant));
        }
    }

    /// Schedules every session the database has work for (also after a dead letter was
    /// retried, or a tenant added). Both stages' sessions are marked first and scheduled
    /// after: a run scheduled here may store activities at once, and their session's older
    /// activities (left by an earlier process) must be read from the database before them,
    /// not be passed by them in memory.
    async fn sweep(self: &Arc<Self>) {
        if !self.memory_path {
            // Shared storage: the poll claims what nobody holds.
            return;
        }
        let mut found = Vec::new();
        for stage in [Stage::Run, Stage::Deliver] {
            let sessions = match stage {
                Stage::Run => self.storage.sessions_with_events().await,
                Stage::Deliver => self.storage.sessions_with_activities().await,
            };
            match sessions {
                Ok(sessions) => found.extend(sessions.into_iter().map(|s| (stage, s))),
                Err(e) => {
                    tracing::error!(?stage, error = %format!("{e:#}"), "sweeping the database failed");
                }
            }
        }
        let mut scheduled = Vec::with_capacity(found.len());
        for (stage, (tenant, session)) in found {
            if let Some(tenant) = self.tenants.get(&tenant) {
                // The database may hold work the in-memory copy lacks.
                match stage {
                    Stage::Run => tenant.events.invalidate(session),
                    Stage::Deliver => tenant.outgoing.invalidate(session),
                }
                scheduled.push((stage, tenant, session));
            }
        }
        for (stage, tenant, session) in scheduled {
            self.schedule(stage, &tenant, session);
        }
    }

    async fn housekeeping(self: Arc<Self>) {
        let mut last_prune = None;
        loop {
            tokio::select! {
                _ = self.stopped() => return,
                _ = tokio::time::sleep(self.settings.sweep_interval) => {}
            }
            self.sweep().await;
            // Warm instances of idle tenants give their instance slots back once too old.
            for tenant in self.tenants.all().values() {
                let env = &tenant.profile().env;
                env.warm.evict_older_than(env.limits.reuse.max_age);
            }
            let due = last_prune
                .is_none_or(|at: tokio::time::Instant| at.elapsed() >= Duration::from_secs(60));
            if due {
                last_prune = Some(tokio::time::Instant::now());
                let before = now_ms() - self.settings.retention.as_millis() as i64;
                match self.storage.prune(before).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::debug!(rows, "pruned finished rows"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "pruning failed"),
                }
                let before = now_ms() - self.settings.session_facts_ttl.as_millis() as i64;
                match step::expire_facts(&*self.storage, before).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::debug!(rows, "forgot the facts of sessions never ended"),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "expiring session facts failed")
                    }
                }
            }
        }
    }
}

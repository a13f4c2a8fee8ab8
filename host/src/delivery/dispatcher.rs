//! Runs accepted events: strictly in arrival order within a session, sessions and tenants in
//! parallel, bot runs bounded globally and per tenant, and the bot's activities delivered in
//! order before the session's next event runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

use super::mluvii_client::MluviiClient;
use crate::config::Secret;
use crate::metrics::{self, Metrics, TenantOutcome};
use crate::mluvii::WebhookEvent;
use crate::runtime::{Plugin, Runtime, TenantEnv};

/// A tenant as the server sees it.
pub struct Tenant {
    /// Id, settings, state and limits (what the runtime needs).
    pub env: Arc<TenantEnv>,
    /// The current plugin; events already running keep the version they started with.
    pub plugin: ArcSwapOption<Plugin>,
    /// Its Send API client.
    pub client: MluviiClient,
    /// The token mluvii's webhook calls must carry.
    pub webhook_token: Secret,
    /// Bounds this tenant's bot runs in flight.
    pub permits: Semaphore,
}

type SessionKey = (String, i64);

/// Schedules events onto per-session queues.
pub struct Dispatcher {
    runtime: Runtime,
    metrics: Arc<Metrics>,
    global: Semaphore,
    queues: std::sync::Mutex<HashMap<SessionKey, mpsc::UnboundedSender<WebhookEvent>>>,
    pending: AtomicUsize,
}

impl Dispatcher {
    /// A dispatcher running at most `max_concurrent_runs` bots at once.
    pub fn new(runtime: Runtime, metrics: Arc<Metrics>, max_concurrent_runs: usize) -> Self {
        Self {
            runtime,
            metrics,
            global: Semaphore::new(max_concurrent_runs.max(1)),
            queues: std::sync::Mutex::new(HashMap::new()),
            pending: AtomicUsize::new(0),
        }
    }

    /// Queues `event` behind the earlier events of its session.
    pub fn enqueue(self: &Arc<Self>, tenant: Arc<Tenant>, event: WebhookEvent) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let key = (tenant.env.id.clone(), event.session_id);
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let event = match queues.get(&key) {
            Some(queue) => match queue.send(event) {
                Ok(()) => return,
                Err(mpsc::error::SendError(event)) => event,
            },
            None => event,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        sender.send(event).expect("the receiver is alive");
        queues.insert(key.clone(), sender);
        tokio::spawn(self.clone().session_worker(key, tenant, receiver));
    }

    /// Events accepted and not yet finished (run and delivered).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until every accepted event has run and its activities were delivered.
    pub async fn drain(&self) {
        while self.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn session_worker(
        self: Arc<Self>,
        key: SessionKey,
        tenant: Arc<Tenant>,
        mut receiver: mpsc::UnboundedReceiver<WebhookEvent>,
    ) {
        loop {
            let event = match receiver.try_recv() {
                Ok(event) => event,
                Err(_) => {
                    // Empty: leave, unless an event arrived while we took the lock.
                    let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                    match receiver.try_recv() {
                        Ok(event) => event,
                        Err(_) => {
                            queues.remove(&key);
                            return;
                        }
                    }
                }
            };
            let span = tracing::info_span!("event", tenant = %key.0, session = key.1, activity = %event.activity.name());
            self.process(&tenant, event).instrument(span).await;
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn process(&self, tenant: &Arc<Tenant>, event: WebhookEvent) {
        let id = tenant.env.id.as_str();
        let Some(plugin) = tenant.plugin.load_full() else {
            tracing::error!("no plugin loaded; event dropped");
            self.count_error(id, "no_plugin");
            return;
        };
        let run = {
            let _global = self.global.acquire().await.expect("never closed");
            let _local = tenant.permits.acquire().await.expect("never closed");
            let (runtime, env) = (self.runtime.clone(), tenant.env.clone());
            tokio::task::spawn_blocking(move || runtime.handle(&plugin, &env, &event)).await
        };
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(error = %e, "the bot's task failed");
                self.count_error(id, "host_panic");
                return;
            }
        };
        self.metrics
            .bot_run_seconds
            .get_or_create(&metrics::tenant(id))
            .observe(run.duration.as_secs_f64());
        let activities = match run.result {
            Ok(activities) => activities,
            Err(error) => {
                tracing::warn!(kind = error.kind(), %error, "the bot failed");
                self.count_error(id, error.kind());
                return;
            }
        };
        for activity in activities {
            let started = Instant::now();
            let result = tenant.client.send(&activity).await;
            self.metrics
                .outbound_seconds
                .get_or_create(&metrics::tenant(id))
                .observe(started.elapsed().as_secs_f64());
            match result {
                Ok(()) => {
                    self.metrics
                        .activities_sent
                        .get_or_create(&metrics::tenant(id))
                        .inc();
                }
                Err(error) => {
                    tracing::error!(activity = %activity.name(), %error, "delivering an activity failed");
                    self.metrics
                        .activities_failed
                        .get_or_create(&metrics::tenant(id))
                        .inc();
                }
            }
        }
    }

    fn count_error(&self, tenant: &str, kind: &str) {
        self.metrics
            .bot_errors
            .get_or_create(&TenantOutcome {
                tenant: tenant.to_owned(),
                outcome: kind.to_owned(),
            })
            .inc();
    }
}

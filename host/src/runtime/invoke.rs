//! Running one event through a plugin: a fresh (or warm) `Store`, the deadline and memory cap,
//! the call, and what the bot returned, in the contract's types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{Engine, Store, StoreContextMut, Trap, UpdateDeadline};

use super::engine::{EPOCH_TICK, EngineSettings, build_engine};
use super::host_state::HostState;
use super::pacing::{self, Ran};
use super::plugin::{Plugin, PluginError, PluginKind};
use super::tenant::{Limits, TenantEnv};
use super::warm::{WarmInstance, WarmSlots};
use crate::capabilities::http::HttpCounts;
use crate::capabilities::log::BotLogLine;
use crate::contract::types::{Activity, Context, Event};
use crate::contract::{Bot, BotPre};

/// Why a bot produced nothing for an event. The host reports it; other tenants and other
/// sessions are unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BotError {
    /// No instance could be made (pool exhausted, start-up trap).
    #[error("could not instantiate the bot: {0}")]
    Instantiate(String),
    /// The bot ran past its time limit and was interrupted.
    #[error("the bot ran longer than its limit of {0:?} and was stopped")]
    Timeout(Duration),
    /// The bot tried to grow its memory past its cap.
    #[error("the bot exceeded its memory limit of {0} bytes")]
    OutOfMemory(usize),
    /// The bot trapped (a Rust panic, `unreachable`, an out-of-bounds access, …).
    #[error("the bot trapped: {0}")]
    Trap(String),
    /// The bot returned an error of its own.
    #[error("the bot returned an error: {0}")]
    Refused(String),
    /// The bot returned more activities or bytes than its limits allow.
    #[error("the bot's output is over its limit: {0}")]
    TooMuchOutput(String),
    /// The bot returned an activity the host cannot send (found where its activities are
    /// converted for the platform).
    #[error("the bot's activity #{index} is invalid: {reason}")]
    InvalidActivity {
        /// Position in the returned list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl BotError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BotError::Instantiate(_) => "instantiate",
            BotError::Timeout(_) => "timeout",
            BotError::OutOfMemory(_) => "out_of_memory",
            BotError::Trap(_) => "trap",
            BotError::Refused(_) => "refused",
            BotError::InvalidActivity { .. } => "invalid_activity",
            BotError::TooMuchOutput(_) => "output_limit",
        }
    }
}

/// What one event's run produced: the contract's activities (`A`) as the runtime returns
/// them, or what the caller converted them to ([`BotRun::convert`]).
#[derive(Debug)]
pub struct BotRun<A = Activity> {
    /// The activities, in the bot's order, or why there are none.
    pub result: Result<Vec<A>, BotError>,
    /// What the bot logged (including stdout and stderr).
    pub logs: Vec<BotLogLine>,
    /// Lines over the per-event limit.
    pub dropped_logs: usize,
    /// Wall-clock time from instantiation to the call's return.
    pub duration: Duration,
    /// The session's language, as the bot was told it.
    pub language: Option<String>,
    /// What the bot's outbound HTTP requests came to.
    pub http: HttpCounts,
}

impl<A> BotRun<A> {
    /// The same run with its activities converted by `convert`, which may refuse them.
    pub fn convert<B>(self, convert: impl FnOnce(Vec<A>) -> Result<Vec<B>, BotError>) -> BotRun<B> {
        BotRun {
            result: self.result.and_then(convert),
            logs: self.logs,
            dropped_logs: self.dropped_logs,
            duration: self.duration,
            language: self.language,
            http: self.http,
        }
    }
}

/// The wasmtime engine and linker shared by every tenant's plugins.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    warm_slots: Arc<WarmSlots>,
}

impl Runtime {
    /// An engine with `settings`, and a linker offering WASI p2 (closed), outbound
    /// `wasi:http` (within each tenant's policy) and the contract's imports.
    pub fn new(settings: &EngineSettings) -> anyhow::Result<Self> {
        let engine = build_engine(settings)?;
        let mut linker = Linker::<HostState>::new(&engine);
        HostState::add_to_linker(&mut linker)?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            warm_slots: WarmSlots::new(settings.warm_instances as usize),
        })
    }

    /// Warm instances held idle now, across all tenants.
    pub fn warm_instances(&self) -> usize {
        self.warm_slots.held()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every plugin is checked against and instantiated with.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// Compiles and validates a plugin.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, PluginError> {
        Plugin::load(&self.engine, &self.linker, bytes)
    }

    /// Runs `event` (with its `context`) through `plugin` for `tenant`, and checks the number
    /// of activities returned against the tenant's limit. The bot runs on the calling task,
    /// yielding to the executor every epoch tick, until it goes long (`pacing.rs`): then on
    /// the long-run pool. It is stopped at its deadline whether it computes or waits in a host
    /// call (a sleep, a poll). Call it within a tokio runtime.
    pub async fn handle(
        &self,
        plugin: &Plugin,
        tenant: &Arc<TenantEnv>,
        context: Context,
        event: Event,
    ) -> BotRun {
        let started = Instant::now();
        let session_id = context.session_id;
        let language = context.language.clone();
        let pre = match &plugin.kind {
            PluginKind::Wasm(pre) => pre.clone(),
            PluginKind::Native(bot) => {
                let result = bot
                    .handle(tenant, &context, &event)
                    .map_err(BotError::Refused)
                    .and_then(|returned| within_count(returned, &tenant.limits));
                return BotRun {
                    result,
                    logs: Vec::new(),
                    dropped_logs: 0,
                    duration: started.elapsed(),
                    language,
                    http: HttpCounts::default(),
                };
            }
        };
        let reuse = tenant.limits.reuse;
        let warm = if reuse.enabled() {
            tenant.warm.take(&plugin.info().hash, &reuse)
        } else {
            None
        };
        let (mut store, warm_bot, created, events) = match warm {
            Some(mut warm) => {
                warm.store.data_mut().begin_event(session_id);
                (warm.store, Some(warm.bot), warm.created, warm.events)
            }
            None => {
                let mut store =
                    Store::new(&self.engine, HostState::new(tenant.clone(), session_id));
                store.limiter(|state| &mut state.memory);
                store.epoch_deadline_callback(yield_until_deadline);
                (store, None, Instant::now(), 0)
            }
        };
        let limit = tenant.limits.timeout;
        let deadline = started + limit;
        store.data_mut().deadline = deadline;
        store.set_epoch_deadline(1);
        let run = async move {
            // The epoch callback stops a computing bot at its deadline; this stops one that
            // waits in a host call (its future is dropped, and the instance is not reused).
            let outcome = tokio::time::timeout(
                limit + EPOCH_TICK,
                call(&pre, &mut store, warm_bot, &context, &event),
            )
            .await
            .unwrap_or(Err(CallFailure::Bot(BotError::Timeout(limit))));
            (store, outcome)
        };
        let Some(Ran {
            output: (mut store, outcome),
            long,
        }) = pacing::run(tenant.long_run.recently_long(), deadline, run).await
        else {
            // A long run the pool did not get to stop in time: answered now, torn down there.
            tenant.long_run.record(true);
            return BotRun {
                result: Err(BotError::Timeout(limit)),
                logs: Vec::new(),
                dropped_logs: 0,
                duration: started.elapsed(),
                language,
                http: HttpCounts::default(),
            };
        };
        let duration = started.elapsed();
        let state = store.data_mut();
        tenant.long_run.record(long);
        state.drain_output();
        let (logs, dropped_logs) = state.log.take_lines();
        let http = state.http.take_counts();
        let result = match outcome {
            Ok((activities, bot)) => {
                // Kept only while the engine's budget of idle instances allows.
                let slot = reuse
                    .enabled()
                    .then(|| self.warm_slots.try_take())
                    .flatten();
                if let Some(slot) = slot {
                    tenant.warm.put(WarmInstance {
                        store,
                        bot,
                        plugin_hash: plugin.info().hash.clone(),
                        events: events + 1,
                        created,
                        slot,
                    });
                }
                Ok(activities)
            }
            // A failed instance is dropped here, never reused.
            Err(failure) => Err(classify(failure, store.data(), tenant)),
        };
        BotRun {
            result,
            logs,
            dropped_logs,
            duration,
            language,
            http,
        }
    }
}

/// Runs the event on `warm` (an instance that served earlier events) or on a new instance of
/// `pre`; on success also returns the instance, for reuse.
async fn call(
    pre: &BotPre<HostState>,
    store: &mut Store<HostState>,
    warm: Option<Bot>,
    context: &Context,
    event: &Event,
) -> Result<(Vec<Activity>, Bot), CallFailure> {
    let bot = match warm {
        Some(bot) => bot,
        None => pre
            .instantiate_async(&mut *store)
            .await
            .map_err(CallFailure::Instantiate)?,
    };
    let returned = bot
        .wasmbot_bot_handler()
        .call_handle(&mut *store, context, event)
        .await
        .map_err(CallFailure::Trap)?
        .map_err(|e| CallFailure::Bot(BotError::Refused(e)))?;
    let limits = store.data().tenant.limits;
    let activities = within_count(returned, &limits).map_err(CallFailure::Bot)?;
    Ok((activities, bot))
}

/// The bot's activities, unless there are more than the tenant's limit allows.
fn within_count(returned: Vec<Activity>, limits: &Limits) -> Result<Vec<Activity>, BotError> {
    if returned.len() > limits.max_activities {
        return Err(BotError::TooMuchOutput(format!(
            "{} activities, the limit is {}",
            returned.len(),
            limits.max_activities
        )));
    }
    Ok(returned)
}

/// Called at every epoch tick while the bot runs: past the deadline the bot traps with
/// [`Trap::Interrupt`]; before it, the bot yields to the executor so other tasks run (and a run
/// that has computed for long moves to the long-run pool, `pacing.rs`).
fn yield_until_deadline(
    mut store: StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    let state = store.data_mut();
    if Instant::now() >= state.deadline {
        return Err(Trap::Interrupt.into());
    }
    Ok(UpdateDeadline::Yield(1))
}

enum CallFailure {
    Instantiate(wasmtime::Error),
    Trap(wasmtime::Error),
    Bot(BotError),
}

fn classify(failure: CallFailure, state: &HostState, tenant: &TenantEnv) -> BotError {
    match failure {
        CallFailure::Bot(e) => e,
        CallFailure::Instantiate(e) if !state.memory.exceeded => {
            BotError::Instantiate(format!("{e:#}"))
        }
        CallFailure::Instantiate(_) | CallFailure::Trap(_) if state.memory.exceeded => {
            BotError::OutOfMemory(tenant.limits.max_memory_bytes)
        }
        CallFailure::Instantiate(e) | CallFailure::Trap(e) => {
            if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                BotError::Timeout(tenant.limits.timeout)
            } else {
                BotError::Trap(format!("{e:#}"))
            }
        }
    }
}

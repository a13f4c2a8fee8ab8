//! What one `Store` holds while a bot handles one event.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::engine::{MAX_CORE_INSTANCES_PER_BOT, MAX_MEMORIES_PER_BOT, MAX_TABLES_PER_BOT};
use super::output::BoundedOutput;
use crate::capabilities::http::OutboundHttp;
use crate::capabilities::log::{BotLog, LogLevel};
use crate::capabilities::state::BotState;
use crate::capabilities::{config, log, state};
use crate::contract;
use crate::runtime::tenant::TenantEnv;
use crate::storage::StateQuota;

/// Most bytes of stdout (and, separately, stderr) kept per event; the rest is dropped.
const OUTPUT_CAPACITY: usize = 1024 * 1024;

/// The store data of one bot instance: it composes the capabilities' contexts (a closed WASI
/// context with no files, environment or sockets, clocks and random allowed; the log; the
/// tenant's state and settings; outbound HTTP) with what the runtime needs to run the event.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Outbound HTTP (`wasi:http`) within the tenant's policy.
    pub http: OutboundHttp,
    /// The `state` import: the tenant's state within its quota.
    pub state: BotState,
    /// The memory cap of this instance.
    pub memory: MemoryCap,
    /// The tenant the instance works for.
    pub tenant: Arc<TenantEnv>,
    /// The session of the event being handled.
    pub session_id: i64,
    /// When the event's run must end.
    pub deadline: Instant,
    /// Lines logged so far.
    pub log: BotLog,
    stdout: BoundedOutput,
    stderr: BoundedOutput,
}

impl HostState {
    /// Links every import a bot may use, each capability to its own context: WASI p2 (closed),
    /// outbound `wasi:http`, and the contract's `types`, `log`, `state` and `config`.
    pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        contract::add_types_to_linker(linker)?;
        log::add_to_linker(linker, |data| &mut data.log)?;
        state::add_to_linker(linker, |data| &mut data.state)?;
        config::add_to_linker(linker, |data| &data.tenant.settings)
    }

    /// A fresh state for one event of `session_id`.
    pub fn new(tenant: Arc<TenantEnv>, session_id: i64) -> Self {
        let stdout = BoundedOutput::new(OUTPUT_CAPACITY);
        let stderr = BoundedOutput::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let deadline = Instant::now() + tenant.limits.timeout;
        let mut log = BotLog::new(
            &tenant.id,
            tenant.limits.max_log_lines,
            tenant.limits.max_log_bytes,
        );
        log.begin_event(session_id);
        let state = BotState::new(
            tenant.state_scope.as_deref().unwrap_or(&tenant.id),
            tenant.state.clone(),
            StateQuota {
                max_keys: tenant.limits.max_state_keys,
                max_bytes: tenant.limits.max_state_bytes,
            },
        );
        let memory = MemoryCap::new(
            tenant.limits.max_memory_bytes,
            tenant.limits.max_table_elements,
        );
        let mut http = OutboundHttp::new(&tenant.id, tenant.http.clone());
        http.begin_event(session_id);
        Self {
            wasi,
            table: ResourceTable::new(),
            http,
            state,
            memory,
            tenant,
            session_id,
            deadline,
            log,
            stdout,
            stderr,
        }
    }

    /// Makes a warm instance's state ready for the next event, of `session_id`: no memory
    /// breach remembered (its log was emptied when the last event's lines were taken).
    pub fn begin_event(&mut self, session_id: i64) {
        self.session_id = session_id;
        self.memory.exceeded = false;
        self.log.begin_event(session_id);
        self.http.begin_event(session_id);
    }

    /// Moves what the bot wrote to stdout (as info) and stderr (as warnings) since the last
    /// call into the log.
    pub fn drain_output(&mut self) {
        for (pipe, level) in [
            (&self.stdout, LogLevel::Info),
            (&self.stderr, LogLevel::Warn),
        ] {
            let (written, dropped) = pipe.take();
            self.log.record_output(level, &written);
            if dropped > 0 {
                self.log.count_dropped(1);
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.http.view(&mut self.table)
    }
}

/// What one bot instance may allocate, enforced by wasmtime as it instantiates and grows: all
/// linear memories together up to the tenant's memory limit, all tables together up to its
/// table-element limit, and at most [`MAX_CORE_INSTANCES_PER_BOT`] core instances,
/// [`MAX_MEMORIES_PER_BOT`] memories and [`MAX_TABLES_PER_BOT`] tables. A breach of the memory
/// cap is remembered, so the failure is reported as "out of memory" rather than a bare trap.
#[derive(Debug)]
pub struct MemoryCap {
    bytes: Pooled,
    table_elements: Pooled,
    /// Whether the bot tried to grow past the cap.
    pub exceeded: bool,
}

/// What all memories (or all tables) of an instance hold together, against their cap.
#[derive(Debug)]
struct Pooled {
    held: usize,
    cap: usize,
}

impl Pooled {
    /// Accounts for one of them growing from `current` to `desired` (within its own `maximum`,
    /// if any): `Err` when the total would pass the cap, `Ok(false)` when its maximum refuses.
    fn grow(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool, ()> {
        let total = self.held - current.min(self.held) + desired;
        if total > self.cap {
            return Err(());
        }
        let allowed = maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.held = total;
        }
        Ok(allowed)
    }
}

impl MemoryCap {
    /// Caps of `max_bytes` of memory and `max_table_elements` table elements.
    pub fn new(max_bytes: usize, max_table_elements: usize) -> Self {
        Self {
            bytes: Pooled {
                held: 0,
                cap: max_bytes,
            },
            table_elements: Pooled {
                held: 0,
                cap: max_table_elements,
            },
            exceeded: false,
        }
    }

    /// Bytes of linear memory the instance holds, all memories together.
    pub fn memory_bytes(&self) -> usize {
        self.bytes.held
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.bytes.grow(current, desired, maximum).or_else(|()| {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit of {} bytes reached (all memories together)",
                self.bytes.cap
            )
        })
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.table_elements
            .grow(current, desired, maximum)
            .or_else(|()| {
                wasmtime::bail!(
                    "table limit of {} elements reached (all tables together)",
                    self.table_elements.cap
                )
            })
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES_PER_BOT as usize
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_BOT as usize
    }

    fn tables(&self) -> usize {
        MAX_TABLES_PER_BOT as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cap_counts_all_memories_together() {
        let mut cap = MemoryCap::new(100, 10);
        assert!(cap.memory_growing(0, 60, None).unwrap());
        // A second memory: 60 + 30 fits, 60 + 50 does not.
        assert!(cap.memory_growing(0, 30, None).unwrap());
        assert_eq!(cap.memory_bytes(), 90);
        assert!(cap.memory_growing(30, 50, None).is_err());
        assert!(cap.exceeded);
        // Growing the first memory within the rest of the cap still works.
        assert!(cap.memory_growing(60, 70, None).unwrap());
        assert_eq!(cap.memory_bytes(), 100);
    }

    #[test]
    fn table_elements_are_capped_across_tables() {
        let mut cap = MemoryCap::new(100, 10);
        assert!(cap.table_growing(0, 6, None).unwrap());
        assert!(cap.table_growing(0, 5, None).is_err());
        assert!(cap.table_growing(0, 4, None).unwrap());
        // A table's own maximum refuses growth without trapping.
        let mut cap = MemoryCap::new(100, 10);
        assert!(!cap.table_growing(0, 6, Some(5)).unwrap());
    }
}

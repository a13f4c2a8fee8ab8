//! What one `Store` holds while a bot handles one event.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::log::{BotLog, LogLevel};
use crate::runtime::tenant::TenantEnv;

/// Most bytes of stdout (and, separately, stderr) kept per event.
const OUTPUT_CAPACITY: usize = 1024 * 1024;

/// The store data of one bot instance: a closed WASI context (no files, environment or
/// sockets; clocks and random allowed), the tenant's capabilities, and the collected logs.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    // Bytes of stdout and stderr already moved into the log (a warm instance keeps its pipes
    // across events).
    stdout_seen: usize,
    stderr_seen: usize,
}

impl HostState {
    /// A fresh state for one event of `session_id`.
    pub fn new(tenant: Arc<TenantEnv>, session_id: i64) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let deadline = Instant::now() + tenant.limits.timeout;
        let memory = MemoryCap {
            max_bytes: tenant.limits.max_memory_bytes,
            exceeded: false,
        };
        Self {
            wasi,
            table: ResourceTable::new(),
            memory,
            tenant,
            session_id,
            deadline,
            log: BotLog::default(),
            stdout,
            stderr,
            stdout_seen: 0,
            stderr_seen: 0,
        }
    }

    /// Makes a warm instance's state ready for the next event, of `session_id`: an empty log
    /// and no memory breach remembered.
    pub fn begin_event(&mut self, session_id: i64) {
        self.session_id = session_id;
        self.log = BotLog::default();
        self.memory.exceeded = false;
    }

    /// Whether stdout or stderr has used half its capacity (a warm instance is then retired,
    /// so a later event's output is never cut short).
    pub fn output_nearly_full(&self) -> bool {
        self.stdout_seen > OUTPUT_CAPACITY / 2 || self.stderr_seen > OUTPUT_CAPACITY / 2
    }

    /// Moves what the bot wrote to stdout (as info) and stderr (as warnings) since the last
    /// call into the log.
    pub fn drain_output(&mut self) {
        let (tenant, session) = (self.tenant.id.clone(), self.session_id);
        let streams = [
            (&self.stdout, &mut self.stdout_seen, LogLevel::Info),
            (&self.stderr, &mut self.stderr_seen, LogLevel::Warn),
        ];
        for (pipe, seen, level) in streams {
            let written = pipe.contents();
            let new = written.get(*seen..).unwrap_or_default();
            self.log.record_output(&tenant, session, level, new);
            *seen = written.len();
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

/// Caps a bot's linear memory; growing past the cap traps, and is remembered so the failure
/// can be reported as "out of memory" rather than a bare trap.
#[derive(Debug)]
pub struct MemoryCap {
    max_bytes: usize,
    /// Whether the bot tried to grow past the cap.
    pub exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.max_bytes);
        }
        Ok(maximum.is_none_or(|max| desired <= max))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// The `types` interface has no functions; the linker still asks for its (empty) host trait.
impl crate::runtime::bindings::types::Host for HostState {}

//! The one wasmtime `Engine`: component model, pooling allocator, epoch interruption.

use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: a running bot yields (and checks its deadline) at
/// every tick, so a bot that computes holds a worker thread for at most one tick at a time.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Most core module instances one bot component may create (Python's components create 14).
pub const MAX_CORE_INSTANCES_PER_BOT: u32 = 32;
/// Most linear memories one bot component may have (all of them together are capped by the
/// tenant's memory limit).
pub const MAX_MEMORIES_PER_BOT: u32 = 4;
/// Most tables one bot component may have.
pub const MAX_TABLES_PER_BOT: u32 = 4;
/// Most elements one table may hold (the tenant's limit on all tables together is lower or
/// equal).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// The wasm stack of every bot: deeper recursion traps (stack overflow).
pub const MAX_WASM_STACK: usize = 512 << 10;

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// Use the pooling instance allocator (pre-reserved slots, faster instantiation).
    pub pooling: bool,
    /// Bot instances alive at once (pooling slots): the runs in flight plus the idle warm
    /// instances. Every pool (core instances, memories, tables, stacks) is sized so this many
    /// bots at their per-bot maxima fit, so no bot can take another's slot.
    pub max_instances: u32,
    /// Of the slots, how many idle warm instances may hold (the rest serve runs in flight).
    pub warm_instances: u32,
    /// Largest linear memory any bot may grow to; tenants may set a lower cap.
    pub max_memory_bytes: usize,
    /// Enable wasmtime's component-model concurrency support (async ABI). Off by default:
    /// bots use the synchronous ABI, and the support costs per-store set-up (BENCHMARKS.md).
    pub concurrency_support: bool,
    /// Bytes of each pooled linear memory reset by memset, not madvise, when an instance ends
    /// (tables get an eighth of it).
    pub keep_resident_bytes: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 64,
            warm_instances: 32,
            max_memory_bytes: 256 << 20,
            concurrency_support: false,
            keep_resident_bytes: 2 << 20,
        }
    }
}

/// Builds the engine and starts the thread that advances its epoch every [`EPOCH_TICK`]
/// (the thread ends when the engine is dropped).
pub fn build_engine(settings: &EngineSettings) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.concurrency_support(settings.concurrency_support);
    if settings.pooling {
        let instances = settings.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * MAX_CORE_INSTANCES_PER_BOT)
            .total_memories(instances * MAX_MEMORIES_PER_BOT)
            .total_tables(instances * MAX_TABLES_PER_BOT)
            .total_stacks(instances)
            .max_memories_per_component(MAX_MEMORIES_PER_BOT)
            .max_tables_per_component(MAX_TABLES_PER_BOT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_BOT)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .max_memory_size(settings.max_memory_bytes)
            .table_elements(MAX_TABLE_ELEMENTS);
        // Reset small memories and tables with memset rather than madvise: madvise makes the
        // kernel flush the TLBs of every core (IPIs) and the next instance fault its pages in
        // again; measured with `wasmbot bench` (BENCHMARKS.md).
        pool.linear_memory_keep_resident(settings.keep_resident_bytes)
            .table_keep_resident(settings.keep_resident_bytes / 8);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasmbot-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("starting the epoch thread")?;
    Ok(engine)
}

//! The one wasmtime `Engine`: component model, pooling allocator, epoch interruption.

use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; bot deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// Use the pooling instance allocator (pre-reserved slots, faster instantiation).
    pub pooling: bool,
    /// Bot instances alive at once (pooling slots).
    pub max_instances: u32,
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
            max_instances: 128,
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
    config.concurrency_support(settings.concurrency_support);
    if settings.pooling {
        let instances = settings.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 4)
            .total_tables(instances * 4)
            .total_stacks(instances)
            .max_memories_per_component(16)
            .max_tables_per_component(16)
            .max_core_instances_per_component(64)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .max_memory_size(settings.max_memory_bytes)
            .table_elements(100_000);
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

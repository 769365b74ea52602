//! The wasmtime engine, configured as Spin configures it (`crates/core`, `Config::default`):
//! the compiled-code cache, the pooling instance allocator, so a request's instance takes its
//! memories, tables and stack from pools kept mapped instead of mapping and unmapping them, and
//! epoch interruption with a ticker thread, so guest code carries Spin's epoch checks.

use anyhow::Result;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

const MB: u64 = 1 << 20;

/// Spin's `DEFAULT_EPOCH_TICK_INTERVAL`.
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// A store's epoch deadline as Spin sets it (`crates/core/src/store.rs`): never reached unless a
/// deadline is set, which neither Spin's HTTP trigger nor this host does.
pub const EPOCH_DEADLINE: u64 = u64::MAX / 2;

pub fn new() -> Result<Engine> {
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(spin_pooling()));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        // Spin probes the address space and falls back the same way where it is too small.
        Err(e) => {
            eprintln!("Warning: pooling allocator unavailable ({e:#}); instances are allocated on demand");
            Engine::new(&base_config())?
        }
    };
    spawn_epoch_ticker(&engine);
    Ok(engine)
}

/// Spin's ticker: one thread advancing the epoch every 10 ms while the engine lives.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::spawn(move || loop {
        std::thread::sleep(EPOCH_TICK);
        match weak.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => break,
        }
    });
}

fn base_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    // `perf` can name the guest's functions (docs/benchmarks.md, "Where the time goes").
    if std::env::var_os("SPIN_TEST_HOST_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Compiled code is cached on disk (as Spin does), so a restart skips Cranelift.
    match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
        Ok(cache) => {
            config.cache(Some(cache));
        }
        Err(e) => eprintln!("Warning: compilation cache disabled: {e:#}"),
    }
    config
}

/// Spin 4's defaults with `SPIN_MAX_INSTANCE_COUNT` = 1,000.
fn spin_pooling() -> PoolingAllocationConfig {
    let max_instances = 1_000;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(max_instances)
        .total_memories(max_instances)
        .total_tables(2 * max_instances)
        .total_stacks(max_instances)
        .total_core_instances(4 * max_instances)
        .table_elements(100_000)
        .max_component_instance_size(10 * MB as usize)
        .max_core_instance_size(10 * MB as usize)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 * 1024 * MB as usize)
        .linear_memory_keep_resident(2 * MB as usize)
        .table_keep_resident((MB / 2) as usize);
    pooling
}

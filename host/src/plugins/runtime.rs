//! The wasmtime side: engines, the pooling allocator, the epoch clock, and
//! the on-disk cache of compiled components.
//!
//! There are two engines, made on first use: one plain, one that meters
//! fuel for plugins granted an instruction budget (metering slows every
//! call, so plugins without a budget do not pay for it).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per call (one component instance): core instances, linear memories and
/// tables. The pool reserves this much per component, and each call's
/// store is held to it.
pub const MAX_CORE_INSTANCES: u32 = 64;
pub const MAX_MEMORIES: u32 = 16;
pub const MAX_TABLES: u32 = 32;

/// `duration` in epoch ticks, so that at least `duration` passes before
/// they run out: the epoch may advance just after a deadline is set, so the
/// tick under way counts for nothing and one more is added.
pub fn ticks(duration: Duration) -> u64 {
    duration.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64 + 1
}

/// Adds every import a plugin may use to a linker whose stores hold `T`.
pub type Link<T> = fn(&mut Linker<T>) -> wasmtime::Result<()>;

/// An engine and the linker holding every import a plugin may use.
pub struct Runtime<T: 'static> {
    pub engine: Engine,
    pub linker: Linker<T>,
}

/// The two engines, made on first use, with their linkers made by `link`.
/// Generic over the stores' data so that this module knows nothing of
/// the sandbox above it.
pub struct Runtimes<T: 'static> {
    link: Link<T>,
    plain: OnceLock<Result<Runtime<T>, String>>,
    metered: OnceLock<Result<Runtime<T>, String>>,
}

impl<T> Runtimes<T> {
    pub fn new(link: Link<T>) -> Runtimes<T> {
        Runtimes {
            link,
            plain: OnceLock::new(),
            metered: OnceLock::new(),
        }
    }

    /// The engine for a plugin that meters fuel (or not).
    pub fn get(&self, metered: bool) -> Result<&Runtime<T>, String> {
        let cell = if metered { &self.metered } else { &self.plain };
        cell.get_or_init(|| Runtime::new(metered, self.link))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl<T> Runtime<T> {
    fn new(metered: bool, link: Link<T>) -> Result<Runtime<T>, String> {
        let mut pool = PoolingAllocationConfig::new();
        // Python and JavaScript components hold several core instances,
        // memories and large tables; the counts below leave room for 50
        // concurrent calls of such plugins.
        pool.total_component_instances(200)
            .total_core_instances(2000)
            .total_memories(400)
            .total_tables(800)
            .total_stacks(200)
            .max_memories_per_component(MAX_MEMORIES)
            .max_tables_per_component(MAX_TABLES)
            .max_core_instances_per_component(MAX_CORE_INSTANCES)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(4 << 20)
            .table_elements(200_000)
            .max_memory_size((super::grants::MAX_MEMORY_MB as usize) << 20)
            // Reset touched pages in place rather than unmapping them, so the
            // next call in the slot doesn't fault them back in; the kernel's
            // PAGEMAP_SCAN finds the dirty ones. Measured with the plugins
            // bench: Rust 42 → 28 us, JS 1170 → 640 us per call against no
            // resident pages; 32 MiB gains nothing more.
            .linear_memory_keep_resident(8 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(metered)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| format!("cannot start wasmtime: {e}"))?;
        start_epoch_clock(&engine);
        let mut linker = Linker::new(&engine);
        link(&mut linker).map_err(|e| format!("cannot link the host: {e}"))?;
        Ok(Runtime { engine, linker })
    }

    /// Loads a compiled component from `cache`, or compiles `wasm` and saves
    /// it there. The key is the component's SHA-256 and the engine's
    /// compatibility hash, so a wasmtime upgrade or another engine setting
    /// never loads a stale artifact. Returns the component and whether it
    /// came from the cache.
    pub fn load(
        &self,
        wasm: &Path,
        sha256: &str,
        cache: &Path,
    ) -> Result<(Component, bool), String> {
        let artifact = self.artifact_path(sha256, cache);
        if let Some(component) = self.verified(&artifact) {
            return Ok((component, true));
        }
        let bytes =
            std::fs::read(wasm).map_err(|e| format!("cannot read {}: {e}", wasm.display()))?;
        let component = Component::new(&self.engine, &bytes)
            .map_err(|e| format!("{} is not a valid component: {e:#}", wasm.display()))?;
        if let Ok(serialized) = component.serialize() {
            // The digest is written last: an artifact without one is never
            // loaded. A cache that cannot be written only costs speed.
            let digest = format!("{:x}", Sha256::digest(&serialized));
            let _ = crate::files::write_atomically(&artifact, &serialized).and_then(|()| {
                crate::files::write_atomically(&digest_path(&artifact), digest.as_bytes())
            });
        }
        Ok((component, false))
    }

    /// The artifact at `artifact`, if it is the one this host wrote: its
    /// bytes must hash to the digest recorded beside it when it was written.
    /// A changed artifact (or digest) is compiled again, never loaded.
    fn verified(&self, artifact: &Path) -> Option<Component> {
        let recorded = std::fs::read_to_string(digest_path(artifact)).ok()?;
        let bytes = std::fs::read(artifact).ok()?;
        if format!("{:x}", Sha256::digest(&bytes)) != recorded.trim() {
            return None;
        }
        // SAFETY: these bytes were written by `Component::serialize` of an
        // engine with this compatibility hash (it is in the name), as their
        // digest shows; they are checked in memory, so they cannot change
        // between the check and the load.
        unsafe { Component::deserialize(&self.engine, &bytes) }.ok()
    }

    /// Whether a compiled artifact for this component is cached.
    pub fn is_cached(&self, sha256: &str, cache: &Path) -> bool {
        let artifact = self.artifact_path(sha256, cache);
        artifact.is_file() && digest_path(&artifact).is_file()
    }

    fn artifact_path(&self, sha256: &str, cache: &Path) -> PathBuf {
        let mut engine_hash = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(
            &self.engine.precompile_compatibility_hash(),
            &mut engine_hash,
        );
        let engine_hash = std::hash::Hasher::finish(&engine_hash);
        cache.join(format!("{sha256}-{engine_hash:016x}.cwasm"))
    }
}

/// Where the digest of `artifact` is recorded.
fn digest_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("cwasm.sha256")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_epoch_clock(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("keystep-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch thread");
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even if the epoch advances the moment after a deadline is set, the
    /// ticks left still cover the whole limit.
    #[test]
    fn a_deadline_in_ticks_covers_the_whole_limit() {
        for ms in [1, 4, 5, 6, 200, 201, 30_000] {
            let limit = Duration::from_millis(ms);
            let whole_ticks_left = ticks(limit) - 1;
            assert!(EPOCH_TICK * whole_ticks_left as u32 >= limit, "{ms} ms");
        }
    }
}

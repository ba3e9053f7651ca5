//! The WebAssembly runtime: one wasmtime engine, plugins compiled once (and cached on disk)
//! and pre-instantiated, and a fresh sandboxed store for every hook call so that nothing
//! leaks between calls or leads. Each call is bounded in CPU (fuel), memory, wall-clock time
//! and what it may ask of the host ([`host::budget`]); the wall-clock deadline interrupts
//! guest code wherever it runs (epoch interruption, driven by a ticker thread) and every host
//! call past it traps, so time spent inside host calls counts too. A trap, timeout,
//! out-of-memory or exhausted budget fails that call with a readable reason and the host
//! goes on.

// The layers below under the names the module paths use.
use outreach_ai as ai;
use outreach_channels as channels;
use outreach_domain as domain;
use outreach_domain::{clock, config, text};
use outreach_store as store;

pub mod bindings;
pub mod bundled;
pub mod consent;
pub mod contract;
pub mod hooks;
pub mod host;
mod limits;
pub mod manifest;
mod slots;
mod trap;

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    CallHook, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};

use self::bindings::Prepared;
pub use self::hooks::{HookInput, HookOutput};
use self::host::{CallContext, HostServices, HostState};
pub use self::limits::Limits;
use self::limits::check_output;
use self::manifest::Manifest;
pub use self::slots::SlotReset;
pub use self::trap::HookFailure;
use self::trap::classify_trap;
use crate::config::LimitsConfig;
use crate::store::usage::CallCost;

/// How often the engine's epoch advances. At each tick a running guest checks its call's
/// deadline and budget and yields to the async executor, so no guest holds a thread longer.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The result of a hook call and the context it ran in (which holds the messages it queued).
pub struct Invocation {
    pub result: Result<HookOutput, HookFailure>,
    pub call: CallContext,
    /// What the call cost, instantiation included.
    pub cost: CallCost,
}

/// One engine for the whole process, and every plugin compiled for it.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: LimitsConfig,
    /// Where compiled components are kept (`.cwasm` files), and every component is loaded
    /// from: the given cache, or a folder of this runtime's own.
    cache: CompileCache,
    /// Prepared components by content hash, with the contract version each was built for.
    prepared: Mutex<HashMap<String, (Prepared<HostState>, String)>>,
    /// How memory slots are put back between calls.
    slot_reset: SlotReset,
}

/// Fuel, epochs and the pooling allocator sized from `limits`, its slots put back as
/// `reset` says (PAGEMAP_SCAN is refused by `Engine::new` where the kernel lacks it).
fn engine_config(limits: &LimitsConfig, reset: SlotReset) -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    let instances = limits.instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.max_memory_size((limits.max_memory_mb << 20) as usize)
        .total_component_instances(instances)
        .total_core_instances(instances * 4)
        .total_memories(instances * 2)
        .total_tables(instances * 2)
        .total_stacks(instances)
        .table_keep_resident(64 << 10);
    match reset {
        SlotReset::WrittenPages => pool
            .pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(16 << 20),
        SlotReset::WholeSlot => pool
            .pagemap_scan(wasmtime::Enabled::No)
            .linear_memory_keep_resident(2 << 20),
    };
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

impl Runtime {
    /// `cache_dir` keeps compiled components across runs; with `None` they are kept in a
    /// temporary folder of this runtime's, removed with it.
    /// Slots are reset as this machine allows ([`SlotReset::for_this_machine`]).
    pub fn new(limits: &LimitsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        Self::with_slot_reset(limits, cache_dir, SlotReset::for_this_machine())
    }

    /// [`Runtime::new`] resetting slots as `reset` says where the kernel allows it (a test
    /// or a bench comparing the two).
    pub fn with_slot_reset(
        limits: &LimitsConfig,
        cache_dir: Option<PathBuf>,
        reset: SlotReset,
    ) -> anyhow::Result<Self> {
        // Where Linux can say which pages a call wrote (PAGEMAP_SCAN, 6.7+) and nothing is
        // swapped, a reused slot puts back only those, in place, up to 16 MiB: a Python or
        // JavaScript plugin's heap image stays mapped instead of being unmapped and faulted
        // in again on every call (bench (a): JavaScript 2.0 -> 1.1 ms, Python ~2.8 -> ~2.2
        // ms, Rust the same; and -> 0.6 / 1.6 ms with the vendored wasmtime's longer scan,
        // see vendor/README.md). Otherwise zeroing that much in place would cost more than
        // it saves: the first 2 MiB are zeroed in place, the rest unmapped.
        let built = match Engine::new(&engine_config(limits, reset)) {
            Ok(engine) => Ok((engine, reset)),
            Err(_) if reset == SlotReset::WrittenPages => {
                Engine::new(&engine_config(limits, SlotReset::WholeSlot))
                    .map(|engine| (engine, SlotReset::WholeSlot))
            }
            Err(e) => Err(e),
        };
        let (engine, slot_reset) = built
            .map_err(anyhow::Error::from)
            .context("cannot start the wasm engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Every contract version the host speaks, side by side: their imports have
        // versioned names (`outreach:plugin/leads@0.1.0`), so one linker serves them all.
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::since_v0_1::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            linker,
            limits: limits.clone(),
            cache: CompileCache::new(cache_dir),
            prepared: Mutex::new(HashMap::new()),
            slot_reset,
        })
    }

    /// Compiles (or loads from the disk cache) and pre-instantiates a component, once per
    /// content hash.
    pub fn prepare(&self, wasm: &[u8]) -> anyhow::Result<Prepared<HostState>> {
        self.prepare_installed(&sha256_hex(wasm), || Ok(wasm.to_vec()))
    }

    /// Like [`Runtime::prepare`] for a component known by its hash, loading its bytes only
    /// when it was not prepared before.
    pub fn prepare_installed(
        &self,
        sha: &str,
        load: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Prepared<HostState>> {
        Ok(self.prepare_with_contract(sha, load)?.0)
    }

    /// The version of `outreach:plugin` a component was built for (`0.1.0`), once it is
    /// known to be one this host speaks.
    pub fn contract(&self, wasm: &[u8]) -> anyhow::Result<String> {
        Ok(self
            .prepare_with_contract(&sha256_hex(wasm), || Ok(wasm.to_vec()))?
            .1)
    }

    fn prepare_with_contract(
        &self,
        sha: &str,
        load: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<(Prepared<HostState>, String)> {
        if let Some(prepared) = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha)
        {
            return Ok(prepared.clone());
        }
        let wasm = load()?;
        let sha = sha.to_owned();
        let component = self.compile(&wasm, &sha)?;
        // Before linking: a plugin built for another version of the contract gets a
        // sentence that says so, not the linker's list of missing imports.
        let contract = contract::spoken_by(&component, &self.engine)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| Prepared::new(pre, contract))
            .map_err(|e| {
                anyhow::anyhow!(
                    "the component does not match the outreach:plugin@{contract} world: {e}"
                )
            })?;
        let contract = contract.to_string();
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha, (pre.clone(), contract.clone()));
        Ok((pre, contract))
    }

    /// The component of `wasm`, compiled once and always loaded from its `.cwasm` file:
    /// its memory image is then the mapped file. (Compiled in memory, wasmtime keeps the
    /// image in a memfd that it seals read-only, and Linux refuses the seal with EBUSY
    /// while pages just written to it are still referenced, failing the plugin's every
    /// instantiation: CI met it once.)
    fn compile(&self, wasm: &[u8], sha: &str) -> anyhow::Result<Component> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let name = format!("{sha}-{:016x}.cwasm", hasher.finish());
        // SAFETY: the folders hold only artifacts this host serialized itself, named by the
        // wasm's hash and the engine's compatibility hash, and each is written whole under
        // a name of its own before it takes this one.
        let load = |path: &Path| unsafe { Component::deserialize_file(&self.engine, path) };
        if let Some(kept) = &self.cache.kept {
            let path = kept.join(&name);
            if path.exists() {
                match load(&path) {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!("ignoring unreadable compile cache {}: {e}", path.display())
                    }
                }
            }
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| anyhow::anyhow!("not a valid plugin component: {e}"))?;
        let serialized = component.serialize()?;
        // The given cache, else (not writable, or mounted noexec) a folder of this runtime's.
        for dir in self
            .cache
            .kept
            .iter()
            .map(PathBuf::as_path)
            .chain(self.cache.own())
        {
            let kept = keep(dir, &name, &serialized)
                .and_then(|path| load(&path).map_err(anyhow::Error::from));
            match kept {
                Ok(from_file) => return Ok(from_file),
                Err(e) => tracing::warn!(
                    "cannot run the compiled plugin from {}: {e:#}",
                    dir.display()
                ),
            }
        }
        // Still runs where the kernel seals memfds, as almost all do.
        tracing::warn!("plugin {sha} runs compiled in memory");
        Ok(component)
    }

    /// Reads a component's manifest without granting it anything.
    pub async fn read_manifest(
        &self,
        wasm: &[u8],
        services: Arc<HostServices>,
    ) -> anyhow::Result<Manifest> {
        let pre = self.prepare(wasm)?;
        let limits = Limits::for_manifest(&self.limits);
        let mut store = self.new_store(services, CallContext::for_manifest(), limits)?;
        let called = tokio::time::timeout(limits.timeout, pre.manifest(&mut store)).await;
        let manifest = match called {
            Ok(Ok(manifest)) => manifest,
            Err(_elapsed) => {
                anyhow::bail!("the plugin's manifest export did not return within 5 s")
            }
            Ok(Err(trap)) => anyhow::bail!(
                "the plugin's manifest export failed: {}",
                classify_trap(&trap, &store, limits)
            ),
        };
        manifest::check(manifest).map_err(|e| anyhow::anyhow!(e))
    }

    fn new_store(
        &self,
        services: Arc<HostServices>,
        call: CallContext,
        limits: Limits,
    ) -> anyhow::Result<Store<HostState>> {
        let mut store = Store::new(&self.engine, HostState::new(services, call, limits));
        store.limiter(|state| &mut state.memory);
        // Instantiation runs guest code too, so the budget covers it.
        store.set_fuel(limits.fuel)?;
        // Guest code: stopped at the first tick past the deadline or a spent budget, and
        // yielding to the executor at every other tick.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            Ok(match ctx.data().budget.exceeded() {
                Some(_) => UpdateDeadline::Interrupt,
                None => UpdateDeadline::Yield(1),
            })
        });
        // Host code: no host call starts, and none returns to the guest, once the call is out
        // of time or budget (a host call that ran into a limit stops the guest right there).
        store.call_hook(|ctx, hook| match hook {
            CallHook::CallingHost | CallHook::ReturningFromHost => {
                match ctx.data().budget.exceeded() {
                    Some(failure) => Err(wasmtime::Error::msg(failure.to_string())),
                    None => Ok(()),
                }
            }
            CallHook::CallingWasm | CallHook::ReturningFromWasm => Ok(()),
        });
        Ok(store)
    }

    /// How this runtime puts memory slots back between calls.
    pub fn slot_reset(&self) -> SlotReset {
        self.slot_reset
    }

    /// Runs one hook in a fresh instance.
    pub async fn invoke(
        &self,
        pre: &Prepared<HostState>,
        services: Arc<HostServices>,
        call: CallContext,
        limits: Limits,
        input: HookInput,
    ) -> anyhow::Result<Invocation> {
        let started = std::time::Instant::now();
        let mut store = self.new_store(services, call, limits)?;
        let outcome = tokio::time::timeout(limits.timeout, pre.call(&mut store, input)).await;
        let cost = CallCost {
            wall_us: started.elapsed().as_micros() as u64,
            fuel: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            peak_memory: store.data().memory.peak() as u64,
        };
        let result = match (outcome, store.data().budget.exceeded()) {
            (Err(_elapsed), _) => Err(HookFailure::Timeout(limits.timeout.as_millis())),
            // A limit the call ran into stands, whatever the guest returned after it.
            (Ok(_), Some(failure)) => Err(failure),
            (Ok(Ok(Ok(output))), None) => check_output(output, &limits),
            (Ok(Ok(Err(plugin_error))), None) => Err(HookFailure::Plugin(
                crate::text::from_plugin(&plugin_error, limits.text_chars),
            )),
            (Ok(Err(trap)), None) => Err(classify_trap(&trap, &store, limits)),
        };
        let call = store.into_data().finish();
        Ok(Invocation { result, call, cost })
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    let ticker = std::thread::Builder::new()
        .name("outreach-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = ticker {
        // Without it no deadline would ever fire: better not to run plugins at all.
        panic!("cannot start the epoch ticker thread: {e}");
    }
}

/// Writes `serialized` to `dir/name` whole: under a name of its own first, so that a
/// reader (another task compiling the same plugin, another process) never sees a part.
fn keep(dir: &Path, name: &str, serialized: &[u8]) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(serialized)?;
    let path = dir.join(name);
    file.persist(&path)?;
    Ok(path)
}

/// Where a runtime keeps the compiled components it loads (`.cwasm` files): the folder it
/// was given, which outlives it, and a folder of its own, made when first needed (no
/// folder was given, or it cannot be written or run from) and removed with the runtime.
struct CompileCache {
    kept: Option<PathBuf>,
    own: std::sync::OnceLock<Option<tempfile::TempDir>>,
}

impl CompileCache {
    fn new(kept: Option<PathBuf>) -> Self {
        Self {
            kept,
            own: std::sync::OnceLock::new(),
        }
    }

    fn own(&self) -> Option<&Path> {
        let own = self.own.get_or_init(|| {
            let made = tempfile::Builder::new()
                .prefix("outreach-compiled-")
                .tempdir();
            made.inspect_err(|e| tracing::warn!("cannot make a folder for compiled plugins: {e}"))
                .ok()
        });
        own.as_ref().map(tempfile::TempDir::path)
    }
}

pub use crate::domain::sha256_hex;

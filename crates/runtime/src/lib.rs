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
pub mod host;
pub mod manifest;

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    CallHook, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

use self::bindings::{PluginPre, wit, wit_hooks};
use self::host::{CallContext, HostServices, HostState};
use self::manifest::Manifest;
use crate::config::LimitsConfig;
use crate::store::usage::CallCost;

/// How often the engine's epoch advances. At each tick a running guest checks its call's
/// deadline and budget and yields to the async executor, so no guest holds a thread longer.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What one hook call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub host_calls: u32,
    pub log_lines: u32,
    pub log_bytes: u64,
    pub audited_denials: u32,
    pub tags_per_lead: u32,
    pub tags_per_decision: u32,
    /// Characters kept of plugin-supplied text that the host stores or prints.
    pub text_chars: usize,
}

impl Limits {
    /// The defaults from the config, overridden by the plugin's `limits.fuel`,
    /// `limits.memory-mb` and `limits.timeout-ms` settings, each clamped to its global cap.
    pub fn for_plugin(config: &LimitsConfig, settings: &[(String, String)]) -> Self {
        let setting = |key: &str, default: u64, cap: u64| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
                .min(cap)
        };
        Self {
            fuel: setting("limits.fuel", config.fuel, config.max_fuel),
            memory_bytes: (setting("limits.memory-mb", config.memory_mb, config.max_memory_mb)
                << 20) as usize,
            timeout: Duration::from_millis(setting(
                "limits.timeout-ms",
                config.timeout_ms,
                config.max_timeout_ms,
            )),
            ..Self::from_config(config)
        }
    }

    /// The configured defaults, for a call no plugin setting adjusts.
    pub fn from_config(config: &LimitsConfig) -> Self {
        Self {
            fuel: config.fuel,
            memory_bytes: (config.memory_mb << 20) as usize,
            timeout: Duration::from_millis(config.timeout_ms),
            host_calls: config.host_calls,
            log_lines: config.log_lines,
            log_bytes: config.log_bytes,
            audited_denials: config.audited_denials,
            tags_per_lead: config.tags_per_lead,
            tags_per_decision: config.tags_per_decision,
            text_chars: config.text_chars as usize,
        }
    }

    /// What reading a manifest may use: little of anything, and no host call at all (the
    /// contract says the export must not make one), so the first one stops it before it
    /// touches any data.
    fn for_manifest(config: &LimitsConfig) -> Self {
        Self {
            fuel: 100_000_000,
            memory_bytes: (config.memory_mb.min(64) << 20) as usize,
            timeout: Duration::from_secs(5),
            host_calls: 0,
            ..Self::from_config(config)
        }
    }
}

/// The input of one hook call.
pub enum HookInput {
    Filter(wit::Lead),
    Reply(wit_hooks::Inbound),
    FollowUp(wit_hooks::FollowUpDue),
}

/// What a hook returned.
#[derive(Debug)]
pub enum HookOutput {
    Filter(wit_hooks::FilterDecision),
    Reply(wit_hooks::ReplyAction),
    FollowUp(wit_hooks::FollowUpAction),
}

/// Why a hook call failed; the message is shown to the user as is.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HookFailure {
    #[error("ran out of its CPU budget of {0} fuel")]
    OutOfFuel(u64),
    #[error("went over its memory limit of {0} MiB")]
    OutOfMemory(usize),
    #[error("did not finish within {0} ms")]
    Timeout(u128),
    #[error("went over its budget of {0}")]
    Budget(String),
    #[error("crashed: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Plugin(String),
}

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
    cache_dir: Option<PathBuf>,
    /// Prepared components by content hash, with the contract version each was built for.
    prepared: Mutex<HashMap<String, (PluginPre<HostState>, String)>>,
}

/// Fuel, epochs and the pooling allocator sized from `limits`; `page_scan` resets slots
/// with PAGEMAP_SCAN (refused by `Engine::new` where the kernel lacks it).
fn engine_config(limits: &LimitsConfig, page_scan: bool) -> Config {
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
    match page_scan {
        true => pool
            .pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(16 << 20),
        false => pool
            .pagemap_scan(wasmtime::Enabled::No)
            .linear_memory_keep_resident(2 << 20),
    };
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

impl Runtime {
    /// `cache_dir` keeps compiled components across runs; `None` compiles in memory only.
    pub fn new(limits: &LimitsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        // Where Linux can say which pages a call wrote (PAGEMAP_SCAN, 6.7+), a reused slot
        // puts back only those, in place, up to 16 MiB: a Python or JavaScript plugin's
        // heap image stays mapped instead of being unmapped and faulted in again on every
        // call (bench (a): JavaScript 2.0 -> 1.1 ms, Python ~2.8 -> ~2.2 ms, Rust the
        // same; and -> 0.6 / 1.6 ms with the vendored wasmtime's longer scan, see
        // vendor/README.md). Without it, zeroing that much in place would cost more than it
        // saves: the first 2 MiB are zeroed in place, the rest unmapped.
        let engine = Engine::new(&engine_config(limits, true))
            .or_else(|_| Engine::new(&engine_config(limits, false)))
            .map_err(anyhow::Error::from)
            .context("cannot start the wasm engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            linker,
            limits: limits.clone(),
            cache_dir,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles (or loads from the disk cache) and pre-instantiates a component, once per
    /// content hash.
    pub fn prepare(&self, wasm: &[u8]) -> anyhow::Result<PluginPre<HostState>> {
        self.prepare_installed(&sha256_hex(wasm), || Ok(wasm.to_vec()))
    }

    /// Like [`Runtime::prepare`] for a component known by its hash, loading its bytes only
    /// when it was not prepared before.
    pub fn prepare_installed(
        &self,
        sha: &str,
        load: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<PluginPre<HostState>> {
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
    ) -> anyhow::Result<(PluginPre<HostState>, String)> {
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
            .and_then(PluginPre::new)
            .map_err(|e| {
                anyhow::anyhow!(
                    "the component does not match the outreach:plugin@{contract} world: {e}"
                )
            })?;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha, (pre.clone(), contract.clone()));
        Ok((pre, contract))
    }

    fn compile(&self, wasm: &[u8], sha: &str) -> anyhow::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, wasm)
                .map_err(|e| anyhow::anyhow!("not a valid plugin component: {e}"));
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let path = dir.join(format!("{sha}-{:016x}.cwasm", hasher.finish()));
        if path.exists() {
            // SAFETY: the cache holds only artifacts this host serialized itself, named by the
            // wasm's hash and the engine's compatibility hash.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!("ignoring unreadable compile cache {}: {e}", path.display())
                }
            }
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| anyhow::anyhow!("not a valid plugin component: {e}"))?;
        let write = || -> anyhow::Result<()> {
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, component.serialize()?)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!("cannot write compile cache {}: {e}", path.display());
        }
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
        let called = tokio::time::timeout(limits.timeout, async {
            let plugin = pre.instantiate_async(&mut store).await?;
            plugin
                .outreach_plugin_hooks()
                .call_manifest(&mut store)
                .await
        })
        .await;
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
        manifest::from_wit(manifest).map_err(|e| anyhow::anyhow!(e))
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

    /// Runs one hook in a fresh instance.
    pub async fn invoke(
        &self,
        pre: &PluginPre<HostState>,
        services: Arc<HostServices>,
        call: CallContext,
        limits: Limits,
        input: HookInput,
    ) -> anyhow::Result<Invocation> {
        let started = std::time::Instant::now();
        let mut store = self.new_store(services, call, limits)?;
        let outcome = tokio::time::timeout(limits.timeout, async {
            let plugin = pre.instantiate_async(&mut store).await?;
            let hooks = plugin.outreach_plugin_hooks();
            let returned = match &input {
                HookInput::Filter(lead) => hooks
                    .call_filter(&mut store, lead)
                    .await?
                    .map(HookOutput::Filter),
                HookInput::Reply(event) => hooks
                    .call_reply(&mut store, event)
                    .await?
                    .map(HookOutput::Reply),
                HookInput::FollowUp(event) => hooks
                    .call_follow_up(&mut store, event)
                    .await?
                    .map(HookOutput::FollowUp),
            };
            wasmtime::Result::Ok(returned)
        })
        .await;
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
                crate::text::from_plugin(&bindings::describe(&plugin_error), limits.text_chars),
            )),
            (Ok(Err(trap)), None) => Err(classify_trap(&trap, &store, limits)),
        };
        let call = store.into_data().finish();
        Ok(Invocation { result, call, cost })
    }
}

/// What a hook returned, refused when it asks for more than one call may: the host applies
/// a decision whole or not at all, so an oversized one fails the call with the reason.
fn check_output(output: HookOutput, limits: &Limits) -> Result<HookOutput, HookFailure> {
    if let HookOutput::Filter(decision) = &output {
        let tags = decision.tags.len();
        if tags > limits.tags_per_decision as usize {
            return Err(HookFailure::Budget(format!(
                "{} tags per filter decision (it returned {tags})",
                limits.tags_per_decision
            )));
        }
    }
    Ok(output)
}

fn classify_trap(error: &wasmtime::Error, store: &Store<HostState>, limits: Limits) -> HookFailure {
    if let Some(failure) = store.data().budget.exceeded() {
        return failure;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return HookFailure::OutOfFuel(limits.fuel),
        Some(Trap::Interrupt) => return HookFailure::Timeout(limits.timeout.as_millis()),
        _ => {}
    }
    if store.data().memory.refused_growth() {
        return HookFailure::OutOfMemory(limits.memory_bytes >> 20);
    }
    let trap = error
        .downcast_ref::<Trap>()
        .map_or_else(|| format!("{error:#}"), |t| t.to_string());
    let stderr = store.data().stderr_text();
    // A Python plugin's uncaught exception is what its author needs to see, not where the
    // Python runtime (itself Rust) panicked about it.
    let described = match (python_traceback(&stderr), panic_message(&stderr)) {
        (Some(traceback), _) => format!("{traceback} ({trap})"),
        (None, Some(panic)) => format!("{panic} ({trap})"),
        (None, None) => trap,
    };
    HookFailure::Trap(crate::text::from_plugin(&described, limits.text_chars))
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

/// A Rust guest prints its panic to stderr before aborting, which says more than
/// "unreachable executed": `thread '…' panicked at src/lib.rs:4:5:` and the message below.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let header = lines.find(|l| l.contains(" panicked at "))?;
    let location = header.split(" panicked at ").nth(1)?.trim_end_matches(':');
    let message = lines
        .next()
        .map(str::trim)
        .filter(|m| !m.is_empty() && !m.starts_with("note:"));
    Some(match message {
        Some(message) => format!("panicked at {location}: {message}"),
        None => format!("panicked at {location}"),
    })
}

/// The last Python traceback in a guest's stderr, as Python prints it (frames, then the
/// exception), lines joined with " | " so it stays one line in `outreach events`.
fn python_traceback(stderr: &str) -> Option<String> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let lines: Vec<&str> = stderr[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.contains(" panicked at "))
        .map(str::trim)
        .collect();
    Some(lines.join(" | "))
}

pub use crate::domain::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_limits_override_the_defaults_within_the_caps() {
        let config = LimitsConfig::default();
        let defaults = Limits::for_plugin(&config, &[]);
        assert_eq!(defaults, Limits::from_config(&config));
        assert_eq!(
            (defaults.fuel, defaults.memory_bytes, defaults.timeout),
            (config.fuel, 64 << 20, Duration::from_secs(30))
        );
        let settings = [
            ("limits.fuel".to_string(), "5000".to_string()),
            ("limits.memory-mb".to_string(), "100000".to_string()),
            ("limits.timeout-ms".to_string(), "not a number".to_string()),
        ];
        let limits = Limits::for_plugin(&config, &settings);
        assert_eq!(limits.fuel, 5000);
        assert_eq!(
            limits.memory_bytes,
            (config.max_memory_mb << 20) as usize,
            "clamped to the cap"
        );
        assert_eq!(
            limits.timeout,
            Duration::from_millis(config.timeout_ms),
            "unreadable: the default"
        );
    }

    #[test]
    fn panic_messages_are_read_from_the_guests_stderr() {
        let stderr = "\nthread '<unnamed>' (1) panicked at src/lib.rs:4:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:4:5: boom")
        );
        assert_eq!(panic_message("nothing here"), None);
    }

    #[test]
    fn a_python_traceback_comes_before_the_runtime_panic() {
        // What componentize-py 0.25.1 writes for an uncaught KeyError.
        let stderr = "Traceback (most recent call last):\n  File \"/0/app.py\", line 39, in filter\nKeyError: 'missing'\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1293:29:\nPython function threw an unexpected exception\n";
        assert_eq!(
            python_traceback(stderr).as_deref(),
            Some(
                "Traceback (most recent call last): | File \"/0/app.py\", line 39, in filter | KeyError: 'missing'"
            )
        );
        assert_eq!(
            python_traceback("thread 'x' panicked at a.rs:1:1:\nboom\n"),
            None
        );
    }
}

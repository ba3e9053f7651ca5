//! `cargo bench -p outreach-host`: what the sandbox costs, and how the host holds up at the
//! size users run.
//!
//! (a) a fresh instance plus one hook call of a bundled plugin (and of a plugin that makes
//!     no host calls, the runtime's floor), and one filter call of the same filter in Rust
//!     in Python and in JavaScript (`examples/big-accounts-py`, `-js`, built when their
//!     tools are installed) ([`instances`]);
//! (b) events per second through inbound → filter → reply → outbox → delivery on a real
//!     SQLite file, with the real plugin components;
//! (c) the same flow with the same logic written as native Rust hooks — same engine, same
//!     host calls, same database work, no sandbox ([`native`]) — in the same run, and the
//!     ratio (b)/(c);
//! (d) the (b)/(c) flow at size ([`scale`]): events/s at 10k and 100k leads, wasm and
//!     native, the per-event cost ratio between the sizes and the wasm/native ratio;
//! (e) the resident memory of 1,000 live instances of a bundled plugin ([`live`]);
//! (f) the 1M-lead import beside `sqlite3 .import` on the same generated file ([`import`]);
//! (g) with (d), at each size: inbound messages stored per second on the history the flow
//!     left, beside an empty database ([`webhooks`]);
//! (h) what encryption at rest costs: the (b) flow and a 100k-lead import on a file
//!     encrypted with SQLCipher, as ratios to the same on a plain file ([`encryption`]);
//! (i) the console's pages on 100k leads and 1M messages: server time per page, and the
//!     time from opening the file to the first page ([`console`]);
//! (j) what people wait for when the AI provider is slow: N leads write at once and
//!     ai-reply answers each through an OpenAI-compatible endpoint on 127.0.0.1 that takes
//!     1 s a request; the wall time until every reply is sent, at the default concurrency
//!     and at `engine.concurrency = 1` ([`latency`]); (b) and (d) also run at concurrency 1
//!     as the baseline of the CPU-bound flow;
//! (l) what a send's attempt record costs synced to disk before the request
//!     ([`durability`]).
//!
//! Environment, for a quicker run (defaults are the real sizes):
//! - `OUTREACH_BENCH_ONLY=a,e,bc,d,f,h,i,j,k,l`: the sections to run (default all);
//! - `OUTREACH_BENCH_LEADS=10000,100000`: the lead counts of (d);
//! - `OUTREACH_BENCH_INSTANCES=1000`: the live instances of (e);
//! - `OUTREACH_BENCH_IMPORT_ROWS=1000000`: the rows of (f)'s file.

mod console;
mod durability;
mod encryption;
mod import;
mod instances;
mod languages;
mod latency;
mod live;
mod native;
mod scale;
mod webhooks;
mod workers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use outreach::ai::AiProvider;
use outreach::clock::{ManualClock, parse_rfc3339};
use outreach::config::Config;
use outreach::domain::lead::Lead;
use outreach::domain::lead::LeadRecord;
use outreach::engine::{Engine, Executor, NativeHooks, RunStats, ingest};
use outreach::runtime::host::HostServices;
use outreach::runtime::{Runtime, bundled, sha256_hex};
use outreach::store::cipher::DbKey;
use outreach::store::{self, Db};

const LEADS: usize = 300;
/// The plugins of the (b)/(c)/(d) flow: a filter and a reply hook.
const FLOW_PLUGINS: [&str; 2] = ["lead-scorer", "ai-reply"];
const INSTANCE_ROUNDS: usize = 5;
const INSTANCE_CALLS: usize = 2_000;
const FLOW_ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Timings on a shared machine move with what else runs: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average {} on {} CPUs at the start",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        let runtime = Arc::new(Runtime::new(&Config::default().limits, None)?);
        if section("a") {
            instances::bench_instances(&runtime).await?;
        }
        // Before the flows, whose freed heap would hide part of what the instances take.
        if section("e") {
            live::bench().await?;
        }
        if section("bc") {
            bench_flow(&runtime).await?;
        }
        if section("d") {
            scale::bench(&runtime).await?;
        }
        if section("h") {
            encryption::bench_flow(&runtime).await?;
        }
        if section("i") {
            console::bench().await?;
        }
        if section("j") {
            latency::bench(&runtime).await?;
        }
        if section("k") {
            workers::bench(&runtime).await?;
        }
        anyhow::Ok(())
    })?;
    drop(rt);
    if section("f") {
        import::bench()?;
    }
    if section("l") {
        durability::bench()?;
    }
    if section("h") {
        encryption::bench_import()?;
    }
    Ok(())
}

/// Whether `OUTREACH_BENCH_ONLY` (a comma-separated list; unset runs everything) names
/// this section.
fn section(name: &str) -> bool {
    match std::env::var("OUTREACH_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => {
            only.split(',').any(|s| s.trim().eq_ignore_ascii_case(name))
        }
        _ => true,
    }
}

/// A comma-separated list of counts from the environment (`10000,100_000`), or `default`.
fn env_counts(var: &str, default: &[usize]) -> anyhow::Result<Vec<usize>> {
    let Ok(value) = std::env::var(var) else {
        return Ok(default.to_vec());
    };
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| anyhow::anyhow!("{var}: {s:?} is not a positive count"))
        })
        .collect()
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A `VmRSS:`-style field of a `/proc/<pid>/status` file, in KiB.
fn proc_status_kib(path: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn services(db: Db) -> Arc<HostServices> {
    services_with(db, |_| {}, |_| None)
}

/// [`services`] with the config changed by `edit` and the AI key looked up in `env`.
fn services_with(
    db: Db,
    edit: impl FnOnce(&mut Config),
    env: impl Fn(&str) -> Option<String>,
) -> Arc<HostServices> {
    let mut config = Config::default();
    config.sending.daily_cap = u32::MAX;
    edit(&mut config);
    Arc::new(HostServices {
        db,
        clock: Arc::new(ManualClock::new(
            parse_rfc3339("2026-11-26T10:00:00Z").unwrap(),
        )),
        ai: AiProvider::from_config(&config.ai, env),
        config: Arc::new(config),
    })
}

async fn install(
    runtime: &Runtime,
    services: &Arc<HostServices>,
    wasm: &[u8],
) -> anyhow::Result<()> {
    let manifest = runtime.read_manifest(wasm, services.clone()).await?;
    let contract = runtime.contract(wasm)?;
    services.db.write(|tx| {
        store::plugins::install(
            tx,
            &store::plugins::Component {
                manifest: &manifest,
                contract: &contract,
                wasm,
                sha256: &sha256_hex(wasm),
                publisher: None,
            },
            0,
        )?;
        manifest
            .permissions
            .iter()
            .try_for_each(|p| store::plugins::grant(tx, &manifest.name, *p, 0))
    })
}

/// Each of `handles` writes "How much is it?" on the sandbox account at `now`.
fn write_in(
    services: &HostServices,
    handles: impl Iterator<Item = String>,
    now: i64,
) -> anyhow::Result<()> {
    for handle in handles {
        let message = ingest::InboundMessage {
            account: 1,
            from: ingest::Sender::Handle(&handle),
            text: "How much is it?",
            at: now,
            source: "bench",
            dedupe_key: None,
            origin: None,
            comment: None,
        };
        ingest::inbound(&services.db, &services.config.consent, &message, now)?;
    }
    Ok(())
}

/// Starts `outreach serve` as `command` says (with `--listen 127.0.0.1:0`) and returns it
/// with the address it printed, `http://127.0.0.1:<port>`.
fn spawn_serve(
    mut command: std::process::Command,
) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead as _;
    let mut serve = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(serve.stdout.take().unwrap()).read_line(&mut line)?;
    let root = line
        .split_whitespace()
        .nth(2)
        .and_then(|url| url.split("/console").next())
        .ok_or_else(|| anyhow::anyhow!("serve said {line:?}"))?
        .to_owned();
    Ok((serve, root))
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One stored lead for hook calls that need one, as the plugin sees it.
fn bench_lead(services: &HostServices) -> anyhow::Result<(i64, Lead)> {
    let lead_id = services.db.write(|tx| {
        let record = LeadRecord {
            name: Some("Ben Ch".into()),
            ..LeadRecord::new(2, "bench")
        };
        Ok(store::leads::upsert(tx, &record, 1, 0)?.id())
    })?;
    let lead = services
        .db
        .read(|c| store::leads::get(c, lead_id))?
        .unwrap();
    Ok((lead_id, lead))
}

/// One run of the flow: what the engine did and how long it took (populating the database
/// is timed apart and not part of the rate).
struct FlowRun {
    stats: RunStats,
    populate: Duration,
    elapsed: Duration,
    /// The mean wall time of one hook call (instantiation included) of each of
    /// [`FLOW_PLUGINS`], in µs: where the sandbox's cost per event goes.
    hook_call_us: Vec<f64>,
}

impl FlowRun {
    fn events_per_sec(&self) -> f64 {
        self.stats.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// Imports `leads` leads (one transaction) and their inbound messages, then runs the engine
/// until idle, on a database file encrypted with `key` if there is one, with
/// `engine.concurrency` set to `concurrency` (`None`: the default).
async fn run_flow(
    runtime: &Arc<Runtime>,
    executor: Executor,
    db_file: &std::path::Path,
    leads: usize,
    key: Option<&DbKey>,
    concurrency: Option<u32>,
) -> anyhow::Result<FlowRun> {
    let populating = Instant::now();
    let services = services_with(
        Db::open(db_file, key)?,
        |config| config.engine.concurrency = concurrency,
        |_| None,
    );
    for name in FLOW_PLUGINS {
        install(runtime, &services, bundled::find(name).unwrap().wasm).await?;
    }
    let now = parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
    services.db.write(|tx| {
        for i in 0..leads {
            let record = LeadRecord {
                line: i as u64 + 2,
                handle: format!("lead_{i}"),
                name: Some(format!("Lead {i}")),
                email: Some(format!("lead{i}@example.com")),
                phone: None,
                tags: vec![],
                notes: None,
                custom: [
                    ("bio".to_string(), "fitness coach and founder".to_string()),
                    ("followers".to_string(), format!("{}", 500 + i * 37)),
                ]
                .into(),
            };
            if let store::leads::Upserted::Created(id) = store::leads::upsert(tx, &record, 1, now)?
            {
                ingest::lead_imported(tx, id, now)?;
            }
        }
        Ok(())
    })?;
    write_in(&services, (0..leads).map(|i| format!("lead_{i}")), now)?;
    let populate = populating.elapsed();
    let engine = Engine::new(services.clone(), executor)?;
    let start = Instant::now();
    let stats = engine.run_until_idle().await?;
    let elapsed = start.elapsed();
    let mut hook_call_us = Vec::new();
    for name in FLOW_PLUGINS {
        let usage = services.db.read(|c| store::usage::get(c, name))?;
        let usage = usage.with_context(|| format!("{name} recorded no hook calls"))?;
        hook_call_us.push(usage.total_wall_us as f64 / usage.calls.max(1) as f64);
    }
    assert_eq!(stats.events as usize, 2 * leads);
    assert_eq!(stats.sent as usize, leads, "every reply delivered");
    Ok(FlowRun {
        stats,
        populate,
        elapsed,
        hook_call_us,
    })
}

async fn bench_flow(runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let native: Arc<dyn NativeHooks> = Arc::new(native::NativeFlow);
    let (mut wasm, mut rust, mut one_at_a_time) = (Vec::new(), Vec::new(), Vec::new());
    // Alternate the runs so machine noise falls on all alike.
    for round in 0..FLOW_ROUNDS {
        let file = |kind: &str| dir.path().join(format!("flow-{round}-{kind}.db"));
        let wasm_executor = || Executor::Wasm(runtime.clone());
        let run = run_flow(runtime, wasm_executor(), &file("wasm"), LEADS, None, None).await?;
        wasm.push(run.events_per_sec());
        let native = Executor::Native(native.clone());
        let run = run_flow(runtime, native, &file("native"), LEADS, None, None).await?;
        rust.push(run.events_per_sec());
        let run = run_flow(runtime, wasm_executor(), &file("one"), LEADS, None, Some(1)).await?;
        one_at_a_time.push(run.events_per_sec());
    }
    let (wasm, rust, one) = (median(wasm), median(rust), median(one_at_a_time));
    println!(
        "(b) flow with wasm plugins: {wasm:.0} events/s ({LEADS} leads: filter + reply + delivery, SQLite file, default concurrency, median of {FLOW_ROUNDS})"
    );
    println!(
        "    the same at engine.concurrency = 1: {one:.0} events/s; default/1: {:.2} (goal: >= 0.95)",
        wasm / one
    );
    println!("(c) same flow, native hooks: {rust:.0} events/s");
    println!("    ratio (b)/(c): {:.2}", wasm / rust);
    Ok(())
}

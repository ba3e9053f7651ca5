//! (k) Workers sharing one PostgreSQL database. N leads write at once; the bundled ai-reply
//! plugin (the real component) answers each through an endpoint on 127.0.0.1 that takes
//! `OUTREACH_BENCH_AI_LATENCY_MS` (1,000 by default). 1, 2 and 4 engines, each with its
//! own connection pool and claims as a worker on its own machine has, each handling
//! `engine.concurrency` = 12 leads at once: timed from the start until every reply is sent.
//! Then the CPU-bound flow (the endpoint answering at once) on one worker, PostgreSQL beside
//! a SQLite file, as events per second. Needs a server: `OUTREACH_TEST_POSTGRES` (`./test.sh`
//! starts one; see its top).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use outreach::config::Config;
use outreach::engine::{Engine, Executor};
use outreach::runtime::host::HostServices;
use outreach::runtime::{Runtime, bundled};
use outreach::store::Db;
use outreach::store::testing::PostgresScratch;
use serde_json::{Value, json};

use super::{env_counts, install, services_with, thousands, write_in};

/// Leads each worker handles at once: four workers share this process's instance pool.
const PER_WORKER: u32 = 12;

async fn start_provider(latency: Duration) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |Json(_): Json<Value>| async move {
            tokio::time::sleep(latency).await;
            Json(json!({
                "id": "gen-bench", "object": "chat.completion", "created": 1_764_000_000,
                "model": "bench/slow-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Thanks, here is what it costs."}}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

fn services(db: Db, ai: &str, concurrency: Option<u32>) -> Arc<HostServices> {
    let ai = ai.to_owned();
    services_with(
        db,
        |config: &mut Config| {
            config.ai.base_url = ai;
            config.ai.timeout_seconds = 120;
            config.limits.timeout_ms = 120_000;
            config.engine.concurrency = concurrency;
            config.engine.poll_ms = 20;
        },
        |name| (name == "OPENROUTER_API_KEY").then(|| "sk-bench".to_string()),
    )
}

/// Answers `leads` writers with `workers` engines on `db` (opened once per worker by
/// `open`); returns the time until every reply was sent.
async fn answer_all(
    runtime: &Arc<Runtime>,
    open: impl Fn() -> anyhow::Result<Db>,
    workers: usize,
    leads: usize,
    ai: &str,
    concurrency: Option<u32>,
) -> anyhow::Result<Duration> {
    let first = services(open()?, ai, concurrency);
    install(runtime, &first, bundled::find("ai-reply").unwrap().wasm).await?;
    let now = first.clock.now();
    write_in(&first, (0..leads).map(|i| format!("writer_{i}")), now)?;
    let mut engines = vec![Engine::new(first.clone(), Executor::Wasm(runtime.clone()))?];
    for _ in 1..workers {
        let services = services(open()?, ai, concurrency);
        engines.push(Engine::new(services, Executor::Wasm(runtime.clone()))?);
    }
    let start = Instant::now();
    let mut sent = 0;
    // Until every reply is out: the worker that delivers may go idle before another
    // worker's last replies are committed.
    while sent < leads {
        let runs = engines.iter().map(|engine| engine.run_until_idle());
        for stats in futures_util::future::join_all(runs).await {
            sent += stats?.sent as usize;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "{sent} of {leads} replies after 10 minutes"
        );
    }
    Ok(start.elapsed())
}

pub async fn bench(runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let leads = env_counts("OUTREACH_BENCH_WORKER_LEADS", &[400])?[0];
    let latency_ms = env_counts("OUTREACH_BENCH_AI_LATENCY_MS", &[1_000])?[0] as u64;
    let slow = start_provider(Duration::from_millis(latency_ms)).await?;
    println!(
        "(k) workers on one PostgreSQL database: {} leads writing at once, ai-reply through an endpoint taking {latency_ms} ms, engine.concurrency = {PER_WORKER} per worker",
        thousands(leads)
    );
    let mut one = None;
    for workers in [1, 2, 4] {
        let scratch = PostgresScratch::empty(&format!("bench_workers_{workers}"));
        let open = || Db::open_postgres(&scratch.conninfo());
        let wall = answer_all(runtime, open, workers, leads, &slow, Some(PER_WORKER)).await?;
        let baseline = *one.get_or_insert(wall);
        println!(
            "    {workers} worker(s): all {} replies sent in {:.1} s, {:.2}x the throughput of one",
            thousands(leads),
            wall.as_secs_f64(),
            baseline.as_secs_f64() / wall.as_secs_f64()
        );
    }

    let leads = env_counts("OUTREACH_BENCH_CPU_LEADS", &[1_000])?[0];
    let instant = start_provider(Duration::ZERO).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cpu.db");
    let sqlite = answer_all(runtime, || Db::open(&path, None), 1, leads, &instant, None).await?;
    let scratch = PostgresScratch::empty("bench_workers_cpu");
    let open = || Db::open_postgres(&scratch.conninfo());
    let postgres = answer_all(runtime, open, 1, leads, &instant, None).await?;
    let rate = |wall: Duration| leads as f64 / wall.as_secs_f64();
    println!(
        "    CPU-bound ({} leads, the endpoint answering at once, one worker): SQLite {:.0} replies/s, PostgreSQL {:.0} replies/s: {:.2}x",
        thousands(leads),
        rate(sqlite),
        rate(postgres),
        rate(postgres) / rate(sqlite)
    );
    Ok(())
}

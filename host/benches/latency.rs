//! (j) What people wait for when the AI provider is slow. N leads write at once; the bundled
//! ai-reply plugin (the real component) answers each through an OpenAI-compatible endpoint
//! on 127.0.0.1 that takes `OUTREACH_BENCH_AI_LATENCY_MS` (1,000 by default) per request;
//! the sandbox channel delivers. Timed: from the start of `run_until_idle` until every reply
//! is sent, at the default `engine.concurrency` and at 1 (how the engine worked before),
//! with the most requests the endpoint saw in flight at once; and `outreach serve` answering
//! webhooks and console pages with 200 replies in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use outreach::config::Config;
use outreach::engine::{Engine, Executor};
use outreach::runtime::{Runtime, bundled};
use outreach::store::Db;
use serde_json::{Value, json};

use super::{env_counts, install, services_with, spawn_serve, thousands, write_in};

const DEFAULT_SIZES: &[usize] = &[100, 1_000];
/// Leads of the concurrency-1 run (at 1 s a reply, 100 leads are 100 s).
const ONE_AT_A_TIME_LEADS: usize = 100;

/// The endpoint's counters: requests in flight now and at most.
#[derive(Default)]
struct Provider {
    latency: Duration,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    requests: AtomicUsize,
}

async fn completion(State(provider): State<Arc<Provider>>, Json(_): Json<Value>) -> Json<Value> {
    let now = provider.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    provider.most.fetch_max(now, Ordering::SeqCst);
    provider.requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(provider.latency).await;
    provider.in_flight.fetch_sub(1, Ordering::SeqCst);
    Json(json!({
        "id": "gen-bench",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "bench/slow-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Thanks, here is what it costs."}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
    }))
}

/// A slow OpenAI-compatible endpoint on 127.0.0.1; returns its base URL and counters.
async fn start_provider(latency: Duration) -> anyhow::Result<(String, Arc<Provider>)> {
    let provider = Arc::new(Provider {
        latency,
        ..Provider::default()
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(completion))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, provider))
}

struct Waited {
    wall: Duration,
    sent: u32,
    most_in_flight: usize,
}

async fn answer_all(
    runtime: &Arc<Runtime>,
    leads: usize,
    concurrency: Option<u32>,
    latency: Duration,
) -> anyhow::Result<Waited> {
    let (base, provider) = start_provider(latency).await?;
    let dir = tempfile::tempdir()?;
    let services = services_with(
        Db::open(&dir.path().join("latency.db"), None)?,
        |config: &mut Config| {
            config.ai.base_url = base;
            config.ai.timeout_seconds = 120;
            config.limits.timeout_ms = 120_000;
            config.engine.concurrency = concurrency;
        },
        |name| (name == "OPENROUTER_API_KEY").then(|| "sk-bench".to_string()),
    );
    install(runtime, &services, bundled::find("ai-reply").unwrap().wasm).await?;
    let now = services.clock.now();
    write_in(&services, (0..leads).map(|i| format!("writer_{i}")), now)?;
    let engine = Engine::new(services.clone(), Executor::Wasm(runtime.clone()))?;
    let start = Instant::now();
    let stats = engine.run_until_idle().await?;
    let wall = start.elapsed();
    anyhow::ensure!(
        stats.sent as usize == leads && provider.requests.load(Ordering::SeqCst) == leads,
        "{leads} leads: {} replies sent after {} AI requests",
        stats.sent,
        provider.requests.load(Ordering::SeqCst)
    );
    Ok(Waited {
        wall,
        sent: stats.sent,
        most_in_flight: provider.most.load(Ordering::SeqCst),
    })
}

pub async fn bench(runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let sizes = env_counts("OUTREACH_BENCH_WRITERS", DEFAULT_SIZES)?;
    let latency_ms = env_counts("OUTREACH_BENCH_AI_LATENCY_MS", &[1_000])?[0] as u64;
    let latency = Duration::from_millis(latency_ms);
    let default = Config::default();
    println!(
        "(j) leads writing at once, each answered by ai-reply through an endpoint on 127.0.0.1 taking {latency_ms} ms a request (default engine.concurrency = {})",
        default.engine.concurrency(&default.limits)
    );
    for &leads in &sizes {
        let run = answer_all(runtime, leads, None, latency).await?;
        println!(
            "    {} leads: all {} replies sent in {:.1} s; at most {} requests in flight",
            thousands(leads),
            run.sent,
            run.wall.as_secs_f64(),
            run.most_in_flight
        );
    }
    let leads = ONE_AT_A_TIME_LEADS.min(sizes.iter().copied().min().unwrap_or(1));
    let one = answer_all(runtime, leads, Some(1), latency).await?;
    let default = answer_all(runtime, leads, None, latency).await?;
    println!(
        "    {leads} leads at engine.concurrency = 1: {:.1} s (at most {} in flight); at the default: {:.1} s, {:.0}x sooner",
        one.wall.as_secs_f64(),
        one.most_in_flight,
        default.wall.as_secs_f64(),
        one.wall.as_secs_f64() / default.wall.as_secs_f64()
    );
    serve_while_busy(200).await
}

/// `outreach serve` (the real binary) with `writers` replies in flight, as what the people
/// using it meet: how long a webhook delivery and a console page take, beside the same on
/// the same process with nothing in flight.
pub async fn serve_while_busy(writers: usize) -> anyhow::Result<()> {
    const PROBES: usize = 300;
    const SECRET: &str = "bench-bridge-secret";
    // Slow enough that every probe happens while all the replies are still out.
    let (ai_base, provider) = start_provider(Duration::from_secs(20)).await?;
    let sink = axum::Router::new().route(
        "/outbox",
        post(|| async { axum::http::StatusCode::ACCEPTED }),
    );
    let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}/outbox", sink_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(sink_listener, sink).await });

    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("outreach.toml"),
        format!(
            "[engine]\npoll_ms = 20\nconcurrency = {writers}\n\n\
             [limits]\ninstances = {}\ntimeout_ms = 60000\n\n\
             [ai]\nbase_url = \"{ai_base}\"\ntimeout_seconds = 120\nmax_concurrent = {writers}\n",
            writers + 16
        ),
    )?;
    let envs = [
        (
            "OUTREACH_SECRET_KEY",
            "a long bench key for sealing secrets",
        ),
        ("OUTREACH_BRIDGE_SECRET", SECRET),
        ("OPENROUTER_API_KEY", "sk-bench"),
    ];
    let command = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_outreach"));
        command
            .args(args)
            .current_dir(dir.path())
            .envs(envs)
            .env_remove("OUTREACH_DB")
            .env_remove("OUTREACH_CONFIG")
            .env_remove("OUTREACH_NOW");
        command
    };
    for args in [
        &[
            "account",
            "add",
            "wa",
            "--channel",
            "bridge",
            "--bridge-url",
            &sink_url,
        ][..],
        &["plugin", "install", "ai-reply", "--grant-requested"][..],
    ] {
        let out = command(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let token = "bench-console-session";
    let db = Db::open(&dir.path().join("outreach.db"), None)?;
    db.write(|tx| {
        let week = chrono::Utc::now().timestamp_millis() + 7 * 86_400_000;
        outreach::store::console::add_user(tx, "bench", "not a real hash", 0)?;
        outreach::store::console::start_session(
            tx,
            &outreach::domain::sha256_hex(token.as_bytes()),
            "bench",
            "csrf",
            week,
        )
    })?;
    drop(db);

    let (mut serve, root) = spawn_serve(command(&[]))?;
    let client = reqwest::Client::new();
    let deliver = |id: String, handle: String, text: &str| {
        let body = serde_json::to_vec(&json!({"id": id, "handle": handle, "text": text})).unwrap();
        let signature = outreach::channels::signing::sign(SECRET.as_bytes(), &body);
        client
            .post(format!("{root}/webhooks/bridge/wa"))
            .header("X-Outreach-Signature", signature)
            .body(body)
            .send()
    };
    // Timed, one after the other: a webhook delivery (a redelivery of one message, stored
    // once; an opt-out, so that it asks no AI) and the console's inbox page.
    deliver("probe".into(), "prober".into(), "stop").await?;
    let probe = || async {
        let (mut webhook, mut page) = (Vec::new(), Vec::new());
        for _ in 0..PROBES {
            let started = Instant::now();
            let answer = deliver("probe".into(), "prober".into(), "stop").await?;
            anyhow::ensure!(answer.status().is_success(), "webhook: {}", answer.status());
            webhook.push(started.elapsed());
            let started = Instant::now();
            let answer = client
                .get(format!("{root}/console"))
                .header("cookie", format!("outreach_session={token}"))
                .send()
                .await?;
            anyhow::ensure!(answer.status().is_success(), "inbox: {}", answer.status());
            answer.bytes().await?;
            page.push(started.elapsed());
        }
        anyhow::Ok((percentiles(webhook), percentiles(page)))
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = probe().await?;
    for i in 0..writers {
        deliver(format!("w{i}"), format!("writer_{i}"), "How much is it?").await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.in_flight.load(Ordering::SeqCst) < writers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight_before = provider.in_flight.load(Ordering::SeqCst);
    let busy = probe().await?;
    let in_flight_after = provider.in_flight.load(Ordering::SeqCst);
    serve.kill()?;
    serve.wait()?;
    println!(
        "    `outreach serve` with {in_flight_before}–{in_flight_after} replies in flight vs none, {PROBES} of each, p50 / p99:"
    );
    println!(
        "        webhook delivery {:.1} / {:.1} ms vs {:.1} / {:.1} ms; console inbox {:.1} / {:.1} ms vs {:.1} / {:.1} ms",
        busy.0.0, busy.0.1, idle.0.0, idle.0.1, busy.1.0, busy.1.1, idle.1.0, idle.1.1
    );
    Ok(())
}

/// Median and 99th percentile, in ms.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

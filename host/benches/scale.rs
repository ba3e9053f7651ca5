//! (d) The (b)/(c) flow at the size agencies run: events/s at each lead count for the wasm
//! plugins and their native twins, the per-event cost between the smallest and the largest
//! count (goal: within 1.5×) and the wasm/native ratio at the largest (goal: ≥ 0.9); and at
//! each size, (g) the rate of inbound messages on the history the run left beside the rate
//! on an empty database (goal: within 1.5×).

use std::sync::Arc;

use outreach::engine::{Executor, NativeHooks};
use outreach::runtime::Runtime;

use super::native::NativeFlow;
use super::{FLOW_PLUGINS, FlowRun, env_counts, run_flow, thousands, webhooks};

const DEFAULT_LEADS: &[usize] = &[10_000, 100_000];

pub async fn bench(runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let sizes = env_counts("OUTREACH_BENCH_LEADS", DEFAULT_LEADS)?;
    let dir = tempfile::tempdir()?;
    let native: Arc<dyn NativeHooks> = Arc::new(NativeFlow);
    println!(
        "(d) flow at size (wasm then native, one run each; OUTREACH_BENCH_LEADS={})",
        sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut results: Vec<(usize, FlowRun, FlowRun)> = Vec::new();
    for &leads in &sizes {
        let file = |kind: &str| dir.path().join(format!("scale-{leads}-{kind}.db"));
        let wasm = run_flow(
            runtime,
            Executor::Wasm(runtime.clone()),
            &file("wasm"),
            leads,
            None,
            None,
        )
        .await?;
        let rust = run_flow(
            runtime,
            Executor::Native(native.clone()),
            &file("native"),
            leads,
            None,
            None,
        )
        .await?;
        let one_at_a_time = run_flow(
            runtime,
            Executor::Wasm(runtime.clone()),
            &file("one"),
            leads,
            None,
            Some(1),
        )
        .await?;
        let line = |name: &str, run: &FlowRun| {
            println!(
                "        {name:<6} {:.0} events/s ({:.0} µs/event, {:.1} s; populating took {:.1} s, not timed)",
                run.events_per_sec(),
                1e6 / run.events_per_sec(),
                run.elapsed.as_secs_f64(),
                run.populate.as_secs_f64(),
            )
        };
        println!(
            "    {} leads ({} events):",
            thousands(leads),
            thousands(wasm.stats.events as usize),
        );
        line("wasm", &wasm);
        line("native", &rust);
        line("wasm, engine.concurrency = 1", &one_at_a_time);
        println!(
            "        wasm default/1 {:.2} (goal: >= 0.95)",
            wasm.events_per_sec() / one_at_a_time.events_per_sec()
        );
        println!(
            "        wasm/native {:.2}",
            wasm.events_per_sec() / rust.events_per_sec()
        );
        let calls = FLOW_PLUGINS
            .iter()
            .zip(wasm.hook_call_us.iter().zip(&rust.hook_call_us))
            .map(|(name, (wasm, rust))| {
                format!("{name} {wasm:.0} vs {rust:.0} µs (+{:.0})", wasm - rust)
            })
            .collect::<Vec<_>>();
        println!(
            "        one hook call, wasm vs native: {}",
            calls.join(", ")
        );
        let empty = webhooks::on_empty(&file("empty"))?;
        let history = webhooks::on_history(&file("wasm"), leads)?;
        println!(
            "        (g) inbound messages stored: {:.0}/s (p99 {:.2} ms) on this history, \
             {:.0}/s (p99 {:.2} ms) on an empty database: {:.2}x the empty rate (goal: >= 0.67)",
            history.per_sec,
            history.p99_ms,
            empty.per_sec,
            empty.p99_ms,
            history.per_sec / empty.per_sec,
        );
        // Each size's databases go once measured: 100k leads' history is a few hundred MB.
        for kind in ["wasm", "native", "empty", "one"] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file(kind).display()));
            }
        }
        results.push((leads, wasm, rust));
    }
    let (Some(small), Some(large)) = (
        results.iter().min_by_key(|r| r.0),
        results.iter().max_by_key(|r| r.0),
    ) else {
        return Ok(());
    };
    if large.0 > small.0 {
        // Cost per event = 1 / rate, so large/small cost is small rate / large rate.
        let cost = |s: &FlowRun, l: &FlowRun| s.events_per_sec() / l.events_per_sec();
        println!(
            "    per-event cost {} vs {} leads: wasm {:.2}x, native {:.2}x (goal: within 1.5x)",
            thousands(large.0),
            thousands(small.0),
            cost(&small.1, &large.1),
            cost(&small.2, &large.2),
        );
    }
    println!(
        "    wasm/native at {} leads: {:.2} (goal: >= 0.9)",
        thousands(large.0),
        large.1.events_per_sec() / large.2.events_per_sec()
    );
    Ok(())
}

//! (e) Concurrency headroom: the resident memory of many live instances of the bundled
//! `followup` plugin, each in its own store and kept alive after one `follow-up` call, on a
//! runtime whose pooling allocator is sized for them (`limits.instances`).

use std::sync::Arc;

use outreach::config::Config;
use outreach::runtime::hooks::{FollowUpDue, HookInput};
use outreach::runtime::host::{CallContext, HostState};
use outreach::runtime::{Limits, Runtime, bundled};
use outreach::store::Db;
use wasmtime::{Store, UpdateDeadline};

use super::{bench_lead, env_counts, install, proc_status_kib, services, thousands};

/// `VmRSS`, `VmSize`, … of this process in KiB.
fn status_kib(field: &str) -> u64 {
    proc_status_kib("/proc/self/status", field).unwrap_or(0)
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

pub async fn bench() -> anyhow::Result<()> {
    let count = env_counts("OUTREACH_BENCH_INSTANCES", &[1_000])?[0];
    let mut limits = Config::default().limits;
    // The pool must hold every live instance (and the goal is stated for 1,000).
    limits.instances = count.max(1_000) as u32;
    let (rss0, vm0) = (status_kib("VmRSS"), status_kib("VmSize"));
    let runtime = match Runtime::new(&limits, None) {
        Ok(runtime) => Arc::new(runtime),
        Err(e) => {
            println!(
                "(e) {} live instances: the runtime does not start with limits.instances = {} (max_memory_mb = {}): {e:#}",
                thousands(count),
                limits.instances,
                limits.max_memory_mb
            );
            return Ok(());
        }
    };
    let (rss1, vm1) = (status_kib("VmRSS"), status_kib("VmSize"));
    let services = services(Db::open_in_memory()?);
    let followup = bundled::find("followup").unwrap().wasm;
    install(&runtime, &services, followup).await?;
    let (lead_id, lead) = bench_lead(&services)?;
    let pre = runtime.prepare(followup)?;
    let call_limits = Limits::for_plugin(&services.config.limits, &[]);
    let event = FollowUpDue {
        event_id: 1,
        lead,
        step: 0,
        started_at: 0,
    };
    // A store as the runtime makes one for a hook call, kept instead of dropped.
    let instantiate = || async {
        let state = HostState::new(
            services.clone(),
            CallContext::new("followup", 1, Some(lead_id)),
            call_limits,
        );
        let mut store = Store::new(pre.engine(), state);
        store.set_fuel(call_limits.fuel)?;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        // The store keeps the instance the call made alive.
        let action = pre
            .call(&mut store, HookInput::FollowUp(event.clone()))
            .await?;
        anyhow::ensure!(action.is_ok(), "the follow-up hook failed: {action:?}");
        anyhow::Ok(store)
    };
    // One first, so that what is measured below is the instances, not first-use costs.
    drop(instantiate().await?);
    let before = status_kib("VmRSS");
    let mut live = Vec::with_capacity(count);
    for i in 0..count {
        match instantiate().await {
            Ok(instance) => live.push(instance),
            Err(e) => {
                println!(
                    "(e) live instances: instance {} of {} failed with limits.instances = {}: {e:#}",
                    i + 1,
                    thousands(count),
                    limits.instances
                );
                return Ok(());
            }
        }
    }
    let after = status_kib("VmRSS");
    let grown = after.saturating_sub(before);
    println!(
        "(e) {} live instances of followup (own store each, after one follow-up call; limits.instances = {})",
        thousands(count),
        limits.instances
    );
    println!(
        "    pool reservation: {:.0} GB of address space, RSS +{:.1} MB, when the runtime started",
        mb(vm1.saturating_sub(vm0)) / 1e3,
        mb(rss1.saturating_sub(rss0)),
    );
    println!(
        "    RSS +{:.1} MB for {} live instances: {:.1} KiB per instance (goal: <= 200 MB for 1,000)",
        mb(grown),
        thousands(count),
        grown as f64 / count as f64,
    );
    drop(live);
    Ok(())
}

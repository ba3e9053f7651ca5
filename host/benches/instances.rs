//! (a): a fresh instance plus one hook call, for a bundled plugin, the runtime's floor and
//! the same filter in Rust, Python and JavaScript.

use std::time::Instant;

use outreach::runtime::host::CallContext;
use outreach::runtime::{HookInput, Limits, Runtime, bundled, hooks};
use outreach::store::Db;

use super::{
    INSTANCE_CALLS, INSTANCE_ROUNDS, Lead, bench_lead, install, languages, median, services,
};

/// (a): median over rounds of the mean time of one fresh instance + one hook call.
pub(crate) async fn bench_instances(runtime: &Runtime) -> anyhow::Result<()> {
    let services = services(Db::open_in_memory()?);
    let followup = bundled::find("followup").unwrap().wasm;
    let echo = std::fs::read(format!(
        "{}/outreach_fixture_hostile.wasm",
        bundled::WASM_DIR
    ))?;
    install(runtime, &services, followup).await?;
    install(runtime, &services, &echo).await?;
    let (lead_id, lead) = bench_lead(&services)?;
    let limits = Limits::for_plugin(&services.config.limits, &[]);
    let big_lead = Lead {
        custom: [("followers".to_string(), "3.2k".to_string())].into(),
        ..lead.clone()
    };
    let mut cases: Vec<(String, Vec<u8>, HookInput)> = vec![
        (
            "followup (follow-up hook: 1 settings read, clock, template)".into(),
            followup.to_vec(),
            HookInput::FollowUp(hooks::FollowUpDue {
                event_id: 1,
                lead: lead.clone(),
                step: 0,
                started_at: 0,
            }),
        ),
        (
            "hostile fixture (reply hook: echo, no host calls; imports more of WASI: files, sockets)"
                .into(),
            echo.clone(),
            HookInput::Reply(hooks::Inbound {
                event_id: 1,
                lead: lead.clone(),
                text: "hi".into(),
                at: 0,
                origin: None,
            }),
        ),
        (
            "lead-scorer, Rust (filter hook: 2 settings reads)".into(),
            bundled::find("lead-scorer").unwrap().wasm.to_vec(),
            HookInput::Filter(big_lead.clone()),
        ),
    ];
    for (name, build) in [
        (
            "big-accounts-py, Python (filter hook: 1 settings read)",
            languages::python_example as fn() -> Result<Vec<u8>, String>,
        ),
        (
            "big-accounts-js, JavaScript (filter hook: 1 settings read)",
            languages::javascript_example,
        ),
    ] {
        match build() {
            Ok(wasm) => cases.push((name.into(), wasm, HookInput::Filter(big_lead.clone()))),
            Err(why) => println!("    ({name} is not measured: {why})"),
        }
    }
    println!(
        "(a) fresh instance + one hook call, median of {INSTANCE_ROUNDS} rounds x {INSTANCE_CALLS} calls"
    );
    let mut medians = Vec::new();
    for (name, wasm, input) in &cases {
        let pre = runtime.prepare(wasm)?;
        let mut rounds = Vec::new();
        for _ in 0..INSTANCE_ROUNDS {
            let start = Instant::now();
            for _ in 0..INSTANCE_CALLS {
                let call = CallContext::new("followup", 1, Some(lead_id));
                let input = match input {
                    HookInput::FollowUp(e) => HookInput::FollowUp(e.clone()),
                    HookInput::Reply(e) => HookInput::Reply(e.clone()),
                    HookInput::Filter(l) => HookInput::Filter(l.clone()),
                };
                let done = runtime
                    .invoke(&pre, services.clone(), call, limits, input)
                    .await?;
                assert!(done.result.is_ok(), "{name}: {:?}", done.result.err());
            }
            rounds.push(start.elapsed().as_secs_f64() * 1e6 / INSTANCE_CALLS as f64);
        }
        let median = median(rounds);
        println!("    {name}: {median:.1} µs");
        medians.push(median);
    }
    // Rust's filter is the third case; the other languages' filters follow it.
    if let Some((&rust, others)) = medians.get(2..).and_then(|m| m.split_first()) {
        for (case, other) in cases[3..].iter().zip(others) {
            let language = case.0.split(", ").nth(1).unwrap_or("").split(' ').next();
            println!(
                "    {} / Rust filter call: {:.1}x ({:.2} ms vs {:.3} ms; goal for Python: <= 2 ms)",
                language.unwrap_or("other"),
                other / rust,
                other / 1e3,
                rust / 1e3
            );
        }
    }
    Ok(())
}

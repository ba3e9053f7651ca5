//! (h) What encryption at rest costs: the (b) flow on a SQLCipher file beside a plain one,
//! alternated round by round, and a 100k-lead `outreach leads import` with and without
//! `OUTREACH_DB_KEY`. Both as ratios to the plain run in the same bench.

use std::process::Command;
use std::sync::Arc;

use outreach::engine::Executor;
use outreach::runtime::Runtime;
use outreach::store::cipher::DbKey;

use super::import::{measure, write_csv};
use super::{FLOW_ROUNDS, LEADS, median, run_flow, thousands};

const IMPORT_ROWS: usize = 100_000;
const IMPORT_ROUNDS: usize = 3;
const PASSPHRASE: &str = "bench passphrase, long enough";

pub async fn bench_flow(runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let key = DbKey::new("bench", PASSPHRASE.into())?;
    let dir = tempfile::tempdir()?;
    let (mut plain, mut encrypted) = (Vec::new(), Vec::new());
    for round in 0..FLOW_ROUNDS {
        let file = |kind: &str| dir.path().join(format!("flow-{round}-{kind}.db"));
        let executor = || Executor::Wasm(runtime.clone());
        let run = run_flow(runtime, executor(), &file("plain"), LEADS, None, None).await?;
        plain.push(run.events_per_sec());
        let run = run_flow(
            runtime,
            executor(),
            &file("sqlcipher"),
            LEADS,
            Some(&key),
            None,
        )
        .await?;
        encrypted.push(run.events_per_sec());
    }
    let (plain, encrypted) = (median(plain), median(encrypted));
    println!(
        "(h) encryption at rest: (b) flow {encrypted:.0} events/s encrypted, {plain:.0} plain; ratio {:.2} (median of {FLOW_ROUNDS})",
        encrypted / plain
    );
    Ok(())
}

pub fn bench_import() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("leads.csv");
    write_csv(&csv, IMPORT_ROWS)?;
    let (mut plain, mut encrypted) = (Vec::new(), Vec::new());
    for round in 0..IMPORT_ROUNDS {
        for key in [None, Some(PASSPHRASE)] {
            let db = dir
                .path()
                .join(format!("import-{round}-{}.db", key.is_some()));
            let mut import = Command::new(env!("CARGO_BIN_EXE_outreach"));
            import
                .arg("--db")
                .arg(&db)
                .args(["leads", "import"])
                .arg(&csv)
                .arg("--json")
                .current_dir(dir.path())
                .env_remove("OUTREACH_CONFIG")
                .env_remove("OUTREACH_NOW")
                .env_remove("OUTREACH_DB")
                .env_remove("OUTREACH_DB_KEY");
            if let Some(key) = key {
                import.env("OUTREACH_DB_KEY", key);
            }
            let run = measure(import, dir.path(), "import")?;
            anyhow::ensure!(
                run.status.success(),
                "outreach leads import failed: {}",
                run.stderr
            );
            let secs = run.elapsed.as_secs_f64();
            if key.is_some() {
                &mut encrypted
            } else {
                &mut plain
            }
            .push(secs);
        }
    }
    let (plain, encrypted) = (median(plain), median(encrypted));
    println!(
        "(h) encryption at rest: import of {} leads {encrypted:.2} s encrypted, {plain:.2} s plain; speed ratio {:.2} (median of {IMPORT_ROUNDS}, schema creation and key derivation included)",
        thousands(IMPORT_ROWS),
        plain / encrypted
    );
    Ok(())
}

//! (f) The 1M-lead import beside `sqlite3 .import` on the same generated file: both times,
//! the speed ratio (goal: ≥ 0.5× sqlite3's) and the import's peak RSS (goal: ≤ 100 MB).
//!
//! The import runs as the release `outreach` binary (`outreach leads import FILE --json`),
//! the interface users run, so that its peak RSS is its own; the peak is `VmHWM` of its
//! `/proc/<pid>/status`, read every few milliseconds while it runs.

use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{env_counts, proc_status_kib, thousands};

const DEFAULT_ROWS: usize = 1_000_000;

/// Writes `rows` valid leads with unique handles, every standard column and one custom one.
pub fn write_csv(path: &Path, rows: usize) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "handle,name,email,phone,tags,notes,company")?;
    for i in 0..rows {
        writeln!(
            out,
            "h{i:07},Lead {i},h{i:07}@x.io,+1555{i:07},a;b,n{i},c{i}"
        )?;
    }
    out.flush()?;
    Ok(())
}

pub struct Measured {
    pub status: ExitStatus,
    pub elapsed: Duration,
    /// Peak resident set of the process, in KiB (0 when it could not be read).
    peak_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, timing it and sampling its peak RSS; output goes to files in
/// `dir`, so a chatty process cannot block on a full pipe.
pub fn measure(mut command: Command, dir: &Path, name: &str) -> anyhow::Result<Measured> {
    let (out_path, err_path) = (
        dir.join(format!("{name}.stdout")),
        dir.join(format!("{name}.stderr")),
    );
    command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = proc_status_kib(&status_file, "VmHWM") {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        }
    });
    let status = child.wait()?;
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak_kib = sampler.join().unwrap_or(0);
    Ok(Measured {
        status,
        elapsed,
        peak_kib,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn count_rows(db: &Path) -> anyhow::Result<i64> {
    let conn = rusqlite::Connection::open(db)?;
    Ok(conn.query_row("SELECT count(*) FROM leads", [], |r| r.get(0))?)
}

pub fn bench() -> anyhow::Result<()> {
    let rows = env_counts("OUTREACH_BENCH_IMPORT_ROWS", &[DEFAULT_ROWS])?[0];
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("leads.csv");
    let generating = Instant::now();
    write_csv(&csv, rows)?;
    let generated = generating.elapsed();
    let size = std::fs::metadata(&csv)?.len();
    println!(
        "(f) import of {} leads from a {:.0} MB CSV (generated in {:.1} s, not timed): outreach beside sqlite3 .import, same file",
        thousands(rows),
        size as f64 / 1e6,
        generated.as_secs_f64()
    );

    let db = dir.path().join("outreach.db");
    let outreach = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_outreach"));
        command
            .arg("--db")
            .arg(&db)
            .current_dir(dir.path())
            .env_remove("OUTREACH_CONFIG")
            .env_remove("OUTREACH_NOW")
            .env_remove("OUTREACH_DB");
        command
    };
    // The schema first, untimed, as sqlite3's table is created before its import.
    let mut init = outreach();
    init.arg("init");
    let created = measure(init, dir.path(), "init")?;
    anyhow::ensure!(
        created.status.success(),
        "outreach init failed: {}",
        created.stderr
    );
    let mut import = outreach();
    import.args(["leads", "import"]).arg(&csv).arg("--json");
    let imported = measure(import, dir.path(), "import")?;
    anyhow::ensure!(
        imported.status.success(),
        "outreach leads import failed ({}): {}{}",
        imported.status,
        imported.stdout,
        imported.stderr
    );
    let stored = count_rows(&db)?;
    let secs = imported.elapsed.as_secs_f64();
    println!(
        "    outreach leads import: {secs:.2} s ({:.0} rows/s), peak RSS {:.0} MB, {} leads stored",
        rows as f64 / secs,
        mb(imported.peak_kib),
        thousands(stored as usize),
    );
    if stored as usize != rows {
        println!(
            "    (expected {} leads; the import said {})",
            thousands(rows),
            imported.stdout.trim()
        );
    }
    let peak = format!(
        "import peak RSS {:.0} MB (goal: <= 100 MB)",
        mb(imported.peak_kib)
    );

    let installed = Command::new("sqlite3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        println!(
            "    sqlite3 .import: baseline skipped, sqlite3 is not installed (install it with `apt-get install sqlite3`)"
        );
        println!("    {peak}");
        return Ok(());
    }
    let baseline = dir.path().join("sqlite3.db");
    let table = Command::new("sqlite3")
        .arg(&baseline)
        .arg("CREATE TABLE leads(handle TEXT PRIMARY KEY, name, email, phone, tags, notes, custom)")
        .status()?;
    anyhow::ensure!(table.success(), "sqlite3 could not create the table");
    let mut sqlite = Command::new("sqlite3");
    sqlite.arg(&baseline).arg(format!(
        ".import --csv --skip 1 \"{}\" leads",
        csv.display()
    ));
    let baseline_run = measure(sqlite, dir.path(), "sqlite3")?;
    anyhow::ensure!(
        baseline_run.status.success() && baseline_run.stderr.trim().is_empty(),
        "sqlite3 .import failed ({}): {}",
        baseline_run.status,
        baseline_run.stderr
    );
    let baseline_rows = count_rows(&baseline)?;
    let baseline_secs = baseline_run.elapsed.as_secs_f64();
    println!(
        "    sqlite3 .import (table keyed on handle): {baseline_secs:.2} s ({:.0} rows/s), peak RSS {:.0} MB, {} rows stored",
        rows as f64 / baseline_secs,
        mb(baseline_run.peak_kib),
        thousands(baseline_rows as usize),
    );
    println!(
        "    speed vs sqlite3 .import: {:.2}x (goal: >= 0.5x); {peak}",
        baseline_secs / secs
    );
    Ok(())
}

//! (i) The console at the size agencies run: 100,000 leads, 1,000,000 messages, 200,000
//! events, 100,000 sent messages and 1,000,000 audit rows in one SQLite file. Times each
//! page's server time through the real router (the median and the slowest of a few
//! requests), the time from opening the file to the first inbox page, and the inbox beside
//! the query it replaced (one sort of every lead) in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use outreach::clock::{Clock, DAY, ManualClock};
use outreach::config::Config;
use outreach::store::{self, Db};

use super::{median, spawn_serve, thousands};

const LEADS: i64 = 100_000;
const MESSAGES_PER_LEAD: i64 = 10;
const AUDIT_ROWS: i64 = 1_000_000;
const REQUESTS: usize = 15;
/// Leads waiting for a person: the inbox's top.
const NEEDS_HUMAN: i64 = 300;
const NOW: i64 = 1_800_000_000_000;
const TOKEN: &str = "bench-session-token";

fn fill(db: &Db) -> anyhow::Result<()> {
    db.write(|tx| {
        tx.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {LEADS})
             INSERT INTO leads (id, handle, name, email, status, score, created_at, updated_at,
                                last_inbound_at, last_outbound_at)
             SELECT i, 'lead_' || i, 'Lead ' || i, 'lead' || i || '@example.com',
                    CASE WHEN i % ({LEADS} / {NEEDS_HUMAN}) = 0 THEN 'needs-human'
                         WHEN i % 3 = 0 THEN 'replied' ELSE 'contacted' END,
                    i % 100, {start}, {start}, {start} + i * 1000, {start} + i * 1000 + 500
             FROM n;
             INSERT INTO lead_tags (lead_id, tag) SELECT id, 'hot' FROM leads WHERE id % 10 = 0;
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {LEADS} * {MESSAGES_PER_LEAD} - 1)
             INSERT INTO messages (lead_id, direction, text, at, source)
             SELECT i % {LEADS} + 1, CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                    'message number ' || i, {start} + i * 100, CASE WHEN i % 2 = 0 THEN 'sandbox' ELSE 'ai-reply' END
             FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {LEADS} * 2)
             INSERT INTO events (kind, lead_id, payload, created_at, status, next_attempt_at, finished_at)
             SELECT CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'follow-up' END, i % {LEADS} + 1,
                    '{{\"step\": 0}}', {start} + i, 'done', {start} + i, {start} + i
             FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {LEADS})
             INSERT INTO outbox (idempotency_key, lead_id, plugin, event_id, text, status, created_at,
                                 not_before, sent_at)
             SELECT 'k' || i, i, 'followup', i * 2 - 1, 'hello', 'sent', {recent} + i, {recent} + i, {recent} + i
             FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {AUDIT_ROWS})
             INSERT INTO audit (at, plugin, action, permission, lead_id, allowed, detail)
             SELECT {start} + i, CASE WHEN i % 2 = 0 THEN 'ai-reply' ELSE 'followup' END,
                    'messaging.history', 'messages:read', i % {LEADS} + 1, i % 50 <> 0, NULL
             FROM n;",
            start = NOW - 30 * DAY,
            recent = NOW - 3 * DAY,
        ))?;
        store::console::add_user(tx, "bench", "not a real hash", NOW)?;
        store::console::start_session(
            tx,
            &outreach::domain::sha256_hex(TOKEN.as_bytes()),
            "bench",
            "csrf",
            NOW + DAY,
        )?;
        Ok(())
    })?;
    db.write(|tx| Ok(tx.execute_batch("ANALYZE")?))
}

async fn get(router: &axum::Router, path: &str) -> anyhow::Result<Duration> {
    let request = Request::get(path)
        .header(header::COOKIE, format!("outreach_session={TOKEN}"))
        .body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let took = started.elapsed();
    anyhow::ensure!(
        status == StatusCode::OK && !body.is_empty(),
        "{path}: {status}"
    );
    Ok(took)
}

/// The real binary, started on `file`: the time until it has served the inbox to a
/// logged-in browser (process start, opening the file, the engine, the first page).
async fn first_page_of_serve(file: &std::path::Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_outreach"));
    command
        .args(["--db", file.to_str().unwrap()])
        .env("OUTREACH_NOW", "2027-01-15T08:00:00Z")
        .current_dir(file.parent().unwrap());
    let (mut serve, root) = spawn_serve(command)?;
    let page = reqwest::Client::new()
        .get(format!("{root}/console"))
        .header(header::COOKIE, format!("outreach_session={TOKEN}"))
        .send()
        .await?;
    let status = page.status();
    page.bytes().await?;
    let took = started.elapsed();
    serve.kill()?;
    serve.wait()?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "the inbox answered {status}"
    );
    Ok(took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn bench() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("console.db");
    let filling = Instant::now();
    fill(&Db::open(&file, None)?)?;
    println!(
        "(i) console on {} leads, {} messages, {} events, {} sent, {} audit rows (filled in {:.1} s)",
        thousands(LEADS as usize),
        thousands((LEADS * MESSAGES_PER_LEAD) as usize),
        thousands((LEADS * 2) as usize),
        thousands(LEADS as usize),
        thousands(AUDIT_ROWS as usize),
        filling.elapsed().as_secs_f64()
    );
    println!(
        "    `outreach serve` started on that file to its first inbox page served: {:.0} ms",
        ms(first_page_of_serve(&file).await?)
    );
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW));
    let started = Instant::now();
    let db = Db::open(&file, None)?;
    let router = outreach::console::router(
        db.clone(),
        Db::open(&file, None)?,
        clock,
        Config::default().sending,
        Arc::default(),
        None,
    );
    let first = get(&router, "/console").await?;
    println!(
        "    open the file and serve the first inbox page: {:.1} ms (the page itself {:.1} ms)",
        ms(started.elapsed()),
        ms(first)
    );
    let pages = [
        ("inbox", "/console"),
        ("inbox, a conversation open", "/console?open=lead_50000"),
        ("inbox, search (a handle)", "/console?q=lead_99999"),
        ("inbox, search (no message)", "/console?q=no+such+words"),
        ("waiting (notifications)", "/console/waiting"),
        ("leads list", "/console/leads"),
        ("leads, status filter", "/console/leads?status=needs-human"),
        ("leads, tag filter", "/console/leads?tag=hot"),
        ("leads, score at least 90", "/console/leads?min_score=90"),
        ("leads, next page", "/console/leads?before=50000"),
        ("leads, search (matches few)", "/console/leads?q=lead_99999"),
        ("lead page", "/console/leads/lead_50000"),
        ("audit", "/console/audit"),
        ("audit, denied only", "/console/audit?denied=1"),
        ("audit, one lead", "/console/audit?lead=lead_777"),
        ("audit, one plugin", "/console/audit?plugin=followup"),
        (
            "audit, one action (no index)",
            "/console/audit?action=leads.resume",
        ),
        ("plugins", "/console/plugins"),
        ("accounts", "/console/accounts"),
        ("analytics", "/console/analytics"),
    ];
    for (name, path) in pages {
        let mut times = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            times.push(ms(get(&router, path).await?));
        }
        let slowest = times.iter().cloned().fold(0.0, f64::max);
        println!(
            "    {name:<28} median {:>7.2} ms, slowest {:>7.2} ms",
            median(times),
            slowest
        );
    }
    // The inbox query this replaced: every lead sorted, then the first 200.
    let mut old = Vec::new();
    let mut new = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT l.handle, l.name, l.status, max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0)),
                        (SELECT text FROM messages m WHERE m.lead_id = l.id ORDER BY m.at DESC, m.id DESC LIMIT 1)
                 FROM leads l
                 WHERE l.last_inbound_at IS NOT NULL OR l.last_outbound_at IS NOT NULL
                 ORDER BY l.status = 'needs-human' DESC, 4 DESC
                 LIMIT 200",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?.count();
            anyhow::ensure!(rows == 200);
            Ok(())
        })?;
        old.push(ms(started.elapsed()));
        let started = Instant::now();
        let rows = db.read(|c| {
            store::console::inbox(
                c,
                &store::console::InboxQuery {
                    reader: "sam",
                    unread_after: 0,
                    limit: 200,
                    within_accounts: None,
                    assigned: store::console::Assigned::Anyone,
                    search: None,
                },
            )
        })?;
        anyhow::ensure!(rows.len() == 200);
        new.push(ms(started.elapsed()));
    }
    let (old, new) = (median(old), median(new));
    println!(
        "    inbox query: {new:.2} ms with two index walks vs {old:.2} ms sorting every lead ({:.0}x)",
        old / new
    );
    Ok(())
}

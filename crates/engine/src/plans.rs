//! The engine's cost per event must not grow with the database. This test runs every kind
//! of event (import, inbound reply, follow-up, delivery, a webhook-style account lookup,
//! `leads.query`, forgetting a lead) on a database with history in it, records every SQL
//! statement the host ran, and asks SQLite how it plans each: none may scan a whole table
//! that grows with use, nor sort a growing range to return its first few rows. A query
//! added later without its index fails here. The same statements must run on PostgreSQL
//! (`every_traced_statement_runs_on_postgres`).

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::{Engine, Executor, NativeHooks};
use crate::ai::AiProvider;
use crate::clock::{Clock as _, HOUR, ManualClock, Millis};
use crate::config::Config;
use crate::consent::Permission;
use crate::domain::lead::LeadRecord;
use crate::domain::lead::LeadStatus;
use crate::ingest;
use crate::runtime::bindings::outreach::plugin::{leads, messaging};
use crate::runtime::hooks;
use crate::runtime::host::{HostServices, HostState};
use crate::runtime::manifest::{Hook, Manifest};
use crate::runtime::{HookFailure, HookInput, HookOutput};
use crate::store::{self, Db};

/// Tables that grow with leads, messages and time.
const GROWING: &[&str] = &[
    "leads",
    "lead_notes",
    "lead_reads",
    "lead_tags",
    "lead_fields",
    "messages",
    "events",
    "event_results",
    "outbox",
    "schedules",
    "audit",
    "plugin_kv",
];

const START: Millis = 1_790_000_000_000;
const HISTORY_LEADS: usize = 1_000;

/// Replies after reading the conversation and querying leads; follows up once; keeps
/// every lead with a tag.
struct Flow;

impl NativeHooks for Flow {
    fn call<'a>(
        &'a self,
        _plugin: &'a str,
        host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>> {
        Box::pin(async move {
            let failed = |e| HookFailure::Plugin(format!("{e:?}"));
            Ok(match input {
                HookInput::Filter(_) => HookOutput::Filter(hooks::FilterDecision {
                    keep: true,
                    reason: None,
                    tags: vec!["new".into()],
                    score: Some(50),
                }),
                HookInput::Reply(event) => {
                    messaging::Host::history(host, event.lead.id as u64, 10)
                        .await
                        .map_err(failed)?;
                    for (status, tag) in [
                        (Some(LeadStatus::Replied.into()), None),
                        (None, Some("vip".to_string())),
                        (None, None),
                    ] {
                        let query = leads::LeadQuery {
                            status,
                            tag,
                            last_contact_before: None,
                            limit: 20,
                        };
                        leads::Host::query(host, query).await.map_err(failed)?;
                    }
                    HookOutput::Reply(hooks::ReplyAction::Send("Thanks!".into()))
                }
                HookInput::FollowUp(_) => {
                    HookOutput::FollowUp(hooks::FollowUpAction::Send(hooks::FollowUpSend {
                        message: "Hi there".into(),
                        next_at: None,
                    }))
                }
            })
        })
    }
}

fn record(handle: &str) -> LeadRecord {
    LeadRecord {
        name: Some("Someone".into()),
        tags: vec!["vip".into()],
        ..LeadRecord::new(2, handle)
    }
}

fn inbound(db: &Db, config: &Config, handle: &str, at: Millis) {
    let message = ingest::InboundMessage {
        account: 1,
        from: ingest::Sender::Handle(handle),
        text: "How much is it?",
        at,
        source: "test",
        dedupe_key: None,
        origin: None,
        comment: None,
    };
    ingest::inbound(db, &config.consent, &message, at).unwrap();
}

#[tokio::test]
async fn no_hot_query_scans_a_growing_table() {
    let (_dir, db, statements) = hot_path_statements().await;
    let scans = unbounded_reads(&db, &statements);
    assert!(
        scans.is_empty(),
        "full scans on the hot path:\n{}",
        scans.join("\n")
    );
}

/// Every statement one more of each kind of event runs, on a database with history (kept
/// in the returned directory).
async fn hot_path_statements() -> (tempfile::TempDir, Db, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("plans.db"), None).unwrap();
    let mut config = Config::default();
    config.sending.daily_cap = 1_000_000;
    let clock = Arc::new(ManualClock::new(START));
    let services = Arc::new(HostServices {
        db: db.clone(),
        clock: clock.clone(),
        ai: AiProvider::from_config(&config.ai, |_| None),
        config: Arc::new(config.clone()),
    });
    let manifest = Manifest {
        name: "flow".into(),
        version: "1".into(),
        description: String::new(),
        hooks: vec![Hook::Filter, Hook::Reply, Hook::FollowUp],
        permissions: Permission::ALL.to_vec(),
    };
    db.write(|tx| {
        store::plugins::install(tx, &super::tests::native_component(&manifest), START)?;
        Permission::ALL
            .iter()
            .try_for_each(|p| store::plugins::grant(tx, "flow", *p, START))
    })
    .unwrap();
    let engine = Engine::new(services, Executor::Native(Arc::new(Flow))).unwrap();

    // History: leads imported, filtered, followed up, written to and answered.
    db.write(|tx| {
        for i in 0..HISTORY_LEADS {
            let id = store::leads::upsert(tx, &record(&format!("old{i}")), 1, START)?.id();
            ingest::lead_imported(tx, id, START)?;
        }
        Ok(())
    })
    .unwrap();
    for i in 0..HISTORY_LEADS / 4 {
        inbound(&db, &config, &format!("old{i}"), START);
    }
    engine.run_until_idle().await.unwrap();
    clock.set(START + 48 * HOUR);
    engine.run_until_idle().await.unwrap();
    db.write(|tx| Ok(tx.execute_batch("ANALYZE")?)).unwrap();

    // Now record what one more of everything costs.
    let statements = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = statements.clone();
    db.trace_statements(move |sql| {
        seen.lock().unwrap().insert(sql.to_owned());
    });
    db.write(|tx| {
        let id = store::leads::upsert(tx, &record("fresh"), 1, clock.now())?.id();
        ingest::lead_imported(tx, id, clock.now())
    })
    .unwrap();
    inbound(&db, &config, "old7", clock.now());
    engine.run_until_idle().await.unwrap();
    clock.set(clock.now() + 48 * HOUR);
    engine.run_until_idle().await.unwrap();
    db.read(|c| store::accounts::by_instagram_id(c, "1784"))
        .unwrap();
    db.write(|tx| {
        let lead = store::leads::by_handle(tx, "old9")?.unwrap();
        store::leads::forget(tx, &lead, clock.now())
    })
    .unwrap();
    db.stop_tracing();

    let statements = statements.lock().unwrap().clone();
    assert!(statements.len() > 20, "traced {statements:#?}");
    (dir, db, statements)
}

/// The console's lists (inbox, leads with each filter, a lead's page, the audit with each
/// filter) read through indexes too, on a database with history: their cost follows the
/// page, not the tables. Two reads are scans on purpose and left out: the free-text search
/// (`LIKE '%…%'` can use no index) and the analytics' counts over everything.
#[test]
fn the_consoles_lists_read_only_what_they_show() {
    let (_dir, db, statements) = console_statements();
    let scans = unbounded_reads(&db, &statements);
    assert!(
        scans.is_empty(),
        "the console reads whole tables:\n{}",
        scans.join("\n")
    );
}

/// Every statement the console's lists run, on a database with history (kept in the
/// returned directory).
fn console_statements() -> (tempfile::TempDir, Db, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("console.db"), None).unwrap();
    db.write(|tx| {
        for i in 0..HISTORY_LEADS {
            let id = store::leads::upsert(tx, &record(&format!("old{i}")), 1, START)?.id();
            let at = START + i as Millis;
            store::messages::insert(
                tx,
                id,
                store::messages::Direction::Inbound,
                "hi",
                at,
                "sandbox",
            )?;
            store::leads::record_contact(tx, id, true, at)?;
            if i % 50 == 0 {
                store::leads::set_status(tx, id, LeadStatus::NeedsHuman, at)?;
            }
            store::audit::record_action(
                tx,
                "operator:cli",
                "leads.resume",
                Some(id),
                true,
                "",
                at,
            )?;
            ingest::lead_imported(tx, id, at)?;
        }
        Ok(tx.execute_batch("ANALYZE")?)
    })
    .unwrap();
    let statements = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = statements.clone();
    db.trace_statements(move |sql| {
        seen.lock().unwrap().insert(sql.to_owned());
    });
    db.read(|c| {
        use store::console::Assigned;
        let everyone = store::console::InboxQuery {
            reader: "ana",
            unread_after: 0,
            limit: 200,
            within_accounts: None,
            assigned: Assigned::Anyone,
            search: None,
        };
        // Everyone's; an agent's, narrowed to their accounts; theirs; nobody's; a search.
        for query in [
            everyone,
            store::console::InboxQuery {
                within_accounts: Some(&[1, 2]),
                ..everyone
            },
            store::console::InboxQuery {
                within_accounts: Some(&[1, 2]),
                assigned: Assigned::To("ana"),
                ..everyone
            },
            store::console::InboxQuery {
                assigned: Assigned::Nobody,
                ..everyone
            },
            store::console::InboxQuery {
                search: Some("refund"),
                ..everyone
            },
        ] {
            store::console::inbox(c, &query)?;
        }
        store::saved_replies::all(c)?;
        store::console::waiting(c, 50, None)?;
        store::console::waiting(c, 50, Some(&[1, 2]))?;
        let lead = store::leads::by_handle(c, "old7")?.unwrap();
        store::console::last_read(c, "ana", lead.id)?;
        store::messages::recent(c, lead.id, 500)?;
        store::lead_notes::for_lead(c, lead.id)?;
        store::lead_notes::count(c, lead.id)?;
        store::console::assignee(c, lead.id)?;
        store::outbox::for_lead(c, lead.id)?;
        let by_lead = store::events::EventFilter {
            lead_id: Some(lead.id),
            limit: 500,
            ..Default::default()
        };
        store::events::list(c, &by_lead)?;
        for search in [
            store::leads::LeadSearch::default(),
            store::leads::LeadSearch {
                status: Some(LeadStatus::NeedsHuman),
                ..Default::default()
            },
            store::leads::LeadSearch {
                within_accounts: Some(vec![1, 2]),
                ..Default::default()
            },
            store::leads::LeadSearch {
                tag: Some("vip".into()),
                account_id: Some(1),
                before_id: Some(500),
                ..Default::default()
            },
        ] {
            store::leads::search(
                c,
                &store::leads::LeadSearch {
                    limit: 100,
                    ..search
                },
            )?;
        }
        for filter in [
            store::audit::AuditFilter::default(),
            store::audit::AuditFilter {
                lead_id: Some(lead.id),
                ..Default::default()
            },
            store::audit::AuditFilter {
                plugin: Some("operator:cli".into()),
                ..Default::default()
            },
        ] {
            store::audit::list(
                c,
                &store::audit::AuditFilter {
                    limit: 500,
                    ..filter
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
    db.write(|tx| {
        let lead = store::leads::by_handle(tx, "old7")?.unwrap();
        store::console::add_user(tx, "ana", "", START)?;
        store::console::mark_read(tx, "ana", lead.id, 1)
    })
    .unwrap();
    db.stop_tracing();
    let statements = statements.lock().unwrap().clone();
    assert!(statements.len() > 8, "traced {statements:#?}");
    (dir, db, statements)
}

/// What the hot path and the console run that PostgreSQL refuses, on purpose: SQLite's own
/// spelling where the two have no common one. Each names a piece of the statement and why.
const SQLITE_ONLY: &[(&str, &str)] = &[
    (
        "json_group_array(tag)",
        "a lead is read with its tags and fields in one statement; PostgreSQL gets its own \
         `json_agg` and `json_object_agg` from `Conn::json_array_of` and `Conn::json_object_of`",
    ),
    (
        "json_extract(a.settings, '$.disclosure')",
        "an automated message asks for the account's disclosure in one query; PostgreSQL gets \
         its own, `(a.settings::jsonb ->> 'disclosure')`, from `Conn::json_text`",
    ),
    (
        "json_extract(settings, '$.ig_user_id')",
        "the account lookup of a webhook must match its expression index; PostgreSQL gets its \
         own, `(settings::jsonb ->> 'ig_user_id')`, from `Conn::json_text`",
    ),
    (
        "max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0))",
        "the inbox orders by the expression of its index; PostgreSQL gets its own, \
         `greatest(...)`, from `Conn::greatest`",
    ),
    (
        "ORDER BY rowid",
        "a hook's results in the order the plugins ran: PostgreSQL has no rowid and orders by \
         its `seq` column (`Conn::insertion_order`)",
    ),
];

/// The statements of the hot path and of the console are written once for both databases:
/// each is prepared on a real PostgreSQL server with the PostgreSQL schema, and one that
/// does not prepare fails this test unless `SQLITE_ONLY` names it; an entry of `SQLITE_ONLY`
/// that no refused statement matches fails it too, so the list only shrinks.
#[tokio::test]
async fn every_traced_statement_runs_on_postgres() {
    let mut statements = hot_path_statements().await.2;
    statements.extend(console_statements().2);
    let postgres = store::testing::PostgresScratch::create("statements");
    let mut refused = Vec::new();
    for (i, sql) in statements.iter().enumerate() {
        if let Err(error) =
            postgres.try_run(&format!("PREPARE s{i} AS {}", numbered_parameters(sql)))
        {
            refused.push((sql, error));
        }
    }
    let unexplained: Vec<String> = refused
        .iter()
        .filter(|(sql, _)| !SQLITE_ONLY.iter().any(|(piece, _)| sql.contains(piece)))
        .map(|(sql, error)| format!("{sql}\n  {error}"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} of {} statements do not run on PostgreSQL; write them in a form both run \
         (ARCHITECTURE.md, \"A migration\"):\n\n{}",
        unexplained.len(),
        statements.len(),
        unexplained.join("\n\n")
    );
    for (piece, why) in SQLITE_ONLY {
        assert!(
            refused.iter().any(|(sql, _)| sql.contains(piece)),
            "`{piece}` runs on PostgreSQL now (or is no longer run): take it off SQLITE_ONLY ({why})"
        );
    }
}

/// SQLite's `?1` and `?` placeholders as PostgreSQL's `$1`.
fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut next = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if digits.is_empty() {
            next += 1;
            digits = next.to_string();
        }
        out.push('$');
        out.push_str(&digits);
    }
    out
}

/// `sql` without what its parentheses hold: the outer statement's own clauses, not those
/// of its subqueries.
fn outside_parentheses(sql: &str) -> String {
    let mut depth = 0usize;
    sql.chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

/// The statements among `statements` that scan a growing table, or sort what one yields
/// before a LIMIT.
fn unbounded_reads(db: &Db, statements: &BTreeSet<String>) -> Vec<String> {
    let mut scans = Vec::new();
    for sql in statements {
        let plan = db
            .read(|c| query_plan(c.as_sqlite().unwrap(), sql))
            .unwrap();
        let growing = |name: &str| is_growing(name, sql);
        for (parent, step) in &plan {
            let table_scan = step
                .strip_prefix("SCAN ")
                .and_then(|rest| rest.split(' ').next())
                .is_some_and(growing);
            // A scan of a partial index holds only the rows it is for; one with no
            // condition stops at its LIMIT.
            // A scan of the outer query is judged by its own WHERE (a subquery's, as for a
            // lead's tags beside it, bounds only the subquery); a subquery's by the whole.
            let judged = match parent {
                0 => outside_parentheses(sql),
                _ => sql.clone(),
            };
            let bounded =
                step.contains("USING") || (!judged.contains("WHERE") && sql.contains("LIMIT"));
            if table_scan && !bounded {
                scans.push(format!("{step}\n    in: {}", sql.trim()));
            }
            // Sorting what a growing table yields, before a LIMIT, reads every row in
            // range however few it returns (sorting a limited subquery's rows is fine).
            let sorts_growing = step.starts_with("USE TEMP B-TREE FOR ORDER BY")
                && plan.iter().any(|(sibling, other)| {
                    sibling == parent
                        && other
                            .strip_prefix("SEARCH ")
                            .or_else(|| other.strip_prefix("SCAN "))
                            .and_then(|rest| rest.split(' ').next())
                            .is_some_and(growing)
                });
            if sorts_growing && sql.contains("LIMIT") {
                scans.push(format!(
                    "{step} (a sort before LIMIT)\n    in: {}",
                    sql.trim()
                ));
            }
        }
    }
    scans
}

/// Whether `name`, as a plan step names it, is a growing table: by its name, or by an
/// alias `sql` gives it (`FROM audit a`, `JOIN leads AS l`), which is all the plan shows.
fn is_growing(name: &str, sql: &str) -> bool {
    if GROWING.contains(&name) {
        return true;
    }
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().any(|(i, word)| {
        *word == name
            && match i {
                0 => false,
                _ if words[i - 1].eq_ignore_ascii_case("AS") => {
                    i >= 2 && GROWING.contains(&words[i - 2])
                }
                _ => GROWING.contains(&words[i - 1]),
            }
    })
}

/// SQLite's plan for `sql`, one step per line: the step it is part of, and what it does.
fn query_plan(conn: &rusqlite::Connection, sql: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
    let steps = stmt.query_map(rusqlite::params_from_iter(unbound), |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, String>(3)?))
    })?;
    Ok(steps.collect::<Result<_, _>>()?)
}

//! Row-level security on PostgreSQL, tried as a careless query would: a console agent's
//! transactions (`Db::for_user`) read and change only the leads of their accounts, with
//! no filter in the query at all, on every table that holds a lead's data.
//!
//! Run against a real server: `./test.sh` starts one (`outreach_store::testing`).

use std::collections::BTreeSet;

use outreach_domain::console_access::{Access, Role};
use outreach_store::Db;
use outreach_store::testing::PostgresScratch;

/// The tables that hold a lead's data.
const LEAD_TABLES: [&str; 10] = [
    "leads",
    "lead_tags",
    "lead_fields",
    "messages",
    "events",
    "event_results",
    "outbox",
    "schedules",
    "audit",
    "lead_claims",
];

/// Account 1 (`main`) and account 2 (`other`), a lead on each with a row in every table.
fn two_teams(label: &str) -> (PostgresScratch, Db) {
    let scratch = PostgresScratch::empty(label);
    let db = Db::open_postgres(&scratch.conninfo()).expect("open the scratch database");
    db.write(|c| {
        c.execute_batch(
            "INSERT INTO accounts (id, name, channel, created_at) VALUES (2, 'other', 'sandbox', 0);
             INSERT INTO leads (id, handle, account_id, created_at, updated_at)
               VALUES (1, 'mine', 1, 0, 0), (2, 'theirs', 2, 0, 0);",
        )?;
        for lead in [1, 2] {
            c.execute_batch(&format!(
                "INSERT INTO lead_tags (lead_id, tag) VALUES ({lead}, 'vip');
                 INSERT INTO lead_fields (lead_id, key, value) VALUES ({lead}, 'city', 'Lyon');
                 INSERT INTO messages (lead_id, direction, text, at, source)
                   VALUES ({lead}, 'inbound', 'secret of lead {lead}', 0, 'sandbox');
                 INSERT INTO events (id, kind, lead_id, payload, created_at, next_attempt_at)
                   VALUES ({lead}, 'inbound', {lead}, '{{}}', 0, 0);
                 INSERT INTO event_results (event_id, plugin, status, attempts, updated_at)
                   VALUES ({lead}, 'p', 'done', 1, 0);
                 INSERT INTO outbox (idempotency_key, lead_id, plugin, text, created_at, not_before, account_id)
                   VALUES ('k{lead}', {lead}, 'p', 'hello', 0, 0, {lead});
                 INSERT INTO schedules (plugin, lead_id, started_at, due_at) VALUES ('p', {lead}, 0, 0);
                 INSERT INTO audit (at, plugin, action, lead_id, allowed) VALUES (0, 'p', 'touched', {lead}, 1);
                 INSERT INTO lead_claims (lead_id, worker, until) VALUES ({lead}, 'w', 0);"
            ))?;
        }
        Ok(())
    })
    .expect("two teams' data");
    (scratch, db)
}

fn agent(accounts: &[i64]) -> Access {
    Access {
        role: Role::Agent,
        accounts: BTreeSet::from_iter(accounts.iter().copied()),
    }
}

/// Every row of each lead table `db` can read, by table.
fn visible(db: &Db) -> Vec<(&'static str, i64)> {
    db.read(|c| {
        LEAD_TABLES
            .iter()
            .map(|table| {
                let rows: i64 =
                    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                Ok((*table, rows))
            })
            .collect()
    })
    .expect("count the rows")
}

fn each(rows: i64) -> Vec<(&'static str, i64)> {
    LEAD_TABLES.iter().map(|table| (*table, rows)).collect()
}

#[test]
fn an_unfiltered_query_of_an_agent_reads_only_their_accounts_leads() {
    let (_scratch, db) = two_teams("rls_read");
    // The owner and the engine see both teams.
    assert_eq!(visible(&db), each(2));
    assert_eq!(visible(&db.for_user("ana", &Access::owner())), each(2));
    // An agent of account 1 sees one row per table: lead 1's.
    let scoped = db.for_user("ana", &agent(&[1]));
    assert_eq!(visible(&scoped), each(1));
    let texts: Vec<String> = scoped
        .read(|c| {
            let mut stmt = c.prepare("SELECT text FROM messages")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(texts, ["secret of lead 1"]);
    // Not even by naming the other lead outright.
    let theirs: Option<String> = scoped
        .read(|c| {
            use outreach_store::sql::OptionalExtension as _;
            Ok(
                c.query_row("SELECT handle FROM leads WHERE id = 2", [], |r| r.get(0))
                    .optional()?,
            )
        })
        .unwrap();
    assert_eq!(theirs, None);
    // An agent given no account sees nothing; one given both, both.
    assert_eq!(visible(&db.for_user("ana", &agent(&[]))), each(0));
    assert_eq!(visible(&db.for_user("ana", &agent(&[1, 2]))), each(2));
    // The scope ends with the transaction: the pooled connection serves the engine next.
    assert_eq!(visible(&db), each(2));
}

#[test]
fn an_agent_cannot_change_or_add_to_another_accounts_leads() {
    let (_scratch, db) = two_teams("rls_write");
    let scoped = db.for_user("ana", &agent(&[1]));
    // An update and a delete with no filter touch only the agent's own rows.
    let changed = scoped
        .write(|c| Ok(c.execute("UPDATE leads SET status = 'converted'", [])?))
        .unwrap();
    assert_eq!(changed, 1);
    // The record of what was done is theirs to add to, never to rewrite.
    for rewrite in [
        "DELETE FROM audit",
        "UPDATE messages SET text = 'x'",
        "DELETE FROM lead_tags",
    ] {
        let refused = scoped.write(|c| Ok(c.execute(rewrite, [])?)).unwrap_err();
        assert!(
            format!("{refused:#}").contains("permission denied"),
            "{rewrite}: {refused:#}"
        );
    }
    let (status, tags): (String, i64) = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT status, (SELECT count(*) FROM lead_tags WHERE lead_id = 2) FROM leads WHERE id = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!((status.as_str(), tags), ("new", 1));
    // A message written into the other team's conversation is refused, naming the policy.
    let refused = scoped
        .write(|c| {
            Ok(c.execute(
                "INSERT INTO messages (lead_id, direction, text, at, source) VALUES (2, 'outbound', 'hi', 0, 'x')",
                [],
            )?)
        })
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("row-level security"),
        "{refused:#}"
    );
    // Moving one's own lead into the other account is refused too.
    let moved =
        scoped.write(|c| Ok(c.execute("UPDATE leads SET account_id = 2 WHERE id = 1", [])?));
    assert!(moved.is_err(), "{moved:?}");
}

#[test]
fn the_agent_role_reaches_no_table_of_lead_data_without_row_level_security() {
    let (_scratch, db) = two_teams("rls_catalog");
    // Every table the agent role may touch at all, and whether its rows are narrowed.
    let reachable: Vec<(String, bool)> = db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'
                   AND has_table_privilege('outreach_agent', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                 ORDER BY c.relname",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    // Not lead data: account names and rules (credentials sealed with the host's key), the
    // suppression list's hashes and the team's saved replies (templates, read-only).
    let open_to_all = ["accounts", "suppressed_handles", "saved_replies"];
    for (table, narrowed) in &reachable {
        assert!(
            *narrowed || open_to_all.contains(&table.as_str()),
            "the agent role reaches {table} without row-level security"
        );
    }
    for table in LEAD_TABLES {
        assert!(
            reachable.iter().any(|(t, _)| t == table),
            "{table}: the agent's pages need it"
        );
    }
    // Nor any sequence (identity columns need none to insert).
    let sequences: i64 = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema()
                   AND CASE WHEN c.relkind = 'S'
                            THEN has_sequence_privilege('outreach_agent', c.oid, 'USAGE, SELECT, UPDATE')
                            ELSE false END",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(sequences, 0);
    // Plugin storage (which keeps data under lead/<id>/), webhooks kept aside, sessions:
    // refused outright.
    let scoped = db.for_user("ana", &agent(&[1]));
    for table in [
        "plugin_kv",
        "unrouted_webhooks",
        "console_sessions",
        "plugins",
        "grants",
    ] {
        let refused = scoped
            .read(|c| {
                Ok(
                    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                )
            })
            .unwrap_err();
        assert!(
            format!("{refused:#}").contains("permission denied"),
            "{table}: {refused:#}"
        );
    }
}

#[test]
fn doctor_says_row_level_security_is_on() {
    let (_scratch, db) = two_teams("rls_doctor");
    let description = db.describe().unwrap();
    assert!(
        description.contains("row-level security on"),
        "{description}"
    );
}

/// Unread counts are each person's: an agent's transactions see and mark only their own
/// read marks, on their accounts' leads, whatever the query says.
#[test]
fn an_agent_reads_and_marks_only_their_own_read_marks() {
    let (_scratch, db) = two_teams("rls_reads");
    db.write(|c| {
        for user in ["ana", "ben"] {
            outreach_store::console::add_user(c, user, "", 0)?;
        }
        outreach_store::console::mark_read(c, "ben", 1, 5)?;
        outreach_store::console::mark_read(c, "ana", 2, 5)
    })
    .unwrap();
    let marks = |db: &Db| -> Vec<(String, i64, i64)> {
        db.read(|c| {
            let mut statement = c.prepare(
                "SELECT user_name, lead_id, last_read_id FROM lead_reads ORDER BY user_name, lead_id",
            )?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap()
    };
    let ana = db.for_user("ana", &agent(&[1]));
    // Ben's mark on her account's lead, and her own on another account's: neither seen.
    assert_eq!(marks(&ana), []);
    ana.write(|c| outreach_store::console::mark_read(c, "ana", 1, 7))
        .unwrap();
    assert_eq!(marks(&ana), [("ana".to_owned(), 1, 7)]);
    // Writing Ben's is refused, naming the policy.
    let forged = ana
        .write(|c| {
            Ok(c.execute(
                "INSERT INTO lead_reads (user_name, lead_id, last_read_id) VALUES ('ben', 1, 99)",
                [],
            )?)
        })
        .unwrap_err();
    assert!(
        format!("{forged:#}").contains("row-level security"),
        "{forged:#}"
    );
    assert_eq!(
        marks(&db),
        [
            ("ana".to_owned(), 1, 7),
            ("ana".to_owned(), 2, 5),
            ("ben".to_owned(), 1, 5)
        ]
    );
}

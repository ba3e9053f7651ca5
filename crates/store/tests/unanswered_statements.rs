//! `Conn::run`: a statement whose count nobody reads. On PostgreSQL it is sent without
//! waiting and answered with the transaction's next statement or its commit; these tests
//! try to make that lose an error or a row, on both databases (on SQLite it runs at once).
//!
//! PostgreSQL's half runs against a real server: `./test.sh` starts one
//! (`outreach_store::testing`).

use outreach_store::testing::PostgresScratch;
use outreach_store::{Conn, Db};

/// The same table on each database, with one row committed: `(1, 'first')`.
struct Both {
    sqlite: Db,
    postgres: Db,
    _file: tempfile::TempDir,
    scratch: PostgresScratch,
}

fn both(label: &str) -> Both {
    let file = tempfile::tempdir().unwrap();
    let sqlite = Db::open(&file.path().join("store.db"), None).unwrap();
    let scratch = PostgresScratch::empty(label);
    let postgres = Db::open_postgres(&scratch.conninfo()).unwrap();
    for db in [&sqlite, &postgres] {
        db.write(|c| {
            c.execute_batch(
                "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL, small INTEGER)",
            )?;
            c.run("INSERT INTO t (id, v) VALUES (1, 'first')", [])?;
            Ok(())
        })
        .unwrap();
    }
    Both {
        sqlite,
        postgres,
        _file: file,
        scratch,
    }
}

impl Both {
    fn each(&self) -> [(&'static str, &Db); 2] {
        [("SQLite", &self.sqlite), ("PostgreSQL", &self.postgres)]
    }
}

fn rows(c: &Conn<'_>) -> anyhow::Result<Vec<(i64, String)>> {
    let mut stmt = c.prepare_cached("SELECT id, v FROM t ORDER BY id")?;
    Ok(stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

fn committed(db: &Db) -> Vec<(i64, String)> {
    db.read(rows).unwrap()
}

/// Sends a statement the server will refuse (the key of the row [`both`] committed), on
/// PostgreSQL behind one that takes a second: its answer cannot be back before the caller
/// goes on, as it could be otherwise (the connection's thread is quicker now and then, and
/// `run` then returns the error at once).
fn refused_later(c: &Conn<'_>) -> anyhow::Result<()> {
    let refused = "INSERT INTO t (id, v) VALUES (1, 'again')";
    // Prepared first: preparing waits for the answers before it, the slow one's too.
    c.prepare_cached(refused)?;
    c.run("SELECT pg_sleep(1)", [])?;
    c.run(refused, [])?;
    Ok(())
}

/// Only the row [`both`] committed is there.
fn assert_nothing_landed(db: &Db, name: &str) {
    assert_eq!(
        committed(db),
        [(1, "first".to_string())],
        "{name}: nothing landed"
    );
}

fn is_constraint_violation(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<outreach_store::sql::Error>()
        .is_some_and(|e| e.is_constraint_violation())
}

#[test]
fn what_was_run_is_seen_by_the_next_statement_and_committed() {
    let both = both("unanswered_seen");
    for (name, db) in both.each() {
        let seen = db
            .write(|c| {
                for id in 2..=50 {
                    c.run(
                        "INSERT INTO t (id, v) VALUES (?1, ?2)",
                        outreach_store::params![id, format!("row {id}")],
                    )?;
                }
                c.run("UPDATE t SET v = 'changed' WHERE id = 1", [])?;
                rows(c)
            })
            .unwrap();
        assert_eq!(seen.len(), 50, "{name}");
        assert_eq!(seen[0], (1, "changed".to_string()), "{name}");
        assert_eq!(committed(db), seen, "{name}");
    }
}

#[test]
fn statements_sent_without_waiting_run_in_the_order_they_were_sent() {
    let both = both("unanswered_order");
    for (name, db) in both.each() {
        // Several rounds, so that every statement is prepared already and nothing waits
        // between them.
        for id in 2..6_i64 {
            let seen: String = db
                .write(|c| {
                    let params = outreach_store::params![id];
                    c.run("INSERT INTO t (id, v) VALUES (?1, 'inserted')", params)?;
                    c.run(
                        "UPDATE t SET v = v || ' then updated' WHERE id = ?1",
                        params,
                    )?;
                    c.run("UPDATE t SET v = v || ' twice' WHERE id = ?1", params)?;
                    Ok(c.query_row("SELECT v FROM t WHERE id = ?1", params, |r| r.get(0))?)
                })
                .unwrap();
            assert_eq!(seen, "inserted then updated twice", "{name}, row {id}");
        }
        assert_eq!(committed(db).len(), 5, "{name}");
    }
}

#[test]
fn a_run_returns_while_the_server_cannot_answer_it_yet() {
    let both = both("unanswered_no_wait");
    let db = &both.postgres;
    // Another worker's write holds the write lock: the server answers nothing of this
    // process's write, its start included, until that one ends.
    let holder = Db::open_postgres(&both.scratch.conninfo()).unwrap();
    // Prepared once before (a statement's first use on a connection waits for the server
    // to prepare it).
    let insert = "INSERT INTO t (id, v) VALUES (?1, ?2)";
    db.write(|c| Ok(c.run(insert, outreach_store::params![2, "second"])?))
        .unwrap();
    let released = std::sync::atomic::AtomicBool::new(false);
    let (held, wait_for_hold) = std::sync::mpsc::channel();
    let (release, wait_for_release) = std::sync::mpsc::channel::<()>();
    let (holder, released) = (&holder, &released);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            holder
                .write(|c| {
                    c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                    held.send(()).unwrap();
                    // Long enough that a run which waited would come back only after it.
                    let _ = wait_for_release.recv_timeout(std::time::Duration::from_secs(30));
                    released.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                })
                .unwrap();
        });
        wait_for_hold.recv().unwrap();
        let returned_before_release = db
            .write(|c| {
                c.run(insert, outreach_store::params![3, "third"])?;
                let before = !released.load(std::sync::atomic::Ordering::SeqCst);
                let _ = release.send(());
                Ok(before)
            })
            .unwrap();
        assert!(
            returned_before_release,
            "the run waited for the server's answer"
        );
    });
    assert_eq!(
        committed(db).len(),
        3,
        "the row landed once the lock was free"
    );
}

#[test]
fn a_value_refused_before_it_is_sent_fails_the_run_and_nothing_lands() {
    let both = both("unanswered_unsent");
    // SQLite keeps any integer in an INTEGER column; PostgreSQL's takes 32 bits, and the
    // client refuses the value before sending anything.
    let db = &both.postgres;
    let error = db
        .write(|c| {
            c.run("INSERT INTO t (id, v) VALUES (2, 'second')", [])?;
            c.run(
                "INSERT INTO t (id, v, small) VALUES (3, 'third', ?1)",
                [i64::from(i32::MAX) + 1],
            )?;
            Ok(())
        })
        .unwrap_err();
    assert!(format!("{error:#}").contains("out of range"), "{error:#}");
    assert_nothing_landed(db, "PostgreSQL");
}

#[test]
fn a_failed_run_is_the_next_statements_error_with_its_own_cause() {
    let both = both("unanswered_next");
    for (name, db) in both.each() {
        let error = db
            .write(|c| {
                c.run("INSERT INTO t (id, v) VALUES (2, 'second')", [])?;
                // The same key again: refused.
                c.run("INSERT INTO t (id, v) VALUES (1, 'again')", [])?;
                c.run("INSERT INTO t (id, v) VALUES (3, 'third')", [])?;
                rows(c)
            })
            .unwrap_err();
        // The duplicate's own error, not PostgreSQL's "current transaction is aborted"
        // that every statement after it gets.
        assert!(is_constraint_violation(&error), "{name}: {error:#}");
        assert_nothing_landed(db, name);
    }
}

#[test]
fn a_failed_run_as_the_last_statement_fails_the_commit() {
    let both = both("unanswered_commit");
    for (name, db) in both.each() {
        let error = db
            .write(|c| {
                c.run("INSERT INTO t (id, v) VALUES (2, 'second')", [])?;
                c.run("INSERT INTO t (id, v) VALUES (3, NULL)", [])?;
                Ok(())
            })
            .unwrap_err();
        assert!(is_constraint_violation(&error), "{name}: {error:#}");
        assert_nothing_landed(db, name);
        // The pooled connection is clean again: the next write lands.
        db.write(|c| {
            c.run("INSERT INTO t (id, v) VALUES (4, 'fourth')", [])
                .map_err(Into::into)
        })
        .unwrap();
        assert_eq!(committed(db).len(), 2, "{name}");
    }
}

#[test]
fn the_callers_own_error_comes_before_a_failed_run_and_nothing_lands() {
    let both = both("unanswered_caller");
    for (name, db) in both.each() {
        let error = db
            .write(|c| -> anyhow::Result<()> {
                c.run("INSERT INTO t (id, v) VALUES (2, 'second')", [])?;
                if c.backend() == outreach_store::Backend::Postgres {
                    // Unanswered yet on PostgreSQL; SQLite would have refused it here.
                    refused_later(c)?;
                }
                anyhow::bail!("the caller changed its mind")
            })
            .unwrap_err();
        assert_eq!(error.to_string(), "the caller changed its mind", "{name}");
        assert_nothing_landed(db, name);
    }
}

#[test]
fn a_run_in_a_read_is_refused_at_the_latest_when_the_read_ends() {
    let both = both("unanswered_read");
    for (name, db) in both.each() {
        let result = db.read(|c| {
            c.run("INSERT INTO t (id, v) VALUES (2, 'second')", [])?;
            Ok(())
        });
        assert!(result.is_err(), "{name}: a write inside a read must fail");
        assert_nothing_landed(db, name);
    }
}

#[test]
fn a_panic_after_a_failed_run_leaves_the_pool_usable() {
    let both = both("unanswered_panic");
    for (name, db) in both.each() {
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.write(|c| -> anyhow::Result<()> {
                if c.backend() == outreach_store::Backend::Postgres {
                    refused_later(c)?;
                }
                panic!("a bug in the caller")
            })
        }));
        assert!(panicked.is_err(), "{name}");
        // Every connection the pool hands out next works, and nothing of the panicked
        // transaction landed.
        for id in 2..6 {
            db.write(|c| {
                c.run(
                    "INSERT INTO t (id, v) VALUES (?1, 'after')",
                    outreach_store::params![id],
                )?;
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
        assert_eq!(committed(db).len(), 5, "{name}");
    }
}
